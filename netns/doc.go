// Package netns owns the network inside the sandbox's network namespace: it
// brings up lo over netlink and creates the loopback listeners that the init
// stage hands to the supervisor.
//
// Its functions act on the network namespace of the calling thread; netns
// never creates, enters or manages processes or namespaces itself.
package netns

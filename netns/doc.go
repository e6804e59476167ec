// Package netns owns the network inside the sandbox's network namespace: it
// brings up lo over netlink and creates the loopback listeners that the init
// stage hands to the supervisor. It also answers, over sock_diag, who owns
// the client end of a loopback connection (TCPOwner): relaxed mode's proxies
// on the host's 127.0.0.1 serve only fence's own user.
//
// Its functions act on the network namespace of the calling thread; netns
// never creates, enters or manages processes or namespaces itself.
package netns

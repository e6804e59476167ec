// Package rawsig installs signal actions with the raw rt_sigaction syscall,
// behind the Go runtime's back, for the two places where fence gives a
// signal a handler of its own written in assembly: the CLI's signal
// forwarding (nsexec/sigfwd) and the sysmon slack (nsexec/spawn). It owns
// the kernel's struct sigaction and, on amd64, the restorer every such
// handler returns through; the handlers themselves stay with their users.
//
// Why a package: both users need the same few lines, and nsexec/spawn may
// import only the lowest layers of the standard library (deps_test.go), so
// the code cannot live in sigfwd. It must not install anything by itself.
package rawsig

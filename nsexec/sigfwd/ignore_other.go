//go:build !(linux && (amd64 || arm64))

package sigfwd

import (
	"os/signal"
	"syscall"
	"time"
)

// WhileIgnored runs f with sig ignored, then asks os/signal to reset it.
func WhileIgnored(sig syscall.Signal, f func()) {
	signal.Ignore(sig)
	defer signal.Reset(sig)
	f()
}

// Die ends the process by sig's default action, so that fence's parent
// sees it killed by sig, as the command was. It does not return for a
// signal whose default action ends the process.
func Die(sig syscall.Signal) {
	limitCore()
	signal.Reset(sig)
	_ = syscall.Kill(syscall.Getpid(), sig)
	time.Sleep(100 * time.Millisecond) // delivery to another thread
}

// Ignored reports whether sig is ignored. Off linux/amd64 and arm64 it is
// os/signal's, which does not see an inherited SIG_IGN of SIGTSTP, SIGTTIN
// and SIGTTOU.
func Ignored(sig syscall.Signal) bool { return signal.Ignored(sig) }

//go:build linux || darwin

package fence

import (
	"os/signal"
	"syscall"

	"github.com/nsfence/fence/nsexec/sigfwd"
	"golang.org/x/sys/unix"
)

// forwarded are the signals Run passes on to the command. SIGALRM too:
// the Go runtime ignores it where nothing asks for it, and timeout -s ALRM
// left the command running.
var forwarded = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM}

// caught returns the forwarded signals that fence did not inherit ignored.
// An inherited ignore (nohup, a background job's SIGINT) stays: fence does
// not catch the signal, and the command inherits the ignore, whichever way
// its init stage was spawned (Notify would install a handler, and a later
// spawn would then reset the signal to its default for the command).
func caught() []syscall.Signal {
	// The runtime kept an inherited ignore of SIGHUP and SIGINT only.
	sigfwd.KeepInheritedIgnores()
	out := make([]syscall.Signal, 0, len(forwarded))
	for _, sig := range forwarded {
		if !signal.Ignored(sig) {
			out = append(out, sig)
		}
	}
	return out
}

// restoreForeground gives the terminal back to fence's process group; the
// command took it. SIGTTOU is ignored for the call only: a background group
// may not otherwise change the foreground group.
func restoreForeground(fd, pgrp int) {
	sigfwd.WhileIgnored(syscall.SIGTTOU, func() { _ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgrp) })
}

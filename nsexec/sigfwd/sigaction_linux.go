//go:build linux && (amd64 || arm64)

package sigfwd

import (
	"runtime"
	"syscall"

	"github.com/nsfence/fence/nsexec/internal/rawsig"
	"golang.org/x/sys/unix"
)

// WhileIgnored runs f with sig ignored, then gives sig its previous action
// back exactly (os/signal's Reset would leave an ignored signal ignored,
// and start os/signal's threads).
func WhileIgnored(sig syscall.Signal, f func()) {
	ign := rawsig.Action{Handler: 1} // SIG_IGN
	var old rawsig.Action
	if rawsig.Sigaction(sig, &ign, &old) != nil {
		f()
		return
	}
	defer rawsig.Sigaction(sig, &old, nil)
	f()
}

// Die ends the process by sig's default action, so that fence's parent
// sees it killed by sig, as the command was. It does not return for a
// signal whose default action ends the process. A shell aborts a loop only
// for a child that SIGINT killed (not one that exited with 130).
func Die(sig syscall.Signal) {
	limitCore()
	runtime.LockOSThread() // the thread unblocked below takes the signal
	dfl := rawsig.Action{} // SIG_DFL
	if rawsig.Sigaction(sig, &dfl, nil) != nil && sig != syscall.SIGKILL {
		return
	}
	var set unix.Sigset_t
	set.Val[0] = 1 << (uint(sig) - 1)
	_ = unix.PthreadSigmask(unix.SIG_UNBLOCK, &set, nil)
	_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.Signal(sig))
}

// Ignored reports whether sig is ignored (SIG_IGN), inherited or not.
// os/signal's Ignored does not see an inherited SIG_IGN of the job-control
// signals (SIGTSTP, SIGTTIN, SIGTTOU), for which the runtime installs no
// handler: a shell's command substitution runs fence with those ignored.
func Ignored(sig syscall.Signal) bool {
	var old rawsig.Action
	if rawsig.Sigaction(sig, nil, &old) != nil {
		return false
	}
	return old.Handler == 1 // SIG_IGN
}

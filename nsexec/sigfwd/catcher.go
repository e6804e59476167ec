package sigfwd

import (
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// Catcher is a set of caught signals, delivered on C until Stop, which
// closes C.
type Catcher struct {
	C      <-chan syscall.Signal
	stop   func()
	once   sync.Once
	unread func() bool
}

// Stop ends the catching and closes C; calls after the first do nothing.
func (c *Catcher) Stop() { c.once.Do(c.stop) }

// Unread reports whether a signal of the caught ones has come that C's
// reader has not received yet: on its way to C, in C, or on Linux
// generated and not yet handled. C's reader asks before it stops its
// process: a signal that came just before the stop (timeout(1) sends
// SIGTERM, then SIGCONT) would otherwise wait, with the process stopped,
// for a SIGCONT that has already come and gone. With Notify's os/signal, a
// signal still in the runtime's own queue is not seen.
func (c *Catcher) Unread() bool { return c.unread() }

// counted is the part of Unread after the kernel, for counts of
// signals: handled by the time they enter the way to C (before the stage
// that could hold them), passed once they are in C or dropped. Unread
// looks in the order a signal goes, so that one that moves on meanwhile
// is seen at its next stage: pending in the kernel, then counted as
// handled and not passed, then in C. Not seen: one the kernel has handed
// to a thread whose handler has not counted it yet.
func counted(handled, passed *atomic.Uint64, ch chan syscall.Signal) bool {
	p := passed.Load()
	return handled.Load() != p || len(ch) > 0
}

// sigset returns sigs as a mask: bit n-1 for signal n.
func sigset(sigs []syscall.Signal) uint64 {
	var set uint64
	for _, sig := range sigs {
		if sig >= 1 && sig <= 64 {
			set |= 1 << (sig - 1)
		}
	}
	return set
}

// Notify catches sigs with signal.Notify, for a process that shares its
// signals with other code (and on platforms without Catch's handler).
func Notify(sigs []syscall.Signal) *Catcher {
	out := make(chan syscall.Signal, 16)
	in := make(chan os.Signal, 16)
	done := make(chan struct{})
	ss := make([]os.Signal, len(sigs))
	for i, s := range sigs {
		ss[i] = s
	}
	if len(ss) > 0 { // an empty list would relay every signal
		signal.Notify(in, ss...)
	}
	var handled, passed atomic.Uint64
	go func() {
		defer close(out)
		for {
			select {
			case s := <-in:
				handled.Add(1)
				select {
				case out <- s.(syscall.Signal):
				default:
				}
				passed.Add(1)
			case <-done:
				return
			}
		}
	}()
	set := sigset(sigs)
	return &Catcher{C: out, stop: func() { signal.Stop(in); close(done) },
		// In the order a signal goes (see counted); one in the
		// runtime's own queue is not seen.
		unread: func() bool {
			return kernelPending(set) || len(in) > 0 || counted(&handled, &passed, out)
		}}
}

// limitCore keeps fence from dumping core when Die passes on the command's
// SIGQUIT or SIGSEGV (fence exits anyway). One byte, not 0: with a pipe
// core_pattern (systemd-coredump, apport) the kernel starts the helper on a
// limit of 0 too, which records fence as having crashed; 1 is the kernel's
// own sentinel that stops a dump before the helper starts. A hard limit of
// 0 cannot be raised to 1: then it stays 0.
func limitCore() {
	if syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 1, Max: 1}) != nil {
		_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	}
}

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

// unread is Unread for counts of signals: handled by the time they enter
// the way to C (before the stage that could hold them), passed once they
// are in C or dropped. Loaded in this order, a signal anywhere between is
// seen: counted as handled and not passed, or already in C.
func unread(handled, passed *atomic.Uint64, ch chan syscall.Signal, set uint64) bool {
	p := passed.Load()
	return handled.Load() != p || len(ch) > 0 || kernelPending(set)
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
		// in first: a signal that leaves it meanwhile is counted as
		// handled, or in out.
		unread: func() bool { return len(in) > 0 || unread(&handled, &passed, out, set) }}
}

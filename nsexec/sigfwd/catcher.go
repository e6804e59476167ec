package sigfwd

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Catcher is a set of caught signals, delivered on C until Stop, which
// closes C.
type Catcher struct {
	C    <-chan syscall.Signal
	stop func()
	once sync.Once
}

// Stop ends the catching and closes C; calls after the first do nothing.
func (c *Catcher) Stop() { c.once.Do(c.stop) }

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
	go func() {
		defer close(out)
		for {
			select {
			case s := <-in:
				select {
				case out <- s.(syscall.Signal):
				default:
				}
			case <-done:
				return
			}
		}
	}()
	return &Catcher{C: out, stop: func() { signal.Stop(in); close(done) }}
}

package sigfwd

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/nsfence/fence/nsexec/internal/rawsig"
	"golang.org/x/sys/unix"
)

// handler is in raw_linux_amd64.s; Go never calls it, the kernel does.
// handlerAddr returns its address.
func handler()
func handlerAddr() uintptr

// fwdFD is the write end of the pipe that handler writes to. It is set
// once, before the first handler is installed, and never closed: a handler
// may still be running on another thread when Stop restores the runtime's,
// and must not write to an fd number that was closed and reused.
var fwdFD int32 = -1

// handled counts the signals handler wrote to fwdFD: it adds one before it
// writes and takes it back if the write fails. relayed counts those relay
// has passed on or dropped. handled is changed only by handler's locked
// instructions; Go code loads it atomically.
var (
	handled atomic.Uint64
	relayed atomic.Uint64
)

var (
	mu     sync.Mutex
	pipeR  *os.File            // read end of fwdFD's pipe, read by relay
	cur    chan syscall.Signal // the active Catcher's C; nil when none
	curSet uint64              // the signals it caught (bit n-1 for n)
)

// Catch installs fence's handler for sigs and delivers them on the
// returned Catcher's C, which Stop closes. Only one Catcher may be active
// in a process at a time.
func Catch(sigs []syscall.Signal) (*Catcher, error) {
	mu.Lock()
	defer mu.Unlock()
	if cur != nil {
		return nil, errors.New("sigfwd: signals already caught")
	}
	if pipeR == nil {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			return nil, fmt.Errorf("create signal pipe: %w", err)
		}
		fwdFD = int32(p[1])
		// Non-blocking: read through the runtime's poller, with no
		// thread of its own.
		pipeR = os.NewFile(uintptr(p[0]), "fence-signals")
		go relay(pipeR)
	}
	act := rawsig.Handled(handlerAddr())
	old := make([]rawsig.Action, len(sigs))
	for i, sig := range sigs {
		if err := rawsig.Sigaction(sig, &act, &old[i]); err != nil {
			restore(sigs[:i], old)
			return nil, fmt.Errorf("catch %v: %w", sig, err)
		}
	}
	ch := make(chan syscall.Signal, 16)
	cur, curSet = ch, sigset(sigs)
	set := curSet
	c := &Catcher{C: ch, unread: func() bool { return kernelPending(set) || counted(&handled, &relayed, ch) }}
	c.stop = func() {
		mu.Lock()
		defer mu.Unlock()
		restore(sigs, old)
		if cur == ch {
			cur = nil
		}
		close(ch)
	}
	return c, nil
}

// relay passes the numbers written by handler on to the active Catcher. A
// full channel drops the signal: nobody is reading it.
func relay(r *os.File) {
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		mu.Lock()
		for _, b := range buf[:n] {
			// A signal still in the pipe from an earlier Catcher goes
			// only to one that asked for it.
			if cur != nil && b >= 1 && b <= 64 && curSet&(1<<(b-1)) != 0 {
				select {
				case cur <- syscall.Signal(b):
				default:
				}
			}
			relayed.Add(1)
		}
		mu.Unlock()
		if err != nil {
			return
		}
	}
}

// restore gives sigs their actions in old back, last first.
func restore(sigs []syscall.Signal, old []rawsig.Action) {
	for i := len(sigs) - 1; i >= 0; i-- {
		_ = rawsig.Sigaction(sigs[i], &old[i], nil)
	}
}

package sigfwd

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// handler and restorer are in raw_linux_amd64.s; Go never calls them, the
// kernel does. addrs returns their addresses.
func handler()
func restorer()
func addrs() (h, r uintptr)

// fwdFD is the write end of the pipe that handler writes to. It is set
// once, before the first handler is installed, and never closed: a handler
// may still be running on another thread when Stop restores the runtime's,
// and must not write to an fd number that was closed and reused.
var fwdFD int32 = -1

// sigaction is the kernel's struct sigaction on amd64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saRestorer = 0x04000000
	saOnstack  = 0x08000000
	saRestart  = 0x10000000
)

var (
	mu     sync.Mutex
	active bool
	pipeR  *os.File
	queue  chan syscall.Signal
)

// Catch installs fence's handler for sigs and delivers them on the
// returned Catcher's C. Only one Catcher may be active in a process.
func Catch(sigs []syscall.Signal) (*Catcher, error) {
	mu.Lock()
	defer mu.Unlock()
	if active {
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
		queue = make(chan syscall.Signal, 16)
		go relay(pipeR, queue)
	}
	h, r := addrs()
	old := make([]sigaction, len(sigs))
	for i, sig := range sigs {
		act := sigaction{handler: h, flags: saRestorer | saOnstack | saRestart, restorer: r, mask: ^uint64(0)}
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), uintptr(unsafe.Pointer(&old[i])), 8, 0, 0); e != 0 {
			restore(sigs[:i], old)
			return nil, fmt.Errorf("catch %v: %w", sig, e)
		}
	}
	active = true
	return &Catcher{C: queue, stop: func() {
		mu.Lock()
		defer mu.Unlock()
		restore(sigs, old)
		active = false
	}}, nil
}

// restore gives sigs their actions in old back, last first.
func restore(sigs []syscall.Signal, old []sigaction) {
	for i := len(sigs) - 1; i >= 0; i-- {
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sigs[i]), uintptr(unsafe.Pointer(&old[i])), 0, 8, 0, 0)
	}
}

// relay passes the numbers written by handler on as signals. A full queue
// drops the signal: nobody is reading it.
func relay(r *os.File, q chan<- syscall.Signal) {
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			select {
			case q <- syscall.Signal(b):
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// WhileIgnored runs f with sig ignored, then gives sig its previous action
// back, without os/signal (whose signal.Reset starts its threads).
func WhileIgnored(sig syscall.Signal, f func()) {
	ign := sigaction{handler: 1} // SIG_IGN
	var old sigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&ign)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		f()
		return
	}
	defer unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	f()
}

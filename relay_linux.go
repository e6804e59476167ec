package fence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsfence/fence/nsexec"
	"golang.org/x/sys/unix"
)

// relay is the sandbox's pseudo-terminal (nsexec.Options.PTY) relayed to
// fence's controlling terminal. The command's terminal descriptors are the
// pseudo-terminal, so no process of the sandbox holds fence's terminal:
// what is typed there reaches the sandbox only through the relay, which
// reads it only while the job runs in the foreground (update). A process
// of the sandbox that leaves its session (setsid) or takes the
// pseudo-terminal's foreground reads nothing typed to the shell.
//
// Output is copied as it comes; input only while the job runs, fence's
// group is the foreground of fence's terminal, and a group of the sandbox
// other than PID 1's has the pseudo-terminal (the command, or a group it
// gave it to). fence's terminal is in raw mode meanwhile: the
// pseudo-terminal's own line discipline does the editing, echo and
// signals (^C, ^Z) for the sandbox, as the terminal would without fence.
type relay struct {
	p      *nsexec.Process
	master int // p.PTY
	tty    int // fence's terminal (/dev/tty), non-blocking
	wake   [2]int
	p1     int // PID 1's process group (its pid)

	// raw is true while fence's terminal is in raw mode (rawSafe).
	raw *atomic.Bool

	mu      sync.Mutex
	cond    *sync.Cond
	on      bool          // the job runs (active)
	input   bool          // input is relayed, fence's terminal in raw mode
	saved   *unix.Termios // fence's terminal's modes before raw mode
	closed  bool
	outDone chan struct{}
	inDone  chan struct{}
}

// openTerminal opens fence's controlling terminal for the relay, before
// the sandbox starts: without it there is no relay, and fence does not
// run the command.
func openTerminal() (int, error) {
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, fmt.Errorf("open the terminal to relay it to the sandbox (/dev/tty): %w", err)
	}
	return fd, nil
}

// newRelay starts relaying p's pseudo-terminal to tty (openTerminal),
// which it then owns. Input waits for active.
// raw (may be nil) is kept true while fence's terminal is in raw mode.
func newRelay(p *nsexec.Process, tty int, raw *atomic.Bool) (*relay, error) {
	if raw == nil {
		raw = new(atomic.Bool)
	}
	r := &relay{p: p, master: int(p.PTY.Fd()), tty: tty, p1: p.Pid, raw: raw,
		outDone: make(chan struct{}), inDone: make(chan struct{})}
	r.cond = sync.NewCond(&r.mu)
	if err := unix.Pipe2(r.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("relay the terminal: %w", err)
	}
	go r.copyOutput()
	go r.copyInput()
	return r, nil
}

// foreground returns the pseudo-terminal's foreground group, in fence's
// PID namespace, or -1.
func (r *relay) foreground() int {
	pg, err := unix.IoctlGetInt(r.master, unix.TIOCGPGRP)
	if err != nil {
		return -1
	}
	return pg
}

// fenceFG reports whether fence's group is the foreground of its terminal.
func (r *relay) fenceFG() bool {
	pg, err := unix.IoctlGetInt(r.tty, unix.TIOCGPGRP)
	return err == nil && pg == unix.Getpgrp()
}

func (r *relay) give() error {
	err := r.p.Foreground(true)
	r.update()
	return err
}

func (r *relay) take() {
	_ = r.p.Foreground(false)
	r.update()
}

func (r *relay) active(on bool) {
	r.mu.Lock()
	r.on = on
	r.mu.Unlock()
	r.update()
}

// resize gives the pseudo-terminal fence's terminal's size; the kernel
// tells its foreground group (SIGWINCH).
func (r *relay) resize() {
	if ws, err := unix.IoctlGetWinsize(r.tty, unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(r.master, unix.TIOCSWINSZ, ws)
	}
}

// update starts or stops relaying input, as the state of the job and of
// both terminals says (see relay).
func (r *relay) update() {
	r.mu.Lock()
	defer r.mu.Unlock()
	fg := r.fenceFG()
	want := r.on && !r.closed && fg && r.foreground() > 0 && r.foreground() != r.p1
	switch {
	case want && !r.input:
		t, err := unix.IoctlGetTermios(r.tty, unix.TCGETS)
		if err == nil {
			saved := *t
			makeRaw(t)
			r.raw.Store(true)
			if unix.IoctlSetTermios(r.tty, unix.TCSETS, t) == nil {
				r.saved = &saved
			} else {
				r.raw.Store(false)
			}
		}
		r.input = true
		r.cond.Broadcast()
	case !want && r.input:
		r.input = false
		// Not from the background: the shell has set the terminal's
		// modes for itself by then, and the call would stop fence
		// (SIGTTOU).
		if r.saved != nil && fg {
			_ = unix.IoctlSetTermios(r.tty, unix.TCSETS, r.saved)
		}
		r.saved = nil
		r.raw.Store(false)
		_, _ = unix.Write(r.wake[1], []byte{0})
	}
}

// makeRaw is cfmakeraw: no line editing, echo, signals or output
// processing; the pseudo-terminal does them.
func makeRaw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
}

// copyOutput copies the pseudo-terminal's output to fence's terminal until
// no process holds its other side (EIO).
func (r *relay) copyOutput() {
	defer close(r.outDone)
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Read(r.master, buf)
		if n > 0 {
			// A terminal gone (hung up) still lets the sandbox write:
			// its output is dropped, as the kernel would.
			_ = writeAll(r.tty, buf[:n])
		}
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil || n == 0 {
			return
		}
	}
}

// copyInput copies what is typed to the pseudo-terminal while update says
// so.
func (r *relay) copyInput() {
	defer close(r.inDone)
	buf := make([]byte, 4096)
	fds := []unix.PollFd{{Fd: int32(r.tty), Events: unix.POLLIN}, {Fd: int32(r.wake[0]), Events: unix.POLLIN}}
	for {
		r.mu.Lock()
		for !r.input && !r.closed {
			r.cond.Wait()
		}
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			var b [64]byte
			for {
				if n, _ := unix.Read(r.wake[0], b[:]); n <= 0 {
					break
				}
			}
			continue
		}
		// Never from the background: the read would stop fence's
		// group (SIGTTIN). fence was moved there without a stop that
		// it saw (kill -STOP, then bg): input stops until it is
		// continued in the foreground (resume).
		if !r.fenceFG() {
			r.update()
			continue
		}
		n, err := unix.Read(r.tty, buf)
		if n > 0 {
			if writeAll(r.master, buf[:n]) != nil {
				return
			}
		}
		switch {
		case err == nil && n > 0, errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
		default:
			// The terminal hung up: nothing more to relay.
			r.mu.Lock()
			r.input = false
			r.mu.Unlock()
			return
		}
	}
}

// writeAll writes b to fd, which may be non-blocking.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == nil, errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, -1)
		default:
			return err
		}
	}
	return nil
}

// close ends the relay once the sandbox has exited: the output up to its
// end (PID 1 closes the pseudo-terminal before it reports the exit), then
// fence's terminal back in its modes.
func (r *relay) close() {
	outDone := true
	select {
	case <-r.outDone:
	case <-time.After(2 * time.Second):
		// A process holds the pseudo-terminal still; copyOutput is
		// left blocked on the master, which stays open (its number
		// must not be reused under it).
		outDone = false
	}
	r.active(false)
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
	_, _ = unix.Write(r.wake[1], []byte{0})
	<-r.inDone
	unix.Close(r.tty)
	unix.Close(r.wake[0])
	unix.Close(r.wake[1])
	if outDone {
		r.p.PTY.Close()
	}
}

// rawSafe writes fence's own messages (-d, -m) to its terminal, which the
// relay may have in raw mode: a line feed then also returns the carriage,
// as the terminal's output processing would have.
type rawSafe struct {
	w   io.Writer
	raw *atomic.Bool
}

func (w rawSafe) Write(b []byte) (int, error) {
	if !w.raw.Load() || !bytes.Contains(b, []byte{'\n'}) {
		return w.w.Write(b)
	}
	if _, err := w.w.Write(bytes.ReplaceAll(b, []byte{'\n'}, []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(b), nil
}

package fence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
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
	master int // p.PTY's descriptor, non-blocking
	tty    int // fence's terminal (/dev/tty), non-blocking
	p1     int // PID 1's process group (its pid)
	// inWake and outWake are pipes that wake copyInput and copyOutput
	// from their polls.
	inWake, outWake [2]int

	// raw is true while fence's terminal is in raw mode (rawSafe).
	raw *atomic.Bool
	// progress is when copyOutput last read or wrote (UnixNano), writing
	// whether it waits for fence's terminal to take output: close waits
	// for the output while the terminal takes it, or may (a slow line, ^S).
	progress atomic.Int64
	writing  atomic.Bool

	mu     sync.Mutex
	on     bool          // the job runs (active)
	input  bool          // input is relayed, fence's terminal in raw mode
	saved  *unix.Termios // fence's terminal's modes before raw mode
	closed bool
	// hungUp: fence's terminal hung up; the master is closed (or about
	// to be, masterGone), so that the sandbox's terminal hangs up too.
	hungUp, masterGone bool

	// initial is the pseudo-terminal's modes as PID 1 copied them from
	// fence's terminal, synced once input first starts (update).
	initial *unix.Termios
	synced  bool

	// running is closed by the first active(true): copyInput waits for
	// it (or for closing) before it needs a thread of its own for poll.
	running, closing  chan struct{}
	runOnce, stopOnce sync.Once

	// stopped: passOn passed SIGINT, SIGTERM, SIGHUP or SIGQUIT on.
	stopped atomic.Bool

	// lnext: the last byte copyInput relayed was the pseudo-terminal's
	// VLNEXT, which makes the next one literal (typedSignals).
	lnext bool
	// typedINT and typedQUIT: a ^C or ^\ was relayed while the
	// pseudo-terminal generated signals (typed).
	typedINT, typedQUIT atomic.Bool

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
// which it then owns, also on error. Input waits for active. raw is kept
// true while fence's terminal is in raw mode.
func newRelay(p *nsexec.Process, tty int, raw *atomic.Bool) (*relay, error) {
	r := &relay{p: p, master: int(p.PTY.Fd()), tty: tty, p1: p.Pid, raw: raw,
		outDone: make(chan struct{}), inDone: make(chan struct{}),
		running: make(chan struct{}), closing: make(chan struct{})}
	err := unix.SetNonblock(r.master, true)
	if err == nil {
		err = unix.Pipe2(r.inWake[:], unix.O_CLOEXEC|unix.O_NONBLOCK)
	}
	if err == nil {
		if err = unix.Pipe2(r.outWake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			unix.Close(r.inWake[0])
			unix.Close(r.inWake[1])
		}
	}
	if err != nil {
		unix.Close(tty)
		return nil, fmt.Errorf("set up the relay of the sandbox's terminal: %w", err)
	}
	r.initial, _ = unix.IoctlGetTermios(r.master, unix.TCGETS)
	r.progress.Store(time.Now().UnixNano())
	go r.copyOutput()
	go r.copyInput()
	return r, nil
}

// foreground returns the pseudo-terminal's foreground group, in fence's
// PID namespace, or -1.
func (r *relay) foreground() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.foregroundLocked()
}

func (r *relay) foregroundLocked() int {
	if r.masterGone {
		return -1
	}
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

// startedInFore says the job started with the pseudo-terminal's
// foreground and fence's terminal: its modes are the job's already.
func (r *relay) startedInFore() {
	r.mu.Lock()
	r.synced = true
	r.mu.Unlock()
}

func (r *relay) active(on bool) {
	r.mu.Lock()
	r.on = on
	r.mu.Unlock()
	if on {
		r.runOnce.Do(func() { close(r.running) })
	}
	if on {
		// The terminal may have been resized while the job was stopped
		// or in the background: SIGWINCH goes to the foreground only.
		r.resize()
	}
	r.update()
	wake(r.inWake[1]) // copyInput's poll: to wait for input, or not
}

// resize gives the pseudo-terminal fence's terminal's size; the kernel
// tells its foreground group (SIGWINCH) if it changed.
func (r *relay) resize() {
	ws, err := unix.IoctlGetWinsize(r.tty, unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.masterGone {
		_ = unix.IoctlSetWinsize(r.master, unix.TIOCSWINSZ, ws)
	}
}

// update starts or stops relaying input, as the state of the job and of
// both terminals says (see relay).
func (r *relay) update() {
	r.mu.Lock()
	defer r.mu.Unlock()
	fg := r.fenceFG()
	pty := r.foregroundLocked()
	want := r.on && !r.closed && !r.hungUp && fg && pty > 0 && pty != r.p1
	switch {
	case want && !r.input:
		t, err := unix.IoctlGetTermios(r.tty, unix.TCGETS)
		if err == nil {
			saved := *t
			if !r.synced && r.initial != nil {
				// A job started in the background got the modes
				// the shell had set for its own prompt (no echo,
				// no line editing); the shell sets the job's when
				// it brings it to the foreground: those, unless
				// the command has set modes of its own. Not for a
				// job started in the foreground (synced already):
				// initial may then be the command's own modes.
				// Before takeLines: the lines are read in them.
				r.synced = true
				if cur, err := unix.IoctlGetTermios(r.master, unix.TCGETS); err == nil && *cur == *r.initial && saved != *r.initial {
					_ = unix.IoctlSetTermios(r.master, unix.TCSETS, &saved)
				}
			}
			if t.Lflag&unix.ICANON != 0 {
				r.takeLines()
			}
			makeRaw(t)
			r.raw.Store(true)
			if unix.IoctlSetTermios(r.tty, unix.TCSETS, t) == nil {
				r.saved = &saved
			} else {
				r.raw.Store(false)
			}
		}
		r.input = true
		wake(r.inWake[1])
	case !want && r.input:
		r.input = false
		// Not from the background: the shell has set the terminal's
		// modes for itself by then, and the call would stop fence
		// (SIGTTOU). Not on a terminal that hung up either.
		if r.saved != nil && fg && !r.hungUp {
			_ = unix.IoctlSetTermios(r.tty, unix.TCSETS, r.saved)
		}
		r.saved = nil
		r.raw.Store(false)
		wake(r.inWake[1])
	}
}

// takeLines passes on what was typed to fence's terminal in canonical
// mode, before raw mode: the lines, and each end of file (^D), which the
// line discipline keeps as a NUL byte that raw mode would pass on as data.
func (r *relay) takeLines() {
	var b [4096]byte
	for range 64 {
		n, err := unix.Read(r.tty, b[:])
		switch {
		case n > 0:
			_ = writeAll(r.master, b[:n], nil)
		case err == nil:
			_ = writeAll(r.master, []byte{4}, nil)
		default:
			return // EAGAIN: nothing more
		}
	}
}

// wake makes a poll on the other end of the pipe w return.
func wake(w int) { _, _ = unix.Write(w, []byte{0}) }

// drain empties a wake pipe.
func drain(fd int) {
	var b [64]byte
	for {
		if n, _ := unix.Read(fd, b[:]); n <= 0 {
			return
		}
	}
}

// makeRaw is cfmakeraw: no line editing, echo, signals or output
// processing; the pseudo-terminal does them. (Output processing twice
// would turn a TUI's bare line feeds into new lines.)
func makeRaw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
}

// hangUp is called when fence's terminal hung up (a read or write failed
// with EIO, a poll said POLLHUP): the sandbox's terminal hangs up too
// once both copies have stopped (the master closed: its readers get EOF,
// its foreground SIGHUP), as it would have on fence's terminal itself.
func (r *relay) hangUp() {
	r.mu.Lock()
	if r.hungUp {
		r.mu.Unlock()
		return
	}
	r.hungUp, r.input = true, false
	r.saved = nil
	r.mu.Unlock()
	r.raw.Store(false)
	r.stopOnce.Do(func() { close(r.closing) })
	wake(r.inWake[1])
	wake(r.outWake[1])
	go func() {
		<-r.inDone
		<-r.outDone
		r.closeMaster()
	}()
}

// closeMaster closes the master once; copyOutput and copyInput have
// returned.
func (r *relay) closeMaster() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.masterGone {
		r.masterGone = true
		r.p.PTY.Close()
	}
}

// copyOutput copies the pseudo-terminal's output to fence's terminal until
// no process holds its other side (EIO), or fence's terminal hangs up.
func (r *relay) copyOutput() {
	defer close(r.outDone)
	buf := make([]byte, 32<<10)
	fds := []unix.PollFd{{Fd: int32(r.master), Events: unix.POLLIN}, {Fd: int32(r.outWake[0]), Events: unix.POLLIN}}
	for {
		n, err := unix.Read(r.master, buf)
		if n > 0 {
			r.progress.Store(time.Now().UnixNano())
			r.writing.Store(true)
			err := r.write(buf[:n])
			r.writing.Store(false)
			if err != nil {
				r.hangUp()
				return
			}
			continue
		}
		switch {
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			fds[0].Revents, fds[1].Revents = 0, 0
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if fds[1].Revents != 0 {
				drain(r.outWake[0])
				r.mu.Lock()
				hungUp := r.hungUp
				r.mu.Unlock()
				if hungUp {
					return
				}
			}
		default:
			return // EIO: every process of the sandbox is gone
		}
	}
}

// write writes b to fence's terminal, waiting while it takes nothing
// (flow control, a slow line), and notes the progress for close.
//
// Until the relay makes fence's terminal raw (update, once the job runs
// with input; a quick command ends before that), that terminal still
// does its own output processing, and a line end that the
// pseudo-terminal's has made \r\n became \r\r\n ("a\r\r\n" in a
// script(1) log, an expect pattern missed). The \r that the
// pseudo-terminal added is taken out again then, so that the line end
// is converted once, as without fence.
func (r *relay) write(b []byte) error {
	if !r.raw.Load() && bytes.Contains(b, crlf) && r.convertedTwice() {
		b = bytes.ReplaceAll(b, crlf, crlf[1:])
	}
	return writeAll(r.tty, b, &r.progress)
}

var crlf = []byte("\r\n")

// convertedTwice reports whether both terminals turn a line feed into
// \r\n on output (OPOST and ONLCR): the pseudo-terminal as the command
// wrote, fence's terminal as the relay writes.
func (r *relay) convertedTwice() bool {
	const onlcr = unix.OPOST | unix.ONLCR
	in, err := unix.IoctlGetTermios(r.master, unix.TCGETS)
	if err != nil || in.Oflag&onlcr != onlcr {
		return false
	}
	out, err := unix.IoctlGetTermios(r.tty, unix.TCGETS)
	return err == nil && out.Oflag&onlcr == onlcr
}

// copyInput copies what is typed to the pseudo-terminal while update says
// so, and watches fence's terminal for a hangup meanwhile.
func (r *relay) copyInput() {
	defer close(r.inDone)
	// Until the job runs there is nothing to read, and the start has
	// better use for a thread (a blocked poll holds one).
	select {
	case <-r.running:
	case <-r.closing:
		return
	}
	buf := make([]byte, 4096)
	fds := []unix.PollFd{{Fd: int32(r.tty)}, {Fd: int32(r.inWake[0]), Events: unix.POLLIN}}
	for {
		r.mu.Lock()
		on, input, done := r.on, r.input, r.closed || r.hungUp
		r.mu.Unlock()
		if done {
			return
		}
		fds[0].Events, fds[0].Revents, fds[1].Revents = 0, 0, 0
		if input {
			fds[0].Events = unix.POLLIN
		}
		// While the job runs without input, look again now and then:
		// fence may be back in the foreground with no SIGCONT (fg of a
		// running job), or the pseudo-terminal may have changed hands.
		timeout := -1
		if on && !input {
			timeout = 200
		}
		n, err := unix.Poll(fds, timeout)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return
		case n == 0:
			// SIGWINCH reaches the foreground only: fence's
			// terminal may have been resized while fence was in
			// the background.
			r.resize()
			r.update()
			continue
		case fds[1].Revents != 0:
			drain(r.inWake[0])
			continue
		case fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0:
			r.hangUp()
			return
		}
		// Never from the background: the read would stop fence's
		// group (SIGTTIN). fence was moved there without a stop that
		// it saw (kill -STOP, then bg): input stops until it is back.
		if !r.fenceFG() {
			r.update()
			continue
		}
		n, err = unix.Read(r.tty, buf)
		switch {
		case n > 0:
			if writeAll(r.master, buf[:n], nil) != nil {
				return
			}
			for _, sig := range r.typedSignals(buf[:n]) {
				if sig == unix.SIGINT {
					r.typedINT.Store(true)
				} else {
					r.typedQUIT.Store(true)
				}
			}
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
		case err == nil:
			// End of file with no hangup: fence's terminal is not in
			// raw mode (another program changed its modes) and ^D was
			// typed; the sandbox's terminal gets its own end of file.
			_ = writeAll(r.master, []byte{4}, nil)
		default:
			r.hangUp()
			return
		}
	}
}

// typed reports whether sig, SIGINT or SIGQUIT, was typed to the
// sandbox's terminal (typedSignals).
func (r *relay) typed(sig syscall.Signal) bool {
	switch sig {
	case unix.SIGINT:
		return r.typedINT.Load()
	case unix.SIGQUIT:
		return r.typedQUIT.Load()
	}
	return false
}

// typedSignals returns the signals that the pseudo-terminal's line
// discipline sends for b (its VINTR and VQUIT characters, while it has
// ISIG and no EXTPROC), in order. Not ^Z: a stopped command stops fence's
// group through job.stopped. Called from copyInput only, after b went to
// the master: the modes are the ones the line discipline applied, give or
// take a change made at the same moment.
//
// The sandbox sets the pseudo-terminal's modes: a VINTR of '\r' would make
// every Enter a "typed ^C", and fence would then pass the command's SIGINT
// on to its own group, outside the sandbox. So a byte counts only if
// fence's terminal, in the modes it had before raw mode (saved), would
// have sent the same signal for it: as it would have without fence.
func (r *relay) typedSignals(b []byte) []syscall.Signal {
	r.mu.Lock()
	host := r.saved
	r.mu.Unlock()
	t, err := unix.IoctlGetTermios(r.master, unix.TCGETS)
	if err != nil || t.Lflag&unix.ISIG == 0 || t.Lflag&unix.EXTPROC != 0 ||
		host == nil || host.Lflag&unix.ISIG == 0 {
		r.lnext = false
		return nil
	}
	hostSig := func(c byte, cc int) bool {
		// ISTRIP strips the byte typed, not the special character: a
		// VINTR above 0x7f then never matches.
		if host.Iflag&unix.ISTRIP != 0 {
			c &= 0x7f
		}
		return c != 0 && c == host.Cc[cc]
	}
	// VLNEXT quotes the next character in canonical mode with IEXTEN.
	lnext := t.Lflag&(unix.ICANON|unix.IEXTEN) == unix.ICANON|unix.IEXTEN
	var sigs []syscall.Signal
	for _, c := range b {
		if t.Iflag&unix.ISTRIP != 0 {
			c &= 0x7f
		}
		switch {
		case r.lnext:
			r.lnext = false
		case lnext && c == t.Cc[unix.VLNEXT] && c != 0:
			r.lnext = true
		case c == t.Cc[unix.VINTR] && c != 0:
			if hostSig(c, unix.VINTR) {
				sigs = append(sigs, unix.SIGINT)
			}
		case c == t.Cc[unix.VQUIT] && c != 0:
			if hostSig(c, unix.VQUIT) {
				sigs = append(sigs, unix.SIGQUIT)
			}
		}
	}
	return sigs
}

// writeAll writes b to the non-blocking fd; with progress, it stores
// the time of each partial write there.
func writeAll(fd int, b []byte, progress *atomic.Int64) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if n > 0 {
			b = b[n:]
			if progress != nil {
				progress.Store(time.Now().UnixNano())
			}
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
// end (PID 1 closes the pseudo-terminal before it reports the exit, so
// EIO follows), however slowly fence's terminal takes it (a slow line,
// output paused with ^S: the command would have waited too), then
// fence's terminal back in its modes. It gives up only on a master that
// neither has output nor ends for 2 s, which no process should hold.
//
// A signal on stop (SIGINT, SIGTERM, SIGHUP, SIGQUIT) ends the wait.
func (r *relay) close(stop <-chan syscall.Signal) {
	outDone := false
	for !outDone {
		select {
		case <-r.outDone:
			outDone = true
			continue
		case sig := <-stop:
			if sig == syscall.SIGINT || sig == syscall.SIGTERM || sig == syscall.SIGHUP || sig == syscall.SIGQUIT {
				break // give up
			}
			continue
		case <-time.After(100 * time.Millisecond):
			// A stop signal passed on to the command while it ran
			// (timeout's SIGTERM) ends the wait too, once the
			// output stalls: the command was not to wait for it.
			stalled := time.Since(time.Unix(0, r.progress.Load()))
			if r.stopped.Load() && stalled > time.Second {
				break
			}
			if r.writing.Load() || stalled < 2*time.Second {
				continue
			}
		}
		break
	}
	r.mu.Lock()
	r.on, r.closed = false, true
	r.mu.Unlock()
	r.update()
	r.stopOnce.Do(func() { close(r.closing) })
	wake(r.inWake[1])
	<-r.inDone
	if !outDone {
		// copyOutput may still use the master and fence's terminal:
		// their numbers must not be reused under it. fence exits.
		return
	}
	unix.Close(r.tty)
	for _, fd := range []int{r.inWake[0], r.inWake[1], r.outWake[0], r.outWake[1]} {
		unix.Close(fd)
	}
	r.closeMaster()
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

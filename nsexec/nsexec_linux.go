package nsexec

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// IsInit reports whether this process is the init stage; the program must
// then call Init. Best checked from a package init function that depends on
// little more than nsexec (fence: cmd/fence/internal/stage), so that the
// init stage skips the rest of the program's package initialisation; from
// main it works too.
func IsInit() bool {
	return len(os.Args) > 0 && os.Args[0] == spawn.InitArg0
}

// Process is a running sandbox as seen from the supervisor.
type Process struct {
	ctrl     *os.File
	release  func()         // lets the spawning thread exit (spawn.Child.Release)
	exited   chan struct{}  // closed by readLoop
	reaped   chan struct{}  // closed once PID 1 is reaped (Reaped)
	reapedAt int64          // Now() at the reap, valid once reaped is closed
	reapOnce sync.Once      // closes reaped: Wait may be called again
	code     int            // valid if reported
	killedBy syscall.Signal // the signal that killed the command, if reported
	reported bool
	created  []string // valid if reported (Created)

	mu    sync.Mutex
	seq   int
	conns map[int]chan connResult // pending Connect calls; nil after exit
	// Listeners are the listeners of Options.Listeners, created inside the
	// sandbox's network namespace, in the same order.
	Listeners []*os.File
	// Stages is the init stage's timeline (see Options.Timeline).
	Stages []Stage
	// Pid is the host PID of the init stage.
	Pid int
	// Jobs carries the command's job-control events with
	// Options.JobControl, closed once the sandbox has exited; nil
	// without. The caller must receive them until then: Wait waits for
	// the last one.
	Jobs   <-chan JobEvent
	jobs   chan JobEvent
	frozen chan struct{} // msgFrozen
	// PTY is the master of the sandbox's pseudo-terminal with
	// Options.PTY, else nil. The caller relays it and closes it.
	PTY          *os.File
	foregrounded chan message // msgForegrounded
}

// JobEvent is what PID 1 reports about the command for job control: first
// that it started (Pid, or Err when its pid cannot be known), then each of
// its stops (Stop).
type JobEvent struct {
	// Pid is the command's pid in the supervisor's PID namespace. It
	// leads the command's process group.
	Pid int
	Err error
	// Stop is the signal that stopped the command.
	Stop syscall.Signal
}

// Start spawns the init stage for o and waits until the command has been
// started inside the sandbox (or the sandbox failed to come up). It is Spawn
// followed by Pending.Start.
//
// The caller should call Wait: until then a spawning thread is kept alive
// (see Spawn).
func Start(o *Options) (*Process, error) { return StartGated(o, nil) }

// StartGated is Start with the command held at a gate (see
// Pending.StartGated).
func StartGated(o *Options, gate <-chan struct{}) (*Process, error) {
	pd, err := Spawn(o.HostNetwork, o.Stdin, o.Stdout, o.Stderr)
	if err != nil {
		return nil, err
	}
	return pd.StartGated(o, gate)
}

// Pending is an init stage that has been spawned but has no policy yet. The
// supervisor spawns early so that the init stage's runtime start overlaps
// with config loading; it then sends the policy with Start, or calls Abort.
type Pending struct {
	c    *spawn.Child
	err  error // diagnosed clone error
	used bool  // Start or Abort ran: the init stage is someone else's or gone
}

// HostNetwork reports whether the pending sandbox shares the host network.
func (pd *Pending) HostNetwork() bool { return pd.c.HostNetwork }

// Spawn creates the namespaces and starts the init stage, which waits for
// its policy (see spawn.Start). nil stdio means the supervisor's own.
func Spawn(hostNetwork bool, stdin, stdout, stderr *os.File) (*Pending, error) {
	c, err := spawn.Start(hostNetwork, stdin, stdout, stderr)
	if err != nil {
		return nil, err
	}
	return &Pending{c: c}, nil
}

// Adopt wraps an init stage that spawn.Start started (in cmd/fence, from a
// package init function) as a Pending. c must not be nil.
func Adopt(c *spawn.Child) *Pending { return &Pending{c: c} }

// waitPID waits for the init stage (a child of ours, so its pid cannot be
// reused before this reaps it) to exit.
func waitPID(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws, err
		}
	}
}

// wait returns the result of the clone.
func (pd *Pending) wait() error {
	if pd.err == nil {
		if err := pd.c.Wait(); err != nil {
			pd.err = diagnoseSpawn(err)
		}
	}
	return pd.err
}

// Abort ends a pending init stage that will not be used. It exits quietly.
// After Start, or a first Abort, it does nothing.
func (pd *Pending) Abort() {
	if pd.used {
		return
	}
	pd.used = true
	if pd.wait() != nil {
		return
	}
	pd.c.Ctrl.Close()
	_, _ = waitPID(pd.c.Pid)
	pd.c.Release()
}

// Start sends the policy to the pending init stage and waits until the
// command has started. o.HostNetwork must match the Spawn argument.
func (pd *Pending) Start(o *Options) (*Process, error) { return pd.StartGated(o, nil) }

// StartGated is Start, except that the command starts only once gate is
// closed (nil: at once). The init stage builds the sandbox and reports
// ready meanwhile; StartGated returns once both happened (the command may
// still be starting). The supervisor uses the gate
// for work that must precede the command but not the policy: its signal
// handlers (registering one costs a round trip to the runtime's
// signal-mask thread, ~0.1 ms each) are registered while PID 1 builds the
// mounts, instead of before the policy goes out. The caller must close
// gate, or the command never starts.
func (pd *Pending) StartGated(o *Options, gate <-chan struct{}) (*Process, error) {
	if pd.used {
		return nil, errors.New("sandbox already started or aborted")
	}
	if err := pd.wait(); err != nil {
		pd.used = true
		return nil, err
	}
	if o.HostNetwork != pd.c.HostNetwork {
		pd.Abort()
		return nil, errors.New("sandbox was spawned with a different network mode")
	}
	o.HoldStart = gate != nil
	o.FS.NoExecFollows = o.NoExecLater != nil
	o.FilesFollow = o.PassFilesLater != nil
	payload := encodeMessage(message{Type: typeOptions, Options: o})
	if len(payload) > maxMessage {
		pd.Abort()
		return nil, fmt.Errorf("sandbox policy is too large (%d bytes, max %d)", len(payload), maxMessage)
	}
	pd.used = true // the Process owns the init stage from here
	p := &Process{ctrl: pd.c.Ctrl, Pid: pd.c.Pid, release: pd.c.Release, reaped: make(chan struct{})}
	if o.JobControl {
		// Buffered: readLoop must not wait long for the supervisor,
		// which may be stopped (job control) while PID 1 reports.
		p.jobs = make(chan JobEvent, 16)
		p.Jobs = p.jobs
		p.frozen = make(chan struct{}, 1)
		p.foregrounded = make(chan message, 1)
	}
	if o.Timeline {
		p.Stages = []Stage{{"spawn", pd.c.T0}, {"spawned", pd.c.T1}, {"policy-sent", Now()}}
	}
	for _, pk := range packets(payload) {
		if _, err := pd.c.Ctrl.Write(pk); err != nil {
			p.kill()
			return nil, fmt.Errorf("send policy to init stage: %w", err)
		}
	}
	if o.FS.NoExecFollows {
		// While PID 1 builds the tree; before msgStart below, which must
		// not come first. Killed on an error: PID 1 waits for this before
		// its tree is finished, so no command runs without it.
		noExec, err := o.NoExecLater()
		if err != nil {
			p.kill()
			return nil, err
		}
		o.FS.NoExec = append(o.FS.NoExec, noExec...)
		b := encodeMessage(message{Type: typeNoExec, Paths: noExec})
		if len(b) > maxMessage {
			p.kill()
			return nil, fmt.Errorf("sandbox policy is too large (%d denied programs' paths, %d bytes, max %d)", len(noExec), len(b), maxMessage)
		}
		for _, pk := range packets(b) {
			if _, err := pd.c.Ctrl.Write(pk); err != nil {
				// PID 1 failed while the lookups ran (EPIPE): its
				// report says why.
				return nil, p.killReporting(fmt.Errorf("send policy to init stage: %w", err))
			}
		}
		if o.Timeline {
			p.Stages = append(p.Stages, Stage{"noexec-sent", Now()})
		}
	}
	if o.FilesFollow {
		// After the denied programs, which PID 1 needs first; before
		// msgStart, which must not come first. PID 1 reads them once
		// the sandbox is built, long after this.
		fds, err := o.PassFilesLater()
		if err == nil {
			err = checkPassFiles(fds)
		}
		if err != nil {
			p.kill()
			return nil, err
		}
		if err := sendFiles(pd.c.Ctrl, fds); err != nil {
			return nil, p.killReporting(fmt.Errorf("send the pipes to pass on to init stage: %w", err))
		}
	}
	var sent chan error
	if gate != nil {
		// Usually sent long before PID 1 asks for it: the mounts take
		// longer than the work behind the gate.
		sent = make(chan error, 1)
		go func() {
			<-gate
			_, err := p.ctrl.Write(encodeMessage(message{Type: typeStart}))
			sent <- err
		}()
	}
	if err := p.readReady(len(o.Listeners), o.PTY != 0); err != nil {
		p.kill()
		return nil, err
	}
	if sent != nil {
		// Nothing else may reach PID 1 before msgStart (it refuses to
		// start the command then): the caller's signals and connect
		// requests come after this returns.
		if err := <-sent; err != nil {
			p.kill()
			return nil, fmt.Errorf("tell init stage to start the command: %w", err)
		}
	}
	return p, nil
}

func (p *Process) kill() {
	_ = unix.Kill(p.Pid, unix.SIGKILL)
	_, _ = waitPID(p.Pid)
	p.ctrl.Close()
	p.release()
}

// killReporting is kill, returning the error the init stage reported
// before it died if it did (msgError: it exits after one), else err.
func (p *Process) killReporting(err error) error {
	_ = unix.Kill(p.Pid, unix.SIGKILL)
	_, _ = waitPID(p.Pid)
	// The init stage is gone: what it sent is queued, then EOF.
	if m, files, rerr := recvMessage(int(p.ctrl.Fd()), 1, &parts{}); rerr == nil {
		closeAll(files)
		if m.Type == typeError {
			err = errors.New(m.Err)
		}
	}
	p.ctrl.Close()
	p.release()
	return err
}

// recvMessage reads one control message and the fds that came with it:
// one packet, or the typePart packets of a larger message, which pt keeps
// between calls (a packet of PID 1's other goroutines may come between
// them). n == 0 (io.EOF) means the init stage closed its end.
func recvMessage(fd int, maxFDs int, pt *parts) (message, []*os.File, error) {
	for {
		m, files, err := recvPacket(fd, maxFDs)
		if err != nil || m.Type != typePart {
			return m, files, err
		}
		closeAll(files) // none belong to a part
		if m, done, err := pt.add(m); done || err != nil {
			return m, nil, err
		}
	}
}

// recvPacket reads one control packet and the fds that came with it.
func recvPacket(fd int, maxFDs int) (message, []*os.File, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*max(maxFDs, 1)))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if errors.Is(err, unix.ECONNRESET) {
		// The init stage exited with a message of ours unread (msgStart,
		// a signal): a SOCK_SEQPACKET recvmsg reports that (once) before
		// the packets the init stage sent, which are still queued.
		n, oobn, _, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	}
	if err != nil {
		return message{}, nil, err
	}
	if n == 0 {
		return message{}, nil, io.EOF
	}
	var files []*os.File
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return message{}, nil, fmt.Errorf("parse control fds: %w", err)
		}
		for _, c := range cmsgs {
			rights, err := unix.ParseUnixRights(&c)
			if err != nil {
				return message{}, nil, fmt.Errorf("parse control fds: %w", err)
			}
			for _, fd := range rights {
				files = append(files, os.NewFile(uintptr(fd), "fence-fd"))
			}
		}
	}
	m, err := decodeMessage(buf[:n])
	if err != nil {
		closeAll(files)
		return message{}, nil, fmt.Errorf("decode init stage message: %w", err)
	}
	return m, files, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// readReady waits for msgReady or msgError from the init stage.
// With pty, the pseudo-terminal's master follows the listeners.
func (p *Process) readReady(nListeners int, pty bool) error {
	nFiles := nListeners
	if pty {
		nFiles++
	}
	m, files, err := recvMessage(int(p.ctrl.Fd()), nFiles, &parts{})
	if errors.Is(err, io.EOF) {
		// The child closed the socket without a word: it died before it
		// could report (e.g. killed, or the runtime failed to start).
		return errors.New("sandbox init stage exited before reporting; run with -d for details")
	}
	if err != nil {
		return fmt.Errorf("read init stage status: %w", err)
	}
	switch m.Type {
	case typeError:
		closeAll(files)
		return errors.New(m.Err)
	case typeReady:
		if m.Listeners != nListeners || len(files) != nFiles {
			closeAll(files)
			return fmt.Errorf("init stage sent %d fds, want %d", len(files), nFiles)
		}
		p.Listeners = files[:nListeners]
		if pty {
			p.PTY = files[nListeners]
		}
		if p.Stages != nil {
			p.Stages = append(p.Stages, m.Stages...)
			p.Stages = append(p.Stages, Stage{"ready", Now()})
		}
		p.exited = make(chan struct{})
		p.conns = map[int]chan connResult{}
		go p.readLoop()
		return nil
	}
	closeAll(files)
	return fmt.Errorf("unexpected init stage message %q", m.Type)
}

type connResult struct {
	f   *os.File
	err error
}

// readLoop reads the init stage's messages after msgReady until msgExit or
// the end of the control socket.
func (p *Process) readLoop() {
	defer close(p.exited)
	if p.jobs != nil {
		defer close(p.jobs)
	}
	var pt parts
	for {
		m, files, err := recvMessage(int(p.ctrl.Fd()), 1, &pt)
		if err != nil {
			p.mu.Lock()
			for _, c := range p.conns {
				c <- connResult{err: errors.New("sandbox exited")}
			}
			p.conns = nil
			p.mu.Unlock()
			return
		}
		switch m.Type {
		case typeExit:
			closeAll(files)
			p.code, p.killedBy, p.reported = m.Code, syscall.Signal(m.Signal), true
			p.created = m.Created
			if p.Stages != nil {
				p.Stages = append(p.Stages, m.Stages...)
			}
			return
		case typeCommand:
			ev := JobEvent{Err: errors.New("the kernel has no pidfds")}
			if len(files) == 1 {
				ev.Pid, ev.Err = pidfdPid(files[0])
			}
			closeAll(files)
			if p.jobs != nil {
				p.jobs <- ev
			}
		case typeFrozen:
			closeAll(files)
			if p.frozen != nil {
				select {
				case p.frozen <- struct{}{}:
				default:
				}
			}
		case typeForegrounded:
			closeAll(files)
			if p.foregrounded != nil {
				select {
				case p.foregrounded <- m:
				default:
				}
			}
		case typeStopped:
			closeAll(files)
			if p.jobs != nil {
				p.jobs <- JobEvent{Stop: syscall.Signal(m.Signal)}
			}
		case typeConnected:
			p.mu.Lock()
			c := p.conns[m.Seq]
			delete(p.conns, m.Seq)
			p.mu.Unlock()
			r := connResult{err: errors.New(m.Err)}
			if m.Err == "" && len(files) == 1 {
				r = connResult{f: files[0]}
			} else {
				closeAll(files)
				if m.Err == "" {
					r.err = errors.New("init stage sent no socket")
				}
			}
			if c != nil {
				c <- r
			} else if r.f != nil {
				r.f.Close()
			}
		default:
			closeAll(files)
		}
	}
}

// Connect opens a TCP connection to 127.0.0.1:port inside the sandbox's
// network namespace (for -p port forwarding). The supervisor cannot enter
// that namespace, so PID 1 connects and passes the socket back. The socket
// comes as a file (net.FileConn makes it a net.Conn): package net stays out
// of nsexec, which the init stage must initialise early
// (cmd/fence/internal/stage).
func (p *Process) Connect(port int) (*os.File, error) {
	p.mu.Lock()
	if p.conns == nil {
		p.mu.Unlock()
		return nil, errors.New("sandbox exited")
	}
	p.seq++
	seq := p.seq
	c := make(chan connResult, 1)
	p.conns[seq] = c
	p.mu.Unlock()
	b := encodeMessage(message{Type: typeConnect, Seq: seq, Port: port})
	if _, err := p.ctrl.Write(b); err != nil {
		p.mu.Lock()
		delete(p.conns, seq)
		p.mu.Unlock()
		return nil, fmt.Errorf("ask sandbox to connect to port %d: %w", port, err)
	}
	r := <-c
	if r.err != nil {
		return nil, fmt.Errorf("connect to port %d inside the sandbox (127.0.0.1, then ::1): %w", port, r.err)
	}
	return r.f, nil
}

// Signal forwards sig to the command inside the sandbox.
func (p *Process) Signal(sig syscall.Signal) error { return p.signal(sig, false) }

// SignalGroup forwards sig to the command's process group.
func (p *Process) SignalGroup(sig syscall.Signal) error { return p.signal(sig, true) }

// PassOn forwards sig to the command's process group and, if the command
// is stopped, continues it, as bash's kill does for a stopped job: a
// stopped process keeps the signal pending until it is continued, and
// timeout's SIGTERM to a command stopped with kill -STOP, where nothing
// else would continue it, did nothing until timeout's SIGKILL. For fence
// without job control (the supervisor's job does it otherwise).
func (p *Process) PassOn(sig syscall.Signal) error {
	return p.send(message{Type: typeSignal, Signal: int(sig), Group: true, Continue: true})
}

func (p *Process) signal(sig syscall.Signal, group bool) error {
	return p.send(message{Type: typeSignal, Signal: int(sig), Group: group})
}

func (p *Process) send(m message) error {
	sig := syscall.Signal(m.Signal)
	// Safe to call concurrently with Wait: one packet per write.
	b := encodeMessage(m)
	if _, err := p.ctrl.Write(b); err != nil {
		return fmt.Errorf("forward signal %v: %w", sig, err)
	}
	return nil
}

// KilledBy returns, after Wait, the signal that killed the command, or 0
// if it exited (or PID 1 died without saying).
func (p *Process) KilledBy() syscall.Signal { return p.killedBy }

// Created returns, after Wait, the files matching FSPolicy's
// DenyWritePatterns that the sandbox created, as PID 1 reported them once
// the sandbox was empty; of FSPolicy.Created, only those it renamed. Some
// may be gone.
func (p *Process) Created() []string {
	<-p.exited
	return p.created
}

// Wait waits for the command to exit and returns its exit code (128+n if it
// was killed by signal n). When Wait returns, no process of the sandbox is
// left: PID 1 killed and reaped them before reporting, and is itself exiting.
func (p *Process) Wait() (int, error) {
	<-p.exited
	if p.reported {
		p.ctrl.Close()
		// Reap PID 1 in the background: its exit only frees the
		// namespaces now, and the caller has the exit status to act on
		// meanwhile. Reaped tells when it is done.
		go func() { _, _ = waitPID(p.Pid); p.release(); p.markReaped() }()
		return p.code, nil
	}
	// PID 1 died without reporting; wait4 tells how.
	p.ctrl.Close()
	st, err := waitPID(p.Pid)
	p.release()
	p.markReaped()
	if err != nil {
		return 1, fmt.Errorf("wait for sandbox init stage %d: %w", p.Pid, err)
	}
	if st.Signaled() {
		// Only SIGKILL can kill PID 1 of a namespace from outside.
		return 128 + int(st.Signal()), nil
	}
	if st.ExitStatus() == 255 {
		return 255, errors.New("sandbox init stage failed after start; run with -d for details")
	}
	return st.ExitStatus(), nil
}

// Reaped is closed once Wait (or its background part) has reaped PID 1.
// A program that exits right after Wait should wait for it first: PID 1
// is still exiting when Wait returns (tearing its namespaces down), and a
// child left behind by an exiting parent goes to the nearest subreaper or
// to the PID namespace's init, which in a container is often a program
// that never reaps children it did not start (node, java, python, sleep):
// one zombie per run, until the container's pid limit is reached.
// Without a call to Wait it is never closed.
func (p *Process) Reaped() <-chan struct{} { return p.reaped }

// markReaped closes reaped, once: a second Wait (its wait4 fails with
// ECHILD, or its background reap does) must not close it again.
func (p *Process) markReaped() {
	p.reapOnce.Do(func() { p.reapedAt = Now(); close(p.reaped) })
}

// ReapedAt is when PID 1 was reaped (Now()), once Reaped is closed.
func (p *Process) ReapedAt() int64 { return p.reapedAt }

// Freeze stops every process of the sandbox (Options.JobControl: the job
// stopped) and waits until PID 1 has done so.
func (p *Process) Freeze() error {
	if _, err := p.ctrl.Write(encodeMessage(message{Type: typeFreeze})); err != nil {
		return fmt.Errorf("ask the sandbox to stop: %w", err)
	}
	select {
	case <-p.frozen:
		return nil
	case <-p.exited:
		return errors.New("sandbox exited")
	case <-time.After(5 * time.Second):
		return errors.New("the sandbox did not say it stopped within 5 s")
	}
}

// Thaw continues the processes Freeze stopped; the command's group is the
// caller's to continue.
func (p *Process) Thaw() error {
	if _, err := p.ctrl.Write(encodeMessage(message{Type: typeThaw})); err != nil {
		return fmt.Errorf("ask the sandbox to continue: %w", err)
	}
	return nil
}

// Foreground gives the foreground of the sandbox's pseudo-terminal
// (Options.PTY) to the command's process group, with cmd, or takes it
// back (to PID 1's), and waits until PID 1 has done so.
func (p *Process) Foreground(cmd bool) error {
	if p.foregrounded == nil {
		return errors.New("the sandbox has no job control")
	}
	// Numbered: an answer that came after an earlier call gave up is
	// not this call's.
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	if _, err := p.ctrl.Write(encodeMessage(message{Type: typeForeground, Group: cmd, Seq: seq})); err != nil {
		return fmt.Errorf("ask the sandbox for its terminal's foreground: %w", err)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case a := <-p.foregrounded:
			if a.Seq != seq {
				continue
			}
			if a.Err != "" {
				return errors.New(a.Err)
			}
			return nil
		case <-p.exited:
			return errors.New("sandbox exited")
		case <-timeout:
			return errors.New("the sandbox did not set its terminal's foreground within 5 s")
		}
	}
}

// pidfdPid returns the pid of the process behind a pidfd, in the PID
// namespace of fence's /proc (the one fence re-executed itself through).
func pidfdPid(f *os.File) (int, error) {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return 0, fmt.Errorf("read the command's pidfd: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || pid <= 0 {
				// -1: the command is gone already; 0: not in fence's
				// PID namespace.
				return 0, fmt.Errorf("the command's pidfd has no pid for fence (%q)", strings.TrimSpace(v))
			}
			return pid, nil
		}
	}
	return 0, errors.New("the command's pidfd has no Pid line in /proc/self/fdinfo")
}

// diagnoseSpawn turns a failed clone into an error that names the fix; a
// later step of the spawn (the exec, the id maps) says what failed.
func diagnoseSpawn(err error) error {
	var ce *spawn.CloneError
	if !errors.As(err, &ce) {
		return fmt.Errorf("start sandbox init stage: %w", err)
	}
	if reason := userNSBlocker(); reason != "" {
		return fmt.Errorf("create sandbox namespaces: %w: %s", err, reason)
	}
	if os.Getenv("FENCE_SANDBOX") == "1" {
		return fmt.Errorf("create sandbox namespaces: %w: %s", err, insideFence)
	}
	return fmt.Errorf("create sandbox namespaces: %w (the kernel refused new user/mount/pid/net namespaces; a container's seccomp profile may block them; see README#troubleshooting)", err)
}

// insideFence is why a fence that runs in a fence sandbox (FENCE_SANDBOX=1,
// set by fence for its command) cannot create namespaces: the sandbox's
// seccomp filter refuses them to every process in it.
const insideFence = "this fence runs inside a fence sandbox (FENCE_SANDBOX=1), which allows no sandbox in it; run the command in the outer sandbox as it is, or start this fence outside it"

// userNSBlocker names the sysctl that disables unprivileged user namespaces,
// or "" if none is set.
func userNSBlocker() string {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return string(trimNL(b))
	}
	if v := read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); v == "1" && os.Getuid() != 0 {
		return "user namespaces are restricted by AppArmor: kernel.apparmor_restrict_unprivileged_userns=1; see README#ubuntu"
	}
	if v := read("/proc/sys/kernel/unprivileged_userns_clone"); v == "0" && os.Getuid() != 0 {
		return "user namespaces are disabled: kernel.unprivileged_userns_clone=0; see README#troubleshooting"
	}
	if v := read("/proc/sys/user/max_user_namespaces"); v == "0" {
		return "user namespaces are disabled: user.max_user_namespaces=0; see README#troubleshooting"
	}
	return ""
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// filesPerMessage bounds the descriptors of one msgFiles: the kernel passes
// at most 253 (SCM_MAX_FD) in one message.
const filesPerMessage = 253

// checkPassFiles refuses descriptors to pass on that PID 1 could not place:
// a number of fence's stdio (the command's 0 to 2 are set apart), or one
// listed twice.
func checkPassFiles(fds []int) error {
	seen := make(map[int]bool, len(fds))
	for _, fd := range fds {
		if fd <= 2 || seen[fd] {
			return fmt.Errorf("pass descriptor %d to the command: descriptors to pass must be above 2 and listed once", fd)
		}
		seen[fd] = true
	}
	return nil
}

// sendFiles sends fds to PID 1 over the control socket ctrl, their numbers
// and the descriptors themselves, in msgFiles of at most filesPerMessage
// each, the first saying how many in all (Seq); one without any for none.
func sendFiles(ctrl *os.File, fds []int) error {
	rc, err := ctrl.SyscallConn()
	if err != nil {
		return err
	}
	for first := true; first || len(fds) > 0; first = false {
		chunk := fds[:min(len(fds), filesPerMessage)]
		m := message{Type: typeFiles, FDs: chunk}
		if first {
			m.Seq = len(fds)
		}
		b := encodeMessage(m)
		var oob []byte
		if len(chunk) > 0 {
			oob = unix.UnixRights(chunk...)
		}
		var serr error
		if err := rc.Write(func(fd uintptr) bool {
			serr = unix.Sendmsg(int(fd), b, oob, nil, 0)
			return serr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		fds = fds[len(chunk):]
	}
	return nil
}

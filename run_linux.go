package fence

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nsfence/fence/nsexec"
	"github.com/nsfence/fence/nsexec/landlock"
	"github.com/nsfence/fence/nsexec/sigfwd"
	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// Run runs the command of s in the sandbox and returns its exit code (128+n
// if a signal n killed it). An error means the sandbox could not be set up,
// or the policy refused the command (config.CommandBlockedError,
// config.SSHBlockedError); the command did not run then. While the command
// runs, Run forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGALRM
// that the calling process receives to it.
func Run(s *Spec) (int, error) {
	defer s.Abort() // a pending init stage not used below
	// The terminal: when fence's standard input, output or error is its
	// controlling terminal, the command gets a process group of its own
	// in fence's session and job control is passed on (jobControl, job).
	// Not only for input: a command in a session of its own could read
	// the terminal through an output descriptor (opened for reading and
	// writing, as terminals usually are) with no job control to stop it,
	// and could not open /dev/tty (cat f | fence -- less).
	stdio := [3]int{0, 1, 2}
	for i, f := range []*os.File{s.Stdin, s.Stdout, s.Stderr} {
		if f != nil {
			stdio[i] = int(f.Fd())
		}
	}
	// A directory among them would be the host's view of it inside: paths
	// through it (/proc/self/fd/0/.ssh/id_rsa, openat) skip every mask and
	// read-only bind, which are mounts of the sandbox's own tree.
	for i, fd := range stdio {
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			name := [...]string{"standard input", "standard output", "standard error"}[i]
			return 1, fmt.Errorf("%s is a directory: through it the sandbox would see the host's files past fence's masks and read-only paths; redirect it from or to a file, or /dev/null", name)
		}
	}
	// Job control is the CLI's (OwnSignals): passing a stop on stops
	// fence, which in a library is the calling program. It needs the
	// command's pid (pidfds, Linux 5.3).
	candidates := stdio[:]
	if !s.OwnSignals {
		candidates = stdio[:1] // the terminal on stdin, as before job control
	}
	ttyIndex, pgrp := terminal(candidates)
	jobs := s.OwnSignals && ttyIndex >= 0 && pidfds()
	if !jobs && ttyIndex > 0 {
		ttyIndex = -1 // the terminal on stdin only, as before job control
	}
	ttyFD := -1
	if ttyIndex >= 0 {
		ttyFD = stdio[ttyIndex]
	}
	fenceFG := ttyIndex >= 0 && pgrp == unix.Getpgrp()
	var setsid, fg, tstpIgnored bool
	if jobs {
		tstpIgnored = sigfwd.Ignored(syscall.SIGTSTP)
		// A command started in the background is handed the terminal
		// when the kernel stops it on a read. With SIGTTIN or SIGTTOU
		// inherited ignored (a shell's $(fence cmd) has them so) the
		// read fails instead: it starts with the terminal then.
		lazy := !sigfwd.Ignored(syscall.SIGTTIN) && !sigfwd.Ignored(syscall.SIGTTOU)
		setsid, fg = jobControl(true, fenceFG, isTerminal(stdio[1]) || !lazy)
	} else {
		// The command takes the terminal from a fence that has it (a ^Z
		// continues it), else gets a session of its own: a background
		// group that read the terminal would stay stopped for good.
		fg, setsid = fenceFG, !fenceFG
	}
	// fence's own messages on its terminal while the relay has it in
	// raw mode (relay, below).
	var raw atomic.Bool
	if jobs && s.Log == nil && isCtty(stdio[2]) {
		s.Log = rawSafe{os.Stderr, &raw}
		defer func() { s.Log = nil }()
	}
	toCatch := caught()
	if jobs {
		// Besides the forwarded signals: job control (SIGTSTP and
		// SIGTTIN, unless fence inherited them ignored; SIGCONT), and
		// window size changes for a command that is not the terminal's
		// foreground. A SIGTTIN reaches fence when its group reads the
		// terminal from the background (a pipeline's other side): by
		// its default action fence would stop without the sandbox.
		// Not SIGTTOU: fence's own writes to the terminal would retry
		// for ever from the background under stty tostop.
		toCatch = append(toCatch, syscall.SIGCONT, syscall.SIGWINCH)
		if !tstpIgnored {
			toCatch = append(toCatch, syscall.SIGTSTP)
		}
		if !sigfwd.Ignored(syscall.SIGTTIN) {
			toCatch = append(toCatch, syscall.SIGTTIN)
		}
	}
	// Catching the forwarded signals is done beside the policy work, not
	// before or after it: with os/signal, registering a signal is a round
	// trip to the runtime's signal-mask thread (~0.1 ms each). It is
	// complete before the command can start (see below).
	var sigs *sigfwd.Catcher
	registered := make(chan struct{})
	go func() {
		if s.OwnSignals {
			var err error
			if sigs, err = sigfwd.Catch(toCatch); err != nil {
				// Not fatal: without a handler of fence's, the
				// signal is delivered to the runtime's (os/signal).
				sigs = sigfwd.Notify(toCatch)
			}
		} else {
			sigs = sigfwd.Notify(toCatch)
		}
		close(registered)
	}()
	// Stopping is not waited for either: in the CLI the process is about
	// to exit.
	defer func() {
		go func() { <-registered; sigs.Stop() }()
	}()
	s.lateNoExec = true
	o, np, err := s.plan()
	s.lateNoExec = false
	if err != nil {
		return 1, err
	}
	s.mark("planned")
	nw := s.newNetwork(np)
	defer nw.close()
	if nw.logf != nil {
		for _, h := range loopbackHints(&s.Config.Network, np) {
			nw.logf(h)
		}
		if h := localOutboundHint(&s.Config.Network, np, s.from); h != "" {
			nw.logf(h)
		}
	}
	if np.hostNet {
		// Relaxed mode: no network namespace, so the proxies listen on the
		// host's loopback.
		hp, sp, err := nw.serveOnHost(np)
		if err != nil {
			return 1, err
		}
		o.Env = setProxyEnv(o.Env, hp, sp, np.credential)
		s.logf("network: host network (allowedDomains contains \"*\"); proxies on %s and %s with a per-run credential", addr(hp), addr(sp))
	}
	// -p: listen on the host first, so a port in use fails before the
	// command runs.
	var exposed []net.Listener
	if !np.hostNet {
		for _, port := range s.Ports {
			ln, err := net.Listen("tcp", addr(port))
			if err != nil {
				for _, l := range exposed {
					l.Close()
				}
				hint := "is it in use on the host?"
				if errors.Is(err, syscall.EACCES) {
					hint = "ports below 1024 need root on the host; expose a higher one"
				}
				return 1, fmt.Errorf("expose port %d: %w (%s)", port, err, hint)
			}
			exposed = append(exposed, ln)
		}
	}
	defer func() {
		for _, l := range exposed {
			l.Close()
		}
	}()
	llABI := landlock.ABI()
	switch {
	case llABI == 0:
		// Landlock repeats the mount policy in the kernel; without it the
		// mount tree alone enforces the policy.
		o.NoLandlock = true
		s.logf("landlock unavailable: running with the mount policy only (defense in depth lost)")
	case llABI < landlock.MinABI:
		// ABI 1 cannot let the writable paths (the private /tmp at least)
		// rename across directories: the init stage would find no ruleset
		// to apply. The same as no Landlock, and said so.
		o.NoLandlock = true
		s.logf("landlock ABI %d is too old for fence (it needs ABI %d, Linux 5.19): running with the mount policy only (defense in depth lost)", llABI, landlock.MinABI)
	}
	o.Stdin, o.Stdout, o.Stderr = s.Stdin, s.Stdout, s.Stderr
	// The command takes the terminal at start only from a fence that has
	// it: one started as a background job (fence cmd &) took it from the
	// shell, which then exited on its next read.
	o.TTY, o.Foreground, o.TTYFD, o.JobControl = !setsid, fg, max(ttyIndex, 0), jobs && !setsid
	// With job control the command's terminal is a pseudo-terminal of
	// the sandbox's, relayed (relay): a process of the sandbox in fence's
	// session, or with a descriptor of its terminal, could read what is
	// typed to the shell while fence runs in the background, by leaving
	// the job's control (setsid) or taking the terminal (TIOCSPGRP).
	ttyRelay := -1
	if o.JobControl {
		for i, fd := range stdio {
			if isCtty(fd) {
				o.PTY |= 1 << i
			}
		}
		if ttyRelay, err = openTerminal(); err != nil {
			return 1, err
		}
	}
	o.Timeline = s.Timeline != nil
	netns := ",net"
	if o.HostNetwork {
		netns = ""
	}
	ll := fmt.Sprintf("landlock(abi %d)", llABI)
	if o.NoLandlock {
		ll = fmt.Sprintf("no landlock (abi %d)", llABI)
	}
	s.logf("Sandbox: namespaces(user,mnt,pid,ipc,uts%s), seccomp, %s", netns, ll)

	// A signal for the command that arrives once it may run must not kill
	// fence with its default action: the command waits for registered
	// (the init stage builds the sandbox meanwhile).
	var p *nsexec.Process
	// Looked for while PID 1 builds the sandbox (StartGated), not here
	// before the policy goes out.
	var pipes []int
	if s.PassPipes {
		o.PassFilesLater = func() (fds []int, err error) {
			var near []int
			var limit uint64
			pipes, near, limit, err = inheritedPipes()
			for _, fd := range near {
				fmt.Fprintf(s.stderr(), "Warning: the pipe fence inherited at descriptor %d is not passed to the command: it is within 8 of the open-file limit (%d); raise the limit (ulimit -n) to pass it\n", fd, limit)
			}
			return pipes, err
		}
	}
	// The pending init stage was spawned with fence's own stdio.
	if pd := s.takePending(); pd != nil && pd.HostNetwork() == o.HostNetwork && o.Stdin == nil && o.Stdout == nil && o.Stderr == nil {
		p, err = pd.StartGated(o, registered)
	} else {
		if pd != nil {
			pd.Abort()
		}
		p, err = nsexec.StartGated(o, registered)
	}
	// Sent, or never to be: PID 1 and the command hold their own copies
	// now, and fence's would keep a reader of one of these pipes from
	// seeing the end of its input until fence exits.
	for _, fd := range pipes {
		unix.Close(fd)
	}
	if err != nil {
		if ttyRelay >= 0 {
			unix.Close(ttyRelay)
		}
		return 1, err
	}
	var r *relay
	if p.PTY != nil {
		if r, err = newRelay(p, ttyRelay, &raw); err != nil {
			_ = p.Signal(syscall.SIGKILL)
			_, _ = p.Wait()
			s.awaitReaped(p)
			return 1, err
		}
	}
	if !np.hostNet {
		if err := nw.serve(np, p.Listeners); err != nil {
			_ = p.Signal(syscall.SIGKILL)
			_, _ = p.Wait()
			if r != nil {
				r.close(nil)
			}
			s.awaitReaped(p)
			return 1, err
		}
	}
	for i, ln := range exposed {
		port := s.Ports[i]
		go nw.forward(ln, nw.inSlots, fmt.Sprintf("sandbox port %d", port), func() (net.Conn, error) {
			f, err := p.Connect(port)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			c, err := net.FileConn(f)
			if err != nil {
				return nil, fmt.Errorf("use sandbox connection to port %d: %w", port, err)
			}
			return c, nil
		})
	}
	var jobDone chan *job
	if p.Jobs == nil {
		go func() {
			for sig := range sigs.C {
				// To the command's group, as passOn does and as
				// without fence, where the command would share
				// fence's group: a SIGINT to fence's group
				// (timeout -s INT) passed to a shell alone let it
				// wait for its child and go on. Continued if
				// stopped (PassOn).
				_ = p.PassOn(sig)
			}
		}()
	} else {
		jobDone = make(chan *job, 1)
		go func() { jobDone <- s.passOn(p, sigs, ttyFD, tstpIgnored, fg, r) }()
	}
	// The start is over: the CLI's sysmon, slowed down for it
	// (spawn.CoarsenSysmon), is to poll as usual again, unless the command
	// ends first; the proxies need its quick hand-offs as any Go server
	// does. Nothing to do for a library caller.
	spawn.RestoreSysmonLater()
	code, err := p.Wait()
	s.killedBy = p.KilledBy()
	// The sandbox is empty: nothing is left to serve. Closed before PID 1
	// is reaped, its listeners no longer hold the network namespace, which
	// the kernel then tears down (asynchronously, ~0.3 ms of its time)
	// from PID 1's exit on, not from fence's: a script's next fence
	// started less of its own sandbox beside it (block medians ~−0.1 ms
	// back to back, docs/benchmarking.md). The deferred close then finds
	// nothing left to close.
	nw.close()
	if code == 127 && err == nil && len(o.Args) > 0 {
		if h := hiddenInTmp(&o.FS, o.Args[0], getenv(o.Env, "PATH"), o.Dir); h != "" {
			fmt.Fprintln(s.stderr(), "fence: "+h)
		}
	}
	s.saveCreated(&o.FS, p.Created())
	if r != nil {
		// passOn, which drives the relay, is done once the sandbox is;
		// the signals it passed on can end the wait for the output.
		<-jobDone
		r.close(sigs.C)
		if k := s.killedBy; (k == unix.SIGINT || k == unix.SIGQUIT) && r.typed(k) {
			// A ^C (^\) typed to the sandbox's terminal killed the
			// command. Without fence, the terminal would have sent it
			// to fence's group too (a script that runs fence, make):
			// with the signal received while it waits, bash stops the
			// script once fence dies by it (main), instead of going on
			// to its next command. fence ignores its own copy. Not at
			// the keystroke: an interactive shell inside, in its own
			// group there, keeps the ^C from the rest, as a job-control
			// shell does without fence.
			sigfwd.WhileIgnored(k, func() { _ = unix.Kill(0, k) })
		}
	}
	if s.awaitReaped(p) && s.Timeline != nil {
		p.Stages = append(p.Stages, nsexec.Stage{Name: "init-reaped", Mono: p.ReapedAt()})
	}
	if s.Timeline != nil {
		stages := append([]nsexec.Stage{{Name: "fence-start", Mono: s.StartMono}}, s.Marks...)
		stages = append(append(stages, p.Stages...), nsexec.Stage{Name: "exited", Mono: nsexec.Now()})
		slices.SortStableFunc(stages, func(a, b nsexec.Stage) int { return cmp.Compare(a.Mono, b.Mono) })
		for _, st := range stages {
			fmt.Fprintf(s.Timeline, "[fence:timeline] %-16s +%8.3f ms\n", st.Name, float64(st.Mono-stages[0].Mono)/1e6)
		}
	}
	switch {
	case jobDone == nil:
		// Without job control the command took the terminal at start
		// if fence had it.
		if fg {
			restoreForeground(ttyFD, unix.Getpgrp())
		}
	case r != nil:
		// fence's terminal was never given away.
	default:
		// The command took the terminal at start, or was given it.
		take := fg
		if j := <-jobDone; j != nil {
			take = j.takeBack()
		}
		if take {
			restoreForeground(ttyFD, unix.Getpgrp())
		}
	}
	return code, err
}

// reapWait bounds Run's wait for PID 1's exit once the sandbox is empty.
const reapWait = 2 * time.Second

// awaitReaped waits, after p.Wait, until PID 1 is reaped, and reports
// whether it was. PID 1 is still exiting when Wait returns with its
// report: reap it before fence exits, so that it is not left to whatever
// reaps orphans here (in a container often a program that never does: a
// zombie per run). Every return of Run after the start needs it, the
// early errors too (a command that exited at once had reported).
// Bounded, for a PID 1 stuck in the kernel (a hung network file system):
// then the orphan is the lesser harm. PID 1's exit takes ~0.5 ms; end to
// end a run measured between −0.2 and +0.5 ms (docs/benchmarking.md).
func (s *Spec) awaitReaped(p *nsexec.Process) bool {
	t := time.NewTimer(reapWait)
	defer t.Stop()
	select {
	case <-p.Reaped():
		return true
	case <-t.C:
		s.logf("sandbox init stage %d still exiting after %v; not waiting for it", p.Pid, reapWait)
		return false
	}
}

// pidfds reports whether the kernel has pidfds with a pid in their fdinfo
// (Linux 5.3, pidfd_open's).
func pidfds() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// terminal returns which of fence's standard descriptors (stdio) is its
// controlling terminal, the first one, or -1; and the terminal's
// foreground process group.
func terminal(stdio []int) (index, fgGroup int) {
	for i, fd := range stdio {
		if pg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err == nil {
			return i, pg
		}
	}
	return -1, 0
}

// isCtty reports whether fd is fence's controlling terminal (TIOCGPGRP
// answers only there).
func isCtty(fd int) bool {
	_, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil
}

// passOn passes the signals fence catches and the command's stops on, for
// a command with a terminal (job): PID 1 reports the command's pid, then
// each of its stops. fg: the command took the terminal as it started. It
// returns the job once the sandbox has exited, nil if the command's pid
// never came (it did not start, or the kernel has no pidfds).
//
// r is the relay of the sandbox's pseudo-terminal, nil without one.
func (s *Spec) passOn(p *nsexec.Process, caught *sigfwd.Catcher, ttyFD int, tstpIgnored, fg bool, r *relay) *job {
	var j *job
	// early is a stop fence caught before the command's pid came: a ^Z
	// typed as the command started, while fence's terminal was still in
	// its own modes (the relay puts it in raw mode once the pid is
	// here), reached fence's group instead of the sandbox's terminal.
	// It is passed on once the job exists; dropped, the job never
	// stopped.
	var early syscall.Signal
	sigs := caught.C
	for {
		select {
		case ev, ok := <-p.Jobs:
			switch {
			case !ok:
				return j
			case ev.Stop != 0 && j != nil:
				j.stopped(ev.Stop)
			case ev.Stop == syscall.SIGTSTP:
				// Without the pid, as before job control: the shell
				// waits for fence, so the command goes on.
				_ = p.SignalGroup(syscall.SIGCONT)
			case ev.Err != nil:
				s.logf("job control: %v (a ^Z continues the command)", ev.Err)
				if r != nil {
					// No active(true) will come: copyInput still
					// watches fence's terminal for a hangup.
					r.runOnce.Do(func() { close(r.running) })
				}
			case ev.Pid > 0:
				j = newJob(ev.Pid, ttyFD, false, tstpIgnored)
				j.gave, j.wantTTY = fg, fg
				j.unread = caught.Unread
				j.freeze = func() {
					if err := p.Freeze(); err != nil {
						// The command's group at least.
						s.logf("job control: %v", err)
						_ = syscall.Kill(-ev.Pid, syscall.SIGSTOP)
					}
				}
				j.thaw = func() { _ = p.Thaw() }
				if r != nil {
					j.pty = r
					if fg {
						r.startedInFore()
					}
					r.active(true)
				}
				if early != 0 {
					j.signal(early)
					early = 0
				}
			}
		case sig, ok := <-sigs:
			switch {
			case !ok:
				sigs = nil // stopped: a nil channel blocks
			case sig == syscall.SIGWINCH && r != nil:
				r.resize() // the kernel tells the foreground group
			case j != nil:
				if r != nil && (sig == syscall.SIGINT || sig == syscall.SIGTERM || sig == syscall.SIGHUP || sig == syscall.SIGQUIT) {
					r.stopped.Store(true)
				}
				j.signal(sig)
			case sig == syscall.SIGTSTP || sig == syscall.SIGTTIN:
				early = sig
			case sig == syscall.SIGCONT:
				early = 0 // fg or bg before the pid came: nothing to stop
			default:
				_ = p.SignalGroup(sig) // job control waits for the job
			}
		}
	}
}

// hiddenInTmp explains a command that was not found (exit 127) because the
// private /tmp hides it: named by a path into the host's /tmp (bash's
// "no such file or directory" said nothing of why), or a name that only a
// PATH directory there holds ("command not found" for a toolchain
// unpacked in /tmp). "" when that is not the cause: the name is visible in
// the sandbox, or found in a PATH directory it shows, so the 127 is the
// command's own.
func hiddenInTmp(fs *nsexec.FSPolicy, name, pathVar, dir string) string {
	if fs.HostTmp {
		return ""
	}
	hidden := func(p string) bool {
		return strings.HasPrefix(p, "/tmp/") && !underAny(p, fs.ReadOnly) && !underAny(p, fs.Writable)
	}
	const fix = "which the sandbox replaces with a private one: list it, or its directory, in filesystem.allowRead"
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if p = filepath.Clean(p); hidden(p) && fileExists(p) {
			return p + " is in the host's /tmp, " + fix
		}
		return ""
	}
	found := ""
	for _, d := range filepath.SplitList(pathVar) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, name)
		if !fileExists(p) {
			continue
		}
		if !hidden(filepath.Clean(d)) {
			return "" // the sandbox shows one: not why it failed
		}
		if found == "" {
			found = p
		}
	}
	if found != "" {
		return name + " was found only in the host's /tmp (" + found + "), " + fix
	}
	return ""
}

// fileExists reports whether p exists on the host.
func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// inheritedPipes returns this process's descriptors above 2 that are
// anonymous pipes it inherited (Spec.PassPipes): open without close-on-exec
// (every descriptor fence opens itself is close-on-exec), on pipefs and
// named "pipe:[inode]", not a named FIFO, whose descriptor could change
// the host file's mode. near are such pipes that are not passed, within 8
// of the open-file limit (limit), for the caller to warn of.
func inheritedPipes() (pipes, near []int, limit uint64, err error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list fence's descriptors to pass its pipes on: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list fence's descriptors to pass its pipes on: %w", err)
	}
	// PID 1 runs with fence's open-file limit: a pipe at a number near it
	// (inherited from a process with a higher one) could not be placed
	// there, with room for the descriptors the forked command moves
	// above the others. Not passed: the caller warns of it.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return nil, nil, 0, fmt.Errorf("read the open-file limit to pass fence's pipes on: %w", err)
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd <= 2 {
			continue
		}
		// The listing's own descriptor is close-on-exec, as is every
		// other of fence's, and so left out here.
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		var sfs unix.Statfs_t
		if unix.Fstatfs(fd, &sfs) != nil || uint32(sfs.Type) != unix.PIPEFS_MAGIC {
			continue
		}
		// A file system may report any type (9p passes its server's
		// on): an anonymous pipe's name says what it is.
		if l, err := os.Readlink("/proc/self/fd/" + name); err != nil || !strings.HasPrefix(l, "pipe:[") {
			continue
		}
		if uint64(fd)+8 > lim.Cur {
			near = append(near, fd)
			continue
		}
		pipes = append(pipes, fd)
	}
	slices.Sort(pipes)
	slices.Sort(near)
	return pipes, near, lim.Cur, nil
}

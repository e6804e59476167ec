package fence

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/nsfence/fence/nsexec/sigfwd"
	"github.com/nsfence/fence/seatbelt"
	"golang.org/x/sys/unix"
)

// Run runs the command of s under a Seatbelt profile (sandbox-exec) and
// returns its exit code (128+n if a signal n killed it). An error means the
// sandbox could not be set up, or the policy refused the command; the
// command did not run then. The proxies listen on the host's 127.0.0.1
// with a per-run credential, and the profile lets the command reach them
// and nothing else. The command gets a temporary directory of its own as
// TMPDIR, removed when it ends. Descriptors above 2 that the calling
// process inherited are marked close-on-exec for good: Seatbelt checks
// opens, so an inherited one would carry access past the profile.
func Run(s *Spec) (int, error) {
	defer s.Abort()
	if _, err := os.Stat(seatbelt.SandboxExec); err != nil {
		return 1, fmt.Errorf("find %s: %w (fence needs macOS's sandbox-exec)", seatbelt.SandboxExec, err)
	}
	// Besides the forwarded signals: job control (SIGTSTP, unless fence
	// inherited it ignored; SIGCONT) and window size changes, for a
	// command in a group of its own.
	tstpIgnored := signal.Ignored(syscall.SIGTSTP)
	extra := []syscall.Signal{syscall.SIGCONT, syscall.SIGWINCH}
	if !tstpIgnored {
		extra = append(extra, syscall.SIGTSTP)
	}
	sigs := sigfwd.Notify(append(caught(), extra...))
	defer sigs.Stop()
	mp, err := s.planSeatbelt()
	if err != nil {
		return 1, err
	}
	tmp, err := os.MkdirTemp("", "fence-")
	if err != nil {
		return 1, fmt.Errorf("create the sandbox's temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	mp.opts.Writable = append(mp.opts.Writable, seatbeltForms(seatbelt.Literal(tmp))...)
	env := setEnv(mp.env, "TMPDIR="+tmp)

	nw := s.newNetwork(mp.np)
	defer nw.close()
	hp, sp, err := nw.serveOnHost(mp.np)
	if err != nil {
		return 1, err
	}
	mp.opts.Network.ProxyPorts = []int{hp, sp}
	env = setProxyEnv(env, hp, sp, mp.np.credential)
	// Every denial carries this run's tag, so that its reports can be
	// told from other sandboxes' in the unified log.
	tag := make([]byte, 8)
	if _, err := rand.Read(tag); err != nil {
		return 1, fmt.Errorf("generate log tag: %w", err)
	}
	mp.opts.LogTag = "FENCE_" + hex.EncodeToString(tag) + "_SBX"
	if s.Monitor {
		var mu sync.Mutex
		stop, err := seatbelt.Monitor(mp.opts.LogTag, func(line string) {
			mu.Lock()
			fmt.Fprintln(s.stderr(), line)
			mu.Unlock()
		})
		if err != nil {
			// Monitoring restricts nothing: the command runs, the user
			// hears why the refusals are missing.
			fmt.Fprintf(s.stderr(), "Warning: -m shows the proxies' refusals only: %v\n", err)
		} else {
			defer stop()
		}
	}

	stdio := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for i, f := range []*os.File{s.Stdin, s.Stdout, s.Stderr} {
		if f != nil {
			stdio[i] = f
		}
	}
	ttyFD := int(stdio[0].Fd())
	pgrp, ttyErr := unix.IoctlGetInt(ttyFD, unix.TIOCGPGRP)
	// Output taken as a terminal: a command started in the background
	// (output piped) would fail to read the terminal where SIGTTIN is
	// inherited ignored ($(fence cmd)), and os/signal cannot tell that
	// here (Linux asks the kernel: sigfwd.Ignored).
	setsid, fg := jobControl(ttyErr == nil, ttyErr == nil && pgrp == unix.Getpgrp(), true)
	// The terminals the command inherits are the only ones it may use
	// (the profile denies every other /dev/ttys*: reading another one
	// would read what the user types there). It may read its input's,
	// where job control stops it unless it is in the foreground; with a
	// session of its own nothing would, so it only writes to those of
	// its output.
	if t := terminalPath(ttyFD); t != "" && !setsid {
		mp.opts.Terminals = append(mp.opts.Terminals, t)
	}
	for i, f := range stdio {
		t := terminalPath(int(f.Fd()))
		if t == "" || slices.Contains(mp.opts.Terminals, t) {
			continue
		}
		if !slices.Contains(mp.opts.OutputTerminals, t) {
			mp.opts.OutputTerminals = append(mp.opts.OutputTerminals, t)
		}
		// The descriptor fence holds is usually the terminal opened for
		// reading and writing (Terminal.app, tmux): read from, it would
		// give the command what the user types, with no job control to
		// stop it. It gets the terminal opened for writing only.
		w, err := os.OpenFile(t, os.O_WRONLY|syscall.O_NOCTTY, 0)
		if err != nil {
			return 1, fmt.Errorf("open %s for the command's output: %w", t, err)
		}
		defer w.Close()
		stdio[i] = w
	}
	profile, err := seatbelt.Profile(mp.opts)
	if err != nil {
		return 1, err
	}
	s.logf("Seatbelt profile:\n%s", profile)

	argv := append([]string{mp.path}, mp.args[1:]...)
	cmd := seatbelt.Command(profile, argv)
	cmd.Env, cmd.Dir = env, s.Cwd
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
	switch {
	case setsid:
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	case fg:
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: ttyFD}
	default:
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	// Descriptors fence inherited open are not the command's: Seatbelt
	// checks opens, so one would carry access the profile denies (a
	// denied file, a connected socket) into the sandbox. Linux closes
	// them in PID 1.
	if err := closeOnExecAbove2(); err != nil {
		return 1, err
	}
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("start %s: %w", seatbelt.SandboxExec, err)
	}
	pid := cmd.Process.Pid
	j := newJob(pid, ttyFD, setsid, tstpIgnored)
	j.gave, j.wantTTY = fg, fg
	j.unread = sigs.Unread
	go func() {
		for sig := range sigs.C {
			j.signal(sig)
		}
	}()
	ws, fg, err := j.wait()
	_ = cmd.Process.Release()
	// Whatever the command left running in its group goes with it, as
	// on Linux (where PID 1's exit ends the sandbox), before its TMPDIR
	// is removed. (Its pid was reaped just now; a new group with that id
	// within this instant would need the pid counter to wrap.)
	_ = unix.Kill(-pid, unix.SIGKILL)
	if fg {
		restoreForeground(ttyFD, unix.Getpgrp())
	}
	if err != nil {
		return 1, err
	}
	if ws.Signaled() {
		s.killedBy = ws.Signal()
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// terminalPath returns the device path of the terminal open as fd, or "".
// Pseudo-terminals are /dev/ttysNNN with NNN their minor number; anything
// else is looked up in /dev.
func terminalPath(fd int) string {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return ""
	}
	if _, err := unix.IoctlGetTermios(fd, unix.TIOCGETA); err != nil {
		return ""
	}
	same := func(p string) bool {
		var d unix.Stat_t
		return unix.Stat(p, &d) == nil && d.Mode&unix.S_IFMT == unix.S_IFCHR && d.Rdev == st.Rdev
	}
	if p := fmt.Sprintf("/dev/ttys%03d", unix.Minor(uint64(st.Rdev))); same(p) {
		return p
	}
	names, err := os.ReadDir("/dev")
	if err != nil {
		return ""
	}
	for _, n := range names {
		if p := "/dev/" + n.Name(); strings.HasPrefix(n.Name(), "tty") && same(p) {
			return p
		}
	}
	return ""
}

// closeOnExecAbove2 marks every descriptor above 2 close-on-exec. Go opens
// its own that way; the rest were inherited.
func closeOnExecAbove2() error {
	// Names only: ReadDir would lstat each entry, which fails for a
	// kqueue descriptor (the Go poller's).
	d, err := os.Open("/dev/fd")
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // the directory's own descriptor, closed by now
		}
		if flags&unix.FD_CLOEXEC == 0 {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err != nil {
				return fmt.Errorf("close inherited descriptor %d for the command: %w", fd, err)
			}
		}
	}
	return nil
}

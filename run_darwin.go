package fence

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
// TMPDIR, removed when it ends.
func Run(s *Spec) (int, error) {
	defer s.Abort()
	if _, err := os.Stat(seatbelt.SandboxExec); err != nil {
		return 1, fmt.Errorf("find %s: %w (fence needs macOS's sandbox-exec)", seatbelt.SandboxExec, err)
	}
	sigs := sigfwd.Notify(caught())
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
	mp.opts.Writable = append(mp.opts.Writable, seatbeltForms(tmp)...)
	env := setEnv(mp.env, "TMPDIR="+tmp)

	nw := &network{srv: s.newProxy(mp.np)}
	defer nw.close()
	hp, sp, err := nw.serveOnHost(mp.np)
	if err != nil {
		return 1, err
	}
	mp.opts.Network.ProxyPorts = []int{hp, sp}
	env = setEnv(env, proxyEnv(hp, sp, mp.np.credential)...)
	// Every denial carries this run's tag, so that its reports can be
	// told from other sandboxes' in the unified log.
	tag := make([]byte, 8)
	if _, err := rand.Read(tag); err != nil {
		return 1, fmt.Errorf("generate log tag: %w", err)
	}
	mp.opts.LogTag = "FENCE_" + hex.EncodeToString(tag) + "_SBX"
	profile, err := seatbelt.Profile(mp.opts)
	if err != nil {
		return 1, err
	}
	s.logf("Seatbelt profile:\n%s", profile)
	if s.Monitor {
		var mu sync.Mutex
		stop, err := seatbelt.Monitor(mp.opts.LogTag, func(line string) {
			mu.Lock()
			fmt.Fprintln(s.stderr(), line)
			mu.Unlock()
		})
		if err != nil {
			return 1, err
		}
		defer stop()
	}

	argv := append([]string{mp.path}, mp.args[1:]...)
	cmd := seatbelt.Command(profile, argv)
	cmd.Env, cmd.Dir = env, s.Cwd
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if s.Stdin != nil {
		cmd.Stdin = s.Stdin
	}
	if s.Stdout != nil {
		cmd.Stdout = s.Stdout
	}
	if s.Stderr != nil {
		cmd.Stderr = s.Stderr
	}
	// The command runs in a process group of its own, in the terminal's
	// foreground if fence is: keys typed reach it alone, and fence
	// forwards what fence itself is sent.
	ttyFD := 0
	if f, ok := cmd.Stdin.(*os.File); ok {
		ttyFD = int(f.Fd())
	}
	pgrp, ttyErr := unix.IoctlGetInt(ttyFD, unix.TIOCGPGRP)
	tty := ttyErr == nil && pgrp == unix.Getpgrp()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: tty, Ctty: ttyFD}
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("start %s: %w", seatbelt.SandboxExec, err)
	}
	go func() {
		for sig := range sigs.C {
			_ = cmd.Process.Signal(sig)
		}
	}()
	err = cmd.Wait()
	if tty {
		restoreForeground(ttyFD, pgrp)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 1, fmt.Errorf("wait for the command: %w", err)
}

package fence

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"syscall"

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
// runs, Run forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2
// that the calling process receives to it.
func Run(s *Spec) (int, error) {
	defer s.Abort() // a pending init stage not used below
	// Catching the forwarded signals is done beside the policy work, not
	// before or after it: with os/signal, registering a signal is a round
	// trip to the runtime's signal-mask thread (~0.1 ms each). It is
	// complete before the command can start (see below).
	var sigs *sigfwd.Catcher
	registered := make(chan struct{})
	go func() {
		if s.OwnSignals {
			var err error
			if sigs, err = sigfwd.Catch(caught()); err != nil {
				// Not fatal: without a handler of fence's, the
				// signal is delivered to the runtime's (os/signal).
				sigs = sigfwd.Notify(caught())
			}
		} else {
			sigs = sigfwd.Notify(caught())
		}
		close(registered)
	}()
	// Stopping is not waited for either: in the CLI the process is about
	// to exit.
	defer func() {
		go func() { <-registered; sigs.Stop() }()
	}()
	o, np, err := s.plan()
	if err != nil {
		return 1, err
	}
	s.mark("planned")
	nw := &network{srv: s.newProxy(np)}
	defer nw.close()
	if np.hostNet {
		// Relaxed mode: no network namespace, so the proxies listen on the
		// host's loopback.
		hp, sp, err := nw.serveOnHost(np)
		if err != nil {
			return 1, err
		}
		o.Env = setEnv(o.Env, proxyEnv(hp, sp, np.credential)...)
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
				return 1, fmt.Errorf("expose port %d: %w (is it in use on the host?)", port, err)
			}
			exposed = append(exposed, ln)
		}
	}
	defer func() {
		for _, l := range exposed {
			l.Close()
		}
	}()
	if landlock.ABI() == 0 {
		// Landlock repeats the mount policy in the kernel; without it the
		// mount tree alone enforces the policy.
		o.NoLandlock = true
		s.logf("landlock unavailable: running with the mount policy only (defense in depth lost)")
	}
	o.Stdin, o.Stdout, o.Stderr = s.Stdin, s.Stdout, s.Stderr
	ttyFD := 0
	if s.Stdin != nil {
		ttyFD = int(s.Stdin.Fd())
	}
	pgrp, ttyErr := unix.IoctlGetInt(ttyFD, unix.TIOCGPGRP)
	// The command takes the terminal only from a fence that has it. One
	// started as a background job (fence cmd &) took it from the shell,
	// which then exited on its next read; now its command gets a session
	// of its own, as without a terminal.
	o.TTY = ttyErr == nil && pgrp == unix.Getpgrp()
	o.Timeline = s.Timeline != nil
	netns := ",net"
	if o.HostNetwork {
		netns = ""
	}
	s.logf("Sandbox: namespaces(user,mnt,pid,ipc,uts%s), seccomp, landlock(abi %d)", netns, landlock.ABI())

	// A signal for the command that arrives once it may run must not kill
	// fence with its default action: the command waits for registered
	// (the init stage builds the sandbox meanwhile).
	var p *nsexec.Process
	// The pending init stage was spawned with fence's own stdio.
	if pd := s.takePending(); pd != nil && pd.HostNetwork() == o.HostNetwork && o.Stdin == nil && o.Stdout == nil && o.Stderr == nil {
		p, err = pd.StartGated(o, registered)
	} else {
		if pd != nil {
			pd.Abort()
		}
		p, err = nsexec.StartGated(o, registered)
	}
	if err != nil {
		return 1, err
	}
	if !np.hostNet {
		if err := nw.serve(np, p.Listeners); err != nil {
			_ = p.Signal(syscall.SIGKILL)
			_, _ = p.Wait()
			return 1, err
		}
	}
	for i, ln := range exposed {
		port := s.Ports[i]
		go forward(ln, func() (net.Conn, error) {
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
	go func() {
		for sig := range sigs.C {
			_ = p.Signal(sig)
		}
	}()
	// The start is over: the CLI's sysmon, slowed down for it
	// (spawn.CoarsenSysmon), is to poll as usual again, unless the command
	// ends first; the proxies need its quick hand-offs as any Go server
	// does. Nothing to do for a library caller.
	spawn.RestoreSysmonLater()
	code, err := p.Wait()
	if s.Timeline != nil {
		stages := append([]nsexec.Stage{{Name: "fence-start", Mono: s.StartMono}}, s.Marks...)
		stages = append(append(stages, p.Stages...), nsexec.Stage{Name: "exited", Mono: nsexec.Now()})
		slices.SortStableFunc(stages, func(a, b nsexec.Stage) int { return cmp.Compare(a.Mono, b.Mono) })
		for _, st := range stages {
			fmt.Fprintf(s.Timeline, "[fence:timeline] %-16s +%8.3f ms\n", st.Name, float64(st.Mono-stages[0].Mono)/1e6)
		}
	}
	if o.TTY {
		restoreForeground(ttyFD, pgrp)
	}
	return code, err
}

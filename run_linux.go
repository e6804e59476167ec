package fence

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nsfence/fence/nsexec"
	"github.com/nsfence/fence/nsexec/landlock"
	"golang.org/x/sys/unix"
)

// Run runs the command of s in the sandbox and returns its exit code.
func Run(s *Spec) (int, error) {
	defer s.Abort() // a pending init stage not used below
	o, err := s.Plan()
	if err != nil {
		return 1, err
	}
	if landlock.ABI() == 0 {
		// Landlock repeats the mount policy in the kernel; without it the
		// mount tree alone enforces the policy.
		o.NoLandlock = true
		s.logf("landlock unavailable: running with the mount policy only (defense in depth lost)")
	}
	pgrp, ttyErr := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	o.TTY = ttyErr == nil
	o.Timeline = s.Timeline != nil
	s.logf("Sandbox: namespaces(user,mnt,pid,ipc,uts,net), seccomp, landlock(abi %d)", landlock.ABI())

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	var p *nsexec.Process
	if pd := s.takePending(); pd != nil && pd.HostNetwork() == o.HostNetwork {
		p, err = pd.Start(o)
	} else {
		if pd != nil {
			pd.Abort()
		}
		p, err = nsexec.Start(o)
	}
	if err != nil {
		return 1, err
	}
	go func() {
		for sig := range sigs {
			_ = p.Signal(sig.(syscall.Signal))
		}
	}()
	code, err := p.Wait()
	if s.Timeline != nil {
		stages := append([]nsexec.Stage{{Name: "fence-main", Mono: s.StartMono}}, p.Stages...)
		stages = append(stages, nsexec.Stage{Name: "exited", Mono: nsexec.Now()})
		for _, st := range stages {
			fmt.Fprintf(s.Timeline, "[fence:timeline] %-16s +%8.3f ms\n", st.Name, float64(st.Mono-stages[0].Mono)/1e6)
		}
	}
	if o.TTY {
		restoreForeground(pgrp)
	}
	return code, err
}

// restoreForeground gives the terminal back to fence's process group; the
// command took it. SIGTTOU is ignored for the call only: a background group
// may not otherwise change the foreground group.
func restoreForeground(pgrp int) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	_ = unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, pgrp)
}

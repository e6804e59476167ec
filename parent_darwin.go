package fence

import "golang.org/x/sys/unix"

// parentOf returns the parent process id of pid, from the kernel's process
// table.
func parentOf(pid int) (int, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return 0, err
	}
	return int(k.Eproc.Ppid), nil
}

// stopSelf stops, with group, the other processes of fence's group with
// SIGTSTP (a make above it stops as on ^Z), then fence with SIGSTOP; it returns once fence is continued. Not kill(0, SIGTSTP):
// fence catches SIGTSTP, and its own copy, delivered after it is continued
// or discarded by the SIGCONT, would be taken for a ^Z.
func stopSelf(group bool) {
	if group {
		if procs, err := unix.SysctlKinfoProcSlice("kern.proc.pgrp", unix.Getpgrp()); err == nil {
			for _, p := range procs {
				if pid := int(p.Proc.P_pid); pid != unix.Getpid() {
					_ = unix.Kill(pid, unix.SIGTSTP)
				}
			}
		}
	}
	_ = unix.Kill(unix.Getpid(), unix.SIGSTOP)
}

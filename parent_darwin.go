package fence

import (
	"errors"

	"golang.org/x/sys/unix"
)

// parentOf returns the parent process id of pid, from the kernel's process
// table.
func parentOf(pid int) (int, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return 0, err
	}
	return int(k.Eproc.Ppid), nil
}

// stoppedNow reports whether process pid is stopped now: not when it
// has been continued, has died or is gone since a stop was reported. When
// the kernel cannot tell, it is taken to be stopped, as reported.
func stoppedNow(pid int) bool {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		// No such process: the sysctl returns nothing (EIO here).
		return !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.EIO)
	}
	const sstop = 4 // SSTOP, <sys/proc.h>
	return k.Proc.P_stat == sstop
}

// stopSelf stops, with group, the other processes of fence's group with
// SIGTSTP (a make above it stops as on ^Z), then fence with SIGSTOP; it returns once fence is continued. Not kill(0, SIGTSTP):
// fence catches SIGTSTP, and its own copy, delivered after it is continued
// or discarded by the SIGCONT, would be taken for a ^Z. unread, if not
// nil, is asked right before the SIGSTOP, as on Linux (parent_linux.go):
// a signal not passed on yet keeps fence from stopping (false), and the
// others are continued again.
func stopSelf(group bool, unread func() bool) bool {
	var others []int
	if group {
		if procs, err := unix.SysctlKinfoProcSlice("kern.proc.pgrp", unix.Getpgrp()); err == nil {
			for _, p := range procs {
				if pid := int(p.Proc.P_pid); pid != unix.Getpid() {
					others = append(others, pid)
					_ = unix.Kill(pid, unix.SIGTSTP)
				}
			}
		}
	}
	if unread != nil && unread() {
		for _, pid := range others {
			_ = unix.Kill(pid, unix.SIGCONT)
		}
		return false
	}
	_ = unix.Kill(unix.Getpid(), unix.SIGSTOP)
	return true
}

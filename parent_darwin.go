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

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TIOCGETA)
	return err == nil
}

// stopSelf stops fence's group with SIGTSTP, unless the command has no
// terminal, then fence with SIGSTOP. fence catches SIGTSTP: the copy it
// sends itself is counted (ownTSTP) so that signal does not pass it on.
func stopSelf(j *job) {
	if !j.noTTY {
		j.ownTSTP.Add(1)
		_ = unix.Kill(0, unix.SIGTSTP)
	}
	_ = unix.Kill(unix.Getpid(), unix.SIGSTOP)
}

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

package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/nsfence/fence/nsexec/sigfwd"
	"golang.org/x/sys/unix"
)

// procStat returns the state letter and the parent process id of pid,
// from /proc.
func procStat(pid int) (state string, ppid int, err error) {
	f, err := statFields("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err
}

// statFields returns the fields after the command name of a process's or
// thread's stat file (path), two at least: state, parent, ...
func statFields(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// "PID (comm) STATE PPID ...": comm may hold anything but ends at the
	// last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return nil, fmt.Errorf("parse %s", path)
	}
	return f, nil
}

// parentOf returns the parent process id of pid, from /proc.
func parentOf(pid int) (int, error) {
	_, ppid, err := procStat(pid)
	return ppid, err
}

// stoppedNow reports whether process pid is stopped now: not when it
// has been continued, has died or is gone since a stop was reported. When
// /proc cannot tell, it is taken to be stopped, as reported.
func stoppedNow(pid int) bool {
	state, _, err := procStat(pid)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH):
		return false
	case err != nil:
		return true
	case state == "Z":
		// The main thread has exited; the process lives on while
		// another thread does, and its stat shows the main thread.
		return threadStopped(pid)
	}
	return state == "T"
}

// threadStopped reports whether a thread of process pid is stopped.
func threadStopped(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if f, err := statFields(dir + "/" + e.Name() + "/stat"); err == nil && f[0] == "T" {
			return true
		}
	}
	return false
}

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// stopSelf stops, with group, fence's process group with SIGTSTP, then
// fence with SIGSTOP; it returns once fence is continued.
//   - fence ignores SIGTSTP while it sends it: the kernel drops fence's own
//     copy then. A caught copy could arrive after fence is continued, or be
//     discarded by the SIGCONT (which discards pending stop signals), so no
//     count of fence's own copies would stay right.
//   - SIGSTOP goes to the calling thread: it stops before it runs another
//     instruction. Sent to the process, another thread could take it while
//     this one went on to continue the command (job.stopped resumes it
//     right after this returns).
//   - unread, if not nil, is asked last, right before the SIGSTOP: a
//     signal that has come by then and is not passed on yet keeps fence
//     from stopping (false), and the group is continued again. A SIGCONT
//     sent after the SIGSTOP continues fence as usual; one sent before it
//     and not yet handled is discarded by the kernel with the SIGSTOP, but
//     a signal sent with it (timeout's SIGTERM first) is not.
func stopSelf(group bool, unread func() bool) bool {
	if group {
		sigfwd.WhileIgnored(syscall.SIGTSTP, func() { _ = unix.Kill(0, unix.SIGTSTP) })
	}
	runtime.LockOSThread() // the thread that sends is the one that stops
	defer runtime.UnlockOSThread()
	if unread != nil && unread() {
		if group {
			// fence's own copy comes to signal: the command goes
			// on, as it does here anyway.
			_ = unix.Kill(0, unix.SIGCONT)
		}
		return false
	}
	_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGSTOP)
	return true
}

package fence

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/nsfence/fence/nsexec/sigfwd"
	"golang.org/x/sys/unix"
)

// parentOf returns the parent process id of pid, from /proc.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// "PID (comm) STATE PPID ...": comm may hold anything but ends at the
	// last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.Atoi(f[1])
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
func stopSelf(group bool) {
	if group {
		sigfwd.WhileIgnored(syscall.SIGTSTP, func() { _ = unix.Kill(0, unix.SIGTSTP) })
	}
	runtime.LockOSThread() // the thread that sends is the one that stops
	defer runtime.UnlockOSThread()
	_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGSTOP)
}

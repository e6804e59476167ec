package nsexec

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFDTablePidfdOldKernel: where the kernel refuses thread pidfds (before
// 6.9), the guard reaches a thread's sockets through its process's pidfd.
// Simulated on this thread: the opener refuses PIDFD_THREAD.
func TestFDTablePidfdOldKernel(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	var asked []int
	old := func(pid, flags int) (int, error) {
		asked = append(asked, pid)
		if flags&unix.PIDFD_THREAD != 0 {
			return -1, unix.EINVAL
		}
		return unix.PidfdOpen(pid, flags)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, open := range []func(int, int) (int, error){old, unix.PidfdOpen} {
		pidfd, err := fdTablePidfd(tid, open)
		if err != nil {
			t.Fatalf("pidfd for thread %d: %v", tid, err)
		}
		dup, err := unix.PidfdGetfd(pidfd, int(w.Fd()), 0)
		unix.Close(pidfd)
		if err != nil {
			t.Fatalf("pidfd_getfd through it: %v", err)
		}
		if _, err := unix.Write(dup, []byte("x")); err != nil {
			t.Errorf("write to the fd taken: %v", err)
		}
		unix.Close(dup)
	}
	if want := []int{tid, os.Getpid()}; len(asked) != 2 || asked[0] != want[0] || asked[1] != want[1] {
		t.Errorf("pidfd_open asked for %v, want %v (thread, then its process)", asked, want)
	}
	b := make([]byte, 2)
	if n, _ := r.Read(b); n != 2 {
		t.Errorf("read %d bytes back, want 2", n)
	}
}

package spawn

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// runVfork starts path with vforkExec (no new namespaces unless flags asks
// for them) with files as fds 0-3, waits for it, and returns what it wrote
// to fd 1.
func runVfork(t *testing.T, path string, args []string, flags uintptr, files [4]int, ambient []uintptr, env ...string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if files[1] < 0 {
		files[1] = int(w.Fd())
	}
	pid, err := vforkExec(path, args, append([]string{"PATH=/usr/bin:/bin"}, env...), flags, files, ambient)
	w.Close()
	if err != nil {
		t.Fatalf("vforkExec %s: %v", path, err)
	}
	out, _ := io.ReadAll(r)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("%s %v: status %v, output %q", path, args, ws, out)
	}
	return string(out)
}

func status(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The child gets exactly the files asked for as its fds 0-3, and none of
// the copies vforkExec makes of them on the way: when one of them is the
// caller's fd 0, which the child's fd 0 replaces, and when the caller's fd
// 0 is closed (a copy put there would be placed over itself).
func TestVforkExecFiles(t *testing.T) {
	a, b := openFile(t, "/dev/null"), openFile(t, "/proc/version")
	// go test does not read stdin: the test may change fd 0.
	saved, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { unix.Dup2(saved, 0); unix.Close(saved) }()
	t.Run("caller-fd-0", func(t *testing.T) {
		checkVforkFiles(t, a, 0, func() error { return unix.Dup2(int(b.Fd()), 0) })
	})
	t.Run("caller-fd-0-closed", func(t *testing.T) {
		checkVforkFiles(t, a, int(b.Fd()), func() error { return unix.Close(0) })
	})
}

// checkVforkFiles starts ls with a pipe as fds 0 and 1, version (an open
// /proc/version) as fd 2 and null as fd 3, and checks what ls sees. setup
// runs right before the start, once the pipe is open.
func checkVforkFiles(t *testing.T, null *os.File, version int, setup func() error) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := setup(); err != nil {
		t.Fatal(err)
	}
	files := [4]int{int(w.Fd()), int(w.Fd()), version, int(null.Fd())}
	// ls itself opens only the directory it lists.
	pid, err := vforkExec("/bin/ls", []string{"ls", "-l", "/proc/self/fd/"}, []string{"LC_ALL=C"}, 0, files, nil)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	reap(pid)
	got := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		// "lrwx------ 1 root root 64 Nov 26 08:30 3 -> /proc/version"
		if f := strings.Fields(l); len(f) >= 3 && f[len(f)-2] == "->" {
			got[f[len(f)-3]] = f[len(f)-1]
		}
	}
	if !strings.HasPrefix(got["0"], "pipe:") || got["1"] != got["0"] || got["2"] != "/proc/version" || got["3"] != "/dev/null" {
		t.Fatalf("fds in the child: %q; want 0 and 1 the pipe, 2 /proc/version, 3 /dev/null", got)
	}
	// Beyond 0-3 the child may have only what any exec would pass on:
	// the caller's fds without close-on-exec (the environment that
	// started the test may leave some open), and ls's directory.
	inherited := map[string]bool{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 3 {
			if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
				inherited[e.Name()] = true
			}
		}
	}
	for fd, target := range got {
		n, _ := strconv.Atoi(fd)
		if n > 3 && !inherited[fd] && !strings.HasPrefix(target, "/proc/") {
			t.Errorf("fd %s of the child is %s: a copy made for the child leaked into it", fd, target)
		}
	}
}

// An ignored signal stays ignored, a caught one goes back to its default,
// and the child starts with the caller's signal mask, which the caller's
// thread has back too. (That the runtime's handlers are reset before the
// child unblocks signals is not observable from outside: exec would reset
// them anyway, after the window in which one could have run.)
func TestVforkExecSignals(t *testing.T) {
	// The caller's mask is checked on the thread that forked.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	defer signal.Stop(c)
	signal.Ignore(syscall.SIGWINCH)
	defer signal.Reset(syscall.SIGWINCH)
	null := openFile(t, "/dev/null")
	n := int(null.Fd())
	st := status(runVfork(t, "/bin/cat", []string{"cat", "/proc/self/status"}, 0, [4]int{n, -1, n, n}, nil))
	mask := func(k string) uint64 {
		v, err := strconv.ParseUint(st[k], 16, 64)
		if err != nil {
			t.Fatalf("%s = %q in the child's status", k, st[k])
		}
		return v
	}
	bit := func(sig syscall.Signal) uint64 { return 1 << (uint(sig) - 1) }
	if got := mask("SigIgn"); got&bit(syscall.SIGWINCH) == 0 {
		t.Errorf("SigIgn = %#x in the child, want SIGWINCH still ignored", got)
	}
	if got := mask("SigIgn"); got&bit(syscall.SIGUSR1) != 0 {
		t.Errorf("SigIgn = %#x in the child: the caught SIGUSR1 must go back to its default", got)
	}
	if got := mask("SigBlk"); got != 0 {
		t.Errorf("SigBlk = %#x in the child, want the caller's empty mask", got)
	}
	// And the caller's thread has its mask back.
	var cur uint64
	if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, uintptr(unsafe.Pointer(&cur)), 8, 0, 0); e != 0 {
		t.Fatal(e)
	}
	if cur != 0 {
		t.Errorf("the caller's signal mask is %#x after vforkExec, want 0", cur)
	}
}

// In a new user namespace, before any id is mapped, the exec'd child keeps
// the ambient capabilities asked for, and only those.
func TestVforkExecAmbientInNewUserNamespace(t *testing.T) {
	null := openFile(t, "/dev/null")
	n := int(null.Fd())
	st := status(runVfork(t, "/bin/cat", []string{"cat", "/proc/self/status"}, unix.CLONE_NEWUSER, [4]int{n, -1, n, n}, initCaps))
	var want uint64
	for _, c := range initCaps {
		want |= 1 << c
	}
	for _, k := range []string{"CapAmb", "CapEff", "CapPrm"} {
		if v, err := strconv.ParseUint(st[k], 16, 64); err != nil || v != want {
			t.Errorf("%s = %q in the child, want %016x (initCaps)", k, st[k], want)
		}
	}
	// Unmapped: the overflow id.
	if uids := strings.Fields(st["Uid"]); len(uids) == 0 || uids[0] != "65534" {
		t.Errorf("Uid %q in the child before any map, want the overflow id 65534", st["Uid"])
	}
}

// A child that cannot exec reports why, and is reaped.
func TestVforkExecFailure(t *testing.T) {
	null := openFile(t, "/dev/null")
	n := int(null.Fd())
	_, err := vforkExec("/nonexistent/fence-test", []string{"x"}, nil, 0, [4]int{n, n, n, n}, nil)
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("vforkExec of a missing file: %v, want ENOENT", err)
	}
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); !errors.Is(err, unix.ECHILD) {
		t.Errorf("wait4 after the failed start: %v, want ECHILD (the child was reaped)", err)
	}
	// A step of the child before its exec that fails: a capability
	// number the kernel does not have cannot be raised.
	_, err = vforkExec("/bin/true", []string{"true"}, nil, 0, [4]int{n, n, n, n}, []uintptr{63})
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
		t.Fatalf("vforkExec raising capability 63: %v, want EINVAL or EPERM from the child", err)
	}
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); !errors.Is(err, unix.ECHILD) {
		t.Errorf("wait4 after the child's failure: %v, want ECHILD (the child was reaped)", err)
	}
}

// helperEnv makes the test binary, started by a test with vforkExec, report
// what it was started with instead of running the tests.
const helperEnv = "FENCE_SPAWN_TEST_HELPER"

func TestMain(m *testing.M) {
	if len(os.Args) > 0 && os.Args[0] == InitArg0 {
		startStage() // TestStartSendsModeOnceMapped
	}
	if os.Getenv(helperEnv) == "pdeathsig" {
		var sig int
		if _, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0); e != 0 {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.Itoa(sig))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The child dies with the thread that started it: its parent-death signal
// is SIGKILL.
func TestVforkExecPdeathsig(t *testing.T) {
	null := openFile(t, "/dev/null")
	n := int(null.Fd())
	out := runVfork(t, "/proc/self/exe", []string{"spawn.test"}, 0, [4]int{n, -1, n, n}, nil, helperEnv+"=pdeathsig")
	if out != strconv.Itoa(int(syscall.SIGKILL)) {
		t.Errorf("the child's parent-death signal is %q, want %d (SIGKILL)", out, syscall.SIGKILL)
	}
}

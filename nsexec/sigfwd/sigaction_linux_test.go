//go:build linux && (amd64 || arm64)

package sigfwd

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// Ignored sees a SIG_IGN set behind the runtime's back, as one inherited
// from a shell is; os/signal's Ignored does not for SIGTTIN.
func TestIgnored(t *testing.T) {
	if Ignored(syscall.SIGTTIN) {
		t.Fatal("SIGTTIN reported ignored before it was")
	}
	WhileIgnored(syscall.SIGTTIN, func() {
		if !Ignored(syscall.SIGTTIN) {
			t.Error("SIGTTIN ignored, Ignored says no")
		}
		if signal.Ignored(syscall.SIGTTIN) {
			t.Log("os/signal sees it now: Ignored may not be needed any more")
		}
	})
	if Ignored(syscall.SIGTTIN) {
		t.Error("SIGTTIN still reported ignored after WhileIgnored")
	}
}

// Die leaves RLIMIT_CORE at 1 byte, the kernel's sentinel that stops a
// pipe core_pattern's helper (0 does not): checked in a process of its own
// with a signal whose default action is to ignore it, after which Die
// returns.
func TestDieLimitsCore(t *testing.T) {
	if os.Getenv("SIGFWD_DIE") == "1" {
		Die(syscall.SIGWINCH)
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
			t.Fatal(err)
		}
		if lim.Cur != 1 || lim.Max != 1 {
			t.Fatalf("RLIMIT_CORE after Die = %+v, want 1 byte soft and hard", lim)
		}
		return
	}
	runInChild(t, "TestDieLimitsCore", "SIGFWD_DIE=1")
}

// runInChild runs the test named test again in a process of its own, with
// env added to the environment (which the test checks to take its child's
// part), and fails t if that process fails.
func runInChild(t *testing.T, test, env string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	attr := &os.ProcAttr{Env: append(os.Environ(), env), Files: []*os.File{nil, os.Stdout, os.Stderr}}
	p, err := os.StartProcess(exe, []string{exe, "-test.run=^" + test + "$", "-test.count=1"}, attr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("child: %v %v", st, err)
	}
}

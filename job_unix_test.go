//go:build linux || darwin

package fence

import (
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStopAction(t *testing.T) {
	for _, c := range []struct {
		cmdFG, fenceFG, orphaned bool
		want                     int
	}{
		{cmdFG: true, want: stopFence},      // ^Z
		{want: stopFence},                   // read from the background, fence too
		{fenceFG: true, want: resumeInFore}, // fence was brought to the foreground
		{cmdFG: true, orphaned: true, want: hangUp},
		{fenceFG: true, orphaned: true, want: hangUp},
	} {
		if got := stopAction(c.cmdFG, c.fenceFG, c.orphaned); got != c.want {
			t.Errorf("stopAction(cmdFG %v, fenceFG %v, orphaned %v) = %d, want %d", c.cmdFG, c.fenceFG, c.orphaned, got, c.want)
		}
	}
}

// TestJobWaitPassesStopsOn: a command that stops itself makes fence stop
// (here: the stand-in records it) and is continued afterwards; its exit
// status comes through, and so does death by a signal.
func TestJobWaitPassesStopsOn(t *testing.T) {
	run := func(script string) (unix.WaitStatus, int) {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stops := 0
		j := &job{pid: cmd.Process.Pid, noTTY: true, stopSelf: func() { stops++ }}
		ws, fg, err := j.wait()
		if err != nil {
			t.Fatal(err)
		}
		if fg {
			t.Errorf("a command without a terminal reported to have it")
		}
		return ws, stops
	}
	ws, stops := run("kill -STOP $$; kill -STOP $$; exit 7")
	if !ws.Exited() || ws.ExitStatus() != 7 || stops != 2 {
		t.Errorf("exited %v status %d after %d stops of fence; want 7 after 2", ws.Exited(), ws.ExitStatus(), stops)
	}
	ws, stops = run("kill -TERM $$")
	if !ws.Signaled() || ws.Signal() != unix.SIGTERM || stops != 0 {
		t.Errorf("signaled %v by %v after %d stops; want SIGTERM after 0", ws.Signaled(), ws.Signal(), stops)
	}
}

// TestJobSignal: a SIGTSTP for fence stops the whole group (with SIGSTOP:
// a group in a session of its own ignores SIGTSTP), and SIGCONT continues
// it.
func TestJobSignal(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	j := &job{pid: cmd.Process.Pid, noTTY: true}
	defer unix.Kill(-j.pid, unix.SIGKILL)
	j.signal(unix.SIGTSTP)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(j.pid, &ws, unix.WUNTRACED, nil); err != nil || !ws.Stopped() {
		t.Fatalf("after SIGTSTP: stopped %v (%v)", ws.Stopped(), err)
	}
	j.signal(unix.SIGCONT)
	if _, err := unix.Wait4(j.pid, &ws, unix.WCONTINUED, nil); err != nil || !ws.Continued() {
		t.Fatalf("after SIGCONT: continued %v (%v)", ws.Continued(), err)
	}
	j.signal(unix.SIGTERM)
	if _, err := unix.Wait4(j.pid, &ws, 0, nil); err != nil || !ws.Signaled() {
		t.Fatalf("after SIGTERM: signaled %v (%v)", ws.Signaled(), err)
	}
}

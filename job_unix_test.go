//go:build linux || darwin

package fence

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStopAction(t *testing.T) {
	for _, c := range []struct {
		name                                               string
		cmdFG, fenceFG, noTTY, tstp, parentGone, stoppable bool
		want                                               int
	}{
		{name: "^Z", cmdFG: true, stoppable: true, want: stopFence},
		{name: "read from the background, fence too", stoppable: true, want: stopFence},
		{name: "fence brought to the foreground", fenceFG: true, stoppable: true, want: resumeInFore},
		{name: "parent gone", cmdFG: true, parentGone: true, stoppable: true, want: hangUp},
		{name: "parent gone, fence has the terminal", fenceFG: true, parentGone: true, want: hangUp},
		{name: "^Z, nothing would continue fence", cmdFG: true, want: resumeAsIs},
		{name: "no terminal, fence's SIGTSTP", noTTY: true, tstp: true, stoppable: true, want: stopFence},
		{name: "no terminal, kill -STOP", noTTY: true, stoppable: true, want: keepWaiting},
	} {
		if got := stopAction(c.cmdFG, c.fenceFG, c.noTTY, c.tstp, c.parentGone, c.stoppable); got != c.want {
			t.Errorf("%s: stopAction = %d, want %d", c.name, got, c.want)
		}
	}
}

// startJob starts script as the leader of a session of its own.
func startJob(t *testing.T, script string) *job {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL) })
	return &job{pid: cmd.Process.Pid, noTTY: true, ppid: os.Getppid(), stoppable: true}
}

// TestJobWaitPassesStopsOn: without a terminal, a SIGTSTP fence receives
// stops the command and then fence (here: the stand-in records it), and
// the command is continued afterwards; its exit status comes through, and
// so does death by a signal.
func TestJobWaitPassesStopsOn(t *testing.T) {
	j := startJob(t, "sleep 0.2; exit 7")
	stops := 0
	j.stopSelf = func() { stops++ }
	j.signal(unix.SIGTSTP)
	ws, fg, err := j.wait()
	if err != nil {
		t.Fatal(err)
	}
	if fg {
		t.Errorf("a command without a terminal reported to have it")
	}
	if !ws.Exited() || ws.ExitStatus() != 7 || stops != 1 {
		t.Errorf("exited %v status %d after %d stops of fence; want 7 after 1", ws.Exited(), ws.ExitStatus(), stops)
	}
	j = startJob(t, "kill -TERM $$")
	j.stopSelf = func() { t.Error("fence stopped") }
	if ws, _, err := j.wait(); err != nil || !ws.Signaled() || ws.Signal() != unix.SIGTERM {
		t.Errorf("signaled %v by %v (%v); want SIGTERM", ws.Signaled(), ws.Signal(), err)
	}
}

// TestJobSignal: a SIGTSTP for fence stops the whole group (with SIGSTOP:
// a group in a session of its own ignores SIGTSTP), and SIGCONT continues
// it; unless nothing could continue fence, when SIGTSTP is ignored.
func TestJobSignal(t *testing.T) {
	j := startJob(t, "sleep 30 & wait")
	j.signal(unix.SIGTSTP)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(j.pid, &ws, unix.WUNTRACED, nil); err != nil || !ws.Stopped() {
		t.Fatalf("after SIGTSTP: stopped %v (%v)", ws.Stopped(), err)
	}
	j.signal(unix.SIGCONT)
	if _, err := unix.Wait4(j.pid, &ws, unix.WCONTINUED, nil); err != nil || !ws.Continued() {
		t.Fatalf("after SIGCONT: continued %v (%v)", ws.Continued(), err)
	}
	j.stoppable = false
	j.signal(unix.SIGTSTP)
	if _, err := unix.Wait4(j.pid, &ws, unix.WUNTRACED|unix.WNOHANG, nil); err != nil || ws.Stopped() {
		t.Fatalf("unstoppable fence passed SIGTSTP on: stopped %v (%v)", ws.Stopped(), err)
	}
	// fence's own SIGTSTP to its group (stopSelf) is not passed on.
	j.stoppable = true
	j.ownTSTP.Add(1)
	j.signal(unix.SIGTSTP)
	if _, err := unix.Wait4(j.pid, &ws, unix.WUNTRACED|unix.WNOHANG, nil); err != nil || ws.Stopped() {
		t.Fatalf("fence's own SIGTSTP passed on: stopped %v (%v)", ws.Stopped(), err)
	}
	j.signal(unix.SIGTERM)
	if _, err := unix.Wait4(j.pid, &ws, 0, nil); err != nil || !ws.Signaled() {
		t.Fatalf("after SIGTERM: signaled %v (%v)", ws.Signaled(), err)
	}
}

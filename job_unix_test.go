//go:build linux || darwin

package fence

import (
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStopAction(t *testing.T) {
	for _, c := range []struct {
		name                                                                string
		cmdFG, fenceFG, noTTY, tstp, ttyStop, parentGone, hungUp, stoppable bool
		want                                                                int
	}{
		{name: "^Z", cmdFG: true, stoppable: true, want: stopFence},
		{name: "read from the background, fence too", ttyStop: true, stoppable: true, want: stopFence},
		{name: "fence brought to the foreground", fenceFG: true, ttyStop: true, stoppable: true, want: resumeInFore},
		{name: "^Z reaching fence in the foreground", fenceFG: true, tstp: true, stoppable: true, want: stopFence},
		{name: "parent gone", cmdFG: true, parentGone: true, stoppable: true, want: hangUp},
		{name: "parent gone, hung up already", cmdFG: true, parentGone: true, hungUp: true, stoppable: true, want: resumeAsIs},
		{name: "parent gone, background read after the hangup", ttyStop: true, parentGone: true, hungUp: true, want: keepWaiting},
		{name: "^Z, nothing would continue fence", cmdFG: true, want: resumeAsIs},
		{name: "background read, nothing would continue fence", ttyStop: true, want: keepWaiting},
		{name: "no terminal, fence's SIGTSTP", noTTY: true, tstp: true, stoppable: true, want: stopFence},
		{name: "no terminal, kill -STOP", noTTY: true, stoppable: true, want: keepWaiting},
		{name: "no terminal, kill -STOP, parent gone", noTTY: true, parentGone: true, want: keepWaiting},
	} {
		if got := stopAction(c.cmdFG, c.fenceFG, c.noTTY, c.tstp, c.ttyStop, c.parentGone, c.hungUp, c.stoppable); got != c.want {
			t.Errorf("%s: stopAction = %d, want %d", c.name, got, c.want)
		}
	}
}

// startJob starts script as the leader of a session of its own, reading
// from the returned pipe.
func startJob(t *testing.T, script string) (*job, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL) })
	pid := cmd.Process.Pid
	return &job{pid: pid, noTTY: true, ppid: os.Getppid(), stoppable: true, stoppedNow: func() bool { return stoppedNow(pid) }}, in
}

// TestJobWaitPassesStopsOn: without a terminal, a SIGTSTP fence receives
// stops the command and then fence (here: the stand-in records it), and
// the command is continued afterwards; its exit status comes through, and
// so does death by a signal.
func TestJobWaitPassesStopsOn(t *testing.T) {
	j, in := startJob(t, "read x; exit 7")
	stops := 0
	// While fence is "stopped", the command gets its line: it reads it
	// once continued.
	// The stand-in's SIGCONT comes to signal, as fence's own would.
	j.stopSelf = func(bool) bool { stops++; _, _ = io.WriteString(in, "go\n"); j.signal(unix.SIGCONT); return true }
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
	j, _ = startJob(t, "kill -TERM $$")
	j.stopSelf = func(bool) bool { t.Error("fence stopped"); return true }
	if ws, _, err := j.wait(); err != nil || !ws.Signaled() || ws.Signal() != unix.SIGTERM {
		t.Errorf("signaled %v by %v (%v); want SIGTERM", ws.Signaled(), ws.Signal(), err)
	}
}

func TestJobControl(t *testing.T) {
	for _, c := range []struct {
		tty, foreground, out, setsid, fg bool
	}{
		{tty: false, out: true, setsid: true},
		{tty: true, foreground: true, out: true, fg: true},
		// A backgrounded fence: not a session of its own, whose reads of
		// the terminal would not stop it.
		{tty: true, foreground: false, out: true},
		// fence cmd | less: the pager keeps the terminal until the
		// command reads it.
		{tty: true, foreground: true, out: false},
	} {
		if setsid, fg := jobControl(c.tty, c.foreground, c.out); setsid != c.setsid || fg != c.fg {
			t.Errorf("jobControl(tty %v, foreground %v, output on a terminal %v) = setsid %v, fg %v; want %v, %v", c.tty, c.foreground, c.out, setsid, fg, c.setsid, c.fg)
		}
	}
}

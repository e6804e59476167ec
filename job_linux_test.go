package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsfence/fence/nsexec/sigfwd"
	"golang.org/x/sys/unix"
)

// The job-control tests need a terminal whose session the job is
// in: the test binary re-executes itself as a session leader on a
// pseudo-terminal (FENCE_TEST_JOB), runs the scenario there and reports
// on the terminal.
func init() {
	switch os.Getenv("FENCE_TEST_JOB") {
	case "":
		return
	case "background-read":
		// The command starts in a background group and reads the
		// terminal: it stops, and fence, which has the terminal, hands
		// it over and continues it.
		os.Exit(jobHelper(false, "read line; echo got:$line", func(bool) { fmt.Println("fence stopped") }))
	case "orphaned-ctrl-z":
		// fence runs under a session-leading sh -c (tmux new-window
		// 'fence ...; read'): its group is orphaned, nothing would
		// continue it, so a ^Z of the command must not stop fence (the
		// real stopSelf would hang this test); the command goes on.
		os.Exit(jobHelperWith(true, "kill -TSTP $$; read line; echo got:$line", func(pid int) *job {
			return newJob(pid, 0, false, false)
		}))
	case "ctrl-z":
		// The command has the terminal and stops (as on ^Z): fence
		// takes the terminal back before it stops itself, then gives it
		// back and continues the command.
		os.Exit(jobHelper(true, "kill -TSTP $$; read line; echo got:$line", func(group bool) {
			pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
			fmt.Printf("fence stopped, terminal restored %v, its group too %v\n", err == nil && pg == unix.Getpgrp(), group)
		}))
	case "ctrl-z-unread":
		// As ctrl-z, but a signal came that fence has not passed on
		// when it is to stop (timeout's SIGTERM and SIGCONT): it does
		// not stop, and the job goes on as if the signal had come
		// before the stop: the command is continued with the
		// terminal. Left stopped, nothing would continue it.
		os.Exit(jobHelperWith(true, "kill -TSTP $$; read line; echo got:$line", func(pid int) *job {
			j := &job{pid: pid, ttyFD: 0, ppid: os.Getppid(), stoppable: true}
			j.stopSelf = func(bool) bool {
				fmt.Println("fence did not stop: a signal came")
				return false
			}
			return j
		}))
	case "ttin-beside":
		// fence's own group read the terminal while the command had it
		// (a pager beside it): the job stops, and fg does not give the
		// command the terminal back; it gets it again when it reads.
		os.Exit(jobHelperWith(true, "sleep 1; read line; echo got:$line", func(pid int) *job {
			j := &job{pid: pid, ttyFD: 0, ppid: os.Getppid(), stoppable: true, gave: true, wantTTY: true}
			j.stopSelf = func(bool) bool {
				fmt.Printf("fence stopped, the command to get the terminal back %v\n", j.wantTTY)
				j.signal(unix.SIGCONT)
				return true
			}
			go func() { time.Sleep(200 * time.Millisecond); j.signal(unix.SIGTTIN) }()
			return j
		}))
	case "library-terminal":
		// fence as a library (no OwnSignals, no job control) on a
		// terminal: the command takes it, and Run gives it back.
		code, err := Run(&Spec{Args: []string{"sh", "-c", "true"}, Cwd: os.TempDir()})
		pg, perr := unix.IoctlGetInt(0, unix.TIOCGPGRP)
		fmt.Printf("exit=%d err=%v terminal back %v\n", code, err, perr == nil && pg == unix.Getpgrp())
		os.Exit(0)
	case "stop-self":
		// fence's stop (stopSelf): a peer in its group gets SIGTSTP,
		// fence stops, and its catcher hears nothing of its own
		// SIGTSTP once the test continues it.
		os.Exit(stopSelfHelper())
	case "stop-self-unread":
		// A signal has come that is not passed on yet: fence does
		// not stop, and the peer it stopped is continued again.
		os.Exit(stopSelfUnreadHelper())
	}
	os.Exit(2)
}

// catchWithPeer catches sigs as the CLI does and starts a peer in the
// process group (sleep 30).
func catchWithPeer(sigs ...syscall.Signal) (*sigfwd.Catcher, *exec.Cmd, error) {
	c, err := sigfwd.Catch(sigs)
	if err != nil {
		c = sigfwd.Notify(sigs)
	}
	peer := exec.Command("sleep", "30")
	if err := peer.Start(); err != nil {
		return nil, nil, fmt.Errorf("start peer: %w", err)
	}
	return c, peer, nil
}

func stopSelfHelper() int {
	sigs, peer, err := catchWithPeer(syscall.SIGTSTP, syscall.SIGCONT)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer peer.Process.Kill()
	fmt.Printf("peer %d\n", peer.Process.Pid)
	stopSelf(true, sigs.Unread)
	var got []syscall.Signal
	for done := time.After(300 * time.Millisecond); ; {
		select {
		case sig := <-sigs.C:
			got = append(got, sig)
			continue
		case <-done:
		}
		break
	}
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", peer.Process.Pid))
	state := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))[0]
	fmt.Printf("caught %v, peer state %s\n", got, state)
	return 0
}

// stopSelfUnreadHelper stops a peer of its group and not itself: a caught
// signal waits in the catcher, unread.
func stopSelfUnreadHelper() int {
	sigs, peer, err := catchWithPeer(syscall.SIGUSR1, syscall.SIGCONT)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer peer.Process.Kill()
	_ = unix.Kill(os.Getpid(), unix.SIGUSR1)
	for deadline := time.Now().Add(5 * time.Second); !sigs.Unread(); {
		if time.Now().After(deadline) {
			fmt.Println("SIGUSR1 never came")
			return 1
		}
		time.Sleep(time.Millisecond)
	}
	stopped := stopSelf(true, sigs.Unread)
	var st string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", peer.Process.Pid))
		if st = strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))[0]; st != "T" {
			break
		}
	}
	fmt.Printf("stopped %v, first caught %v, peer state %s\n", stopped, <-sigs.C, st)
	return 0
}

// TestJobTTINBeside: a SIGTTIN that fence's group got (a pager beside
// the command read the terminal) stops the job, and fg leaves the terminal
// to fence's group, so the pager does not stop again at once.
func TestJobTTINBeside(t *testing.T) {
	out := runOnPTY(t, "ttin-beside", "hello\n", false)
	if !strings.Contains(out, "fence stopped, the command to get the terminal back false") || !strings.Contains(out, "got:hello") {
		t.Errorf("want the job stopped without the terminal promised back to the command; output:\n%s", out)
	}
}

// TestLibraryGivesTerminalBack: Run without job control (a library)
// takes the terminal back from the command, as before job control.
func TestLibraryGivesTerminalBack(t *testing.T) {
	out := runOnPTY(t, "library-terminal", "", false)
	if !strings.Contains(out, "exit=0 err=<nil> terminal back true") {
		t.Errorf("want the command run and the terminal back; output:\n%s", out)
	}
}

// startInGroup starts the test binary as scenario in a process group of
// its own, killed at the end of the test; out collects what it prints.
func startInGroup(t *testing.T, scenario string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FENCE_TEST_JOB="+scenario)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := new(strings.Builder)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL) })
	return cmd, out
}

// TestStopSelf runs stopSelf in a process group of its own: the other
// processes of the group are stopped by SIGTSTP, fence itself stops (the
// test sees it stopped and continues it), and fence does not hear its own
// SIGTSTP afterwards, which signal would take for a ^Z.
func TestStopSelf(t *testing.T) {
	cmd, out := startInGroup(t, "stop-self")
	if !stoppedWithin(t, cmd.Process.Pid, 10*time.Second) {
		t.Fatalf("stopSelf did not stop the process; output %q", out.String())
	}
	// Only the helper: the peer stays stopped by the SIGTSTP.
	if err := unix.Kill(cmd.Process.Pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v; output %q", err, out.String())
	}
	if !strings.Contains(out.String(), "caught [continued], peer state T") {
		t.Errorf("want fence to hear only its SIGCONT and the peer stopped; output %q", out.String())
	}
}

// TestStopSelfUnread: with a caught signal not read yet, stopSelf does
// not stop fence, and continues the peers it stopped.
func TestStopSelfUnread(t *testing.T) {
	cmd, out := startInGroup(t, "stop-self-unread")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("helper: %v; output %q", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the helper did not end (stopped with a signal unread?); output %q", out.String())
	}
	if !regexp.MustCompile(`stopped false, first caught user defined signal 1, peer state [^T]`).MatchString(out.String()) {
		t.Errorf("want no stop, the signal still to read and the peer continued; output %q", out.String())
	}
}

// jobHelper runs script as a job on the terminal on fd 0, fence's stop
// replaced by stopSelf.
func jobHelper(fg bool, script string, stopSelf func(group bool)) int {
	return jobHelperWith(fg, script, func(pid int) *job {
		j := &job{pid: pid, ttyFD: 0, ppid: os.Getppid(), stoppable: true}
		// fence is continued by a SIGCONT, which comes to signal.
		j.stopSelf = func(group bool) bool { stopSelf(group); j.signal(unix.SIGCONT); return true }
		return j
	})
}

// jobHelperWith runs script as a job made by newJob on the terminal on
// fd 0.
func jobHelperWith(fg bool, script string, newJob func(pid int) *job) int {
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: fg, Ctty: 0}
	if err := cmd.Start(); err != nil {
		fmt.Println("start:", err)
		return 1
	}
	j := newJob(cmd.Process.Pid)
	ws, hasTTY, err := j.wait()
	if hasTTY {
		restoreForeground(0, unix.Getpgrp())
	}
	fmt.Printf("exit=%d err=%v had-terminal=%v\n", ws.ExitStatus(), err, hasTTY)
	return 0
}

// runOnPTY runs the test binary as scenario's session leader on a new
// pseudo-terminal (under a session-leading sh -c with underSh), types
// input into it, and returns what it printed.
func runOnPTY(t *testing.T, scenario, input string, underSh bool) string {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no /dev/ptmx: the test needs a pseudo-terminal (devpts)")
	}
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if underSh {
		cmd = exec.Command("sh", "-c", `"$0" -test.run='^$'; echo after`, os.Args[0])
	}
	cmd.Env = append(os.Environ(), "FENCE_TEST_JOB="+scenario)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out strings.Builder
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			k, err := master.Read(buf)
			out.Write(buf[:k])
			if err != nil {
				return
			}
		}
	}()
	if _, err := master.WriteString(input); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("%s: %v", scenario, err)
		}
	case <-time.After(20 * time.Second):
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		<-exited
		<-read
		t.Fatalf("%s: no end after 20 s (a job stuck stopped?); output:\n%s", scenario, out.String())
	}
	<-read
	return out.String()
}

func TestJobOnTerminal(t *testing.T) {
	out := runOnPTY(t, "background-read", "hello\n", false)
	if !strings.Contains(out, "got:hello") || !strings.Contains(out, "exit=0 err=<nil> had-terminal=true") || strings.Contains(out, "fence stopped") {
		t.Errorf("background read: want the command given the terminal, no stop of fence; output:\n%s", out)
	}
	out = runOnPTY(t, "ctrl-z", "hello\n", false)
	if !strings.Contains(out, "fence stopped, terminal restored true, its group too true") || !strings.Contains(out, "got:hello") || !strings.Contains(out, "exit=0 err=<nil>") {
		t.Errorf("^Z: want fence stopped with the terminal back, then the command continued with it; output:\n%s", out)
	}
	out = runOnPTY(t, "ctrl-z-unread", "hello\n", false)
	if !strings.Contains(out, "fence did not stop: a signal came") || !strings.Contains(out, "got:hello") || !strings.Contains(out, "exit=0 err=<nil> had-terminal=true") {
		t.Errorf("^Z with a signal not passed on yet: want fence not stopped and the command continued with the terminal; output:\n%s", out)
	}
	out = runOnPTY(t, "orphaned-ctrl-z", "hello\n", true)
	if !strings.Contains(out, "got:hello") || !strings.Contains(out, "exit=0 err=<nil>") || !strings.Contains(out, "after") {
		t.Errorf("^Z in an orphaned group: want the command continued, fence not stopped; output:\n%s", out)
	}
}

// procState returns the state letter of pid from /proc (T: stopped).
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) == 0 {
		t.Fatalf("parse /proc/%d/stat", pid)
	}
	return f[0]
}

// stoppedWithin reports whether pid is stopped within d.
func stoppedWithin(t *testing.T, pid int, d time.Duration) bool {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if procState(t, pid) == "T" {
			return true
		}
	}
	return false
}

// TestJobTermEndsStoppedCommand: a SIGTERM (SIGHUP) that fence passes on
// to a command that is stopped while fence runs also continues it: a
// stopped process keeps it pending until then. timeout(1) sends SIGTERM
// and SIGCONT; passed on in the other order, the command had read the
// terminal again and stopped with the SIGTERM, and fence stopped with it
// for good.
func TestJobTermEndsStoppedCommand(t *testing.T) {
	for _, sig := range forwarded {
		j, done := startStoppedJob(t, "ulimit -c 0; kill -STOP $$; exit 3")
		j.signal(sig)
		select {
		case ws := <-done:
			if !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("after %v: %v, want the command killed by it", sig, ws)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("after %v the command is still stopped", sig)
		}
	}
}

// TestJobStopThatIsOver: a stop reported after the command was continued
// or died (fence passed a SIGCONT or SIGTERM on meanwhile) does not stop
// fence: nothing would continue it.
func TestJobStopThatIsOver(t *testing.T) {
	for _, script := range []string{"sleep 30", "exit 0"} {
		j, _ := startJob(t, script)
		if script == "exit 0" {
			// A zombie: dead, not yet reaped.
			for deadline := time.Now().Add(10 * time.Second); procState(t, j.pid) != "Z"; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the command did not end")
				}
			}
		}
		j.stopSelf = func(bool) bool { t.Errorf("%s: fence stopped for a stop that is over", script); return true }
		// A ^Z passed on, reported once the command runs again.
		j.passing.Store(int32(unix.SIGTSTP))
		j.stopped(unix.SIGSTOP)
		if procState(t, j.pid) == "T" {
			t.Errorf("%s: the command was stopped again", script)
		}
	}
}

// TestStoppedNowMainThreadGone: a process whose main thread has exited
// lives on in its other threads, and /proc/PID/stat shows the main
// thread's state (Z): stopped is what its threads are. Taken for "ended",
// the command's stops were not followed (the shell saw the job running;
// a ^Z left the terminal to nobody).
func TestStoppedNowMainThreadGone(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is missing: the test's process exits its main thread with it")
	}
	nr := map[string]int{"amd64": 60, "arm64": 93}[runtime.GOARCH] // SYS_exit
	if nr == 0 {
		t.Skipf("no exit(2) number for %s in this test", runtime.GOARCH)
	}
	script := fmt.Sprintf(`import ctypes, threading, time, os
threading.Thread(target=lambda: time.sleep(60)).start()
ctypes.CDLL(None).syscall(%d, 0)
`, nr)
	cmd := exec.Command(py, "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); procState(t, pid) != "Z"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the main thread did not exit")
		}
	}
	if stoppedNow(pid) {
		t.Fatal("running, and stoppedNow says stopped")
	}
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(10*time.Second, func() bool { return stoppedNow(pid) }) {
		t.Error("stopped, and stoppedNow does not say so")
	}
	_ = unix.Kill(pid, unix.SIGCONT)
	if !waitUntil(10*time.Second, func() bool { return !stoppedNow(pid) }) {
		t.Error("continued, and stoppedNow still says stopped")
	}
}

// waitUntil reports whether ok turns true within d.
func waitUntil(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// TestJobSignal: a SIGTSTP for fence stops the whole group (with SIGSTOP:
// a group in a session of its own ignores SIGTSTP), and SIGCONT continues
// it; a SIGTSTP is not passed on when nothing could continue fence, at
// the start or now.
func TestJobSignal(t *testing.T) {
	j, _ := startJob(t, "sleep 30 & wait")
	j.signal(unix.SIGTSTP)
	if !stoppedWithin(t, j.pid, 10*time.Second) {
		t.Fatal("SIGTSTP did not stop the command")
	}
	j.signal(unix.SIGCONT)
	for deadline := time.Now().Add(10 * time.Second); procState(t, j.pid) == "T"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("SIGCONT did not continue the command")
		}
	}
	j.stoppable = false
	j.signal(unix.SIGTSTP)
	if stoppedWithin(t, j.pid, 100*time.Millisecond) {
		t.Fatal("SIGTSTP passed on although nothing could continue fence")
	}
	// Orphaned since the start (the shell above fence exited).
	j.stoppable, j.orphaned = true, func() bool { return true }
	j.signal(unix.SIGTSTP)
	if stoppedWithin(t, j.pid, 100*time.Millisecond) {
		t.Fatal("SIGTSTP passed on although fence's group is orphaned now")
	}
	j.signal(unix.SIGTERM)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(j.pid, &ws, 0, nil); err != nil || !ws.Signaled() {
		t.Fatalf("after SIGTERM: signaled %v (%v)", ws.Signaled(), err)
	}
}

// startStoppedJob starts script, which stops itself with SIGSTOP (no job
// control of fence's), waits for it (done has its status) and returns once
// it is stopped.
func startStoppedJob(t *testing.T, script string) (*job, <-chan unix.WaitStatus) {
	t.Helper()
	j, _ := startJob(t, script)
	j.stopSelf = func(bool) bool { t.Error("fence stopped for a stop it did not pass on"); return true }
	done := make(chan unix.WaitStatus, 1)
	go func() {
		ws, _, err := j.wait()
		if err != nil {
			t.Error(err)
		}
		done <- ws
	}()
	if !stoppedWithin(t, j.pid, 10*time.Second) {
		t.Fatal("the command did not stop")
	}
	return j, done
}

// TestJobStopsThatAreNotJobControl: a command without a terminal that is
// stopped by something else than fence (kill -STOP, a debugger) stays
// stopped, and fence does not stop: stopping it could stop a launcher
// that shares its process group, which nothing would continue.
func TestJobStopsThatAreNotJobControl(t *testing.T) {
	// The command is stopped and stays so until continued from outside.
	j, done := startStoppedJob(t, "kill -STOP $$; exit 3")
	time.Sleep(50 * time.Millisecond) // and fence did not act on it
	_ = unix.Kill(j.pid, unix.SIGCONT)
	if ws := <-done; !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("exit status %d, want 3", ws.ExitStatus())
	}
}

package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

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
		os.Exit(jobHelper(false, "read line; echo got:$line", func() { fmt.Println("fence stopped") }))
	case "ctrl-z":
		// The command has the terminal and stops (as on ^Z): fence
		// takes the terminal back before it stops itself, then gives it
		// back and continues the command.
		os.Exit(jobHelper(true, "kill -TSTP $$; read line; echo got:$line", func() {
			pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
			fmt.Printf("fence stopped, terminal restored %v\n", err == nil && pg == unix.Getpgrp())
		}))
	}
	os.Exit(2)
}

// jobHelper runs script as a job on the terminal on fd 0.
func jobHelper(fg bool, script string, stopSelf func()) int {
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: fg, Ctty: 0}
	if err := cmd.Start(); err != nil {
		fmt.Println("start:", err)
		return 1
	}
	j := &job{pid: cmd.Process.Pid, ttyFD: 0, ppid: os.Getppid(), stoppable: true, stopSelf: stopSelf}
	ws, hasTTY, err := j.wait()
	if hasTTY {
		restoreForeground(0, unix.Getpgrp())
	}
	fmt.Printf("exit=%d err=%v had-terminal=%v\n", ws.ExitStatus(), err, hasTTY)
	return 0
}

// runOnPTY runs the test binary as scenario's session leader on a new
// pseudo-terminal, types input into it, and returns what it printed.
func runOnPTY(t *testing.T, scenario, input string) string {
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
	out := runOnPTY(t, "background-read", "hello\n")
	if !strings.Contains(out, "got:hello") || !strings.Contains(out, "exit=0 err=<nil> had-terminal=true") || strings.Contains(out, "fence stopped") {
		t.Errorf("background read: want the command given the terminal, no stop of fence; output:\n%s", out)
	}
	out = runOnPTY(t, "ctrl-z", "hello\n")
	if !strings.Contains(out, "fence stopped, terminal restored true") || !strings.Contains(out, "got:hello") || !strings.Contains(out, "exit=0 err=<nil>") {
		t.Errorf("^Z: want fence stopped with the terminal back, then the command continued with it; output:\n%s", out)
	}
}

// TestJobStopsThatAreNotJobControl: a command without a terminal that is
// stopped by something else than fence (kill -STOP, a debugger) stays
// stopped, and fence does not stop: stopping it could stop a launcher
// that shares its process group, which nothing would continue.
func TestJobStopsThatAreNotJobControl(t *testing.T) {
	j := startJob(t, "kill -STOP $$; exit 3")
	j.stopSelf = func() { t.Error("fence stopped for a stop it did not pass on") }
	done := make(chan unix.WaitStatus, 1)
	go func() {
		ws, _, err := j.wait()
		if err != nil {
			t.Error(err)
		}
		done <- ws
	}()
	// The command is stopped and stays so until continued from outside.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", j.pid))
		if err != nil {
			t.Fatal(err)
		}
		// "PID (comm) STATE ...": T is stopped.
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "T" {
			time.Sleep(50 * time.Millisecond) // and fence did not act on it
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not stop")
		}
	}
	_ = unix.Kill(j.pid, unix.SIGCONT)
	if ws := <-done; !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("exit status %d, want 3", ws.ExitStatus())
	}
}

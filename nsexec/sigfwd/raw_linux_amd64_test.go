package sigfwd

import (
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsfence/fence/nsexec/internal/rawsig"
	"golang.org/x/sys/unix"
)

func threads(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func current(t *testing.T, sig syscall.Signal) rawsig.Action {
	t.Helper()
	var a rawsig.Action
	if err := rawsig.Sigaction(sig, nil, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func receive(t *testing.T, c <-chan syscall.Signal, want syscall.Signal) {
	t.Helper()
	select {
	case got := <-c:
		if got != want {
			t.Fatalf("received %v, want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%v was not delivered", want)
	}
}

// Caught signals arrive on C and not where the runtime would have sent
// them; Stop gives the runtime its handler back; and catching starts none
// of os/signal's threads.
func TestCatch(t *testing.T) {
	prior := make(chan os.Signal, 4)
	signal.Notify(prior, syscall.SIGUSR2)
	defer signal.Stop(prior)
	runtimeHandler := current(t, syscall.SIGUSR2)

	c, err := Catch([]syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Catch([]syscall.Signal{syscall.SIGHUP}); err == nil {
		t.Error("a second Catch while one is active succeeded")
	}
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGUSR1} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		receive(t, c.C, sig)
	}
	select {
	case s := <-prior:
		t.Errorf("os/signal also received %v while it was caught", s)
	case <-time.After(50 * time.Millisecond):
	}

	c.Stop()
	if got := current(t, syscall.SIGUSR2); got != runtimeHandler {
		t.Errorf("after Stop the action of SIGUSR2 is %+v, want the runtime's %+v back", got, runtimeHandler)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-prior:
	case <-time.After(5 * time.Second):
		t.Fatal("after Stop, SIGUSR2 did not reach os/signal again")
	}
	if _, open := <-c.C; open {
		t.Error("C is still open after Stop")
	}
	c.Stop() // a second Stop does nothing

	// A second Catcher gets what is caught from then on, every signal.
	c2, err := Catch([]syscall.Signal{syscall.SIGUSR1})
	if err != nil {
		t.Fatalf("Catch after Stop: %v", err)
	}
	c.Stop()
	for i := 0; i < 20; i++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		receive(t, c2.C, syscall.SIGUSR1)
	}
	c2.Stop()
}

// No thread of os/signal's is started by a process that only catches:
// checked in a process of its own, where os/signal was never used.
func TestCatchStartsNoSignalThreads(t *testing.T) {
	if os.Getenv("SIGFWD_CHILD") == "1" {
		before := threads(t)
		c, err := Catch([]syscall.Signal{syscall.SIGUSR1})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			syscall.Kill(os.Getpid(), syscall.SIGUSR1)
			receive(t, c.C, syscall.SIGUSR1)
		}
		if after := threads(t); after > before+1 {
			t.Fatalf("threads went from %d to %d", before, after)
		}
		c.Stop()
		return
	}
	runInChild(t, "TestCatchStartsNoSignalThreads", "SIGFWD_CHILD=1")
}

// WhileIgnored ignores the signal for f only.
func TestWhileIgnored(t *testing.T) {
	old := current(t, syscall.SIGTTOU)
	WhileIgnored(syscall.SIGTTOU, func() {
		if got := current(t, syscall.SIGTTOU); got.Handler != 1 {
			t.Errorf("SIGTTOU handler %#x inside, want SIG_IGN", got.Handler)
		}
	})
	if got := current(t, syscall.SIGTTOU); got != old {
		t.Errorf("SIGTTOU action %+v after, want %+v back", got, old)
	}
}

// A caught signal that lands on a thread blocked in a system call neither
// interrupts the call (SA_RESTART: fence's callers do not retry on EINTR)
// nor needs a stack the thread may not have room on (SA_ONSTACK: it runs
// on the thread's signal stack), and arrives.
func TestCatchRestartsInterruptedSyscalls(t *testing.T) {
	c, err := Catch([]syscall.Signal{syscall.SIGUSR1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	a := current(t, syscall.SIGUSR1)
	// The kernel keeps SIGKILL and SIGSTOP out of any mask.
	unblockable := uint64(1)<<(syscall.SIGKILL-1) | uint64(1)<<(syscall.SIGSTOP-1)
	if a.Flags&(rawsig.OnStack|rawsig.Restart|rawsig.Restorer) != rawsig.OnStack|rawsig.Restart|rawsig.Restorer || a.Mask|unblockable != ^uint64(0) {
		t.Errorf("action %+v: want SA_ONSTACK, SA_RESTART, SA_RESTORER and every signal blocked in the handler", a)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	rfd := int(r.Fd()) // blocking mode: the read below waits in the kernel
	tid := make(chan int)
	got := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		var b [1]byte
		_, err := unix.Read(rfd, b[:])
		got <- err
	}()
	id := <-tid
	time.Sleep(20 * time.Millisecond) // let the read block
	if err := unix.Tgkill(os.Getpid(), id, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	receive(t, c.C, syscall.SIGUSR1)
	select {
	case err := <-got:
		t.Fatalf("the blocked read returned (%v) on the signal, before any data", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("the read interrupted by the signal: %v, want it restarted", err)
	}
}

// A number in the pipe for a signal the active Catcher did not ask for
// (left by an earlier Catcher's handler, say) is dropped.
func TestCatchDeliversOnlyItsSignals(t *testing.T) {
	c, err := Catch([]syscall.Signal{syscall.SIGUSR1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	// What handler writes, written here directly, and counted as it
	// counts.
	handled.Add(2)
	if _, err := unix.Write(int(fwdFD), []byte{byte(syscall.SIGUSR2), byte(syscall.SIGUSR1)}); err != nil {
		t.Fatal(err)
	}
	receive(t, c.C, syscall.SIGUSR1)
	select {
	case s := <-c.C:
		t.Fatalf("received %v, which this Catcher did not catch", s)
	case <-time.After(50 * time.Millisecond):
	}
}

// Unread covers a caught signal from fence's handler to C's reader.
func TestCatchUnread(t *testing.T) {
	c, err := Catch([]syscall.Signal{syscall.SIGUSR1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	checkUnread(t, c, syscall.SIGUSR1)
	checkUnread(t, c, syscall.SIGUSR1)
	// Handled and not in C yet: relay holds it (it waits for mu).
	mu.Lock()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		mu.Unlock()
		t.Fatal(err)
	}
	ok := within(5*time.Second, c.Unread)
	time.Sleep(20 * time.Millisecond)
	held := len(c.C) == 0 && c.Unread()
	mu.Unlock()
	if !ok || !held {
		t.Fatalf("a signal between the handler and C: Unread %v, then %v with C empty; want true", ok, held)
	}
	receive(t, c.C, syscall.SIGUSR1)
	if !within(5*time.Second, func() bool { return !c.Unread() }) {
		t.Fatal("Unread still says so after the signal was read")
	}
}

// A caught signal that fence inherited blocked stays pending in the
// kernel for good (the runtime unblocks only some signals): Unread does
// not count it, or fence would never stop again. Checked in a process
// started with SIGUSR1 blocked.
func TestUnreadBlockedSignal(t *testing.T) {
	if os.Getenv("SIGFWD_BLOCKED") == "1" {
		c, err := Catch([]syscall.Signal{syscall.SIGUSR1})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := statusMask(b, "ShdPnd"); !ok || m&(1<<(syscall.SIGUSR1-1)) == 0 {
			t.Fatalf("SIGUSR1 is not pending: not inherited blocked? status:\n%s", b)
		}
		if c.Unread() {
			t.Error("Unread counts a signal that stays blocked")
		}
		return
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is missing: the test starts its child with a signal blocked through it")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", `import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
os.execv(sys.argv[1], sys.argv[1:])`, exe, "-test.run=^TestUnreadBlockedSignal$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SIGFWD_BLOCKED=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

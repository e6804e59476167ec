package sigfwd

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// Notify delivers through os/signal, on every platform.
func TestNotify(t *testing.T) {
	c := Notify([]syscall.Signal{syscall.SIGUSR1})
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-c.C:
		if got != syscall.SIGUSR1 {
			t.Fatalf("received %v, want SIGUSR1", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SIGUSR1 was not delivered")
	}
	c.Stop()
	c.Stop() // a second Stop does nothing
	select {
	case _, open := <-c.C:
		if open {
			t.Error("C delivered after Stop")
		}
	case <-time.After(5 * time.Second):
		t.Error("C is still open after Stop")
	}
}

// checkUnread sends sig to the process, which c catches: Unread says so
// from when it is handled until C's reader has it, and no longer.
func checkUnread(t *testing.T, c *Catcher, sig syscall.Signal) {
	t.Helper()
	if c.Unread() {
		t.Fatal("Unread before any signal came")
	}
	if err := syscall.Kill(os.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
	if !within(5*time.Second, c.Unread) {
		t.Fatalf("%v came and Unread did not say so", sig)
	}
	// Notify's signal can sit in the runtime's queue a while, where
	// Unread does not see it: from when it is in C.
	if !within(5*time.Second, func() bool { return len(c.C) > 0 }) {
		t.Fatalf("%v never reached C", sig)
	}
	time.Sleep(20 * time.Millisecond)
	if !c.Unread() {
		t.Fatalf("Unread stopped saying so while %v waited in C", sig)
	}
	select {
	case got := <-c.C:
		if got != sig {
			t.Fatalf("received %v, want %v", got, sig)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%v was not delivered", sig)
	}
	if !within(5*time.Second, func() bool { return !c.Unread() }) {
		t.Fatalf("Unread still says so after %v was read", sig)
	}
}

// within reports whether ok turns true before d has passed.
func within(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func TestNotifyUnread(t *testing.T) {
	c := Notify([]syscall.Signal{syscall.SIGUSR2})
	defer c.Stop()
	checkUnread(t, c, syscall.SIGUSR2)
	checkUnread(t, c, syscall.SIGUSR2)
}

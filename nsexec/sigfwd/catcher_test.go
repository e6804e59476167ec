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

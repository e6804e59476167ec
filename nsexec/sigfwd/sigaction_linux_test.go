//go:build linux && (amd64 || arm64)

package sigfwd

import (
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

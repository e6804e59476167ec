//go:build !(linux && amd64)

package sigfwd

import (
	"os/signal"
	"syscall"
)

// Catch is Notify: fence's own handler exists for linux/amd64 only.
func Catch(sigs []syscall.Signal) (*Catcher, error) { return Notify(sigs), nil }

// WhileIgnored runs f with sig ignored, then gives sig its default back.
func WhileIgnored(sig syscall.Signal, f func()) {
	signal.Ignore(sig)
	defer signal.Reset(sig)
	f()
}

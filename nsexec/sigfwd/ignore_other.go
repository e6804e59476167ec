//go:build !(linux && (amd64 || arm64))

package sigfwd

import (
	"os/signal"
	"syscall"
)

// WhileIgnored runs f with sig ignored, then asks os/signal to reset it.
func WhileIgnored(sig syscall.Signal, f func()) {
	signal.Ignore(sig)
	defer signal.Reset(sig)
	f()
}

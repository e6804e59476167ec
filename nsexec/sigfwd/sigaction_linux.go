//go:build linux && (amd64 || arm64)

package sigfwd

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigaction is the kernel's struct sigaction on amd64 and arm64: handler,
// flags, restorer, and an 8-byte mask.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

func rtSigaction(sig syscall.Signal, act, old *sigaction) error {
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0); e != 0 {
		return e
	}
	return nil
}

// WhileIgnored runs f with sig ignored, then gives sig its previous action
// back exactly (os/signal's Reset would leave an ignored signal ignored,
// and start os/signal's threads).
func WhileIgnored(sig syscall.Signal, f func()) {
	ign := sigaction{handler: 1} // SIG_IGN
	var old sigaction
	if rtSigaction(sig, &ign, &old) != nil {
		f()
		return
	}
	defer rtSigaction(sig, &old, nil)
	f()
}

//go:build linux && (amd64 || arm64)

package rawsig

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Action is the kernel's struct sigaction on amd64 and arm64: handler,
// flags, restorer, and an 8-byte mask.
type Action struct {
	Handler  uintptr
	Flags    uint64
	Restorer uintptr
	Mask     uint64
}

// Action flags.
const (
	// Restorer: the handler returns through Action.Restorer (x86-64
	// requires one).
	Restorer = 0x04000000
	// OnStack: the handler runs on the thread's signal stack; every
	// thread of a Go program has one.
	OnStack = 0x08000000
	// Restart: syscalls the signal interrupts restart where they can.
	Restart = 0x10000000
)

// Sigaction is rt_sigaction(sig, act, old): either may be nil.
func Sigaction(sig syscall.Signal, act, old *Action) error {
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0); e != 0 {
		return e
	}
	return nil
}

//go:build !linux || !(amd64 || arm64)

package seccomp

import (
	"errors"
	"fmt"
	"runtime"
)

// Unsupported says why fence has no filters on this platform.
func Unsupported() error {
	return fmt.Errorf("fence has no seccomp filter for %s/%s, only for linux/amd64 and linux/arm64: %w", runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)
}

// Load fails closed: there is no filter for this platform, and fence never
// runs a command without one.
func Load() error {
	return fmt.Errorf("load seccomp filter: %w", Unsupported())
}

// LoadCommand fails closed: there is no filter for this platform.
func LoadCommand(guard int) (int, error) {
	return -1, fmt.Errorf("load seccomp command filter: %w", Unsupported())
}

// LoadGuard fails closed: there is no filter for this platform.
func LoadGuard(mode int) (int, error) {
	return -1, fmt.Errorf("load seccomp guard filter: %w", Unsupported())
}

// Guard modes for LoadGuard.
const (
	GuardCreate = 1 << iota
	GuardWrite
	GuardSocket
)

//go:build !linux || !(amd64 || arm64)

package seccomp

import (
	"errors"
	"fmt"
)

// Load fails closed: there is no filter for this platform, and fence never
// runs a command without one.
func Load() error {
	return fmt.Errorf("seccomp: no filter for this platform: %w", errors.ErrUnsupported)
}

// LoadCommand fails closed: there is no filter for this platform.
func LoadCommand() error {
	return fmt.Errorf("seccomp: no command filter for this platform: %w", errors.ErrUnsupported)
}

// LoadGuard fails closed: there is no filter for this platform.
func LoadGuard(mode int) (int, error) {
	return -1, fmt.Errorf("seccomp: no guard filter for this platform: %w", errors.ErrUnsupported)
}

// Guard modes for LoadGuard.
const (
	GuardCreate = 1 << iota
	GuardWrite
	GuardSocket
)

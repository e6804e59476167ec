//go:build !linux

package landlock

import (
	"errors"
	"fmt"
)

// Policy is what Landlock enforces.
type Policy struct{ Writable []string }

// ErrUnavailable means the kernel has no usable Landlock.
var ErrUnavailable = errors.New("landlock is not available")

// ABI is 0: Landlock is Linux-only.
func ABI() int { return 0 }

// MinABI is the oldest Landlock ABI that fence uses (see the Linux file).
const MinABI = 2

// Usable is false: Landlock is Linux-only.
func Usable() bool { return false }

// Apply fails closed: Landlock is Linux-only.
func Apply(p Policy) (int, error) {
	return 0, fmt.Errorf("landlock: %w", errors.ErrUnsupported)
}

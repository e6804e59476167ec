//go:build !linux && !darwin

package fence

import (
	"errors"
	"fmt"
)

// Run fails closed where fence has no sandbox backend (Linux has
// namespaces, macOS Seatbelt): fence never runs a command unsandboxed.
func Run(s *Spec) (int, error) {
	return 1, fmt.Errorf("sandbox backend for this platform: %w", errors.ErrUnsupported)
}

//go:build !linux

package fence

import (
	"errors"
	"fmt"
)

// Run fails closed where no sandbox backend exists yet (macOS Seatbelt is a
// separate issue): fence never runs a command unsandboxed.
func Run(s *Spec) (int, error) {
	return 1, fmt.Errorf("sandbox backend for this platform: %w", errors.ErrUnsupported)
}

//go:build !linux

package netns

import (
	"errors"
	"fmt"
	"os"
)

// LoopbackUp fails: network namespaces are Linux-only.
func LoopbackUp() error { return fmt.Errorf("netns: %w", errors.ErrUnsupported) }

// Listen fails: network namespaces are Linux-only.
func Listen(addr string) (*os.File, error) {
	return nil, fmt.Errorf("netns: listen %s: %w", addr, errors.ErrUnsupported)
}

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

// TCPOwner fails: sock_diag is Linux's.
func TCPOwner(src [4]byte, sport uint16, dst [4]byte, dport uint16) (uint32, error) {
	return 0, fmt.Errorf("find the owner of a TCP socket: %w", errors.ErrUnsupported)
}

// RouteLocal fails: the route lookup is Linux-only.
func RouteLocal(ip []byte) (bool, error) {
	return false, fmt.Errorf("netns: look up the route: %w", errors.ErrUnsupported)
}

package netns

import (
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LoopbackUp sets lo up in the current network namespace. A new network
// namespace starts with lo down, so even 127.0.0.1 is unreachable until then.
func LoopbackUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	// lo is always ifindex 1 in a new network namespace (the kernel
	// registers it first), so no link dump is needed to find it.
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// Listen creates a TCP listener on addr in the current network namespace and
// returns it as a file, ready to be passed to another process.
func Listen(addr string) (*os.File, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s inside the sandbox: %w", addr, err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, fmt.Errorf("listener %s to file: %w", addr, err)
	}
	return f, nil
}

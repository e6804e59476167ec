package netns

import (
	"fmt"
	"net/netip"
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

// Listen creates a TCP listener on addr ("127.0.0.1:PORT") in the current
// network namespace and returns it as a file, ready to be passed to another
// process. Raw syscalls: the net package would register the socket with the
// poller and probe Multipath TCP, work for nothing on a socket that only
// travels to the supervisor.
func Listen(addr string) (*os.File, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("listen on %s inside the sandbox: want an IPv4 address and port", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listen on %s inside the sandbox: socket: %w", addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
		if err == nil {
			err = unix.Listen(fd, unix.SOMAXCONN)
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s inside the sandbox: %w", addr, err)
	}
	return os.NewFile(uintptr(fd), "listener "+addr), nil
}

package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// LoopbackUp sets lo up in the current network namespace. A new network
// namespace starts with lo down, so even 127.0.0.1 is unreachable until then.
//
// The request is built by netlink's nl package and sent over a plain
// blocking socket rather than a netlink.Handle: the handle's socket is
// registered with the runtime's poller (bind, getsockname, two epoll_ctl),
// and on PID 1's locked thread that machinery cost ~0.15 ms of the init
// stage's start; the kernel answers RTM_NEWLINK before sendto returns, so
// the receive never waits.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("set lo up: open netlink socket: %w", err)
	}
	defer unix.Close(fd)
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	// lo is always ifindex 1 in a new network namespace (the kernel
	// registers it first), so no link dump is needed to find it.
	msg.Index = 1
	msg.Flags = unix.IFF_UP
	msg.Change = unix.IFF_UP
	req.AddData(msg)
	if err := unix.Sendto(fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("set lo up: send RTM_NEWLINK: %w", err)
	}
	return readAck(fd, req.Seq)
}

// readAck reads the kernel's answer to request seq on fd: an NLMSG_ERROR
// whose error is 0 on success.
func readAck(fd int, seq uint32) error {
	var buf [512]byte
	for {
		n, _, err := unix.Recvfrom(fd, buf[:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("set lo up: read netlink answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("set lo up: parse netlink answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq || m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return errors.New("set lo up: truncated netlink answer")
			}
			if e := int32(binary.NativeEndian.Uint32(m.Data[:4])); e != 0 {
				return fmt.Errorf("set lo up: %w", unix.Errno(-e))
			}
			return nil
		}
	}
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

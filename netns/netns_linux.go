package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LoopbackUp sets lo up in the current network namespace. A new network
// namespace starts with lo down, so even 127.0.0.1 is unreachable until then.
//
// One RTM_NEWLINK, encoded here (32 bytes; the tests check it against
// netlink's own encoder), on a plain blocking socket: a netlink.Handle's
// socket is registered with the runtime's poller (bind, getsockname, two
// epoll_ctl), ~0.15 ms of the init stage's start on PID 1's locked thread,
// and netlink's nl package imports package net, which would make the init
// stage wait for most of the supervisor's package initialisation
// (cmd/fence/internal/stage). The kernel answers RTM_NEWLINK before sendto
// returns, so the receive never waits.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("set lo up: open netlink socket: %w", err)
	}
	defer unix.Close(fd)
	const seq = 1
	if err := unix.Sendto(fd, loUpRequest(seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("set lo up: send RTM_NEWLINK: %w", err)
	}
	return readAck(fd, seq)
}

// AllowLowPorts lets every process of the current network namespace bind
// ports below 1024 (net.ipv4.ip_unprivileged_port_start=0, a sysctl of
// the namespace). The sandbox's namespace holds only its own lo, and its
// processes have no capabilities, not even root's: without this a dev
// server on port 80 could not start in it. The caller must hold
// CAP_NET_ADMIN over the namespace.
func AllowLowPorts() error {
	// /proc/sys/net shows the network namespace of the thread that opens
	// it.
	fd, err := unix.Open("/proc/sys/net/ipv4/ip_unprivileged_port_start", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("allow low ports: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("0\n")); err != nil {
		return fmt.Errorf("allow low ports: %w", err)
	}
	return nil
}

// loUpRequest is RTM_NEWLINK for ifindex 1 with IFF_UP set.
func loUpRequest(seq uint32) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg)
	e := binary.NativeEndian
	e.PutUint32(b[0:], uint32(len(b)))
	e.PutUint16(b[4:], unix.RTM_NEWLINK)
	e.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	e.PutUint32(b[8:], seq)
	// ifinfomsg: family AF_UNSPEC, type 0; lo is always ifindex 1 in a new
	// network namespace (the kernel registers it first), so no link dump
	// is needed to find it.
	i := b[unix.SizeofNlMsghdr:]
	e.PutUint32(i[4:], 1)
	e.PutUint32(i[8:], unix.IFF_UP)
	e.PutUint32(i[12:], unix.IFF_UP)
	return b
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
	ip, port, ok := parseIPv4Port(addr)
	if !ok {
		return nil, fmt.Errorf("listen on %s inside the sandbox: want an IPv4 address and port", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listen on %s inside the sandbox: socket: %w", addr, err)
	}
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: ip})
	}
	if err == nil {
		err = unix.Listen(fd, unix.SOMAXCONN)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s inside the sandbox: %w", addr, err)
	}
	return os.NewFile(uintptr(fd), "listener "+addr), nil
}

// parseIPv4Port parses "a.b.c.d:port" (dotted decimal, port 0-65535).
// Not net/netip: it imports package unique, whose place in Go's package
// initialisation order would make the init stage, started from a package
// init function (cmd/fence/internal/stage), wait for nearly every other
// package's initialisation.
func parseIPv4Port(s string) (ip [4]byte, port int, ok bool) {
	host, ps, found := strings.Cut(s, ":")
	if !found || len(ps) == 0 || len(ps) > 5 || ps[0] == '+' || ps[0] == '-' {
		return ip, 0, false
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port > 65535 {
		return ip, 0, false
	}
	for i := range ip {
		var part string
		if i < 3 {
			part, host, found = strings.Cut(host, ".")
			if !found {
				return ip, 0, false
			}
		} else {
			part = host
		}
		if len(part) == 0 || len(part) > 3 || len(part) > 1 && part[0] == '0' || part[0] == '+' || part[0] == '-' {
			return ip, 0, false
		}
		n, err := strconv.Atoi(part)
		if err != nil || n > 255 {
			return ip, 0, false
		}
		ip[i] = byte(n)
	}
	return ip, port, true
}

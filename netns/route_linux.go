package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// RouteLocal reports whether the current network namespace delivers
// packets for ip (4 or 16 bytes) to itself: whether the kernel's route for
// it is of type local, as "ip route get" shows it. That holds for the
// addresses of every interface, 127.0.0.0/8, and every address of a local
// route that no interface lists ("ip route add local 10.1.0.0/24 dev lo",
// AnyIP, which cloud guest agents set up for forwarded and alias ranges):
// a connection to any of them reaches the services listening on 0.0.0.0
// or [::]. An address without a route (unreachable, prohibited, a
// blackhole) is not local.
//
// One RTM_GETROUTE on a plain blocking socket, as LoopbackUp does: the
// kernel answers before sendto returns.
func RouteLocal(ip []byte) (bool, error) {
	req, err := routeGetRequest(ip, 1)
	if err != nil {
		return false, err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return false, fmt.Errorf("look up the route: open netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, fmt.Errorf("look up the route: send RTM_GETROUTE: %w", err)
	}
	var buf [4096]byte
	for {
		n, _, err := unix.Recvfrom(fd, buf[:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("look up the route: read netlink answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return false, fmt.Errorf("look up the route: parse netlink answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != 1 {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return false, errors.New("look up the route: truncated netlink answer")
				}
				switch e := unix.Errno(-int32(binary.NativeEndian.Uint32(m.Data[:4]))); e {
				case 0:
					continue
				case unix.ENETUNREACH, unix.EHOSTUNREACH, unix.EACCES, unix.EINVAL:
					// No route, or one that drops the packet:
					// nothing is delivered, here or anywhere.
					return false, nil
				default:
					return false, fmt.Errorf("look up the route: %w", e)
				}
			case unix.RTM_NEWROUTE:
				if len(m.Data) < unix.SizeofRtMsg {
					return false, errors.New("look up the route: truncated netlink answer")
				}
				return m.Data[7] == unix.RTN_LOCAL, nil // rtmsg.rtm_type
			}
		}
	}
}

// routeGetRequest is RTM_GETROUTE for the host route to ip.
func routeGetRequest(ip []byte, seq uint32) ([]byte, error) {
	family := byte(unix.AF_INET)
	switch len(ip) {
	case 4:
	case 16:
		family = unix.AF_INET6
	default:
		return nil, fmt.Errorf("look up the route: %d-byte address, want 4 or 16", len(ip))
	}
	attr := unix.SizeofRtAttr + len(ip) // a multiple of 4 already
	b := make([]byte, unix.SizeofNlMsghdr+unix.SizeofRtMsg+attr)
	e := binary.NativeEndian
	e.PutUint32(b[0:], uint32(len(b)))
	e.PutUint16(b[4:], unix.RTM_GETROUTE)
	e.PutUint16(b[6:], unix.NLM_F_REQUEST)
	e.PutUint32(b[8:], seq)
	r := b[unix.SizeofNlMsghdr:]
	r[0] = family            // rtm_family
	r[1] = byte(8 * len(ip)) // rtm_dst_len
	a := r[unix.SizeofRtMsg:]
	e.PutUint16(a[0:], uint16(attr))
	e.PutUint16(a[2:], unix.RTA_DST)
	copy(a[unix.SizeofRtAttr:], ip)
	return b, nil
}

package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// inet_diag's request and answer, as <linux/inet_diag.h> lays them out:
// inet_diag_req_v2 is family, protocol, ext, pad, states, then the
// inet_diag_sockid (ports big-endian, four 32-bit words of address each
// way, interface, cookie); inet_diag_msg is family, state, timer,
// retrans, the sockid, then expires, rqueue, wqueue, uid, inode.
const (
	sizeofSockID       = 48
	sizeofDiagReq      = 8 + sizeofSockID
	diagMsgUIDOffset   = 4 + sizeofSockID + 12
	inetDiagNoCookie   = 0xffffffff
	sockDiagByFamily   = 20 // SOCK_DIAG_BY_FAMILY
	allTCPStates       = 0xffffffff
	diagRequestSeq     = 1
	minDiagMsgWithUID  = diagMsgUIDOffset + 4
	maxDiagAnswerBytes = 4096
)

// TCPOwner returns the user (uid, as this process's user namespace sees
// it) owning the TCP socket whose local address is src:sport and whose
// peer is dst:dport, in the calling thread's network namespace: for the
// proxies on the host's 127.0.0.1 (relaxed mode), the owner of the
// client's end of a connection they accepted. One exact sock_diag lookup
// (no dump), encoded here for the same reason as LoopbackUp's request;
// a second, for a socket bound to lo, when the first finds none: the
// kernel's exact lookup matches a socket bound to a device
// (SO_BINDTODEVICE, which any user may set) only when asked with that
// device's index, and a socket bound to any other device cannot reach
// 127.0.0.0/8. It fails when the socket is gone or the kernel has no
// inet_diag.
func TCPOwner(src [4]byte, sport uint16, dst [4]byte, dport uint16) (uint32, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return 0, fmt.Errorf("find the owner of a TCP socket: open sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	uid, err := tcpOwnerOn(fd, diagRequestSeq, src, sport, dst, dport, 0)
	if errors.Is(err, unix.ENOENT) {
		uid, err = tcpOwnerOn(fd, diagRequestSeq+1, src, sport, dst, dport, loopbackIfindex)
	}
	if err != nil {
		return 0, fmt.Errorf("find the owner of a TCP socket: %w", err)
	}
	return uid, nil
}

// loopbackIfindex is lo's interface index, the same in every network
// namespace (LOOPBACK_IFINDEX).
const loopbackIfindex = 1

// tcpOwnerOn asks sock_diag socket fd for the owner of the socket
// TCPOwner names, as bound to the interface ifindex (0: to none).
func tcpOwnerOn(fd int, seq uint32, src [4]byte, sport uint16, dst [4]byte, dport uint16, ifindex uint32) (uint32, error) {
	req := tcpOwnerRequest(seq, src, sport, dst, dport, ifindex)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("send sock_diag request: %w", err)
	}
	var buf [maxDiagAnswerBytes]byte
	for {
		n, _, err := unix.Recvfrom(fd, buf[:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read sock_diag answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return 0, fmt.Errorf("parse sock_diag answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return 0, errors.New("truncated sock_diag error")
				}
				e := int32(binary.NativeEndian.Uint32(m.Data[:4]))
				if e == 0 {
					return 0, errors.New("sock_diag answered with an acknowledgement only")
				}
				return 0, unix.Errno(-e)
			case sockDiagByFamily:
				if len(m.Data) < minDiagMsgWithUID {
					return 0, errors.New("truncated sock_diag answer")
				}
				return binary.NativeEndian.Uint32(m.Data[diagMsgUIDOffset:]), nil
			}
		}
	}
}

// tcpOwnerRequest is the SOCK_DIAG_BY_FAMILY request for one IPv4 TCP
// socket, found by its addresses and ports whatever its cookie, bound to
// the interface ifindex (0: to none).
func tcpOwnerRequest(seq uint32, src [4]byte, sport uint16, dst [4]byte, dport uint16, ifindex uint32) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+sizeofDiagReq)
	e := binary.NativeEndian
	e.PutUint32(b[0:], uint32(len(b)))
	e.PutUint16(b[4:], sockDiagByFamily)
	e.PutUint16(b[6:], unix.NLM_F_REQUEST) // no NLM_F_DUMP: one exact socket
	e.PutUint32(b[8:], seq)
	r := b[unix.SizeofNlMsghdr:]
	r[0] = unix.AF_INET
	r[1] = unix.IPPROTO_TCP
	e.PutUint32(r[4:], allTCPStates)
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], sport)
	binary.BigEndian.PutUint16(id[2:], dport)
	copy(id[4:8], src[:])
	copy(id[20:24], dst[:])
	e.PutUint32(id[36:], ifindex)
	e.PutUint32(id[40:], inetDiagNoCookie)
	e.PutUint32(id[44:], inetDiagNoCookie)
	return b
}

package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
)

// refusedKind names the class of a, or "" when a may be dialled without an
// explicit allowance.
func refusedKind(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "loopback"
	case isMetadata(a):
		return "cloud metadata"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "link-local"
	case a.IsUnspecified(), a.Is4() && a.As4()[0] == 0:
		// 0.0.0.0/8 ("this network"): Linux connects 0.0.0.0 to the local host.
		return "unspecified"
	}
	return ""
}

// isMetadata reports cloud metadata endpoints: 169.254.169.254 (most
// clouds), 100.100.100.200 (Alibaba Cloud), 168.63.129.16 (Azure's
// WireServer, which hands a VM's extension settings and certificates to
// root, as a supervisor run as root is) and 192.0.0.192 (Oracle Cloud
// Classic); and over IPv6, which the link-local refusal does not cover
// (they are unique local addresses): fd00:ec2::254 (AWS IMDS),
// fd00:ec2::23 (the EKS Pod Identity Agent, which hands out AWS
// credentials), fd20:ce::254 (Google Cloud's metadata server, with the
// service account's tokens) and fd00:42::42 (Scaleway).
func isMetadata(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		return b == [4]byte{169, 254, 169, 254} || b == [4]byte{100, 100, 100, 200} || b == [4]byte{168, 63, 129, 16} || b == [4]byte{192, 0, 0, 192}
	}
	switch a.WithZone("").As16() {
	case [16]byte{0: 0xfd, 2: 0x0e, 3: 0xc2, 14: 0x02, 15: 0x54},
		[16]byte{0: 0xfd, 2: 0x0e, 3: 0xc2, 15: 0x23},
		[16]byte{0: 0xfd, 1: 0x20, 3: 0xce, 14: 0x02, 15: 0x54},
		[16]byte{0: 0xfd, 3: 0x42, 15: 0x42}:
		return true
	}
	return false
}

// ownAddrs returns the addresses of the host's own interfaces, unmapped
// and without zones. A connection to one of them reaches the host's
// services that listen on every address (0.0.0.0, [::]) as surely as
// loopback does.
func ownAddrs() ([]netip.Addr, error) {
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(ifas))
	for _, ifa := range ifas {
		if p, err := netip.ParsePrefix(ifa.String()); err == nil {
			out = append(out, p.Addr().WithZone("").Unmap())
		}
	}
	return out, nil
}

// nat64Target returns the IPv4 address a NAT64 gateway connects to for a,
// if a is in the well-known NAT64 prefix 64:ff9b::/96 (RFC 6052): a
// gateway translates 64:ff9b::a.b.c.d to a connection to a.b.c.d.
func nat64Target(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	if [12]byte(b[:12]) != [12]byte{1: 0x64, 2: 0xff, 3: 0x9b} {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[12:])), true
}

// refusal names the class of a that the address policy refuses, or "":
// refusedKind, or an address of the host itself (own lists the host's
// addresses). An address in the NAT64 prefix is judged by the IPv4
// address it stands for: where a NAT64 gateway translates it (a VPC's NAT
// gateway, a host's own translator), 64:ff9b::a9fe:a9fe reaches the
// metadata service and 64:ff9b::7f00:1 the gateway's loopback.
func refusal(a netip.Addr, own []netip.Addr) string {
	if v4, ok := nat64Target(a); ok {
		if k := refusal(v4, own); k != "" {
			return k + " (through NAT64)"
		}
		return ""
	}
	if k := refusedKind(a); k != "" {
		return k
	}
	a = a.WithZone("")
	for _, o := range own {
		if o == a {
			return "the host's own"
		}
	}
	return ""
}

// refusedFor returns why the connection decided by d may not go to a, or
// "" if it may; own lists the host's addresses. Last, and only for an
// address nothing else refused, the Server's isLocal (Options.IsLocal)
// is asked whether the host delivers a to itself: a local route makes
// addresses the host's that no interface lists. An address it cannot
// answer for is refused, as one would be without the list of own
// addresses.
func (s *Server) refusedFor(a netip.Addr, d Decision, own []netip.Addr) string {
	if d.explicit {
		return ""
	}
	for _, p := range s.allow {
		if p.Contains(a) {
			return ""
		}
	}
	if k := refusal(a, own); k != "" {
		return k + " address " + a.String()
	}
	if s.isLocal == nil {
		return ""
	}
	check := []netip.Addr{a}
	if v4, ok := nat64Target(a); ok {
		check = append(check, v4) // what a translator on this host connects to
	}
	for _, c := range check {
		local, err := s.isLocal(c)
		switch {
		case err != nil:
			return "address " + c.String() + ", not known not to be the host's own (" + err.Error() + ")"
		case local:
			return "the host's own address " + c.String() + " (a local route)"
		}
	}
	return ""
}

// joinHostPort is net.JoinHostPort for a host that may come in brackets
// already (a SOCKS5 domain "[::1]"): the brackets are kept, not doubled,
// so that logs and errors show "[::1]:443", never "[[::1]]:443".
func joinHostPort(host string, port int) string {
	if n := len(host); n > 1 && host[0] == '[' && host[n-1] == ']' {
		return host + ":" + strconv.Itoa(port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// dial connects to host:port for a connection that d allowed. It resolves
// host (Hosts first, then DNS) only now, after the rule check, drops
// addresses the address policy refuses, and dials the remaining addresses
// in order. The error wraps ErrBlocked when the policy refused the
// connection, and is a connection error otherwise.
func (s *Server) dial(ctx context.Context, host string, port int, d Decision) (net.Conn, error) {
	target := joinHostPort(host, port)
	if !d.Allow {
		return nil, fmt.Errorf("connect %s: %w", target, ErrBlocked)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	defer context.AfterFunc(s.done, cancel)()

	addrs, listed, err := s.resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", target, err)
	}
	var (
		dialErr error
		refused string // why the first address refused was
		own     []netip.Addr
	)
	if !(listed && s.trustHosts) && !d.explicit {
		var err error
		if own, err = s.ownAddrs(); err != nil {
			// Without the list, an address of the host's own would
			// pass for any other: refused, not dialled.
			return nil, fmt.Errorf("connect %s: %w: list the host's own addresses: %v", target, ErrBlocked, err)
		}
	}
	for _, a := range addrs {
		if !(listed && s.trustHosts) {
			if why := s.refusedFor(a, d, own); why != "" {
				if refused == "" {
					refused = why
				}
				continue
			}
		}
		c, err := s.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return s.wrapUpstream(c)
		}
		if dialErr == nil {
			dialErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if dialErr != nil {
		return nil, fmt.Errorf("connect %s: %w", target, dialErr)
	}
	if refused != "" {
		return nil, fmt.Errorf("connect %s: %w: refused %s", target, ErrBlocked, refused)
	}
	return nil, fmt.Errorf("connect %s: resolve %s: no addresses", target, host)
}

// resolve returns the addresses of host, an IP literal or a name, and
// whether they came from Hosts.
func (s *Server) resolve(ctx context.Context, host string) ([]netip.Addr, bool, error) {
	// Brackets and one trailing dot are ignored, as Rules.Decide ignores
	// them: an IP literal so written ("127.0.0.1.", a SOCKS5 domain
	// "[::1]") is the address it names, which is what the rules decided
	// on, not a name for DNS.
	name := host
	if n := len(name); n > 1 && name[0] == '[' && name[n-1] == ']' {
		name = name[1 : n-1]
	}
	name = strings.TrimSuffix(name, ".")
	if a, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{a.Unmap()}, false, nil
	}
	name = strings.ToLower(name)
	if addrs, ok := s.hosts[name]; ok {
		return addrs, true, nil
	}
	// Rooted, so that the resolver's search list (resolv.conf's search
	// domains, tried first under Kubernetes' ndots:5) never turns an
	// allowed name into another one: a made-up label under an allowed
	// wildcard would reach LABEL.allowed.test.corp.internal. A name of
	// one label is looked up as given: the hosts file keys such names
	// without the dot, so the rooted form would miss "localhost" there,
	// and only a pattern naming it exactly (or "*") allows one, never a
	// wildcard.
	query := name + "."
	if !strings.Contains(name, ".") {
		query = name
	}
	addrs, err := s.resolver.LookupNetIP(ctx, "ip", query)
	if err != nil {
		return nil, false, fmt.Errorf("resolve %s: %w", name, err)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, false, nil
}

// upstreamConn is an upstream TCP connection the Server tracks so that
// Close can end it. It embeds *net.TCPConn, so CloseWrite/CloseRead (for
// half-close) and ReadFrom/WriteTo (for splice) are the TCPConn's own.
type upstreamConn struct {
	*net.TCPConn
	s      *Server
	closed atomic.Bool
}

func (c *upstreamConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.s.untrack(c)
	}
	return c.TCPConn.Close()
}

func (s *Server) wrapUpstream(c net.Conn) (net.Conn, error) {
	var uc net.Conn = c
	if tc, ok := c.(*net.TCPConn); ok {
		uc = &upstreamConn{TCPConn: tc, s: s}
	}
	if !s.track(uc) {
		return nil, fmt.Errorf("connect %s: %w", c.RemoteAddr(), net.ErrClosed)
	}
	return uc, nil
}

// isBlocked reports whether err is a policy refusal.
func isBlocked(err error) bool { return errors.Is(err, ErrBlocked) }

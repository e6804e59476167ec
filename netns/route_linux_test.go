package netns

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The hand-encoded RTM_GETROUTE must be what netlink's own encoder builds.
func TestRouteGetRequestMatchesNetlink(t *testing.T) {
	for _, ip := range []net.IP{net.IPv4(10, 1, 2, 3).To4(), net.ParseIP("2001:db8::7")} {
		req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, 0)
		family := unix.AF_INET
		if len(ip) == 16 {
			family = unix.AF_INET6
		}
		msg := nl.NewRtMsg()
		msg.Family = uint8(family)
		msg.Dst_len = uint8(8 * len(ip))
		msg.Protocol, msg.Scope, msg.Type, msg.Table = 0, 0, 0, 0
		req.AddData(msg)
		req.AddData(nl.NewRtAttr(unix.RTA_DST, ip))
		want := req.Serialize()
		got, err := routeGetRequest(ip, req.Seq)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("routeGetRequest(%v) = % x, %v\nnetlink encodes      % x", ip, got, err, want)
		}
	}
	if _, err := routeGetRequest(make([]byte, 5), 1); err == nil {
		t.Error("routeGetRequest took a 5-byte address")
	}
}

// In the test's own namespace: loopback is local, a documentation
// address is not (a lookup sends nothing).
func TestRouteLocalHere(t *testing.T) {
	for _, c := range []struct {
		ip   net.IP
		want bool
	}{
		{net.IPv4(127, 0, 0, 1).To4(), true},
		{net.IPv4(127, 9, 8, 7).To4(), true},
		{net.IPv4(192, 0, 2, 1).To4(), false},
	} {
		if got, err := RouteLocal(c.ip); err != nil || got != c.want {
			t.Errorf("RouteLocal(%v) = %v, %v; want %v", c.ip, got, err, c.want)
		}
	}
}

// TestRouteLocal checks, in fresh namespaces, that the addresses of a local
// route no interface lists (AnyIP) are local, and those of no route are not.
func TestRouteLocal(t *testing.T) {
	runChild(t, "route", "route ok")
}

func routeChild() error {
	if err := LoopbackUp(); err != nil {
		return err
	}
	for _, dst := range []string{"10.99.0.0/24", "2001:db8:99::/96"} {
		_, n, _ := net.ParseCIDR(dst)
		r := &netlink.Route{LinkIndex: 1, Dst: n, Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: netlink.SCOPE_HOST}
		if err := netlink.RouteAdd(r); err != nil {
			return fmt.Errorf("add local route %s: %w", dst, err)
		}
	}
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
		{"10.99.0.7", true},
		{"2001:db8:99::7", true},
		{"10.98.0.7", false},      // no route at all
		{"2001:db8:98::7", false}, // nor here
	} {
		ip := net.ParseIP(c.ip)
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if got, err := RouteLocal(ip); err != nil || got != c.want {
			return fmt.Errorf("RouteLocal(%s) = %v, %v; want %v", c.ip, got, err, c.want)
		}
	}
	return nil
}

func BenchmarkRouteLocal(b *testing.B) {
	ip := net.IPv4(192, 0, 2, 1).To4()
	for b.Loop() {
		if _, err := RouteLocal(ip); err != nil {
			b.Fatal(err)
		}
	}
}

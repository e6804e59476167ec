package proxy

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

// An allowed name that resolves to one of the host's own addresses (an
// interface's, not loopback) would reach every host service listening on
// 0.0.0.0 or [::], as loopback would: the address policy refuses it too,
// unless the pattern names the address or a trusted hosts line maps the
// name. The dialer's Control aborts every connect before it is made, so
// the test sends nothing.
func TestOwnAddressRefused(t *testing.T) {
	own := netip.MustParseAddr("192.0.2.77")
	other := netip.MustParseAddr("192.0.2.78")
	errDialled := errors.New("dialled")
	newServer := func(trust bool) *Server {
		s := New(Options{
			Rules: mustRules(t, []string{"*.rebound.example", "192.0.2.77", "trusted.test"}, nil),
			Hosts: map[string][]netip.Addr{
				"own.rebound.example":    {own},
				"mapped.rebound.example": {netip.AddrFrom16(own.As16())},
				"other.rebound.example":  {other},
				"trusted.test":           {own},
			},
			TrustHosts: trust,
		})
		s.ownAddrs = func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("127.0.0.1"), own}, nil }
		s.dialer.Control = func(string, string, syscall.RawConn) error { return errDialled }
		t.Cleanup(func() { s.Close() })
		return s
	}
	for _, tc := range []struct {
		host    string
		trust   bool
		blocked bool
	}{
		{"own.rebound.example", false, true},
		{"mapped.rebound.example", false, true},
		{"other.rebound.example", false, false},
		{"192.0.2.77", false, false}, // the pattern names the address
		{"trusted.test", true, false},
		{"trusted.test", false, true},
	} {
		s := newServer(tc.trust)
		_, err := s.dial(context.Background(), tc.host, 80, s.Rules().Decide(tc.host, 80))
		if got := isBlocked(err); got != tc.blocked {
			t.Errorf("dial %s (trust %v): %v, want blocked %v", tc.host, tc.trust, err, tc.blocked)
		}
		if !tc.blocked && !errors.Is(err, errDialled) {
			t.Errorf("dial %s (trust %v): %v, want the dial attempted", tc.host, tc.trust, err)
		}
	}
}

// A host whose addresses cannot be listed refuses the dial rather than
// let one of them pass for another address.
func TestOwnAddressesUnknownRefused(t *testing.T) {
	errDialled := errors.New("dialled")
	s := New(Options{
		Rules: mustRules(t, []string{"*.rebound.example"}, nil),
		Hosts: map[string][]netip.Addr{"other.rebound.example": {netip.MustParseAddr("192.0.2.78")}},
	})
	t.Cleanup(func() { s.Close() })
	s.ownAddrs = func() ([]netip.Addr, error) { return nil, errors.New("netlink: no") }
	s.dialer.Control = func(string, string, syscall.RawConn) error { return errDialled }
	_, err := s.dial(context.Background(), "other.rebound.example", 80, s.Rules().Decide("other.rebound.example", 80))
	if !isBlocked(err) || errors.Is(err, errDialled) {
		t.Errorf("dial with the host's addresses unknown: %v, want it refused before dialling", err)
	}
}

package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A local route makes addresses the host's own that no interface lists
// (AnyIP: "ip route add local 10.99.0.0/24 dev lo", which cloud guest
// agents set up for forwarded and alias ranges), and a connection to one
// reaches every host service listening on 0.0.0.0 or [::]. An allowed
// name resolving into such a range reached them: the address policy
// compared addresses with the interfaces' only. Options.IsLocal (on
// Linux, the kernel's route type) is now asked for what passes the rest.
func TestLocalRouteRefused(t *testing.T) {
	anyIP := netip.MustParseAddr("192.0.2.7")
	unknown := netip.MustParseAddr("192.0.2.8")
	p := startProxy(t, Options{
		Rules: mustRules(t, []string{"anyip.example:8080", "unknown.example:8080", "192.0.2.7:8080"}, nil),
		Hosts: map[string][]netip.Addr{"anyip.example": {anyIP}, "unknown.example": {unknown}},
		IsLocal: func(a netip.Addr) (bool, error) {
			if a == unknown {
				return false, errors.New("netlink: no")
			}
			return a == anyIP, nil
		},
	}, func(s *Server) {
		// Nothing leaves the host in this test: a dial the policy let
		// through fails here, with 502.
		s.dialer.Control = func(_, address string, _ syscall.RawConn) error {
			return fmt.Errorf("test dials nothing (%s)", address)
		}
	})
	for _, tc := range []struct {
		host, log string
		status    int
	}{
		{"anyip.example", `refused the host's own address 192\.0\.2\.7 \(a local route\)`, 403},
		{"unknown.example", `refused address 192\.0\.2\.8, not known not to be the host's own \(netlink: no\)`, 403},
		// A pattern naming the address reaches it, local or not, as
		// one naming 127.0.0.1 does.
		{"192.0.2.7", `test dials nothing`, 502},
	} {
		c := dialRaw(t, p.httpAddr)
		io.WriteString(c, "GET http://"+tc.host+":8080/ HTTP/1.1\r\nHost: "+tc.host+"\r\n\r\n")
		if line := firstLine(c); line != fmt.Sprintf("HTTP/1.1 %d %s", tc.status, statusText(tc.status)) {
			t.Errorf("GET %s: %q, want %d", tc.host, line, tc.status)
		}
		c.Close()
		p.logs.wait(t, `GET .* `+tc.log)
		if _, _, resp := p.connect(t, tc.host+":8080", ""); resp.StatusCode != tc.status {
			t.Errorf("CONNECT %s: %d, want %d", tc.host, resp.StatusCode, tc.status)
		}
		want := byte(repNotAllowed)
		if tc.status == 502 {
			want = repGeneralFailure
		}
		if rep := p.socksReply(t, tc.host, "8080"); rep != want {
			t.Errorf("SOCKS %s: reply %#x, want %#x", tc.host, rep, want)
		}
	}
}

// firstLine returns the first line of what c answers.
func firstLine(c net.Conn) string {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 256)
	n, _ := io.ReadAtLeast(c, b, 12)
	line, _, _ := strings.Cut(string(b[:n]), "\r\n")
	return line
}

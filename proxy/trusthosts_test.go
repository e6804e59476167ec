package proxy

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// loopbackDNS returns a resolver whose DNS answers every A query with
// 127.0.0.1 (and every other query with no records), over an in-memory
// connection: a name the sandbox's attacker controls, rebound to loopback.
func loopbackDNS(t *testing.T) *net.Resolver {
	serve := func(c net.Conn) {
		defer c.Close()
		for {
			var n [2]byte
			if _, err := io.ReadFull(c, n[:]); err != nil {
				return
			}
			q := make([]byte, binary.BigEndian.Uint16(n[:]))
			if _, err := io.ReadFull(c, q); err != nil {
				return
			}
			var m dnsmessage.Message
			if err := m.Unpack(q); err != nil || len(m.Questions) != 1 {
				return
			}
			m.Header.Response, m.Header.Authoritative = true, true
			if qq := m.Questions[0]; qq.Type == dnsmessage.TypeA {
				m.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: qq.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
					Body:   &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}},
				}}
			}
			b, err := m.Pack()
			if err != nil {
				t.Errorf("pack DNS answer: %v", err)
				return
			}
			binary.BigEndian.PutUint16(n[:], uint16(len(b)))
			if _, err := c.Write(append(n[:], b...)); err != nil {
				return
			}
		}
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			client, server := net.Pipe() // a stream: DNS over TCP framing
			go serve(server)
			return client, nil
		},
	}
}

// With TrustHosts (fence's `hosts` lines), the name a user mapped to a
// loopback address reaches it; another allowed name that DNS resolves to
// the same address is still refused. The mapping used to exempt the
// address for every name.
func TestTrustHostsIsPerName(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := startProxy(t, Options{
		Rules:      mustRules(t, []string{"api.test:" + port, "rebound.example:" + port}, nil),
		Hosts:      map[string][]netip.Addr{"api.test": {netip.MustParseAddr("127.0.0.1")}},
		TrustHosts: true,
		Resolver:   loopbackDNS(t),
	})
	c := p.client(t, nil)
	for _, tc := range []struct {
		host   string
		status int
	}{{"api.test", 200}, {"rebound.example", 403}} {
		resp, err := c.Get("http://" + tc.host + ":" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d %q, want %d", tc.host, resp.StatusCode, body, tc.status)
		}
		if _, _, resp := p.connect(t, tc.host+":"+port, ""); resp.StatusCode != tc.status {
			t.Errorf("CONNECT %s: %d, want %d", tc.host, resp.StatusCode, tc.status)
		}
		want := byte(repSucceeded)
		if tc.status == 403 {
			want = repNotAllowed
		}
		if rep := p.socksReply(t, tc.host, port); rep != want {
			t.Errorf("SOCKS %s: reply %#x, want %#x", tc.host, rep, want)
		}
	}
}

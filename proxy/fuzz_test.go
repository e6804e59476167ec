package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/ as well; run
//
//	go test -fuzz=FuzzSOCKSRequest ./proxy
//
// to extend them.

func FuzzSOCKSRequest(f *testing.F) {
	f.Add(socksRequestBytes(cmdConnect, "example.com", 443))
	f.Add(socksRequestBytes(cmdConnect, "127.0.0.1", 80))
	f.Add(socksRequestBytes(cmdConnect, "2001:db8::1", 8080))
	f.Add(socksRequestBytes(cmdBind, "example.com", 0))
	f.Add(socksRequestBytes(cmdUDPAssociate, "0.0.0.0", 0))
	f.Add(socksRequestBytes(cmdConnect, strings.Repeat("a", 255), 65535))
	f.Add([]byte{5, 1, 0, atypDomain, 0, 0, 80})
	f.Add([]byte{5, 1, 0, 9, 1, 2, 3, 4, 0, 80})
	f.Add([]byte{4, 1, 0, atypIPv4, 1, 2, 3, 4, 0, 80})
	f.Add([]byte{5, 1, 0, atypIPv6, 0, 0})
	f.Add([]byte{5, 1, 0, atypDomain, 10, 'a'})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		req, err := readRequest(r, make([]byte, 2+255))
		if err != nil {
			var re *replyError
			if errors.As(err, &re) && re.code == repSucceeded {
				t.Fatalf("error %v carries the success reply", err)
			}
			return
		}
		if req.host == "" || req.port < 0 || req.port > 65535 {
			t.Fatalf("accepted request with host %q port %d", req.host, req.port)
		}
		// The request re-encodes to exactly the bytes consumed (RSV aside).
		n := len(data) - r.Len()
		enc := encodeRequest(req.cmd, data[2], data[3], req.host, req.port)
		if !bytes.Equal(enc, data[:n]) {
			t.Fatalf("consumed %x, re-encoded %x", data[:n], enc)
		}
		// Whatever was parsed, deciding it must be safe.
		_ = mustRules(t, []string{"*"}, nil).Decide(req.host, req.port)
	})
}

// encodeRequest encodes a request with an explicit address type.
func encodeRequest(cmd, rsv, atyp byte, host string, port int) []byte {
	b := []byte{socksVersion, cmd, rsv, atyp}
	switch atyp {
	case atypIPv4, atypIPv6:
		b = append(b, netip.MustParseAddr(host).AsSlice()...)
	default:
		b = append(b, byte(len(host)))
		b = append(b, host...)
	}
	return binary.BigEndian.AppendUint16(b, uint16(port))
}

// fakeConn feeds a handshake from bytes and records what it writes.
type fakeConn struct {
	r   io.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error) { return c.out.Write(p) }

func FuzzSOCKSHandshake(f *testing.F) {
	greet := []byte{5, 1, methodNone}
	auth := []byte{5, 1, methodUserPass, 1, 5, 'f', 'e', 'n', 'c', 'e', 6, 's', '3', 'c', 'r', 'e', 't'}
	req := socksRequestBytes(cmdConnect, "example.com", 443)
	f.Add(append(append([]byte{}, greet...), req...), false)
	f.Add(append(append([]byte{}, auth...), req...), true)
	f.Add(append([]byte{5, 2, methodNone, methodUserPass}, req...), false)
	f.Add([]byte{5, 1, methodUserPass, 1, 0, 0}, true)
	f.Add([]byte{5, 1, methodUserPass, 1, 255}, true)
	f.Add([]byte{5, 0}, false)
	f.Add([]byte{5, 255}, false)
	f.Add(append(append([]byte{}, greet...), socksRequestBytes(cmdBind, "::1", 1)...), false)

	servers := map[bool]*Server{false: New(Options{}), true: New(Options{Credential: "fence:s3cret"})}
	f.Fuzz(func(t *testing.T, data []byte, withCred bool) {
		s := servers[withCred]
		c := &fakeConn{r: bytes.NewReader(data)}
		req, err := s.socksHandshake(c)

		// The output is a method selection, then an auth status if
		// username/password was selected, then at most one reply; the
		// success reply for CONNECT is the caller's to send.
		out := c.out.Bytes()
		bad := func() { t.Fatalf("malformed output %x for input %x", c.out.Bytes(), data) }
		if len(out) > 0 {
			if len(out) < 2 || out[0] != socksVersion {
				bad()
			}
			method := out[1]
			out = out[2:]
			if method == methodUserPass && len(out) > 0 {
				if len(out) < 2 || out[0] != userPassVersion {
					bad()
				}
				out = out[2:]
			}
			if len(out) > 0 && (len(out) != 10 || out[0] != socksVersion || out[1] == repSucceeded || out[3] != atypIPv4) {
				bad()
			}
		}
		if err == nil {
			if req.cmd != cmdConnect || req.host == "" {
				t.Fatalf("handshake succeeded with %+v", req)
			}
			if withCred && !bytes.Contains(data, []byte("fence")) || withCred && !bytes.Contains(data, []byte("s3cret")) {
				t.Fatalf("authenticated without the credential: %x", data)
			}
		} else if !errors.Is(err, errSOCKS) {
			t.Fatalf("error %v does not wrap errSOCKS", err)
		}
	})
}

func FuzzDecide(f *testing.F) {
	for _, h := range []string{"example.com", "a.example.com", "EXAMPLE.com.", "127.0.0.1", "[::1]", "::ffff:10.0.0.7", "fe80::1%eth0", "x..example.com", ""} {
		f.Add(h, 443)
	}
	r := mustRules(f, []string{"example.com", "*.example.com", "10.0.0.7", "::1", "localhost:*"}, []string{"evil.example.com"})
	f.Fuzz(func(t *testing.T, host string, port int) {
		d := r.Decide(host, port)
		if d.Allow && d.Rule == "" {
			t.Fatalf("allowed %q:%d without a rule", host, port)
		}
		if strings.ContainsAny(host, "[].%") || host != strings.TrimSpace(host) {
			return
		}
		// Case and one trailing dot never change the outcome.
		for _, v := range []string{strings.ToUpper(host), host + "."} {
			if e := r.Decide(v, port); e != d {
				t.Fatalf("Decide(%q) = %+v but Decide(%q) = %+v", host, d, v, e)
			}
		}
	})
}

func FuzzNewRules(f *testing.F) {
	for _, p := range []string{"example.com", "*.example.com", "example.com:8080", "[::1]:80", "10.0.0.1", "*", "localhost", "http://x.com", "*.com", "a.b.c:*"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, err := NewRules([]string{p}, nil)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(p, "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		pp, err := parsePattern(p)
		if err != nil {
			t.Fatalf("NewRules accepted %q but parsePattern rejects it: %v", p, err)
		}
		port := 443
		if pp.kind == portOne {
			port = int(pp.port)
		}
		var host string
		switch {
		case pp.all:
			host = "anything.example"
		case pp.addr.IsValid():
			host = pp.addr.String()
		case pp.wildcard:
			host = "sub." + pp.host
			if d := r.Decide(pp.host, port); d.Allow {
				t.Fatalf("wildcard %q allows its apex", p)
			}
		default:
			host = pp.host
		}
		if d := r.Decide(host, port); !d.Allow || d.Rule != p {
			t.Fatalf("pattern %q does not allow %q:%d (%+v)", p, host, port, d)
		}
	})
}

func FuzzSplitTarget(f *testing.F) {
	for _, s := range []string{"example.com:443", "example.com", "[::1]:80", "[::1]", ":80", "[::1", "a:b:c", "x:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := splitTarget(s, 443)
		if err != nil {
			return
		}
		if host == "" || port < 1 || port > 65535 {
			t.Fatalf("splitTarget(%q) = %q, %d", s, host, port)
		}
		h2, p2, err := splitTarget(net.JoinHostPort(host, strconv.Itoa(port)), 443)
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("splitTarget(%q) = %q, %d does not round-trip: %q, %d, %v", s, host, port, h2, p2, err)
		}
	})
}

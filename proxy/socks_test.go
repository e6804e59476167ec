package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"
)

// socksRequestBytes encodes a SOCKS5 request for host (a domain name, or an
// IP literal sent as ATYP IPv4/IPv6).
func socksRequestBytes(cmd byte, host string, port int) []byte {
	b := []byte{socksVersion, cmd, 0}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		b = append(b, atypIPv4)
		b = append(b, a.AsSlice()...)
	} else if err == nil {
		b = append(b, atypIPv6)
		b = append(b, a.AsSlice()...)
	} else {
		b = append(b, atypDomain, byte(len(host)))
		b = append(b, host...)
	}
	return binary.BigEndian.AppendUint16(b, uint16(port))
}

// socksDial opens a connection to the SOCKS proxy, negotiates no
// authentication, sends a request and returns the connection and the
// reply code.
func (p *testProxy) socksDial(t testing.TB, cmd byte, host, port string) (net.Conn, byte) {
	t.Helper()
	c, err := net.Dial("tcp", p.socksAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte{socksVersion, 1, methodNone}); err != nil {
		t.Fatal(err)
	}
	sel := make([]byte, 2)
	if _, err := io.ReadFull(c, sel); err != nil || sel[1] != methodNone {
		t.Fatalf("method selection %x, %v", sel, err)
	}
	n, _ := strconv.Atoi(port)
	if _, err := c.Write(socksRequestBytes(cmd, host, n)); err != nil {
		t.Fatal(err)
	}
	rep := make([]byte, 10)
	if _, err := io.ReadFull(c, rep); err != nil {
		t.Fatalf("read reply: %v", err)
	}
	if rep[0] != socksVersion || rep[3] != atypIPv4 {
		t.Fatalf("malformed reply %x", rep)
	}
	return c, rep[1]
}

func (p *testProxy) socksReply(t testing.TB, host, port string) byte {
	t.Helper()
	_, rep := p.socksDial(t, cmdConnect, host, port)
	return rep
}

// socks returns an established SOCKS5 CONNECT tunnel.
func (p *testProxy) socks(t testing.TB, host, port string) net.Conn {
	t.Helper()
	c, rep := p.socksDial(t, cmdConnect, host, port)
	if rep != repSucceeded {
		t.Fatalf("SOCKS CONNECT %s:%s: reply %#x", host, port, rep)
	}
	return c
}

func TestSOCKSConnect(t *testing.T) {
	addr := tcpServer(t, echo)
	_, port := hostPort(t, addr)
	p := startProxy(t, Options{
		Rules:      mustRules(t, []string{"app.test:" + port, "127.0.0.1:" + port}, nil),
		Hosts:      map[string][]netip.Addr{"app.test": local},
		AllowAddrs: loopback,
	})
	for _, host := range []string{"app.test", "APP.TEST.", "127.0.0.1"} {
		c := p.socks(t, host, port)
		io.WriteString(c, "ping "+host)
		buf := make([]byte, len("ping "+host))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping "+host {
			t.Errorf("%s: echo %q, %v", host, buf, err)
		}
	}
	p.logs.wait(t, `^\[fence:socks\] `+timeRE+` ✓ CONNECT app\.test:`+port+` ALLOWED$`)
	p.logs.wait(t, `^\[fence:socks\] `+timeRE+` ✓ CONNECT 127\.0\.0\.1:`+port+` ALLOWED$`)
}

func TestSOCKSIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			echo(c)
			c.Close()
		}
	}()
	_, port := hostPort(t, ln.Addr().String())
	p := startProxy(t, Options{Rules: mustRules(t, []string{"[::1]:" + port}, nil)})
	c := p.socks(t, "::1", port)
	io.WriteString(c, "v6")
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "v6" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	p.logs.wait(t, `✓ CONNECT \[::1\]:`+port+` ALLOWED`)
}

func TestSOCKSBlocked(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"example.com"}, []string{"evil.example.com"})})
	for _, c := range []struct{ host, port string }{
		{"blocked.example", "443"},
		{"evil.example.com", "443"},
		{"example.com", "22"},
		{"10.1.2.3", "443"},
	} {
		if rep := p.socksReply(t, c.host, c.port); rep != repNotAllowed {
			t.Errorf("%s:%s: reply %#x, want 0x02", c.host, c.port, rep)
		}
	}
	p.logs.wait(t, `^\[fence:socks\] `+timeRE+` ✗ CONNECT blocked\.example:443 BLOCKED \(no allowedDomains pattern allows this host and port\)$`)
	p.logs.wait(t, `^\[fence:socks\] `+timeRE+` ✗ CONNECT evil\.example\.com:443 BLOCKED \(deniedDomains: "evil\.example\.com"\)$`)
}

func TestSOCKSRefusesBindAndUDP(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"*"}, nil)})
	for _, cmd := range []byte{cmdBind, cmdUDPAssociate, 0x09} {
		c, rep := p.socksDial(t, cmd, "example.com", "443")
		if rep != repCommandNotSupported {
			t.Errorf("command %d: reply %#x, want 0x07", cmd, rep)
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("command %d: connection left open", cmd)
		}
	}
	p.logs.wait(t, `✗ BIND example\.com:443 BLOCKED \(command not supported\)`)
	p.logs.wait(t, `✗ UDP-ASSOCIATE example\.com:443 BLOCKED`)
}

func TestSOCKSProtocolErrors(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"*"}, nil)})
	exchange := func(send []byte, wantLen int) []byte {
		c := dialRaw(t, p.socksAddr)
		c.Write(send)
		got, _ := io.ReadAll(io.LimitReader(c, int64(wantLen)+1))
		return got
	}
	// SOCKS4 is not spoken: SOCKS4's "request rejected", then closed.
	if got := exchange([]byte{4, 1, 0, 80, 127, 0, 0, 1, 0}, 8); !bytes.Equal(got, []byte{0, 91, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("SOCKS4: got %x, want 005b000000000000 and the end", got)
	}
	// Only user/pass offered without a credential configured: no method.
	if got := exchange([]byte{5, 1, methodUserPass}, 2); !bytes.Equal(got, []byte{5, methodNoAcceptable}) {
		t.Errorf("no acceptable method: got %x", got)
	}
	// Unknown address type: 0x08.
	got := exchange([]byte{5, 1, 0, 5, 1, 0, 9, 1, 2, 3, 4, 0, 80}, 12)
	if len(got) != 12 || got[3] != 0x08 {
		t.Errorf("unknown ATYP: got %x, want reply 0x08", got)
	}
	// Empty domain name: a malformed request, 0x01 (general failure);
	// 0x04 (host unreachable) would report a network fault instead.
	got = exchange([]byte{5, 1, 0, 5, 1, 0, atypDomain, 0, 0, 80}, 12)
	if len(got) != 12 || got[3] != repGeneralFailure {
		t.Errorf("empty domain: got %x, want reply 0x01", got)
	}
}

func TestSOCKSCredential(t *testing.T) {
	addr := tcpServer(t, echo)
	_, port := hostPort(t, addr)
	p := startProxy(t, Options{
		Rules:      mustRules(t, []string{"127.0.0.1:" + port}, nil),
		Credential: "fence:s3cret",
	})
	// No authentication offered: refused.
	c, err := net.Dial("tcp", p.socksAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{5, 1, methodNone})
	sel := make([]byte, 2)
	if io.ReadFull(c, sel); sel[1] != methodNoAcceptable {
		t.Fatalf("no-auth client: selection %x, want 0xff", sel)
	}

	// Wrong and right passwords through an independent client.
	n, _ := strconv.Atoi(port)
	for _, tc := range []struct {
		pass string
		ok   bool
	}{{"wrong", false}, {"s3cret", true}} {
		d, err := xproxy.SOCKS5("tcp", p.socksAddr, &xproxy.Auth{User: "fence", Password: tc.pass}, xproxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n)))
		if (err == nil) != tc.ok {
			t.Fatalf("password %q: err %v, want ok=%v", tc.pass, err, tc.ok)
		}
		if err == nil {
			io.WriteString(conn, "authed")
			buf := make([]byte, 6)
			if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "authed" {
				t.Errorf("echo %q, %v", buf, err)
			}
			conn.Close()
		}
	}
}

func TestSOCKSInteropDomain(t *testing.T) {
	// x/net/proxy sends names as ATYP domain (socks5h semantics).
	addr := tcpServer(t, echo)
	_, port := hostPort(t, addr)
	p := appProxy(t, port)
	d, err := xproxy.SOCKS5("tcp", p.socksAddr, nil, xproxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.Dial("tcp", "app.test:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "interop")
	buf := make([]byte, 7)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "interop" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	if _, err := d.Dial("tcp", "blocked.example:443"); err == nil {
		t.Fatal("blocked name connected")
	}
}

func TestSOCKSHalfClose(t *testing.T) {
	addr := tcpServer(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		io.WriteString(c, "got "+strconv.Itoa(int(n)))
	})
	_, port := hostPort(t, addr)
	p := appProxy(t, port)
	c := p.socks(t, "app.test", port)
	io.WriteString(c, "12345")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "got 5" {
		t.Fatalf("after half-close read %q, %v", got, err)
	}
}

// A SOCKS5 domain may be an IPv6 literal in brackets ("[::1]", as some
// clients send a bracketed host): the -m lines show it bracketed once,
// in the target and in the reason, not as "[[::1]]:443".
func TestSOCKSBracketedDomainLoggedOnce(t *testing.T) {
	// A port nobody listens on at [::1] (any port will do without IPv6:
	// the connect fails either way).
	port := "9"
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		_, port = hostPort(t, ln.Addr().String())
		ln.Close()
	}
	p := startProxy(t, Options{Rules: mustRules(t, []string{"[::1]:" + port}, nil), Monitor: true})
	if rep := p.socksReply(t, "[::1]", "443"); rep != repNotAllowed {
		t.Errorf("[::1]:443: reply %#x, want 0x02", rep)
	}
	if rep := p.socksReply(t, "[::1]", port); rep == repSucceeded || rep == repNotAllowed {
		t.Errorf("[::1]:%s with nobody listening: reply %#x, want a connect failure", port, rep)
	}
	p.logs.wait(t, `^\[fence:socks\] `+timeRE+` ✗ CONNECT \[::1\]:443 BLOCKED \(no allowedDomains pattern allows this host and port\)$`)
	p.logs.wait(t, `^\[fence:socks\] `+timeRE+` ! CONNECT \[::1\]:`+port+` ERROR \(connect \[::1\]:`+port+`: .+\)$`)
	for _, line := range p.logs.all() {
		if strings.Contains(line, "[[") || strings.Contains(line, "]]") {
			t.Errorf("doubled brackets in %q", line)
		}
	}
}

func TestSOCKSRefusedUpstream(t *testing.T) {
	dead := refusedAddr(t)
	h, port := hostPort(t, dead)
	p := startProxy(t, Options{Rules: mustRules(t, []string{"127.0.0.1:*"}, nil)})
	if rep := p.socksReply(t, h, port); rep != repConnectionRefused {
		t.Fatalf("reply %#x, want 0x05", rep)
	}
	p.logs.wait(t, `! CONNECT 127\.0\.0\.1:`+port+` ERROR \(.*connection refused\)`)
}

// A SOCKS4 or 4a client gets SOCKS4's "request rejected" (curl: "request
// rejected or failed"), not a reset it cannot explain.
func TestSOCKS4Rejected(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true})
	c := dialRaw(t, p.socksAddr)
	// SOCKS4a CONNECT app.test:80, user "u".
	c.Write([]byte("\x04\x01\x00\x50\x00\x00\x00\x01u\x00app.test\x00"))
	rep := make([]byte, 8)
	if _, err := io.ReadFull(c, rep); err != nil || rep[0] != 0 || rep[1] != 91 {
		t.Fatalf("SOCKS4a request: reply %x, %v; want 00 5b (request rejected)", rep, err)
	}
	p.logs.wait(t, `version 4, want 5: fence serves SOCKS5 only`)
}

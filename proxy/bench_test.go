package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
)

// Benchmarks compare each proxied path with the same work done directly
// over loopback; the difference is the proxy's cost. Allocation counts
// include both ends (client, proxy and server share the process), so the
// proxy's own allocations per connection are connect−direct.
//
//	go test -run '^$' -bench . -benchmem ./proxy

func BenchmarkDecide(b *testing.B) {
	r := mustRules(b,
		[]string{"github.com", "*.github.com", "*.githubusercontent.com", "registry.npmjs.org", "pypi.org", "*.pythonhosted.org", "proxy.golang.org"},
		[]string{"gist.github.com"})
	b.ReportAllocs()
	for b.Loop() {
		r.Decide("objects.githubusercontent.com", 443)
	}
}

// benchProxy returns a proxy allowing everything on 127.0.0.1.
func benchProxy(b *testing.B) *testProxy {
	return startProxy(b, Options{
		Rules:      mustRules(b, []string{"app.test:*", "127.0.0.1:*"}, nil),
		Hosts:      map[string][]netip.Addr{"app.test": local},
		AllowAddrs: loopback,
		Log:        func(string) {},
	})
}

// dialer opens a connection to the echo/source server either directly or
// through one of the proxies.
type benchDialer func(b *testing.B, target string) (net.Conn, io.Reader)

func direct(b *testing.B, target string) (net.Conn, io.Reader) {
	c, err := net.Dial("tcp", target)
	if err != nil {
		b.Fatal(err)
	}
	return c, c
}

func viaCONNECT(p *testProxy) benchDialer {
	return func(b *testing.B, target string) (net.Conn, io.Reader) {
		c, err := net.Dial("tcp", p.httpAddr)
		if err != nil {
			b.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(target)
		req := "CONNECT app.test:" + port + " HTTP/1.1\r\nHost: app.test:" + port + "\r\n\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			b.Fatal(err)
		}
		// Read the response head byte by byte so nothing of the tunnel is
		// left in a buffer.
		var head []byte
		one := make([]byte, 1)
		for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			if _, err := c.Read(one); err != nil {
				b.Fatalf("read CONNECT response: %v (%q)", err, head)
			}
			head = append(head, one[0])
		}
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
			b.Fatalf("CONNECT: %q", head)
		}
		return c, c
	}
}

func viaSOCKS(p *testProxy) benchDialer {
	return func(b *testing.B, target string) (net.Conn, io.Reader) {
		c, err := net.Dial("tcp", p.socksAddr)
		if err != nil {
			b.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(target)
		n, _ := strconv.Atoi(port)
		msg := append([]byte{socksVersion, 1, methodNone}, socksRequestBytes(cmdConnect, "app.test", n)...)
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		rep := make([]byte, 2+10)
		if _, err := io.ReadFull(c, rep); err != nil || rep[3] != repSucceeded {
			b.Fatalf("SOCKS: %x %v", rep, err)
		}
		return c, c
	}
}

// viaRelay goes through a bare relay to target: accept, dial, io.Copy both
// ways, no protocol and no policy. It is the floor for any user-space
// proxy on this machine, separating the cost of relaying at all from the
// cost of ours.
func viaRelay(b *testing.B, target string) benchDialer {
	relay := tcpServer(b, func(c net.Conn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer u.Close()
		go func() {
			io.Copy(u, c)
			u.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(c, u)
	})
	return func(b *testing.B, _ string) (net.Conn, io.Reader) { return direct(b, relay) }
}

var pathNames = []string{"direct", "relay", "connect", "socks"}

func benchPaths(b *testing.B, target string) map[string]benchDialer {
	p := benchProxy(b)
	return map[string]benchDialer{
		"direct":  direct,
		"relay":   viaRelay(b, target),
		"connect": viaCONNECT(p),
		"socks":   viaSOCKS(p),
	}
}

// BenchmarkThroughput measures download throughput from a loopback server
// that writes as fast as it can. The ratio connect/direct is the tunnel's
// efficiency (target ≥ 0.9); relay/direct is what any user-space relay
// achieves on the same machine. On a machine with few CPUs the relay stage
// competes with the sender and the receiver, so even the bare relay falls
// well short of direct.
func BenchmarkThroughput(b *testing.B) {
	block := bytes.Repeat([]byte("fence"), 64<<10/5+1)[:64<<10]
	src := tcpServer(b, func(c net.Conn) {
		for {
			if _, err := c.Write(block); err != nil {
				return
			}
		}
	})
	paths := benchPaths(b, src)
	for _, name := range pathNames {
		b.Run(name, func(b *testing.B) {
			c, r := paths[name](b, src)
			defer c.Close()
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConnection measures one short connection: connect (through the
// proxy: handshake, decision, dial), a one-byte round trip, close. The
// difference to direct is the latency and allocations the proxy adds per
// connection.
func BenchmarkConnection(b *testing.B) {
	srv := tcpServer(b, echo)
	paths := benchPaths(b, srv)
	for _, name := range pathNames {
		b.Run(name, func(b *testing.B) {
			one := []byte{'x'}
			b.ReportAllocs()
			for b.Loop() {
				c, r := paths[name](b, srv)
				if _, err := c.Write(one); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r, one); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkHTTPRequest measures a plain-HTTP GET on a kept-alive client
// connection, direct and through the proxy.
func BenchmarkHTTPRequest(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	_, port := hostPort(b, up.Listener.Addr().String())
	p := benchProxy(b)
	for _, name := range []string{"direct", "proxy"} {
		b.Run(name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{}}
			url := "http://127.0.0.1:" + port + "/"
			if name == "proxy" {
				c = p.client(b, nil)
				url = "http://app.test:" + port + "/"
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

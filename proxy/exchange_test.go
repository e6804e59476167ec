package proxy

// Exchanges on a kept client connection: what the proxy must do when a
// client or an origin misbehaves mid-request, and what it may keep.

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The proxy's own answers (403, 407, 502, 400) to HEAD carry no body: the
// connection stays, and a body would be read as the start of the next
// response.
func TestHEADAnswerHasNoBody(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	br := bufio.NewReader(c)
	io.WriteString(c, "HEAD http://blocked.example/ HTTP/1.1\r\nHost: blocked.example\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Close {
		t.Fatalf("HEAD to a denied host: %d close=%v", resp.StatusCode, resp.Close)
	}
	io.WriteString(c, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\n\r\n")
	resp, err = http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("response after a HEAD refusal on the same connection: %v", err)
	}
	if b := readBody(t, resp); resp.StatusCode != 200 || b != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

// A client that gives up while the origin has not answered yet: the proxy
// must not keep the upstream connection (and its goroutine and both fds)
// until the origin answers, which may be never. -m says the client left,
// with nginx's 499: it said 502, an answer the proxy never gave.
func TestClientGoneWhileWaiting(t *testing.T) {
	closed := make(chan struct{})
	up := tcpServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.Copy(io.Discard, c) // never answers; returns when the proxy closes
		close(closed)
	})
	_, port := hostPort(t, up)
	p := startProxy(t, Options{
		Rules:      mustRules(t, []string{"app.test:" + port}, nil),
		Hosts:      map[string][]netip.Addr{"app.test": local},
		AllowAddrs: loopback,
		Monitor:    true,
	})
	defer func() {
		p.logs.wait(t, `GET\s+499 app\.test .*the client closed its connection before the response`)
		for _, l := range p.logs.all() {
			if strings.Contains(l, " 502 ") {
				t.Errorf("logged as a 502 the proxy never sent: %s", l)
			}
		}
	}()
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "GET http://app.test:"+port+"/slow HTTP/1.1\r\nHost: app.test\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	c.Close()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("client closed its connection 3s ago; the proxy still holds the upstream connection")
	}
}

// The client aborts mid-upload: the upstream connection must end too, or
// the origin waits for the rest of the body and the proxy for its answer.
func TestClientAbortsUpload(t *testing.T) {
	res := make(chan error, 1)
	up := tcpServer(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			res <- err
			return
		}
		_, err = io.ReadAll(req.Body)
		res <- err
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "POST http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\n0123456789")
	time.Sleep(200 * time.Millisecond)
	c.Close()
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("origin read a complete body")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("client aborted its upload 3s ago; the origin is still waiting for the body through the proxy")
	}
}

// A kept upstream connection that dies after the origin read a request
// but before it answered: a GET is sent again on a new connection, a POST
// never is (the origin may have acted on it).
func TestRetryOnlyReplayable(t *testing.T) {
	for _, tc := range []struct {
		method string
		runs   int32
		status int
	}{{"GET", 2, 200}, {"POST", 1, 502}} {
		var runs, conns atomic.Int32
		up := tcpServer(t, func(c net.Conn) {
			first := conns.Add(1) == 1
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				if req.URL.Path == "/act" {
					runs.Add(1)
					if first {
						return // acted on, then the connection died before the answer
					}
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		_, port := hostPort(t, up)
		p := appProxy(t, port)
		c := dialRaw(t, p.httpAddr)
		br := bufio.NewReader(c)
		sendOn(t, c, br, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\n\r\n", "GET")
		resp, _ := sendOn(t, c, br, tc.method+" http://app.test:"+port+"/act HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\n\r\n", tc.method)
		if n := runs.Load(); n != tc.runs || resp.StatusCode != tc.status {
			t.Errorf("%s: origin ran it %d times, proxy answered %d; want %d and %d", tc.method, n, resp.StatusCode, tc.runs, tc.status)
		}
	}
}

// An origin that answers before the (small) request body has been
// forwarded: an answer sent as keep-alive (no Connection: close) must
// leave the connection usable.
func TestEarlyAnswerKeepAlive(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			io.Copy(io.Discard, req.Body)
		}
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	io.WriteString(c, "hello") // the body, right after the answer arrived
	if resp.Close {
		return // announced: fine
	}
	io.WriteString(c, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\n\r\n")
	if _, err := http.ReadResponse(br, &http.Request{Method: "GET"}); err != nil {
		t.Fatalf("answer was sent as keep-alive, but the next request on the connection fails: %v", err)
	}
}

// The proxy refuses a POST (denied host) and closes with the body unread:
// the answer must still reach the client, not be lost to a reset.
func TestRefusalWithUnreadBody(t *testing.T) {
	p := appProxy(t, "1")
	for i := 0; i < 20; i++ {
		c := dialRaw(t, p.httpAddr)
		io.WriteString(c, "POST http://blocked.example/ HTTP/1.1\r\nHost: blocked.example\r\nContent-Length: 1000000\r\n\r\n")
		io.WriteString(c, strings.Repeat("x", 4096)) // the first bytes, as a client sends them
		time.Sleep(50 * time.Millisecond)            // the proxy answers and closes
		go c.Write(make([]byte, 64<<10))             // more body: the proxy's kernel answers with RST
		time.Sleep(50 * time.Millisecond)
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
		if err != nil {
			t.Fatalf("try %d: the client never sees the 403: %v", i, err)
		}
		resp.Body.Close()
	}
}

// HTTPS absolute-form requests keep their upstream TLS connection.
func TestHTTPSKeepAlive(t *testing.T) {
	tlsUp := newCountingTLSServer(t)
	p := exampleProxy(t, tlsUp.port)
	p.roots = tlsUp.roots
	c := dialRaw(t, p.httpAddr)
	br := bufio.NewReader(c)
	for i := 0; i < 3; i++ {
		fmt.Fprintf(c, "GET https://example.com:%s/ HTTP/1.1\r\nHost: example.com\r\n\r\n", tlsUp.port)
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		if b := readBody(t, resp); resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := tlsUp.conns.Load(); n != 1 {
		t.Errorf("3 requests used %d TLS connections", n)
	}
}

// A client offering several protocols in Upgrade gets the server's 101
// when the server picks one of them.
func TestUpgradeOffersSeveral(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(c, br)
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: foo/2, websocket\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Errorf("got %d, want the server's 101 (RFC 9110 §7.8: the server picks one of the offered protocols)", resp.StatusCode)
	}
}

// The idle pool serves every client connection: clients that open a
// connection per request (urllib, one curl per URL) reuse the upstream
// connection; credentials in the URL are dropped on the way.
func TestIdlePoolAcrossClients(t *testing.T) {
	var conns atomic.Int32
	var auth atomic.Value
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization") + "|" + r.Host)
		io.WriteString(w, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	for i := 0; i < 3; i++ {
		resp, body := p.roundTrip(t, "GET http://user:pw@app.test:"+port+"/ HTTP/1.1\r\nConnection: close\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("3 client connections used %d upstream connections, want 1", n)
	}
	if got := auth.Load(); got != "|app.test:"+port {
		t.Errorf("origin saw Authorization|Host %q: the URL's credentials must be dropped", got)
	}
}

// A kept connection is not reused after SetRules, and unsolicited bytes
// after a response make the proxy drop it.
func TestKeptConnectionChecks(t *testing.T) {
	var conns atomic.Int32
	up := tcpServer(t, func(c net.Conn) {
		n := conns.Add(1)
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if n == 2 {
				// a response followed by a smuggled one
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	br := bufio.NewReader(c)
	get := func() string {
		_, body := sendOn(t, c, br, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\n\r\n", "GET")
		return body
	}
	get()
	p.SetRules(mustRules(t, []string{"app.test:" + port}, nil))
	get()
	if n := conns.Load(); n != 2 {
		t.Errorf("after SetRules: %d upstream connections, want 2", n)
	}
	time.Sleep(50 * time.Millisecond)
	if b := get(); b != "ok" {
		t.Errorf("smuggled response reached the client: %q", b)
	}
	p.SetRules(mustRules(t, []string{"other.test"}, nil))
	io.WriteString(c, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("after SetRules denying: %v %v", resp, err)
	}
}

// Server.Close ends every goroutine: a parked upstream, a
// request waiting for its answer, an upload in flight, a tunnel, an
// upgrade relay.
func TestCloseEndsEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		up := tcpServer(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				switch req.URL.Path {
				case "/hang":
					io.Copy(io.Discard, br)
					return
				case "/ws":
					io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
					io.Copy(c, br)
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		_, port := hostPort(t, up)
		s := New(Options{Rules: mustRules(t, []string{"app.test:" + port}, nil), Hosts: map[string][]netip.Addr{"app.test": local}, AllowAddrs: loopback})
		ln := listen(t)
		done := make(chan struct{})
		go func() { s.ServeHTTP(ln); close(done) }()
		addr := ln.Addr().String()
		send := func(raw string) net.Conn {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, raw)
			return c
		}
		var cs []net.Conn
		c := send("GET http://app.test:" + port + "/ HTTP/1.1\r\nHost: app.test\r\n\r\n")
		http.ReadResponse(bufio.NewReader(c), nil)
		cs = append(cs, c,
			send("GET http://app.test:"+port+"/hang HTTP/1.1\r\nHost: app.test\r\n\r\n"),
			send("POST http://app.test:"+port+"/hang HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\nabc"),
			send("CONNECT app.test:"+port+" HTTP/1.1\r\n\r\n"),
			send("GET http://app.test:"+port+"/ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
		)
		time.Sleep(200 * time.Millisecond)
		s.Close()
		<-done
		for _, c := range cs {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Errorf("client connection not ended by Close: %v", err)
			}
			c.Close()
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+2 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var ours []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "proxy.(*") {
				ours = append(ours, g)
			}
		}
		t.Errorf("%d goroutines left (base %d):\n%s", n, base, strings.Join(ours, "\n\n"))
	}
}

type countingTLSServer struct {
	port  string
	roots *x509.CertPool
	conns *atomic.Int32
}

func newCountingTLSServer(t *testing.T) countingTLSServer {
	var n atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	up.StartTLS()
	t.Cleanup(up.Close)
	_, port := hostPort(t, up.Listener.Addr().String())
	return countingTLSServer{port: port, roots: up.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, conns: &n}
}

// A 502 for a request without a body keeps the client connection, every
// time (the body copy's state was once read before it was known).
func TestBadGatewayKeepsConnection(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/bad" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	br := bufio.NewReader(c)
	for i := 0; i < 20; i++ {
		for _, path := range []string{"/bad", "/ok"} {
			io.WriteString(c, "GET http://app.test:"+port+path+" HTTP/1.1\r\nHost: app.test\r\n\r\n")
			resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatalf("round %d %s: %v", i, path, err)
			}
			body := readBody(t, resp)
			if want := map[string]int{"/bad": 502, "/ok": 200}[path]; resp.StatusCode != want || resp.Close {
				t.Fatalf("round %d %s: %d %q (close %v), want %d on a kept connection", i, path, resp.StatusCode, body, resp.Close, want)
			}
		}
	}
}

// A request head begun and not finished within the handshake timeout gets
// 408, and -m says so: the connection was closed with no answer and no
// line.
func TestIncompleteHeadTimesOut(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true},
		func(s *Server) { s.handshake = 200 * time.Millisecond })
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "GET http://app.test/ HTTP/1.1\r\nHost: app.test\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("an incomplete request head: %v, want a 408", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 408 || !resp.Close {
		t.Errorf("an incomplete request head: %d %v, want 408 and the connection closed", resp.StatusCode, resp.Header)
	}
	p.logs.wait(t, `! -\s+408 - - .*request head not complete within 200ms`)
}

// A blank line between requests (RFC 9112 §2.2: some clients send one
// after a POST body) is no request begun: a client that sends one and
// goes quiet gets no 408, which it could take for its next request's
// answer, and its next request is served.
func TestBlankLineIsNoRequest(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true},
		func(s *Server) { s.handshake = 200 * time.Millisecond })
	c := dialRaw(t, p.httpAddr)
	if code := deniedRequest(c); code != 403 {
		t.Fatalf("first request: %d, want 403", code)
	}
	io.WriteString(c, "\r\n")
	_ = c.SetReadDeadline(time.Now().Add(600 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after a blank line and nothing more: read %d bytes, %v; want nothing", n, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if code := deniedRequest(c); code != 403 {
		t.Errorf("the request after the blank line: %d, want 403", code)
	}
	for _, l := range p.logs.all() {
		if strings.Contains(l, " 408 ") {
			t.Errorf("logged a 408 for a blank line: %s", l)
		}
	}
}

// A request body the proxy cannot read gets 400 naming the problem, and
// the origin is not left waiting for the rest.
func TestMalformedRequestBody(t *testing.T) {
	got := make(chan error, 1)
	up := tcpServer(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err == nil {
			_, err = io.ReadAll(req.Body)
		}
		got <- err
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	resp, body := p.roundTrip(t, "POST http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\nworld\r\n0\r\n\r\n", "POST")
	if resp.StatusCode != 400 || !strings.Contains(body, "read request body") || !strings.Contains(body, "bare LF") {
		t.Errorf("got %d %q, want 400 naming the bare LF", resp.StatusCode, body)
	}
	select {
	case err := <-got:
		if err == nil {
			t.Error("the origin read a complete body")
		}
	case <-time.After(5 * time.Second):
		t.Error("the origin is still waiting for the body")
	}
}

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

var local = []netip.Addr{netip.MustParseAddr("127.0.0.1")}

// appProxy starts a proxy that maps app.test to 127.0.0.1 and allows
// app.test on port (or every port when port is "*"), with loopback
// allowed explicitly.
func appProxy(t *testing.T, port string) *testProxy {
	return startProxy(t, Options{
		Rules:      mustRules(t, []string{"app.test:" + port}, []string{"blocked.example"}),
		Hosts:      map[string][]netip.Addr{"app.test": local},
		AllowAddrs: loopback,
	})
}

const timeRE = `\d\d:\d\d:\d\d`

func TestHTTPAbsoluteURI(t *testing.T) {
	var gotHost, gotURI string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotURI = r.Host, r.RequestURI
		io.WriteString(w, "hello from upstream")
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)

	resp, err := p.client(t, nil).Get("http://APP.test:" + port + "/path?q=1")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "hello from upstream" {
		t.Fatalf("got %d %q, want 200 from upstream", resp.StatusCode, body)
	}
	if gotHost != "APP.test:"+port || gotURI != "/path?q=1" {
		t.Errorf("upstream saw Host %q URI %q, want origin-form request for APP.test:%s", gotHost, gotURI, port)
	}
	p.logs.wait(t, `^\[fence:http\] `+timeRE+` ✓ GET     200 APP\.test http://APP\.test:`+port+`/path\?q=1 \([0-9.]+[µnm]?s\)$`)
}

func TestHTTPBlocked(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"example.com"}, nil)})
	resp, err := p.client(t, nil).Get("http://blocked.example/")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || body != "Connection blocked by network allowlist\n" {
		t.Fatalf("got %d %q, want 403 with upstream's body", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/plain; charset=utf-8", ct)
	}
	// The line upstream prints (reference §5), and why (fence's extension).
	p.logs.wait(t, `^\[fence:http\] `+timeRE+` ✗ GET     403 blocked\.example http://blocked\.example/ \(0s\) \(no allowedDomains pattern allows this host and port\)$`)
}

func TestHTTPLongURLTruncatedInLog(t *testing.T) {
	p := startProxy(t, Options{})
	long := "http://blocked.example/" + strings.Repeat("a", 100)
	resp, err := p.client(t, nil).Get(long)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	line := p.logs.wait(t, `✗ GET     403 blocked\.example `)
	if want := " " + long[:57] + "... ("; !strings.Contains(line, want) {
		t.Errorf("log line %q does not contain the URL cut to 60 characters %q", line, want)
	}
}

func TestHTTPSConnect(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure hello")
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	// httptest's certificate is valid for example.com; map it to loopback.
	p := startProxy(t, Options{
		Rules:      mustRules(t, []string{"example.com:" + port}, nil),
		Hosts:      map[string][]netip.Addr{"example.com": local},
		AllowAddrs: loopback,
	})
	resp, err := p.client(t, up.Client().Transport.(*http.Transport)).Get("https://example.com:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "secure hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	p.logs.wait(t, `^\[fence:http\] `+timeRE+` ✓ CONNECT 200 example\.com https://example\.com:`+port+` \(`)
}

func TestConnectBlocked(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"example.com"}, nil)})
	_, br, resp := p.connect(t, "blocked.example:443", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
	body, _ := io.ReadAll(io.LimitReader(br, int64(resp.ContentLength)))
	if string(body) != blockedBody {
		t.Errorf("body %q, want %q", body, blockedBody)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	p.logs.wait(t, `^\[fence:http\] `+timeRE+` ✗ CONNECT 403 blocked\.example https://blocked\.example:443 \(0s\) \(no allowedDomains pattern allows this host and port\)$`)

	// Without a port CONNECT is malformed (upstream took it for 443):
	// TestConnectMalformedPort.

	// Allowed names on other ports are blocked too: no port means 80/443.
	_, _, resp = p.connect(t, "example.com:22", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT example.com:22: status %d, want 403", resp.StatusCode)
	}
}

// tcpServer runs handle for every connection to a new 127.0.0.1 listener.
func tcpServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln := listen(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func echo(c net.Conn) { io.Copy(c, c) }

func TestConnectHalfClose(t *testing.T) {
	// Client → server EOF: the server reads to EOF, then still answers.
	addr := tcpServer(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
	})
	_, port := hostPort(t, addr)
	p := appProxy(t, port)
	c, br, resp := p.connect(t, "app.test:"+port, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", resp.StatusCode)
	}
	io.WriteString(c, "hello world")
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(br)
	if err != nil || string(got) != "got 11 bytes" {
		t.Fatalf("after half-close read %q, %v; want the server's answer", got, err)
	}

	// Server → client EOF: the client sees EOF and can still send.
	received := make(chan string, 1)
	addr = tcpServer(t, func(c net.Conn) {
		io.WriteString(c, "banner")
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		received <- string(b)
	})
	_, port2 := hostPort(t, addr)
	p = appProxy(t, port2)
	c, br, resp = p.connect(t, "app.test:"+port2, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", resp.StatusCode)
	}
	if b, err := io.ReadAll(br); err != nil || string(b) != "banner" {
		t.Fatalf("read %q, %v; want banner then EOF", b, err)
	}
	io.WriteString(c, "after eof")
	c.(*net.TCPConn).CloseWrite()
	select {
	case got := <-received:
		if got != "after eof" {
			t.Errorf("server received %q after its half-close, want %q", got, "after eof")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server never saw the client's data and EOF")
	}
}

func TestConnectEarlyData(t *testing.T) {
	addr := tcpServer(t, echo)
	_, port := hostPort(t, addr)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	// The first tunnel bytes travel in the same write as the request.
	io.WriteString(c, "CONNECT app.test:"+port+" HTTP/1.1\r\nHost: app.test\r\n\r\nEARLY")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "EARLY" {
		t.Fatalf("echo of early data: %q, %v", buf, err)
	}
}

// streamTest checks that the first part of a response reaches the client
// while the server is still holding the rest back.
func streamTest(t *testing.T, contentType string) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "data: two\n\n")
	}))
	defer up.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	// Both the response head and the first event must arrive while the
	// server still holds the rest back.
	type result struct {
		first string
		body  *bufio.Reader
		err   error
	}
	first := make(chan result, 1)
	go func() {
		resp, err := p.client(t, nil).Get("http://app.test:" + port + "/events")
		if err != nil {
			first <- result{err: err}
			return
		}
		t.Cleanup(func() { resp.Body.Close() })
		br := bufio.NewReader(resp.Body)
		var b strings.Builder
		for !strings.HasSuffix(b.String(), "\n\n") {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil {
				break
			}
		}
		first <- result{first: b.String(), body: br}
	}()
	var br *bufio.Reader
	select {
	case r := <-first:
		if r.err != nil || r.first != "data: one\n\n" {
			t.Fatalf("first event %q, %v", r.first, r.err)
		}
		br = r.body
	case <-time.After(5 * time.Second):
		t.Fatal("first event did not arrive before the response ended: the proxy buffers streams")
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "data: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestSSEStreams(t *testing.T)     { streamTest(t, "text/event-stream") }
func TestChunkedStreams(t *testing.T) { streamTest(t, "application/x-ndjson") }

// pattern is the repeating content of large test transfers.
var testPattern = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i * 7 / 3)
	}
	return b
}

func largeSum(size int) [32]byte {
	h := sha256.New()
	p := testPattern()
	for n := 0; n < size; n += len(p) {
		h.Write(p)
	}
	return [32]byte(h.Sum(nil))
}

func writePattern(w io.Writer, size int) error {
	p := testPattern()
	for n := 0; n < size; n += len(p) {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

const largeSize = 64 << 20

func TestLargeDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB transfers")
	}
	want := largeSum(largeSize)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", fmt.Sprint(largeSize))
		}
		writePattern(w, largeSize)
	}))
	defer up.Close()
	raw := tcpServer(t, func(c net.Conn) { writePattern(c, largeSize) })
	_, port := hostPort(t, up.Listener.Addr().String())
	_, rawPort := hostPort(t, raw)
	p := appProxy(t, "*")

	check := func(name string, r io.Reader) {
		h := sha256.New()
		n, err := io.Copy(h, r)
		if err != nil || n != largeSize || [32]byte(h.Sum(nil)) != want {
			t.Errorf("%s: read %d bytes, err %v, checksum match %v; want %d intact bytes",
				name, n, err, [32]byte(h.Sum(nil)) == want, largeSize)
		}
	}
	for _, path := range []string{"/sized", "/chunked"} {
		resp, err := p.client(t, nil).Get("http://app.test:" + port + path)
		if err != nil {
			t.Fatal(err)
		}
		check("http "+path, resp.Body)
		resp.Body.Close()
	}
	c, br, resp := p.connect(t, "app.test:"+rawPort, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", resp.StatusCode)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	check("connect", br)

	sc := p.socks(t, "app.test", rawPort)
	sc.SetDeadline(time.Now().Add(60 * time.Second))
	check("socks", sc)
}

func TestWebSocketUpgrade(t *testing.T) {
	up := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) { io.Copy(ws, ws) }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)

	c := dialRaw(t, p.httpAddr)
	fmt.Fprintf(c, "GET http://app.test:%s/ws HTTP/1.1\r\n"+
		"Host: app.test:%s\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: keep-alive, Upgrade\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Version: 13\r\n"+
		"Origin: http://app.test\r\n\r\n", port, port)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	// RFC 6455 §1.3's example key and answer.
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("Sec-WebSocket-Accept = %q", got)
	}
	if !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Errorf("101 lacks Connection/Upgrade: %v", resp.Header)
	}

	// One masked text frame out, the unmasked echo back.
	msg := []byte("hello websocket")
	mask := [4]byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | byte(len(msg)), mask[0], mask[1], mask[2], mask[3]}
	for i, b := range msg {
		frame = append(frame, b^mask[i%4])
	}
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	if head[0] != 0x81 || !bytes.Equal(payload, msg) {
		t.Fatalf("echo frame %x %q, want text frame %q", head, payload, msg)
	}
	p.logs.wait(t, `✓ GET     101 app\.test http://app\.test:`+port+`/ws`)
}

func TestUpgradeRefusedByServer(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop")
		io.WriteString(w, "no upgrade here")
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	req, _ := http.NewRequest("GET", "http://app.test:"+port+"/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "h2c")
	resp, err := p.client(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "no upgrade here" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Secret") != "" {
		t.Errorf("hop-by-hop X-Secret reached the client")
	}

	// And a blocked upgrade is a 403 like any other request.
	req, _ = http.NewRequest("GET", "http://blocked.example/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err = p.client(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 403 || body != blockedBody {
		t.Fatalf("blocked upgrade: %d %q", resp.StatusCode, body)
	}
}

func TestBadGateway(t *testing.T) {
	dead := refusedAddr(t)
	_, port := hostPort(t, dead)
	p := startProxy(t, Options{Rules: mustRules(t, []string{"127.0.0.1:*"}, nil)})

	resp, err := p.client(t, nil).Get("http://" + dead + "/")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "connection refused") {
		t.Errorf("plain HTTP to a closed port: %d %q, want 502 with the reason", resp.StatusCode, body)
	}
	p.logs.wait(t, `! GET     502 127\.0\.0\.1 http://127\.0\.0\.1:`+port+`/ \(.*\) \(.*connection refused\)$`)

	_, br, resp := p.connect(t, dead, "")
	b, _ := io.ReadAll(br)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "connection refused") {
		t.Errorf("CONNECT to a closed port: %d %q, want 502 with the reason", resp.StatusCode, b)
	}
	p.logs.wait(t, `! CONNECT 502 127\.0\.0\.1 https://127\.0\.0\.1:`+port)
}

func TestHopByHopHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		h := w.Header()
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("X-End", "1")
		h.Set("Content-Encoding", "gzip") // passed through, never decoded
		io.WriteString(w, "not really gzip")
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)

	c := dialRaw(t, p.httpAddr)
	fmt.Fprintf(c, "GET http://app.test:%s/ HTTP/1.1\r\n"+
		"Host: app.test:%s\r\n"+
		"Connection: keep-alive, X-Hop\r\n"+
		"X-Hop: secret\r\n"+
		"Keep-Alive: 300\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"+
		"Te: trailers, deflate\r\n"+
		"Accept-Encoding: gzip\r\n"+
		"X-End: 1\r\n\r\n", port, port)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)

	h := <-got
	for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Connection"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream received hop-by-hop %s: %q", k, v)
		}
	}
	if h.Get("Te") != "trailers" {
		t.Errorf("upstream Te = %q, want trailers only", h.Get("Te"))
	}
	if h.Get("X-End") != "1" || h.Get("Accept-Encoding") != "gzip" {
		t.Errorf("end-to-end headers lost: %v", h)
	}

	for _, k := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("client received hop-by-hop %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-End") != "1" || resp.Header.Get("Content-Encoding") != "gzip" || body != "not really gzip" {
		t.Errorf("end-to-end response changed: %v %q", resp.Header, body)
	}
}

func TestNoRedirectFollowing(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	resp, err := p.client(t, nil).Get("http://app.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusFound || hits.Load() != 1 {
		t.Fatalf("status %d after %d upstream requests, want the 302 itself", resp.StatusCode, hits.Load())
	}
}

func TestIgnoresHostProxyEnvironment(t *testing.T) {
	trap := refusedAddr(t)
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"} {
		t.Setenv(k, "http://"+trap)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)

	resp, err := p.client(t, nil).Get("http://app.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); body != "direct" {
		t.Fatalf("plain HTTP went through the host's proxy variables: %d %q", resp.StatusCode, body)
	}
	if _, _, resp := p.connect(t, "app.test:"+port, ""); resp.StatusCode != 200 {
		t.Fatalf("CONNECT went through the host's proxy variables: %d", resp.StatusCode)
	}
}

func TestHTTPCredential(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "" {
			t.Errorf("credential forwarded upstream")
		}
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := startProxy(t, Options{
		Rules:      mustRules(t, []string{"app.test:*"}, nil),
		Hosts:      map[string][]netip.Addr{"app.test": local},
		AllowAddrs: loopback,
		Credential: "fence:s3cret",
	})
	target := "http://app.test:" + port + "/"

	resp, err := p.client(t, nil).Get(target)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Proxy-Authenticate") == "" {
		t.Fatalf("no credential: %d %v, want 407 with a challenge", resp.StatusCode, resp.Header)
	}
	p.logs.wait(t, `✗ GET     407 app\.test`)

	withUser := func(u *url.Userinfo) *http.Client {
		c := p.client(t, nil)
		c.Transport.(*http.Transport).Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: p.httpAddr, User: u})
		return c
	}
	resp, err = withUser(url.UserPassword("fence", "wrong")).Get(target)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusProxyAuthRequired {
		t.Fatalf("wrong credential: %d, want 407", resp.StatusCode)
	}
	resp, err = withUser(url.UserPassword("fence", "s3cret")).Get(target)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("right credential: %d %q", resp.StatusCode, body)
	}

	// CONNECT needs it too.
	if _, _, resp := p.connect(t, "app.test:"+port, ""); resp.StatusCode != http.StatusProxyAuthRequired {
		t.Fatalf("CONNECT without credential: %d, want 407", resp.StatusCode)
	}
	auth := "Proxy-Authorization: Basic ZmVuY2U6czNjcmV0\r\n" // fence:s3cret
	if _, _, resp := p.connect(t, "app.test:"+port, auth); resp.StatusCode != 200 {
		t.Fatalf("CONNECT with credential: %d, want 200", resp.StatusCode)
	}
}

func TestAddressPolicy(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	hosts := map[string][]netip.Addr{
		"app.test":  local,
		"localhost": local,
		"meta.test": {netip.MustParseAddr("169.254.169.254")},
		"ali.test":  {netip.MustParseAddr("100.100.100.200")},
		"v6.test":   {netip.MustParseAddr("::1")},
		"zero.test": {netip.MustParseAddr("0.0.0.0")},
	}
	tests := []struct {
		name    string
		allowed []string
		allow   []netip.Prefix
		url     string
		status  int
		reason  string
	}{
		{"name resolving to loopback", []string{"app.test:*"}, nil, "http://app.test:" + port + "/", 403, "loopback"},
		{"name resolving to ::1", []string{"v6.test:*"}, nil, "http://v6.test:" + port + "/", 403, "loopback"},
		{"name resolving to 0.0.0.0", []string{"zero.test:*"}, nil, "http://zero.test:" + port + "/", 403, "unspecified"},
		{"cloud metadata", []string{"meta.test"}, nil, "http://meta.test/", 403, "cloud metadata"},
		{"alibaba metadata", []string{"ali.test"}, nil, "http://ali.test/", 403, "cloud metadata"},
		{"star is not explicit", []string{"*"}, nil, "http://127.0.0.1:" + port + "/", 403, "loopback"},
		{"allowed by AllowAddrs", []string{"app.test:*"}, loopback, "http://app.test:" + port + "/", 200, ""},
		{"explicit IP literal", []string{"127.0.0.1:" + port}, nil, "http://127.0.0.1:" + port + "/", 200, ""},
		{"explicit localhost", []string{"localhost:" + port}, nil, "http://localhost:" + port + "/", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, Options{Rules: mustRules(t, tt.allowed, nil), Hosts: hosts, AllowAddrs: tt.allow})
			resp, err := p.client(t, nil).Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("GET %s: %d %q, want %d", tt.url, resp.StatusCode, body, tt.status)
			}
			if tt.status == 403 {
				if body != blockedBody {
					t.Errorf("body %q", body)
				}
				p.logs.wait(t, `✗ GET     403 .*`+regexp.QuoteMeta(tt.reason))
				u, _ := url.Parse(tt.url)
				target := u.Host
				if u.Port() == "" {
					target += ":80"
				}
				if _, _, resp := p.connect(t, target, ""); resp.StatusCode != 403 {
					t.Errorf("CONNECT %s: %d, want 403", target, resp.StatusCode)
				}
				h, pt := hostPort(t, target)
				if rep := p.socksReply(t, h, pt); rep != repNotAllowed {
					t.Errorf("SOCKS %s: reply %#x, want 0x02", target, rep)
				}
			}
		})
	}
}

// A name of one label ("localhost", a hosts-file alias) is found in the
// system's hosts file, which keys such names without the root's dot: the
// rooted lookup that keeps allowed names away from the search list missed
// them, so allowedDomains ["localhost:PORT"] answered 502 "no such host"
// wherever DNS does not know localhost. DNS here fails every query: only
// the hosts file can answer.
func TestSingleLabelNameFromHostsFile(t *testing.T) {
	noDNS := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return nil, errors.New("no DNS in this test")
		},
	}
	if _, err := noDNS.LookupNetIP(context.Background(), "ip4", "localhost"); err != nil {
		t.Skipf("the hosts file does not map localhost: %v", err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := startProxy(t, Options{Rules: mustRules(t, []string{"localhost:" + port}, nil), Resolver: noDNS})
	resp, err := p.client(t, nil).Get("http://localhost:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "reached" {
		t.Fatalf("GET localhost:%s: %d %q, want 200 \"reached\"", port, resp.StatusCode, body)
	}
}

// -m says why it turned a request away for its form: a malformed target
// (brackets around a name, an unknown scheme) got a "!" line with no
// reason, so the user saw a 400 and a log line that named no cause.
func TestMonitorLogsWhyTargetIsMalformed(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true})
	send := func(data string) {
		c := dialRaw(t, p.httpAddr)
		defer c.Close()
		io.WriteString(c, data)
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	}
	send("GET http://[app.test]/ HTTP/1.1\r\nHost: app.test\r\n\r\n")
	p.logs.wait(t, `! GET\s+400 .*\(parse target .*\)$`)
	send("CONNECT [app.test]:443 HTTP/1.1\r\nHost: app.test\r\n\r\n")
	p.logs.wait(t, `! CONNECT 400 .*\(parse target .*\)$`)
	send("GET ftp://app.test/ HTTP/1.1\r\nHost: app.test\r\n\r\n")
	p.logs.wait(t, `! GET\s+400 app.test .*\(unsupported scheme "ftp"\)$`)
}

func TestRefusedKind(t *testing.T) {
	for _, c := range []struct {
		addr string
		kind string
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"169.254.169.254", "cloud metadata"},
		{"169.254.1.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fd00:ec2::254", "cloud metadata"},
		{"100.100.100.200", "cloud metadata"},
		{"168.63.129.16", "cloud metadata"},
		{"192.0.0.192", "cloud metadata"},
		{"fd00:ec2::23", "cloud metadata"},
		{"fd20:ce::254", "cloud metadata"},
		{"fd00:42::42", "cloud metadata"},
		{"224.0.0.1", "link-local"},
		{"10.0.0.1", ""},
		{"192.168.1.1", ""},
		{"8.8.8.8", ""},
		{"2001:db8::1", ""},
		{"fd00:ec2::253", ""},
		{"fd20:ce::253", ""},
		{"fd00:42::43", ""},
		{"192.0.0.193", ""},
	} {
		if got := refusedKind(netip.MustParseAddr(c.addr)); got != c.kind {
			t.Errorf("refusedKind(%s) = %q, want %q", c.addr, got, c.kind)
		}
	}
}

// An address in the NAT64 prefix is judged by the IPv4 address a
// translator connects to: 64:ff9b::a9fe:a9fe is the metadata service
// wherever a NAT64 gateway serves the sandbox's host.
func TestRefusalNAT64(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("10.1.2.3")}
	for _, c := range []struct{ addr, why string }{
		{"64:ff9b::a9fe:a9fe", "cloud metadata (through NAT64)"},
		{"64:ff9b::7f00:1", "loopback (through NAT64)"},
		{"64:ff9b::a9fe:101", "link-local (through NAT64)"},
		{"64:ff9b::a01:203", "the host's own (through NAT64)"},
		{"64:ff9b::808:808", ""},
		{"64:ff9b::a00:1", ""},
		{"64:ff9c::7f00:1", ""},
		{"::ffff:127.0.0.1", "loopback"},
	} {
		if got := refusal(netip.MustParseAddr(c.addr), own); got != c.why {
			t.Errorf("refusal(%s) = %q, want %q", c.addr, got, c.why)
		}
	}
	// A local route for the IPv4 address a translator on this host
	// would connect to.
	s := New(Options{IsLocal: func(a netip.Addr) (bool, error) {
		return a == netip.MustParseAddr("10.99.0.7"), nil
	}})
	if why := s.refusedFor(netip.MustParseAddr("64:ff9b::a63:7"), Decision{}, nil); why != "the host's own address 10.99.0.7 (a local route)" {
		t.Errorf("refusedFor(64:ff9b::a63:7) = %q, want the local route of 10.99.0.7", why)
	}
	if why := s.refusedFor(netip.MustParseAddr("64:ff9b::a63:8"), Decision{}, nil); why != "" {
		t.Errorf("refusedFor(64:ff9b::a63:8) = %q, want it let through", why)
	}
}

// countingResolver returns a Go resolver whose DNS traffic is counted and
// always fails: no test may depend on real DNS.
func countingResolver(n *atomic.Int32) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			n.Add(1)
			return nil, errors.New("no DNS in tests")
		},
	}
}

func TestNoDNSLookupForDeniedNames(t *testing.T) {
	var lookups atomic.Int32
	p := startProxy(t, Options{
		Rules:    mustRules(t, []string{"allowed.test:*", "*.wild.test"}, []string{"denied.wild.test"}),
		Resolver: countingResolver(&lookups),
	})
	c := p.client(t, nil)
	for _, u := range []string{"http://denied.test/", "http://denied.wild.test/", "http://wild.test/"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != 403 {
			t.Errorf("GET %s: %d, want 403", u, resp.StatusCode)
		}
	}
	if _, _, resp := p.connect(t, "denied.test:443", ""); resp.StatusCode != 403 {
		t.Errorf("CONNECT: %d", resp.StatusCode)
	}
	if rep := p.socksReply(t, "denied.test", "443"); rep != repNotAllowed {
		t.Errorf("SOCKS: reply %#x", rep)
	}
	req, _ := http.NewRequest("GET", "http://denied.test/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("upgrade: %v %v", resp, err)
	}
	if n := lookups.Load(); n != 0 {
		t.Fatalf("%d DNS lookups for denied names, want 0", n)
	}

	// Control: an allowed name is looked up (and fails here, so 502).
	resp, err := c.Get("http://allowed.test/")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != 502 || lookups.Load() == 0 {
		t.Fatalf("allowed name: %d after %d lookups, want 502 after a lookup", resp.StatusCode, lookups.Load())
	}
	if rep := p.socksReply(t, "allowed.test", "443"); rep != repHostUnreachable {
		t.Errorf("SOCKS to an unresolvable allowed name: reply %#x, want 0x04", rep)
	}
}

func TestLogLevels(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	for _, tt := range []struct {
		name           string
		debug, monitor bool
		want           []string
	}{
		{"silent", false, false, nil},
		{"monitor", false, true, []string{"✗ GET     403 blocked.example"}},
		{"debug", true, false, []string{"✓ GET     200 app.test", "✗ GET     403 blocked.example"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			p := startProxy(t, Options{
				Rules:      mustRules(t, []string{"app.test:" + port}, nil),
				Hosts:      map[string][]netip.Addr{"app.test": local},
				AllowAddrs: loopback,
				Log:        rec.log,
				Debug:      tt.debug,
				Monitor:    tt.monitor,
			})
			c := p.client(t, nil)
			for _, u := range []string{"http://app.test:" + port + "/", "http://blocked.example/"} {
				resp, err := c.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				readBody(t, resp)
			}
			lines := rec.all()
			if len(lines) != len(tt.want) {
				t.Fatalf("logged %q, want %d lines containing %q", lines, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestCloseEndsTunnels(t *testing.T) {
	addr := tcpServer(t, echo)
	_, port := hostPort(t, addr)
	p := appProxy(t, port)
	c, br, resp := p.connect(t, "app.test:"+port, "")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	sc := p.socks(t, "app.test", port)
	io.WriteString(c, "x")
	io.WriteString(sc, "y")
	one := make([]byte, 1)
	if _, err := io.ReadFull(br, one); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(sc, one); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]io.Reader{"CONNECT": br, "SOCKS": sc} {
		if n, err := r.Read(one); err == nil {
			t.Errorf("%s tunnel still open after Close (read %d bytes)", name, n)
		}
	}
	if _, err := net.Dial("tcp", p.httpAddr); err == nil {
		t.Errorf("HTTP listener still accepts after Close")
	}
}

func TestSplitTarget(t *testing.T) {
	for _, c := range []struct {
		in   string
		host string
		port int
		ok   bool
	}{
		{"example.com:443", "example.com", 443, true},
		{"example.com", "example.com", 8, true},
		{"[::1]:80", "::1", 80, true},
		{"[::1]", "::1", 8, true},
		{"example.com:0", "", 0, false},
		{"example.com:99999", "", 0, false},
		{"example.com:x", "", 0, false},
		{":443", "", 0, false},
		{"", "", 0, false},
		{"[::1", "", 0, false},
		{"[2001:db8::1]:443", "2001:db8::1", 443, true},
		// Brackets hold an IPv6 address only.
		{"[app.test]:80", "", 0, false},
		{"[app.test]", "", 0, false},
		{"[127.0.0.1]:80", "", 0, false},
		{"[fe80::1%25eth0]:80", "", 0, false},
		{"a:b:c", "", 0, false},
		{"::1", "::1", 8, true},
		// A port is plain decimal: no sign, no leading zero, no space.
		{"example.com:+443", "", 0, false},
		{"example.com:-443", "", 0, false},
		{"example.com:0443", "", 0, false},
		{"example.com:00", "", 0, false},
		{"example.com: 443", "", 0, false},
		{"example.com:443 ", "", 0, false},
		{"example.com:4_43", "", 0, false},
		{"example.com:065535", "", 0, false},
		{"example.com:65535", "example.com", 65535, true},
		{"example.com:1", "example.com", 1, true},
		{"[::1]:+80", "", 0, false},
		{"example.com:", "example.com", 8, true}, // an empty port is the default (RFC 3986 §3.2.3)
	} {
		h, p, err := splitTarget(c.in, 8)
		if (err == nil) != c.ok || h != c.host || p != c.port {
			t.Errorf("splitTarget(%q) = %q, %d, %v; want %q, %d, ok=%v", c.in, h, p, err, c.host, c.port, c.ok)
		}
	}
	// Without a default (CONNECT), the port is required.
	for _, in := range []string{"example.com", "example.com:", "[::1]", "::1", "::1:443"} {
		if h, p, err := splitTarget(in, 0); err == nil {
			t.Errorf("splitTarget(%q, 0) = %q, %d; want an error: no port", in, h, p)
		}
	}
	if h, p, err := splitTarget("[::1]:443", 0); err != nil || h != "::1" || p != 443 {
		t.Errorf("splitTarget(%q, 0) = %q, %d, %v", "[::1]:443", h, p, err)
	}
}

// TestConnectMalformedPort: a CONNECT target's port must be there and be
// plain decimal. "host:+P" and "host:0P" were taken as port P, and "host"
// as port 443; each is a malformed request: 400, nothing dialled.
func TestConnectMalformedPort(t *testing.T) {
	addr := tcpServer(t, echo)
	_, port := hostPort(t, addr)
	p := startProxy(t, Options{Rules: mustRules(t, []string{"127.0.0.1:*"}, nil)})
	if _, _, resp := p.connect(t, "127.0.0.1:"+port, ""); resp.StatusCode != 200 {
		t.Fatalf("CONNECT 127.0.0.1:%s: %d, want 200", port, resp.StatusCode)
	}
	for _, target := range []string{
		"127.0.0.1:+" + port,
		"127.0.0.1:0" + port,
		"127.0.0.1", // not 443
		"127.0.0.1:",
		"[::1]",
	} {
		_, _, resp := p.connect(t, target, "")
		if resp.StatusCode != 400 {
			t.Errorf("CONNECT %s: %d, want 400", target, resp.StatusCode)
		}
	}
	// Absolute-form targets use the same port syntax.
	for _, u := range []string{"http://127.0.0.1:+" + port + "/", "http://127.0.0.1:0" + port + "/"} {
		c := dialRaw(t, p.httpAddr)
		io.WriteString(c, "GET "+u+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		if resp.StatusCode != 400 {
			t.Errorf("GET %s: %d, want 400", u, resp.StatusCode)
		}
	}
}

func TestSetRules(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	c := p.client(t, nil) // keeps its connection to the proxy alive
	get := func() int {
		resp, err := c.Get("http://app.test:" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		return resp.StatusCode
	}
	if got := get(); got != 200 {
		t.Fatalf("before: %d", got)
	}
	p.SetRules(mustRules(t, []string{"other.test"}, nil))
	if got := get(); got != 403 {
		t.Fatalf("after SetRules: %d, want 403 on the same client connection", got)
	}
	if _, _, resp := p.connect(t, "app.test:"+port, ""); resp.StatusCode != 403 {
		t.Fatalf("CONNECT after SetRules: %d", resp.StatusCode)
	}
}

// TestMonitorLogsClientErrors: -m shows every request the proxy turns
// away, not only policy refusals: a malformed head, a server's request
// sent to the proxy, a SOCKS client without the credential or with a
// broken greeting. A connection closed before its first byte is no
// request and stays unlogged.
func TestMonitorLogsClientErrors(t *testing.T) {
	p := startProxy(t, Options{
		Rules:      mustRules(t, []string{"app.test"}, nil),
		Monitor:    true,
		Credential: "fence:s3cret",
	})
	auth := "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("fence:s3cret")) + "\r\n"
	send := func(addr, data string) {
		c := dialRaw(t, addr)
		defer c.Close()
		io.WriteString(c, data)
		c.(*net.TCPConn).CloseWrite() // the proxy sees the end at once
		io.Copy(io.Discard, c)
	}
	send(p.httpAddr, "")
	send(p.httpAddr, "GET http://app.test/ HTTP/1.1\r\nHost: app.test\r\n"+auth+"Bad Field: x\r\n\r\n")
	p.logs.wait(t, `^\[fence:http\] \S+ ! -\s+400 - - \(\S+\) \(.+\)$`)
	send(p.httpAddr, "GET /index.html HTTP/1.1\r\nHost: app.test\r\n"+auth+"\r\n")
	p.logs.wait(t, `! GET\s+400 app.test /index.html .*\(not a proxy request\)`)
	send(p.socksAddr, "\x05\x01\x00")
	p.logs.wait(t, `\[fence:socks\] \S+ ✗ CONNECT - BLOCKED \(missing or wrong proxy credential\)`)
	send(p.socksAddr, "\x04\x01")
	p.logs.wait(t, `\[fence:socks\] \S+ ! CONNECT - ERROR \(version 4, want 5: fence serves SOCKS5 only, use socks5h://\)`)
	if n := len(p.logs.all()); n != 4 {
		t.Errorf("logged %d lines, want 4 (the empty connection unlogged):\n%s", n, strings.Join(p.logs.all(), "\n"))
	}
}

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Behaviours of the stdlib HTTP proxy that the tests in http_test.go do not
// pin down.

func TestHTTPTrailers(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	resp, err := p.client(t, nil).Get("http://app.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); body != "body" {
		t.Fatalf("body %q", body)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
		t.Errorf("trailer X-Checksum = %q, want abc (trailers %v)", got, resp.Trailer)
	}
	if got := resp.Trailer.Get("X-Late"); got != "late" {
		t.Errorf("undeclared trailer X-Late = %q, want late (trailers %v)", got, resp.Trailer)
	}
}

// A chunked response whose server dies mid-body must not reach the client
// as a complete body, even when the client asked to close the connection
// after it (then the proxy could have framed the body by closing).
func TestHTTPTruncatedBodyIsAnError(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		// No terminating chunk: the connection just ends.
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	for _, closing := range []bool{false, true} {
		tr := &http.Transport{DisableKeepAlives: closing} // Connection: close
		resp, err := p.client(t, tr).Get("http://app.test:" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("read %q and a clean EOF from a truncated response (client closing: %v)", b, closing)
		}
	}
}

// The client sends the tunnel's first bytes and half-closes before the
// proxy has even answered the CONNECT.
func TestConnectEarlyDataThenHalfClose(t *testing.T) {
	addr := tcpServer(t, func(c net.Conn) {
		b, _ := io.ReadAll(c)
		fmt.Fprintf(c, "got %q", b)
	})
	_, port := hostPort(t, addr)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "CONNECT app.test:"+port+" HTTP/1.1\r\nHost: app.test\r\n\r\nEARLY")
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	if b, err := io.ReadAll(br); err != nil || string(b) != `got "EARLY"` {
		t.Fatalf("read %q, %v; want the server's answer to the early bytes", b, err)
	}
}

func TestNotAProxyRequest(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"*"}, nil)})
	resp, err := http.Get("http://" + p.httpAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not a proxy request") {
		t.Fatalf("origin-form request: %d %q, want 400", resp.StatusCode, body)
	}
}

// The proxy forwards the client's request as it is: it adds no User-Agent
// and no Accept-Encoding of its own.
func TestForwardAddsNoHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	fmt.Fprintf(c, "GET http://app.test:%s/ HTTP/1.1\r\nHost: app.test:%s\r\n\r\n", port, port)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	h := <-got
	for _, k := range []string{"User-Agent", "Accept-Encoding", "X-Forwarded-For", "Via"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream received %s: %q, which the client did not send", k, v)
		}
	}
}

// exampleProxy starts a proxy for an httptest TLS server, whose certificate
// is valid for example.com: example.com maps to loopback and is allowed on
// port.
func exampleProxy(t *testing.T, port string) *testProxy {
	return startProxy(t, Options{
		Rules:      mustRules(t, []string{"example.com:" + port}, nil),
		Hosts:      map[string][]netip.Addr{"example.com": local},
		AllowAddrs: loopback,
	})
}

// roundTrip writes raw to a new connection to the proxy and reads one
// response to method.
func (p *testProxy) roundTrip(t *testing.T, raw, method string) (*http.Response, string) {
	t.Helper()
	c := dialRaw(t, p.httpAddr)
	return sendOn(t, c, bufio.NewReader(c), raw, method)
}

// sendOn writes raw on the kept connection c, read through br, and reads
// one response to method with its body.
func sendOn(t testing.TB, c net.Conn, br *bufio.Reader, raw, method string) (*http.Response, string) {
	t.Helper()
	io.WriteString(c, raw)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response to %.60q: %v", raw, err)
	}
	return resp, readBody(t, resp)
}

// axios sends an https request to an HTTP proxy in absolute form, not
// through CONNECT: the proxy speaks TLS to the origin itself and verifies
// its certificate.
func TestHTTPSAbsoluteURI(t *testing.T) {
	var gotHost, gotURI string
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotURI = r.Host, r.RequestURI
		io.WriteString(w, "secure hello")
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())

	p := exampleProxy(t, port)
	p.roots = up.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	resp, body := p.roundTrip(t, "GET https://example.com:"+port+"/a?b=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "secure hello" {
		t.Fatalf("got %d %q, want the origin's answer", resp.StatusCode, body)
	}
	if gotHost != "example.com:"+port || gotURI != "/a?b=1" {
		t.Errorf("origin saw Host %q URI %q", gotHost, gotURI)
	}
	p.logs.wait(t, `✓ GET     200 example\.com https://example\.com:`+port+`/a\?b=1 `)

	// The host's roots do not know httptest's certificate.
	p2 := exampleProxy(t, port)
	resp, body = p2.roundTrip(t, "GET https://example.com:"+port+"/ HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "certificate") {
		t.Fatalf("untrusted origin certificate: %d %q, want 502 naming the certificate", resp.StatusCode, body)
	}
}

// Requests whose body framing two parsers could read differently never
// reach the origin.
func TestAmbiguousFramingRefused(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	line := "POST http://app.test:" + port + "/ HTTP/1.1\r\nHost: app.test\r\n"
	for _, tc := range []struct {
		head   string
		status int
	}{
		{"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400},
		{"Content-Length: 5\r\nContent-Length: 6\r\n", 400},
		{"Content-Length: 5, 6\r\n", 400},
		{"Content-Length: -5\r\n", 400},
		{"Content-Length: +5\r\n", 400},
		{"Content-Length: 0x5\r\n", 400},
		{"Transfer-Encoding: gzip, chunked\r\n", 501},
		{"Transfer-Encoding: chunked, chunked\r\n", 501},
		{"Transfer-Encoding : chunked\r\n", 400},
		{"Transfer-Encoding: chunked\r\n X: folded\r\n", 400},
	} {
		resp, body := p.roundTrip(t, line+tc.head+"\r\n0\r\n\r\n", "POST")
		if resp.StatusCode != tc.status || !resp.Close {
			t.Errorf("%q: %d %q (close %v), want %d and the connection closed", tc.head, resp.StatusCode, body, resp.Close, tc.status)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("origin received %d of the refused requests", n)
	}
}

// A chunked upload is re-framed, trailers included, and the response
// comes back on the same client connection, which stays usable.
func TestChunkedUploadAndKeepAlive(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%s %q te=%v trailer=%q", r.Method, b, r.TransferEncoding, r.Trailer.Get("X-Sum"))
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

	c := dialRaw(t, p.httpAddr)
	br := bufio.NewReader(c)
	target := "http://app.test:" + port + "/"
	send := func(raw, want string) {
		t.Helper()
		io.WriteString(c, raw)
		resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != 200 || body != want || resp.Close {
			t.Fatalf("got %d %q (close %v), want 200 %q on a kept connection", resp.StatusCode, body, resp.Close, want)
		}
	}
	send("POST "+target+" HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
		`POST "hello world" te=[chunked] trailer="42"`)
	send("POST "+target+" HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\n\r\nabc", `POST "abc" te=[] trailer=""`)
	send("GET "+target+" HTTP/1.1\r\nHost: app.test\r\n\r\n", `GET "" te=[] trailer=""`)
	// An answer that follows the whole body is not an early one, however
	// the body copy and the answer race (node's keep-alive agent hit that).
	for i := 0; i < 50; i++ {
		send("POST "+target+" HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1\r\n\r\nx", `POST "x" te=[] trailer=""`)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the requests on one client connection used %d upstream connections, want 1", n)
	}

	// The origin drops its idle connections; the next request still works,
	// on a new one.
	up.CloseClientConnections()
	send("GET "+target+" HTTP/1.1\r\nHost: app.test\r\n\r\n", `GET "" te=[] trailer=""`)
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections after the origin closed the first, want 2", n)
	}
}

// A request with Content-Length: 0 that arrives with more bytes behind it
// in one write (the blank line some clients send after a POST, or a
// pipelined request) goes out at once: its head waited in the proxy's
// buffer for a body copy that had nothing to copy, until the client gave
// up.
func TestEmptyBodyWithBytesBehind(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %q", r.Method, r.URL.Path, b)
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	target := "http://app.test:" + port
	for _, tc := range []struct {
		name, behind string
		want         []string
	}{
		{"a blank line", "\r\n", []string{`POST /a ""`}},
		{"a pipelined request", "GET " + target + "/b HTTP/1.1\r\nHost: app.test\r\n\r\n", []string{`POST /a ""`, `GET /b ""`}},
	} {
		c := dialRaw(t, p.httpAddr)
		br := bufio.NewReader(c)
		io.WriteString(c, "POST "+target+"/a HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\n\r\n"+tc.behind)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for _, want := range tc.want {
			resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
			if err != nil {
				t.Fatalf("%s behind Content-Length: 0: no answer within 5 s: %v", tc.name, err)
			}
			if body := readBody(t, resp); resp.StatusCode != 200 || body != want {
				t.Errorf("%s behind Content-Length: 0: got %d %q, want 200 %q", tc.name, resp.StatusCode, body, want)
			}
		}
		c.Close()
	}
}

// Expect: 100-continue reaches the origin, and its 100 Continue reaches
// the client before the client sends the body.
func TestExpectContinue(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // net/http sends 100 Continue here
		fmt.Fprintf(w, "got %s", b)
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	br := bufio.NewReader(c)
	io.WriteString(c, "PUT http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q, %v; want the origin's 100 Continue", line, err)
	}
	if rest, err := br.ReadString('\n'); err != nil || rest != "\r\n" {
		t.Fatalf("100 Continue head continues with %q, %v", rest, err)
	}
	io.WriteString(c, "data")
	resp, err := http.ReadResponse(br, &http.Request{Method: "PUT"})
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "got data" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

// An origin that refuses an upload before reading it: the client gets
// the answer, not a reset, although it is still sending.
func TestEarlyAnswerDuringUpload(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo much")
		time.Sleep(100 * time.Millisecond)
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "POST http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000000\r\n\r\n")
	go func() {
		chunk := make([]byte, 64<<10)
		for i := 0; i < 16; i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 413 || body != "too much" {
		t.Fatalf("got %d %q, want the origin's 413", resp.StatusCode, body)
	}
}

// An HTTP/1.0 client gets no chunked coding: a streamed body ends with the
// connection.
func TestHTTP10Client(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush() // chunked from here on
		io.WriteString(w, "part two")
	}))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "GET http://app.test:"+port+"/ HTTP/1.0\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(b), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200 ") || strings.Contains(strings.ToLower(head), "transfer-encoding") || body != "part one, part two" {
		t.Fatalf("HTTP/1.0 client got %q", b)
	}
}

// Requests the proxy cannot read get an answer naming the problem.
func TestMalformedRequests(t *testing.T) {
	// x has no addresses, so that nothing here is ever looked up.
	p := startProxy(t, Options{Rules: mustRules(t, []string{"*"}, nil), Hosts: map[string][]netip.Addr{"x": nil}})
	for _, tc := range []struct {
		raw    string
		status int
		want   string
	}{
		{"GET http://x/ HTTP/2.0\r\n\r\n", 505, "speaks HTTP/1.1"},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "version 2.0"},
		{"GET  http://x/ HTTP/1.1\r\n\r\n", 400, "malformed request line"},
		{"GET http://x/ HTTP/1.1 \r\n\r\n", 400, "malformed HTTP version"},
		{"GET http://x/ HTTP/1.1\r\nBad Name: v\r\n\r\n", 400, "malformed header line"},
		{"GET http://x/ HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400, "control character"},
		{"GET http://x/ HTTP/1.1\r\nX: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n", 431, "larger than 1 MiB"},
		{"GET http://x/ HTTP/1.1\r\n" + strings.Repeat("X:\r\n", maxFields+1) + "\r\n", 431, "more than 4096 fields"},
		{"GET ftp://x/ HTTP/1.1\r\n\r\n", 400, `unsupported scheme "ftp"`},
		{"GET http://x:0/ HTTP/1.1\r\n\r\n", 400, "bad port"},
		{"GET http://x:0/ HTTP/1.2\r\n\r\n", 400, "bad port"}, // read as HTTP/1.1
		{"GET http://x/ HTTP/1.1\r\n\r\n", 502, "no addresses"},
	} {
		resp, body := p.roundTrip(t, tc.raw, "GET")
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%.40q: %d %q, want %d with %q", tc.raw, resp.StatusCode, body, tc.status, tc.want)
		}
	}
}

// Interim answers: 103 Early Hints (and 102) are not passed on, since
// Python's http.client would take them for the final response; the final
// response comes through whole.
func TestInterimAnswersDropped(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("first line %q, want the final 200", line)
	}
}

// A response head the origin wrote sloppily is passed on cleaned, as RFC
// 9112 §5 tells a proxy: no whitespace before a colon, folded lines joined.
func TestLenientResponseFields(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Space : a\r\nX-Fold: b\r\n  c\r\nContent-Length: 2\r\n\r\nok")
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	resp, body := p.roundTrip(t, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "ok" || resp.Header.Get("X-Space") != "a" || resp.Header.Get("X-Fold") != "b c" {
		t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

// An HTTP/1.0 client that asks for keep-alive keeps its connection for
// responses of known length.
func TestHTTP10KeepAlive(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		io.WriteString(c, "GET http://app.test:"+port+"/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET", ProtoMajor: 1})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if body := readBody(t, resp); body != "ok" || resp.Header.Get("Connection") != "keep-alive" {
			t.Fatalf("request %d: %q %v", i, body, resp.Header)
		}
	}
}

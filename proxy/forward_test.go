package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
// as a complete body.
func TestHTTPTruncatedBodyIsAnError(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		// No terminating chunk: the connection just ends.
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	resp, err := p.client(t, nil).Get("http://app.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("read %q and a clean EOF from a truncated response", b)
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

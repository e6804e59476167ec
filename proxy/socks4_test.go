package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A SOCKS4a client that reads its reply a moment after sending its
// request (as any client may) still gets it: the proxy closing with the
// request unread resets the connection, and a reset can discard the reply.
func TestSOCKS4RejectedReadLater(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true})
	c := dialRaw(t, p.socksAddr)
	c.Write([]byte("\x04\x01\x00\x50\x00\x00\x00\x01u\x00app.test\x00"))
	p.logs.wait(t, `version 4, want 5`)
	time.Sleep(100 * time.Millisecond)
	rep := make([]byte, 8)
	n, err := io.ReadFull(c, rep)
	if err != nil || rep[0] != 0 || rep[1] != 91 {
		t.Fatalf("SOCKS4a request, reply read late: %d bytes %x, %v; want 00 5b (request rejected)", n, rep, err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after the reply: %d bytes, %v; want the end (EOF), not a reset", n, err)
	}
}

// A client given the wrong one of the two ports is refused at once, in its
// own protocol, with where to go: an HTTP request on the SOCKS5 port gets a
// 400 naming the HTTP proxy (it was reset: "version 71, want 5"), and a
// SOCKS client on the HTTP port its protocol's refusal (it waited for the
// handshake timeout, then got an HTTP 408 it could not read).
func TestWrongPortAnsweredInKind(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true},
		func(s *Server) { s.handshake = 30 * time.Second })
	c := dialRaw(t, p.socksAddr)
	io.WriteString(c, "GET http://app.test/ HTTP/1.1\r\nHost: app.test\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("HTTP on the SOCKS5 port: %v; want a 400", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "this is the SOCKS5 proxy; send HTTP to the HTTP proxy (HTTP_PROXY)") {
		t.Errorf("HTTP on the SOCKS5 port: %d %q; want 400 naming the HTTP proxy", resp.StatusCode, body)
	}
	p.logs.wait(t, "an HTTP request on the SOCKS5 proxy's port")
	for _, tc := range []struct {
		greeting, want []byte
	}{
		{[]byte{5, 1, methodNone}, []byte{5, methodNoAcceptable}},
		{[]byte("\x04\x01\x00\x50\x00\x00\x00\x01u\x00app.test\x00"), []byte{0, 91, 0, 0, 0, 0, 0, 0}},
	} {
		c := dialRaw(t, p.httpAddr)
		c.Write(tc.greeting)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len(tc.want))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("SOCKS%d on the HTTP port: reply %x, %v; want %x at once", tc.greeting[0], got, err, tc.want)
		}
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("SOCKS%d on the HTTP port, after the reply: %d bytes, %v; want the end", tc.greeting[0], n, err)
		}
		p.logs.wait(t, fmt.Sprintf("a SOCKS%d client on the HTTP proxy's port", tc.greeting[0]))
	}
}

package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// An IP literal with a trailing dot ("127.0.0.1.") is that address to the
// rules, which ignore one trailing dot as documented: a pattern naming the
// address allows it. The dialler took it for a name and asked DNS (Go's
// resolver refuses names of digits only), so the allowed connection
// failed with 502, or SOCKS reply 0x04; had a resolver answered, the
// explicit decision would have let its answer through. The literal is
// dialled as the address it names, without a lookup; so is one in
// brackets sent as a SOCKS5 domain name.
func TestTrailingDotLiteral(t *testing.T) {
	var lookups atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }))
	defer up.Close()
	_, port := hostPort(t, up.Listener.Addr().String())
	p := startProxy(t, Options{
		Rules:    mustRules(t, []string{"127.0.0.1:" + port}, nil),
		Resolver: countingResolver(&lookups),
	})
	c := p.socks(t, "127.0.0.1.", port)
	io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); body != "reached" {
		t.Errorf("SOCKS 127.0.0.1.: %q", body)
	}
	c = p.socks(t, "[::ffff:127.0.0.1]", port) // a domain name in brackets
	io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	if resp, err = http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); body != "reached" {
		t.Errorf("SOCKS [::ffff:127.0.0.1]: %q", body)
	}
	resp, err = p.client(t, nil).Get("http://127.0.0.1.:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "reached" {
		t.Errorf("GET http://127.0.0.1.:%s/: %d %q, want 200", port, resp.StatusCode, body)
	}
	if _, _, resp := p.connect(t, "127.0.0.1.:"+port, ""); resp.StatusCode != 200 {
		t.Errorf("CONNECT 127.0.0.1.: %d, want 200", resp.StatusCode)
	}
	if n := lookups.Load(); n != 0 {
		t.Errorf("%d DNS lookups for an IP literal, want 0", n)
	}
}

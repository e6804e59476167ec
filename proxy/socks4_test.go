package proxy

import (
	"io"
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

package proxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// panicReader panics on its first Read, as a bug in the proxy's reading of
// a client's bytes would.
type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("boom in a read") }

// panicWriter panics on its first Write.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("boom in a write") }

// closedWithin fails t unless c's peer has closed c within 5 s.
func closedWithin(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Fatalf("connection still open after the panic: read %d bytes, %v", n, err)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection not closed within 5 s of the panic")
	}
}

// A panic while serving one connection closes that connection, is
// reported with its stack, and frees its slot: the proxy serves the next
// client. Without survive the panic ended the whole process (fence and
// the sandbox).
func TestPanicEndsOnlyItsConnection(t *testing.T) {
	rec := &logRecorder{}
	s := New(Options{MaxClients: 1, Errors: rec.log})
	var n atomic.Int32
	ln := serveWith(t, s, func(c net.Conn) {
		if n.Add(1) == 1 {
			panic("boom in a handler")
		}
		_, _ = c.Write([]byte("ok"))
		c.Close()
	})
	first := dialRaw(t, ln.Addr().String())
	defer first.Close()
	closedWithin(t, first)
	// One slot: the second client is served only if the first's was freed.
	second := dialRaw(t, ln.Addr().String())
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(second)
	if err != nil || string(got) != "ok" {
		t.Fatalf("second client after the panic: read %q, %v; want \"ok\"", got, err)
	}
	line := rec.wait(t, `internal error, connection closed .*boom in a handler`)
	if !strings.Contains(line, "survive_test.go") {
		t.Errorf("report has no stack naming where it panicked:\n%s", line)
	}
}

// The tunnel's and the relay's goroutines that read the client's side:
// a panic there closes both ends and the call returns.
func TestPanicInTunnelOrRelayClosesBoth(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(s *Server, client, up net.Conn)
	}{
		{"tunnel", func(s *Server, client, up net.Conn) {
			s.tunnel(client, panicReader{}, up, "example.test", 443, func(error) {})
		}},
		{"relay", func(s *Server, client, up net.Conn) {
			s.relay(client, panicReader{}, up, up)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &logRecorder{}
			s := New(Options{Errors: rec.log})
			defer s.Close()
			client, clientPeer := net.Pipe()
			up, upPeer := net.Pipe()
			defer clientPeer.Close()
			defer upPeer.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				tc.run(s, client, up)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("did not return after the panic")
			}
			closedWithin(t, clientPeer)
			closedWithin(t, upPeer)
			rec.wait(t, `internal error, connection closed .*boom in a read`)
		})
	}
}

// The exchange's goroutine, which copies a request body upstream: after a
// panic nothing waits for the copy, the body counts as not sent, and the
// client connection as unusable.
func TestPanicInBodyCopy(t *testing.T) {
	rec := &logRecorder{}
	s := New(Options{Errors: rec.log})
	defer s.Close()
	client, clientPeer := net.Pipe()
	upConn, upPeer := net.Pipe()
	defer clientPeer.Close()
	defer upPeer.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = clientPeer.Write([]byte("hello"))
	}()
	cc := &clientConn{s: s, c: client, br: bufio.NewReader(client), bw: bufio.NewWriter(client)}
	up := &upstream{c: upConn, br: bufio.NewReader(upConn), bw: bufio.NewWriterSize(panicWriter{}, 16)}
	x := cc.startExchange(up, framing{kind: fixedBody, length: 5})
	select {
	case <-x.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the exchange's goroutine did not end after the panic")
	}
	select {
	case <-x.bodyDone:
	default:
		t.Fatal("bodyDone left open: lingerClose would wait on it for ever")
	}
	if x.bodySent() {
		t.Error("bodySent after a panic in the copy")
	}
	if x.clientErr == nil {
		t.Error("client connection counted as usable after a panic")
	}
	wg.Wait()
	closedWithin(t, clientPeer)
	closedWithin(t, upPeer) // still the exchange's: closed too
	rec.wait(t, `internal error, connection closed .*boom in a write`)
}

package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// A connection Admit refuses is closed unserved and takes no slot: with
// one slot, held open by its client, it does not keep the next client
// waiting. Without Admit the refused client took the slot until the
// credential check (up to the handshake timeout).
func TestAdmitBeforeSlot(t *testing.T) {
	rec := &logRecorder{}
	var mu sync.Mutex
	refuse := map[string]bool{} // client addresses Admit refuses
	s := New(Options{MaxClients: 1, Log: rec.log, Monitor: true, Admit: func(c net.Conn) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse[c.RemoteAddr().String()] {
			return errors.New("not one of ours")
		}
		return nil
	}})
	ln := serveWith(t, s, func(c net.Conn) {
		_, _ = c.Write([]byte("ok"))
		c.Close()
	})
	// The refused client's address is known once it is bound: bind it
	// first, then connect.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	local := probe.Addr().(*net.TCPAddr)
	probe.Close()
	d := net.Dialer{LocalAddr: local}
	mu.Lock()
	refuse[local.String()] = true
	mu.Unlock()
	theirs, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Close()
	_ = theirs.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(theirs); len(got) > 0 || err != nil {
		t.Fatalf("refused client: read %q, %v; want the connection closed unserved", got, err)
	}
	ours := dialRaw(t, ln.Addr().String())
	defer ours.Close()
	_ = ours.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(ours); string(got) != "ok" || err != nil {
		t.Fatalf("admitted client: read %q, %v; want \"ok\"", got, err)
	}
	rec.wait(t, `✗ http proxy: connection from `+local.String()+` refused: not one of ours`)
}

// serveWith serves handle on a new listener with s's serve loop (slots,
// Admit, survive), as ServeHTTP does with its own handler, and returns the
// listener. The test's end closes s and checks that serve returned.
func serveWith(t *testing.T, s *Server, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- s.serve(ln, "http", handle) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln
}

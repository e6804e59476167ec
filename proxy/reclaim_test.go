package proxy

import (
	"io"
	"net"
	"testing"
	"time"
)

// Both proxies wait for a slot at once (they share them): each closes an
// idle keep-alive connection for its own new connection. The one that
// closed a connection may lose the slot it freed to the other, which was
// waiting first; it must then still take the next idle connection's
// place, not wait for a slot alone while one sits idle.
func TestBothProxiesWaitingTakeIdleSlots(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true, MaxClients: 3})
	busy := socksGreeted(t, p.socksAddr)
	defer busy.Close()
	// Two HTTP connections served, their first requests not sent yet:
	// they keep their slots until they have had one.
	h1, h2 := dialRaw(t, p.httpAddr), dialRaw(t, p.httpAddr)
	time.Sleep(50 * time.Millisecond)

	// Both proxies now wait for a slot.
	x := dialRaw(t, p.httpAddr)
	xGot := make(chan int, 1)
	go func() { xGot <- deniedRequest(x) }()
	p.logs.wait(t, `3 client connections open`)
	y := dialRaw(t, p.socksAddr)
	yGot := make(chan error, 1)
	go func() {
		if _, err := y.Write([]byte{5, 1, 0}); err != nil {
			yGot <- err
			return
		}
		var reply [2]byte
		_, err := io.ReadFull(y, reply[:])
		yGot <- err
	}()
	time.Sleep(100 * time.Millisecond)

	// One idle connection, then another: two places, one for each.
	for _, c := range []net.Conn{h1, h2} {
		if code := deniedRequest(c); code != 403 {
			t.Fatalf("keep-alive connection: %d, want 403", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	timeout := time.After(3 * time.Second)
	for xGot != nil || yGot != nil {
		select {
		case code := <-xGot:
			if code != 403 {
				t.Errorf("the waiting HTTP connection: %d, want 403", code)
			}
			xGot = nil
		case err := <-yGot:
			if err != nil {
				t.Errorf("the waiting SOCKS connection: %v", err)
			}
			yGot = nil
		case <-timeout:
			t.Fatalf("a connection still waits for a slot (http waiting %v, socks waiting %v) while a keep-alive connection is idle", xGot != nil, yGot != nil)
		}
	}
}

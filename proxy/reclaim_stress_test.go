package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many keep-alive clients, far more than slots, on both proxies: every
// request is eventually answered (a reclaimed connection is reopened),
// nothing hangs, and once the clients are gone no connection stays in
// idleClients or conns and every slot is free.
func TestReclaimStress(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true, MaxClients: 4})
	const clients, requests = 16, 30
	var answered, reopened atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i%4 == 3 {
				// SOCKS clients: a greeting, a denied request, closed.
				for n := 0; n < requests; n++ {
					c, err := net.Dial("tcp", p.socksAddr)
					if err != nil {
						t.Error(err)
						return
					}
					c.SetDeadline(deadline)
					c.Write([]byte{5, 1, 0})
					var r [2]byte
					if _, err := io.ReadFull(c, r[:]); err != nil {
						t.Errorf("socks greeting: %v", err)
						c.Close()
						return
					}
					c.Write(socksRequestBytes(1, "denied.test", 80))
					rep := make([]byte, 10)
					if _, err := io.ReadFull(c, rep); err != nil {
						t.Errorf("socks request: %v", err)
					}
					c.Close()
					answered.Add(1)
				}
				return
			}
			var c net.Conn
			var br *bufio.Reader
			for n := 0; n < requests; {
				if c == nil {
					var err error
					c, err = net.Dial("tcp", p.httpAddr)
					if err != nil {
						t.Error(err)
						return
					}
					c.SetDeadline(deadline)
					br = bufio.NewReader(c)
				}
				io.WriteString(c, "GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					if time.Now().After(deadline) {
						t.Errorf("client %d: %v", i, err)
						c.Close()
						return
					}
					c.Close()
					c = nil
					reopened.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 403 {
					t.Errorf("status %d", resp.StatusCode)
				}
				answered.Add(1)
				n++
				if n%7 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			c.Close()
		}(i)
	}
	wg.Wait()
	t.Logf("answered %d, reopened %d", answered.Load(), reopened.Load())
	for end := time.Now().Add(5 * time.Second); ; {
		p.mu.Lock()
		idle, conns := len(p.idleClients), len(p.conns)
		p.mu.Unlock()
		slots := len(p.slots)
		if idle == 0 && conns == 0 && slots == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after every client left: %d idle clients, %d conns, %d slots taken", idle, conns, slots)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// More net/http clients than slots, each POSTing on its keep-alive
// connection without a pause: none is idle, so none is closed for a new
// one. Closed between two requests, a connection took the next POST down
// with it (EOF: a POST is not retried), some 10% of them.
func TestBusyKeepAliveNotReclaimed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	_, port := hostPort(t, strings.TrimPrefix(up.URL, "http://"))
	p := startProxy(t, Options{
		Rules:      mustRules(t, []string{"app.test:" + port}, nil),
		Hosts:      map[string][]netip.Addr{"app.test": local},
		AllowAddrs: loopback,
		MaxClients: 4,
	})
	const clients, requests = 8, 50
	var failures atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := p.client(t, nil)
			for n := 0; n < requests; n++ {
				resp, err := cl.Post("http://app.test:"+port+"/", "text/plain", strings.NewReader("body"))
				if err != nil {
					if failures.Add(1) == 1 {
						t.Errorf("POST on a busy keep-alive connection: %v", err)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d POSTs failed", n, clients*requests)
	}
}

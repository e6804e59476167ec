package proxy

// The idle pool, early answers and credentials in URLs: tests from the
// reviews of the pool (each failed before its fix, or is a sanity check
// under load and -race).

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// trackedConns is the number of client and upstream connections the
// Server still holds.
func trackedConns(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// An early answer while the body copy is blocked writing to an origin that
// does not read: the linger is bounded, so the client connection's
// goroutine, the exchange goroutine and both connections do not stay until
// the origin closes.
func TestLingerCloseBlockedUpstreamWrite(t *testing.T) {
	stop := make(chan struct{})
	var closeOnce sync.Once
	t.Cleanup(func() { closeOnce.Do(func() { close(stop) }) })
	up := tcpServer(t, func(c net.Conn) {
		c.(*net.TCPConn).SetReadBuffer(4096)
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
		<-stop // neither reads the body nor closes, for now
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "POST http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\nContent-Length: 67108864\r\n\r\n")
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Logf("client got %d (Connection: close=%v); client now closes", resp.StatusCode, resp.Close)
	c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for trackedConns(p.Server) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := trackedConns(p.Server); n > 0 {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		t.Errorf("client gone 3s ago; the proxy still holds %d connections (lingerClose blocked: %v, body copy blocked writing upstream: %v)",
			n, strings.Contains(stacks, "lingerClose"), strings.Contains(stacks, "startExchange.func1"))
	}
	closeOnce.Do(func() { close(stop) })
}

// An emptied pool list leaves no key behind: a client can spell one allowed
// host in any number of ways (case, a trailing dot, any name under a
// wildcard rule).
func TestIdlePoolMapGrows(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		// and closes: the pooled connection dies, the watcher removes it
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	const n = 32
	for i := 0; i < n; i++ {
		host := []byte("app.test")
		for j, k := range []int{0, 1, 2, 4, 5} { // a case variant per request
			if i&(1<<j) != 0 {
				host[k] -= 'a' - 'A'
			}
		}
		resp, body := p.roundTrip(t, "GET http://"+string(host)+":"+port+"/ HTTP/1.1\r\nConnection: close\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%s: %d %q", host, resp.StatusCode, body)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		p.idle.mu.Lock()
		keys, idle := len(p.idle.conns), p.idle.n
		p.idle.mu.Unlock()
		if idle == 0 || time.Now().After(deadline) {
			t.Logf("pool: %d connections, %d keys", idle, keys)
			if keys > idle {
				t.Errorf("the pool holds %d connections but %d map keys: emptied lists are never deleted", idle, keys)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Credentials in a request URL are not logged: the URL column, cut at 60
// characters, could otherwise show an allowed-looking userinfo while the
// request went to another host.
func TestUserinfoInLog(t *testing.T) {
	up := tcpServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	p.roundTrip(t, "GET http://alice:s3cret@app.test:"+port+"/ HTTP/1.1\r\n\r\n", "GET")
	p.roundTrip(t, "GET http://app.test:"+port+".allowed.looking.userinfo.padding.padding@blocked.example/ HTTP/1.1\r\n\r\n", "GET")
	for _, line := range p.logs.all() {
		t.Log(line)
		if strings.Contains(line, "s3cret") {
			t.Errorf("password in the log: %s", line)
		}
	}
}

// Userinfo cannot move a request to another host than the one decided and
// dialled; the origin sees the stripped authority as Host.
func TestUserinfoNoBypass(t *testing.T) {
	var host atomic.Value
	up := tcpServer(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		host.Store(req.Host)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	for _, tc := range []struct {
		target string
		status int
	}{
		{"http://app.test:" + port + "@blocked.example/", 403},
		{"http://app.test:" + port + "@blocked.example:" + port + "/", 403},
		{`http://blocked.example\@app.test:` + port + "/", 200},
		{"http://blocked.example@app.test:" + port + "/", 200},
		{"http://a@b@app.test:" + port + "/", 200},
		{"http://app.test:" + port + "?@blocked.example/", 200},
		{"http://app.test:" + port + "#@blocked.example/", 400},
		{"http://app.test:" + port + "%40blocked.example/", 400},
		{"http://@/", 400},
	} {
		host.Store("")
		resp, _ := p.roundTrip(t, "GET "+tc.target+" HTTP/1.1\r\nConnection: close\r\n\r\n", "GET")
		h, _ := host.Load().(string)
		if resp.StatusCode != tc.status || tc.status == 200 && h != "app.test:"+port {
			t.Errorf("%s: %d, origin saw Host %q; want %d", tc.target, resp.StatusCode, h, tc.status)
		}
	}
}

// Many clients, one connection per request, sharing the pool; origins that
// close at random, HEAD, 204, 304, chunked with trailers, POST bodies.
// Every client must get its own answer.
func TestPoolStressNoMixup(t *testing.T) {
	var served atomic.Int64
	up := tcpServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			id := req.URL.Query().Get("id")
			k := served.Add(1)
			closing := ""
			if k%7 == 0 {
				closing = "Connection: close\r\n"
			}
			switch req.URL.Path {
			case "/head":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Id: %s\r\n%s\r\n", id, closing)
			case "/204":
				fmt.Fprintf(c, "HTTP/1.1 204 No Content\r\nX-Id: %s\r\n%s\r\n", id, closing)
			case "/304":
				fmt.Fprintf(c, "HTTP/1.1 304 Not Modified\r\nContent-Length: 55\r\nX-Id: %s\r\n%s\r\n", id, closing)
			case "/chunked":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Id: %s\r\n%s\r\n%x\r\n%s\r\n0\r\nX-T: %s\r\n\r\n", id, closing, len(id), id, id)
			case "/early":
				fmt.Fprintf(c, "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Id: %s\r\n%s\r\n%s", len(id), id, closing, id)
			default:
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Id: %s\r\n%s\r\n%s%s", len(id)+len(body), id, closing, id, body)
			}
			if closing != "" || k%11 == 0 {
				return // k%11: closes without saying so
			}
		}
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	var wg sync.WaitGroup
	var bad atomic.Int32
	paths := []string{"/", "/head", "/204", "/304", "/chunked", "/early", "/post"}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				path := paths[(g+i)%len(paths)]
				id := fmt.Sprintf("g%di%d", g, i)
				method, extra, body := "GET", "", ""
				switch path {
				case "/head":
					method = "HEAD"
				case "/post":
					method, body = "PUT", "body-"+id
					extra = fmt.Sprintf("Content-Length: %d\r\n", len(body))
				}
				c, err := net.Dial("tcp", p.httpAddr)
				if err != nil {
					bad.Add(1)
					return
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(c, "%s http://app.test:%s%s?id=%s HTTP/1.1\r\n%sConnection: close\r\n\r\n%s", method, port, path, id, extra, body)
				resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
				if err != nil {
					t.Errorf("%s %s: %v", method, id, err)
					bad.Add(1)
					c.Close()
					continue
				}
				b, err := io.ReadAll(resp.Body)
				c.Close()
				if resp.StatusCode == 502 {
					continue // a PUT on a connection that died: not replayed
				}
				want := ""
				switch path {
				case "/", "/early":
					want = id
				case "/chunked":
					want = id
					if resp.Trailer.Get("X-T") != id {
						t.Errorf("%s: trailer %q", id, resp.Trailer.Get("X-T"))
					}
				case "/post":
					want = id + body
				}
				if err != nil || resp.Header.Get("X-Id") != id || string(b) != want {
					t.Errorf("%s %s: got %d X-Id %q body %q err %v", method, id, resp.StatusCode, resp.Header.Get("X-Id"), b, err)
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
}

// Pool traffic while SetRules swaps policies and, at the end, Close runs
// mid-traffic (meant for -race). A connection pooled under one Rules must
// not be reused under another.
func TestPoolSetRulesCloseRace(t *testing.T) {
	var conns atomic.Int32
	up := tcpServer(t, func(c net.Conn) {
		n := conns.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d", len(fmt.Sprint(n)), n)
		}
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	rulesA := p.Rules()
	rulesB := mustRules(t, []string{"app.test:" + port}, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", p.httpAddr)
				if err != nil {
					return
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "GET http://app.test:"+port+"/ HTTP/1.1\r\nConnection: close\r\n\r\n")
				if resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"}); err == nil {
					io.ReadAll(resp.Body)
				}
				c.Close()
			}
		}()
	}
	for i := 0; i < 200; i++ {
		if i%2 == 0 {
			p.SetRules(rulesB)
		} else {
			p.SetRules(rulesA)
		}
		time.Sleep(time.Millisecond)
		// Invariant: nothing pooled under a policy other than the two.
		p.idle.mu.Lock()
		for _, list := range p.idle.conns {
			for _, u := range list {
				if u.rules != rulesA && u.rules != rulesB {
					t.Errorf("pooled under unknown rules")
				}
			}
		}
		p.idle.mu.Unlock()
	}
	p.Close()
	close(stop)
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	p.idle.mu.Lock()
	n := p.idle.n
	p.idle.mu.Unlock()
	if n != 0 {
		t.Errorf("%d connections still pooled 100ms after Close", n)
	}
	if k := trackedConns(p.Server); k != 0 {
		t.Errorf("%d connections tracked after Close", k)
	}
	t.Logf("%d upstream connections", conns.Load())
}

// SetRules closes the pooled connections the old rules allowed.
func TestSetRulesClosesPooled(t *testing.T) {
	closed := make(chan struct{})
	up := tcpServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				close(closed)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	resp, body := p.roundTrip(t, "GET http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	p.SetRules(mustRules(t, []string{"app.test:" + port}, nil))
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the pooled connection is still open 5s after SetRules")
	}
}

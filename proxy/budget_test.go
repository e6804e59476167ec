package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A sandbox could make the supervisor hold about 1.7 MB per connection
// by sending a request head of nearly 1 MiB slowly, on as many
// connections as it could open (400 connections: 690 MB, for 10 s at a
// time, again and again). Heads beyond their first 16 KiB now share a
// budget: once it is spent, a large head gets 503, while ordinary heads
// go on being served, and the budget comes back as heads end.
func TestLargeHeadsShareABudget(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true})
	big := strings.Repeat("a", 1_000_000)

	// Forty unfinished heads of ~1 MB each: more than the budget.
	var held []net.Conn
	for range 40 {
		c := dialRaw(t, p.httpAddr)
		held = append(held, c)
		if _, err := io.WriteString(c, "GET http://denied.test/ HTTP/1.1\r\nX-Big: "+big); err != nil {
			break // refused with 503 already
		}
	}
	p.logs.wait(t, `! -\s+503 .*too many large request heads`)

	// An ordinary request is still answered meanwhile.
	if resp, body := p.roundTrip(t, "GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n", "GET"); resp.StatusCode != 403 {
		t.Errorf("ordinary request while the budget is spent: %d %q, want 403", resp.StatusCode, body)
	}

	// Once the heads are gone, so is their charge.
	for _, c := range held {
		c.Close()
	}
	// (The proxy notices a closed connection at its next read.)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c := dialRaw(t, p.httpAddr)
		io.WriteString(c, "GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\nX-Big: "+big+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		c.Close()
		if resp.StatusCode == 403 {
			break
		}
		if resp.StatusCode != 503 || time.Now().After(deadline) {
			t.Fatalf("large head after the others ended: %d %q, want 403", resp.StatusCode, body)
		}
	}
}

// An allowed origin could make the supervisor hold ~1 MiB per connection
// too, by answering with a response head of nearly 1 MiB that it never
// finishes: response heads were not counted against the budget that
// bounds request heads. They now share it: once it is spent, a large
// response head gets 502, ordinary responses go on being served, and the
// budget comes back as the heads end.
func TestLargeResponseHeadsShareTheBudget(t *testing.T) {
	big := strings.Repeat("a", 1_000_000)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	addr := tcpServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			switch req.URL.Path {
			case "/hold": // a large head, never finished
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+big)
				<-release
				return
			case "/big":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+big+"\r\nContent-Length: 2\r\n\r\nok")
			default:
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	_, port := hostPort(t, addr)
	p := startProxy(t, Options{Rules: mustRules(t, []string{"127.0.0.1:" + port}, nil), Monitor: true})
	get := func(path string) string {
		return "GET http://127.0.0.1:" + port + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n"
	}

	// Forty unfinished response heads of ~1 MB each: more than the budget.
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, 40)
	for range 40 {
		c := dialRaw(t, p.httpAddr)
		go func() {
			io.WriteString(c, get("/hold"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers <- answer{status: -1, body: err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			answers <- answer{resp.StatusCode, string(b)}
		}()
	}
	p.logs.wait(t, `! GET\s+502 127\.0\.0\.1 .*too many large response heads`)
	select {
	case a := <-answers:
		if a.status != 502 || !strings.Contains(a.body, "fence proxy: read response: the proxy is reading too many large response heads at once; retry") {
			t.Fatalf("response head beyond the budget: %d %q, want 502 saying so", a.status, a.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to a request whose response head found the budget spent")
	}

	// An ordinary response is still served meanwhile.
	if resp, body := p.roundTrip(t, get("/small"), "GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("ordinary response while the budget is spent: %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}

	// Once the origin ends the heads, their charge is given back (before
	// their clients are answered).
	free()
	for i := 1; i < 40; i++ {
		select {
		case a := <-answers:
			if a.status != 502 {
				t.Errorf("held response head, ended by the origin: %d %q, want 502", a.status, a.body)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 40 held requests unanswered after the origin closed", 40-i)
		}
	}
	if resp, body := p.roundTrip(t, get("/big"), "GET"); resp.StatusCode != 200 || body != "ok" || len(resp.Header.Get("X-Big")) != len(big) {
		t.Fatalf("large response head after the others ended: %d %q, want 200 \"ok\" with its X-Big", resp.StatusCode, body)
	}
}

// The proxies serve at most MaxClients connections at once: one more
// waits, unanswered, until one of them ends (each served connection holds
// ~30 KiB of the supervisor's memory, and the sandbox may open as many as
// fence has descriptors).
func TestClientConnectionsCapped(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true, MaxClients: 2})
	// Two connections served and busy (SOCKS, between greeting and
	// request: not idle keep-alive connections, which reclaimIdle may
	// close for a new one).
	socksGreeted(t, p.socksAddr)
	b := socksGreeted(t, p.socksAddr)
	c := dialRaw(t, p.httpAddr)
	got := make(chan int, 1)
	go func() { got <- deniedRequest(c) }()
	// Once the proxy says so, the third waits for a slot: not served.
	p.logs.wait(t, `2 client connections open; new ones take an idle keep-alive connection's place, or wait`)
	select {
	case code := <-got:
		t.Fatalf("a third connection was served (%d) while two were open", code)
	default:
	}
	b.Close()
	select {
	case code := <-got:
		if code != 403 {
			t.Fatalf("third connection once one ended: %d, want 403", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not served after one ended")
	}
}

// With every slot taken, a keep-alive connection waiting for its next
// request gives its slot to a new connection, the one that has waited
// longest first: it held it until its idle timeout (5 minutes), and a
// client with more keep-alive connections than slots, sending a request
// on each, hung. A connection in the middle of an exchange keeps its
// slot.
func TestIdleKeepAliveGivesSlot(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true, MaxClients: 3})
	older, newer := dialRaw(t, p.httpAddr), dialRaw(t, p.httpAddr)
	for _, c := range []net.Conn{older, newer} {
		if code := deniedRequest(c); code != 403 {
			t.Fatalf("keep-alive connection: %d, want 403", code)
		}
		time.Sleep(20 * time.Millisecond) // older waits longer
	}
	busy := socksGreeted(t, p.socksAddr)
	defer busy.Close()
	fresh := dialRaw(t, p.httpAddr)
	got := make(chan int, 1)
	go func() { got <- deniedRequest(fresh) }()
	select {
	case code := <-got:
		if code != 403 {
			t.Fatalf("a new connection with every slot taken by idle and busy ones: %d, want 403", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a new connection waited while a keep-alive connection sat idle in a slot")
	}
	_ = older.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := older.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the longest idle keep-alive connection: read %d bytes, %v; want it closed", n, err)
	}
	if code := deniedRequest(newer); code != 403 {
		t.Errorf("the other keep-alive connection, after: %d, want 403", code)
	}
	// The SOCKS connection in the middle of its exchange kept its slot:
	// its request is answered (not allowed, for denied.test).
	_ = busy.SetDeadline(time.Now().Add(5 * time.Second))
	rep := make([]byte, 10)
	if _, err := busy.Write(socksRequestBytes(1, "denied.test", 80)); err != nil {
		t.Errorf("the busy SOCKS connection: %v", err)
	} else if _, err := io.ReadFull(busy, rep); err != nil || rep[1] != 2 {
		t.Errorf("the busy SOCKS connection's request: reply %x, %v; want reply 2 (not allowed)", rep, err)
	}
}

// A new connection that waits for a slot takes the place of one that
// becomes idle meanwhile: served its first request, it waits for its
// next. (Many connections opened at once, then a request on each: those
// over the limit hung until the idle timeout.)
func TestWaitingConnectionTakesIdleSlot(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true, MaxClients: 1})
	first := dialRaw(t, p.httpAddr)
	// Served, so that second waits behind it: its first request is not
	// in yet, and a connection waiting for its first request keeps its
	// slot.
	time.Sleep(50 * time.Millisecond)
	second := dialRaw(t, p.httpAddr)
	got := make(chan int, 1)
	go func() { got <- deniedRequest(second) }()
	p.logs.wait(t, `1 client connections open`)
	if code := deniedRequest(first); code != 403 {
		t.Fatalf("first connection: %d, want 403", code)
	}
	select {
	case code := <-got:
		if code != 403 {
			t.Fatalf("the waiting connection, once the first went idle: %d, want 403", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting connection was not served once the only slot's connection went idle")
	}
}

// A proxy with nothing to accept holds no slot: with MaxClients 2, one
// connection open on the HTTP proxy and none on the SOCKS one, a second
// HTTP connection is served (a slot taken before Accept was held by the
// idle SOCKS loop, and a freed one could go to it).
func TestIdleProxyHoldsNoClientSlot(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true, MaxClients: 2})
	// The SOCKS loop has run: it served one connection, which ended.
	d := socksGreeted(t, p.socksAddr)
	d.Close()
	time.Sleep(50 * time.Millisecond)
	for round := 0; round < 3; round++ {
		a := dialRaw(t, p.httpAddr)
		if code := deniedRequest(a); code != 403 {
			t.Fatalf("round %d, first connection: %d, want 403", round, code)
		}
		c := dialRaw(t, p.httpAddr)
		got := make(chan int, 1)
		go func() { got <- deniedRequest(c) }()
		select {
		case code := <-got:
			if code != 403 {
				t.Fatalf("round %d, second connection: %d, want 403", round, code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: a second connection waits while one of two slots is used", round)
		}
		a.Close()
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// Close ends a wait for a slot: the connection waiting is closed, and
// the serving loops return (the cleanup waits for them).
func TestCloseEndsSlotWait(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true, MaxClients: 1})
	socksGreeted(t, p.socksAddr)
	c := dialRaw(t, p.httpAddr)
	p.logs.wait(t, `1 client connections open; new ones take an idle keep-alive connection's place, or wait`)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if code := deniedRequest(c); code != -1 {
		t.Fatalf("waiting connection after Close: %d, want none", code)
	}
}

// socksGreeted dials the SOCKS proxy and completes the greeting, so that
// the connection is known to be served.
func socksGreeted(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dialRaw(t, addr)
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		t.Fatal(err)
	}
	var reply [2]byte
	if _, err := io.ReadFull(c, reply[:]); err != nil || reply != [2]byte{5, 0} {
		t.Fatalf("SOCKS greeting: %v %v", reply, err)
	}
	return c
}

// deniedRequest sends a request for a denied host on c and returns the
// status, or -1 if none came.
func deniedRequest(c net.Conn) int {
	io.WriteString(c, "GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

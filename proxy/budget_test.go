package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
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

// The proxies serve at most MaxClients connections at once: one more
// waits, unanswered, until one of them ends (each served connection holds
// ~30 KiB of the supervisor's memory, and the sandbox may open as many as
// fence has descriptors).
func TestClientConnectionsCapped(t *testing.T) {
	p := startProxy(t, Options{Rules: mustRules(t, []string{"app.test"}, nil), Monitor: true, MaxClients: 2})
	a := dialRaw(t, p.httpAddr)
	b := dialRaw(t, p.socksAddr)
	// Both served: a request on the first is answered.
	io.WriteString(a, "GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n")
	ra := bufio.NewReader(a)
	if resp, err := http.ReadResponse(ra, nil); err != nil || resp.StatusCode != 403 {
		t.Fatalf("first connection: %v %v, want 403", resp, err)
	}
	c := dialRaw(t, p.httpAddr)
	io.WriteString(c, "GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n")
	got := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			got <- -1
			return
		}
		got <- resp.StatusCode
	}()
	select {
	case code := <-got:
		t.Fatalf("a third connection was served (%d) while two were open", code)
	case <-time.After(300 * time.Millisecond):
	}
	p.logs.wait(t, `2 client connections open; new ones wait`)
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

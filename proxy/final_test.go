package proxy

// Tests from the final review of the HTTP/1.1 proxy.

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The head goes out at once when chunked body bytes came with it: if they
// end inside the chunk framing, a copy that waited for them would hold the
// head back until the client sent more (it may be waiting for a 100).
func TestHeadWithheldByPartialChunk(t *testing.T) {
	for _, first := range []string{"5\r\nhello", "5\r\n"} {
		got := make(chan struct{}, 1)
		up := tcpServer(t, func(c net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				return
			}
			got <- struct{}{}
			io.Copy(io.Discard, c)
		})
		_, port := hostPort(t, up)
		p := appProxy(t, port)
		c := dialRaw(t, p.httpAddr)
		io.WriteString(c, "POST http://app.test:"+port+"/ HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"+first)
		select {
		case <-got:
		case <-time.After(2 * time.Second):
			t.Errorf("client sent the head and %q 2s ago; the origin has not seen the request head", first)
		}
	}
}

// A client that pipelined its next request (or a CRLF after its body) and
// then went away is noticed: the watch reads on past pipelined bytes, so
// the upstream connection does not stay until the origin answers.
func TestPipelinedClientGone(t *testing.T) {
	for _, tc := range []struct{ name, after string }{
		{"pipelined GET", "GET"},
		{"CRLF after POST body (RFC 9112 2.2)", "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { pipelinedClientGone(t, tc.after) })
	}
}

func pipelinedClientGone(t *testing.T, after string) {
	closed := make(chan struct{})
	up := tcpServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.Copy(io.Discard, c) // never answers
		close(closed)
	})
	_, port := hostPort(t, up)
	p := appProxy(t, port)
	c := dialRaw(t, p.httpAddr)
	req := "GET http://app.test:" + port + "/slow HTTP/1.1\r\nHost: app.test\r\n\r\n"
	if after == "GET" {
		io.WriteString(c, req+req)
	} else {
		io.WriteString(c, "POST http://app.test:"+port+"/slow HTTP/1.1\r\nHost: app.test\r\nContent-Length: 2\r\n\r\nhi"+after)
	}
	time.Sleep(200 * time.Millisecond)
	c.Close()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		buf := make([]byte, 1<<20)
		st := string(buf[:runtime.Stack(buf, true)])
		t.Fatalf("client closed 3s ago; the proxy still holds the upstream (tracked conns %d, finalResponse blocked: %v)",
			trackedConns(p.Server), strings.Contains(st, "finalResponse"))
	}
}

// A 1 MiB Connection field (within the head limit) must not cost endToEnd
// a map entry per token (it allocated ~13 MiB).
func TestEndToEndMemory(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20-100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
	}
	h := header{{"Connection", b.String()}, {"X", "y"}}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	_ = h.endToEnd()
	runtime.ReadMemStats(&m1)
	if mib := float64(m1.TotalAlloc-m0.TotalAlloc) / (1 << 20); mib > 2 {
		t.Errorf("1 MiB Connection value: endToEnd allocated %.1f MiB", mib)
	}
}

package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// loopback is the prefix tests allow explicitly: every test server listens
// on 127.0.0.1.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// testProxy is a Server serving both proxies on 127.0.0.1.
type testProxy struct {
	*Server
	httpAddr  string
	socksAddr string
	logs      *logRecorder
}

type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) log(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

func (l *logRecorder) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// wait returns the first line matching re, waiting up to 5s: some lines
// are written after the client already has its answer.
func (l *logRecorder) wait(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range l.all() {
			if rx.MatchString(line) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matches %q; have:\n%s", re, strings.Join(l.all(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startProxy starts a Server for o (Log defaults to a recorder, and Debug
// to true) and stops it when the test ends, checking that Serve* return.
func startProxy(t testing.TB, o Options, tweaks ...func(*Server)) *testProxy {
	t.Helper()
	rec := &logRecorder{}
	if o.Log == nil {
		o.Log = rec.log
		if !o.Monitor {
			o.Debug = true
		}
	}
	s := New(o)
	for _, f := range tweaks {
		f(s) // before it serves
	}
	hl := listen(t)
	sl := listen(t)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.ServeHTTP(hl); err != nil {
			t.Errorf("ServeHTTP: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.ServeSOCKS(sl); err != nil {
			t.Errorf("ServeSOCKS: %v", err)
		}
	}()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
		if testing.Verbose() {
			for _, line := range rec.all() {
				t.Log(line)
			}
		}
	})
	return &testProxy{Server: s, httpAddr: hl.Addr().String(), socksAddr: sl.Addr().String(), logs: rec}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

// client returns an HTTP client that uses the proxy for http and https,
// never pools connections across tests, and follows no redirects.
func (p *testProxy) client(t testing.TB, base *http.Transport) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	if base != nil {
		tr = base.Clone()
	}
	tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: p.httpAddr})
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// connect opens a raw CONNECT tunnel to target and returns the connection
// and the proxy's response head.
func (p *testProxy) connect(t testing.TB, target string, header string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c := dialRaw(t, p.httpAddr)
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n"+header+"\r\n"); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("read CONNECT response: %v", err)
	}
	return c, br, resp
}

// dialRaw opens a plain connection to a proxy listener for hand-written
// requests; it is closed when the test ends and gives up after 10 seconds.
func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// hostPort splits a listener address into host and port.
func hostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// refusedAddr returns a loopback address nobody listens on.
func refusedAddr(t testing.TB) string {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

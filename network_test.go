package fence

import (
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/proxy"
)

// flakyListener fails its first Accepts as a listener does when the
// process is out of descriptors.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// A forward (allowLocalOutboundPorts, -p) outlives a moment without
// descriptors: the sandbox can open connections until the supervisor runs
// out, and forward used to return at the first failed Accept, which left
// the port dead for the rest of the run (connections queued and hung).
func TestForwardSurvivesAcceptErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(3)
	n := &network{outSlots: make(chan struct{}, 4)}
	go n.forward(fl, n.outSlots, "test", func() (net.Conn, error) {
		a, b := net.Pipe()
		go func() {
			defer b.Close()
			io.WriteString(b, "hello")
		}()
		return a, nil
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if string(b) != "hello" {
		t.Fatalf("read %q, %v: the forward stopped accepting after a failed Accept", b, err)
	}
}

// A closed listener still ends the forward.
func TestForwardEndsWithListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		(&network{}).forward(ln, make(chan struct{}, 4), "test", func() (net.Conn, error) { return nil, io.EOF })
		close(done)
	}()
	ln.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("forward did not return after its listener closed")
	}
}

// The forwards carry at most cap(network.slots) connections at once: the
// sandbox could otherwise open connections to an allowLocalOutboundPorts
// port until the supervisor ran out of descriptors (20000 of 20000 held,
// and the proxies answered "socket: too many open files"). Further
// connections wait, and are served once one ends.
func TestForwardBoundsConnections(t *testing.T) {
	n := &network{outSlots: make(chan struct{}, 2)}

	// The host service: holds each connection until its client's EOF.
	svc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var active, most, served atomic.Int32
	go func() {
		for {
			c, err := svc.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			n := active.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			go func() {
				io.Copy(io.Discard, c)
				active.Add(-1)
				c.Close()
			}()
		}
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go n.forward(ln, n.outSlots, "test", func() (net.Conn, error) { return net.Dial("tcp", svc.Addr().String()) })
	var cs []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	time.Sleep(300 * time.Millisecond)
	if m := most.Load(); m > 2 {
		t.Fatalf("%d connections forwarded at once, want at most 2", m)
	}
	cs[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for served.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("a waiting connection was not served after one ended (%d served)", served.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := most.Load(); m > 2 {
		t.Fatalf("%d connections forwarded at once, want at most 2", m)
	}
}

// A forward whose host service is down (allowLocalOutboundPorts, -p)
// logged nothing under -m: the sandbox's client saw its connection
// accepted and closed, and nothing said why. Each failed connect now
// writes a line, at most logBurst at once and then one a second, the next
// line counting those left out, so that a client retrying in a loop cannot
// flood fence's stderr.
func TestForwardLogsFailedConnects(t *testing.T) {
	var (
		mu    sync.Mutex
		lines []string
	)
	n := &network{outSlots: make(chan struct{}, 4), logf: func(l string) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
	}}
	var clock atomic.Int64 // seconds
	clock.Store(1000)
	n.fails.now = func() time.Time { return time.Unix(clock.Load(), 0) }
	logged := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}

	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nobody listens there now
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go n.forward(ln, n.outSlots, "host "+deadAddr, func() (net.Conn, error) { return net.DialTimeout("tcp", deadAddr, 5*time.Second) })
	// connect opens a connection through the forward and waits for the
	// forward to close it (after its line, if any, is written).
	connect := func() {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
			t.Fatalf("connection to a dead service: read %q, %v; want the forward to close it", b, err)
		}
	}

	for range 20 {
		connect()
	}
	got := logged()
	if len(got) != logBurst {
		t.Fatalf("20 failed connects at once logged %d lines, want %d:\n%s", len(got), logBurst, strings.Join(got, "\n"))
	}
	re := regexp.MustCompile(`^\[fence:forward\] \d\d:\d\d:\d\d ! host ` + regexp.QuoteMeta(deadAddr) + ` ERROR \(dial tcp ` + regexp.QuoteMeta(deadAddr) + `: connect: connection refused\)$`)
	for _, l := range got {
		if !re.MatchString(l) {
			t.Errorf("line %q does not match %s", l, re)
		}
	}
	// A second later, one more line, with the count of those left out.
	clock.Add(1)
	connect()
	connect()
	got = logged()
	if len(got) != logBurst+1 || !strings.HasSuffix(got[logBurst], "connection refused) (15 more failed connections not logged)") {
		t.Fatalf("after a second, want one more line counting 15 left out; have:\n%s", strings.Join(got, "\n"))
	}
}

// The bounds on connections keep the supervisor within its descriptor
// limit: 4096 proxy clients cost ~24000 descriptors, more than a 20000
// limit, and the supervisor then failed every request, open and accept.
func TestConnLimitsFitDescriptors(t *testing.T) {
	for _, nofile := range []uint64{1024, 4096, 20000, 65536, 1 << 20} {
		p, f := connLimits(nofile)
		if used := uint64(p+2*f) * fdCost; nofile >= 4096 && used > nofile-1024 {
			t.Errorf("nofile %d: %d proxy clients and %d forwards each way may hold %d descriptors", nofile, p, f, used)
		}
		if p < 64 || f < 16 {
			t.Errorf("nofile %d: bounds %d and %d too small to work with", nofile, p, f)
		}
	}
	if p, f := connLimits(1 << 20); p != 4096 || f != 4096 {
		t.Errorf("a large limit gives %d and %d, want 4096 each", p, f)
	}
}

// Config validation and the proxy's rules each split an unbracketed IPv6
// host:port with a twin of cutIPv6Port (config may not import the proxy):
// a pattern validation accepts must be one the proxy takes, and the
// ambiguous ones ("::1:8002", an address or port 8002 of ::1) and the
// unbracketed ones with a port ("::1:*") are refused by both. Nothing
// else kept the two in step.
func TestIPv6PatternsAgree(t *testing.T) {
	for _, c := range []struct {
		p       string
		refused bool // by both, for a port after an unbracketed address
	}{
		{"::1:8002", true}, {"::1:80", true}, {"::1:*", true}, {"fe80::1:443", true}, {"2001:db8::1:65535", true},
		{"::ffff:1.2.3.4:80", true}, {"1:2:3:4:5:6:7:8:9", true}, {"1:2:3:4:5:6:7:8:*", true},
		{"2001:db8::1:65536", false}, {"::1:0", false}, {"::1:+80", false}, {"::1%eth0:80", false}, {"fe80::1%eth0", false},
		{"[::1]:8002", false}, {"[::1]:*", false}, {"[::1]", false}, {"::1", false}, {"1:2:3:4:5:6:7:8", false},
		{"example.com:8080", false},
	} {
		cerr := (&config.Config{Network: config.NetworkConfig{AllowedDomains: []string{c.p}}}).Validate()
		_, perr := proxy.NewRules([]string{c.p}, nil)
		if cerr == nil && perr != nil {
			t.Errorf("%q: valid in a config, refused by the proxy: %v", c.p, perr)
		}
		if c.refused && (cerr == nil || perr == nil) {
			t.Errorf("%q: an IPv6 address with a port, unbracketed: config %v, proxy %v; want both refused", c.p, cerr, perr)
		}
	}
}

// Every domain pattern that config validation accepts, the proxy takes:
// "-bad.com", "xn--.com", "256.1.1.1" or "*.1.2.3" passed the config's
// check (fence config show said nothing) and stopped the start with the
// proxy's error, which names no file or line.
func FuzzDomainPatternsAgree(f *testing.F) {
	for _, p := range []string{
		"-bad.com", "a.-b.com", "xn--.com", "256.1.1.1", "*.1.2.3", "bad_name!.com", "a..b", "ok.example.com",
		"*.example.com", "EXAMPLE.com:8443", "localhost", "LOCALHOST:80", "10.0.0.7", "[::1]:8080", "a.b-.c",
		"x_y.example.com", "1.2.3.4.5", "example.123", "*.x-.com", strings.Repeat("a", 64) + ".com",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		for _, c := range []config.NetworkConfig{{AllowedDomains: []string{p}}, {DeniedDomains: []string{p}}} {
			cerr := (&config.Config{Network: c}).Validate()
			_, perr := proxy.NewRules(c.AllowedDomains, c.DeniedDomains)
			if cerr == nil && perr != nil {
				t.Errorf("%q: valid in a config, refused by the proxy: %v", p, perr)
			}
		}
	})
}

// noSources is Spec.from without sources: nothing is known.
func noSources(string, any) string { return "" }

// Proxy ports that clash say which value came from a default: with only
// httpProxyPort 1080 set, "both 1080" named a socksProxyPort the user never
// wrote.
func TestProxyPortClash(t *testing.T) {
	for _, tc := range []struct {
		http, socks int
		want        string
	}{
		{1080, 0, "network.httpProxyPort and network.socksProxyPort are both 1080 (socksProxyPort's default); use two different ports"},
		{0, 3128, "network.httpProxyPort and network.socksProxyPort are both 3128 (httpProxyPort's default); use two different ports"},
		{9000, 9000, "network.httpProxyPort and network.socksProxyPort are both 9000; use two different ports"},
	} {
		n := config.NetworkConfig{HTTPProxyPort: tc.http, SOCKSProxyPort: tc.socks}
		if _, err := planNetwork(&n, noSources); err == nil || err.Error() != tc.want {
			t.Errorf("ports %d/%d: error %v, want %q", tc.http, tc.socks, err, tc.want)
		}
	}
}

// A loopback host in allowedDomains on a port not forwarded gets a hint
// (-m, -d): NO_PROXY sends clients to the sandbox's own loopback.
func TestLoopbackHints(t *testing.T) {
	n := config.NetworkConfig{
		AllowedDomains:          []string{"127.0.0.1:8765", "LOCALHOST.", "[::1]:9000", "127.0.0.2:*", "localhost:7000", "example.com", "10.0.0.1:8765", "[::ffff:127.0.0.1]:81"},
		AllowLocalOutboundPorts: []int{9000, 7000},
	}
	got := loopbackHints(&n, &netPlan{localPorts: n.AllowLocalOutboundPorts})
	want := []string{
		`"127.0.0.1:8765"` + ", but clients skip the proxies for localhost, 127.0.0.1 and ::1 (NO_PROXY) and reach the sandbox's own loopback; to reach the host's port 8765, add 8765 to network.allowLocalOutboundPorts",
		`"LOCALHOST."` + ", but clients skip the proxies for localhost, 127.0.0.1 and ::1 (NO_PROXY) and reach the sandbox's own loopback; to reach the host's ports 80 and 443, add 80 and 443 to network.allowLocalOutboundPorts",
		`"127.0.0.2:*"` + ", but clients skip the proxies for localhost, 127.0.0.1 and ::1 (NO_PROXY) and reach the sandbox's own loopback; to reach a port of the host's, list it in network.allowLocalOutboundPorts",
		`"[::ffff:127.0.0.1]:81"` + ", but clients skip the proxies for localhost, 127.0.0.1 and ::1 (NO_PROXY) and reach the sandbox's own loopback; to reach the host's port 81, add 81 to network.allowLocalOutboundPorts",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d hints, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != "[fence] allowedDomains has "+want[i] {
			t.Errorf("hint %d:\n got %s\nwant [fence] allowedDomains has %s", i, got[i], want[i])
		}
	}
	// With 80 forwarded, only 443 is left to name.
	one := config.NetworkConfig{AllowedDomains: []string{"localhost"}}
	if h := loopbackHints(&one, &netPlan{localPorts: []int{80}}); len(h) != 1 || !strings.HasSuffix(h[0], "; to reach the host's port 443, add 443 to network.allowLocalOutboundPorts") {
		t.Errorf("localhost with port 80 forwarded: got %q, want one hint naming 443 alone", h)
	}
	// The host's network (allowedDomains "*"): no namespace, no hint.
	if h := loopbackHints(&n, &netPlan{hostNet: true}); len(h) != 0 {
		t.Errorf("host network: want no hints, got %q", h)
	}
}

// The proxies' variables, with NODE_USE_ENV_PROXY=1 for Node's own fetch,
// unless the environment already says what Node should do.
func TestSetProxyEnv(t *testing.T) {
	env := setProxyEnv([]string{"HTTP_PROXY=http://corp:8080", "PATH=/bin"}, 3128, 1080, "")
	want := map[string]bool{"HTTP_PROXY=http://127.0.0.1:3128": true, "NODE_USE_ENV_PROXY=1": true, "PATH=/bin": true}
	for _, kv := range env {
		delete(want, kv)
		if kv == "HTTP_PROXY=http://corp:8080" {
			t.Errorf("the host's HTTP_PROXY kept: %q", env)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing %v in %q", want, env)
	}
	env = setProxyEnv([]string{"NODE_USE_ENV_PROXY=0"}, 3128, 1080, "")
	if n := strings.Count(strings.Join(env, "\n"), "NODE_USE_ENV_PROXY="); n != 1 || !slices.Contains(env, "NODE_USE_ENV_PROXY=0") {
		t.Errorf("the user's NODE_USE_ENV_PROXY=0 not kept alone: %q", env)
	}
}

// allowLocalOutbound without ports reaches nothing on Linux: -m and -d say
// so, naming where it was set; with ports, or on the host network, nothing.
func TestLocalOutboundHint(t *testing.T) {
	on := true
	from := func(field string, _ any) string { return "/etc/x.json:" + field }
	n := config.NetworkConfig{AllowLocalOutbound: &on}
	want := "[fence] network.allowLocalOutbound (from /etc/x.json:network.allowLocalOutbound) reaches none of the host's ports on Linux: list the ones the command should reach in network.allowLocalOutboundPorts"
	if got := localOutboundHint(&n, &netPlan{}, from); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	b := config.NetworkConfig{AllowLocalBinding: true}
	if got := localOutboundHint(&b, &netPlan{}, from); !strings.HasPrefix(got, "[fence] network.allowLocalOutbound, unset and so on as network.allowLocalBinding (from /etc/x.json:network.allowLocalBinding) is, reaches none") {
		t.Errorf("allowLocalBinding alone: %q", got)
	}
	for _, c := range []struct {
		n  config.NetworkConfig
		np netPlan
	}{
		{n, netPlan{localPorts: []int{5432}}},
		{n, netPlan{hostNet: true}},
		{config.NetworkConfig{}, netPlan{}},
	} {
		if got := localOutboundHint(&c.n, &c.np, from); got != "" {
			t.Errorf("%+v, %+v: want no hint, got %q", c.n, c.np, got)
		}
	}
}

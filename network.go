package fence

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/netns"
	"github.com/nsfence/fence/proxy"
)

// Default proxy ports inside the sandbox. The network namespace is private,
// so fixed ports cannot clash with anything on the host.
const (
	defaultHTTPPort  = 3128
	defaultSOCKSPort = 1080
)

// netPlan is the network part of a plan: what the supervisor serves.
type netPlan struct {
	rules      *proxy.Rules
	hosts      map[string][]netip.Addr
	httpPort   int
	socksPort  int
	localPorts []int // allowLocalOutbound(Ports): sandbox 127.0.0.1:P → host 127.0.0.1:P
	credential string
	hostNet    bool
}

// listeners returns the addresses the init stage must listen on inside the
// sandbox, in the order serve expects them.
func (n *netPlan) listeners() []string {
	if n.hostNet {
		return nil
	}
	out := []string{addr(n.httpPort), addr(n.socksPort)}
	for _, p := range n.localPorts {
		out = append(out, addr(p))
	}
	return out
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// planNetwork validates the network section and decides ports. from
// names the files a field's value came from (Spec.from), "" if unknown.
func planNetwork(n *config.NetworkConfig, from func(field string, value any) string) (*netPlan, error) {
	rules, err := proxy.NewRules(n.AllowedDomains, n.DeniedDomains)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	np := &netPlan{rules: rules, hosts: n.HostsMap(), httpPort: defaultHTTPPort, socksPort: defaultSOCKSPort, hostNet: n.AllowsAllDomains()}
	if n.HTTPProxyPort != 0 {
		np.httpPort = n.HTTPProxyPort
	}
	if n.SOCKSProxyPort != 0 {
		np.socksPort = n.SOCKSProxyPort
	}
	if np.httpPort == np.socksPort {
		// Which value is a default, and where the others come from.
		var which []string
		for _, f := range []struct {
			name string
			set  bool
		}{{"httpProxyPort", n.HTTPProxyPort != 0}, {"socksProxyPort", n.SOCKSProxyPort != 0}} {
			if !f.set {
				which = append(which, f.name+"'s default")
			} else if src := from("network."+f.name, np.httpPort); src != "" {
				which = append(which, f.name+" from "+src)
			}
		}
		paren := ""
		if len(which) > 0 {
			paren = " (" + strings.Join(which, "; ") + ")"
		}
		return nil, fmt.Errorf("network.httpProxyPort and network.socksProxyPort are both %d%s; use two different ports", np.httpPort, paren)
	}
	if n.LocalOutbound() || len(n.AllowLocalOutboundPorts) > 0 {
		np.localPorts = append(np.localPorts, n.AllowLocalOutboundPorts...)
	}
	for _, p := range np.localPorts {
		if p == np.httpPort || p == np.socksPort {
			field, set := "httpProxyPort", n.HTTPProxyPort != 0
			if p == np.socksPort {
				field, set = "socksProxyPort", n.SOCKSProxyPort != 0
			}
			proxy := field + "'s default"
			if set {
				proxy = "network." + field + fromSuffix(from("network."+field, p))
			}
			return nil, fmt.Errorf("network.allowLocalOutboundPorts has %d%s, which is a proxy port inside the sandbox (%s); move the proxy with httpProxyPort/socksProxyPort", p, fromParen(from("network.allowLocalOutboundPorts", p)), proxy)
		}
	}
	if np.hostNet {
		if np.credential, err = newCredential(); err != nil {
			return nil, err
		}
	}
	return np, nil
}

// loopbackHints returns a line for each allowedDomains pattern that names
// a loopback host (localhost, 127.0.0.0/8, ::1) on ports the sandbox does
// not forward: the command's NO_PROXY exempts those hosts, so most clients
// go to the sandbox's own loopback, where nothing listens, and get
// "connection refused" with nothing in fence's log. -m and -d print them.
func loopbackHints(n *config.NetworkConfig, np *netPlan) []string {
	if np.hostNet {
		return nil
	}
	var out []string
	for _, p := range n.AllowedDomains {
		host, port := p, ""
		if rest, ok := strings.CutPrefix(p, "["); ok {
			h, after, ok := strings.Cut(rest, "]")
			if !ok {
				continue
			}
			host, port = h, strings.TrimPrefix(after, ":")
		} else if h, pt, ok := strings.Cut(p, ":"); ok && !strings.Contains(pt, ":") {
			host, port = h, pt
		}
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if a, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !a.Unmap().IsLoopback()) {
			continue
		}
		ports := []int{80, 443}
		switch port {
		case "":
		case "*":
			ports = nil
		default:
			n, err := strconv.Atoi(port)
			if err != nil {
				continue
			}
			ports = []int{n}
		}
		// Every port the pattern covers that is not forwarded: named
		// one at a time, a user who added 80 was told about 443 next.
		var missing []string
		for _, pt := range ports {
			if !slices.Contains(np.localPorts, pt) {
				missing = append(missing, strconv.Itoa(pt))
			}
		}
		if ports != nil && len(missing) == 0 {
			continue
		}
		reach := "to reach a port of the host's, list it in network.allowLocalOutboundPorts"
		if m := strings.Join(missing, " and "); m != "" {
			reach = "to reach the host's port " + m + ", add " + m + " to network.allowLocalOutboundPorts"
			if len(missing) > 1 {
				reach = "to reach the host's ports " + m + ", add " + m + " to network.allowLocalOutboundPorts"
			}
		}
		out = append(out, fmt.Sprintf("[fence] allowedDomains has %q, but clients skip the proxies for localhost, 127.0.0.1 and ::1 (NO_PROXY) and reach the sandbox's own loopback; %s", p, reach))
	}
	return out
}

// localOutboundHint returns the line -m and -d print when allowLocalOutbound
// is on with no allowLocalOutboundPorts (as the code and local-dev-server
// templates have it): on Linux it reaches none of the host's ports, each
// of which needs a listener in the sandbox before the command starts, and
// a connection to one was refused with nothing said.
func localOutboundHint(n *config.NetworkConfig, np *netPlan, from func(field string, value any) string) string {
	if np.hostNet || !n.LocalOutbound() || len(np.localPorts) > 0 {
		return ""
	}
	what := "network.allowLocalOutbound" + fromParen(from("network.allowLocalOutbound", true))
	if n.AllowLocalOutbound == nil {
		what = "network.allowLocalOutbound, unset and so on as network.allowLocalBinding" + fromParen(from("network.allowLocalBinding", true)) + " is,"
	}
	return "[fence] " + what + " reaches none of the host's ports on Linux: list the ones the command should reach in network.allowLocalOutboundPorts"
}

// fromSuffix is ", from SRC" for SRC (Spec.from), or "".
func fromSuffix(src string) string {
	if src == "" {
		return ""
	}
	return ", from " + src
}

// fromParen is " (from SRC)" for SRC (Spec.from), or "".
func fromParen(src string) string {
	if src == "" {
		return ""
	}
	return " (from " + src + ")"
}

// newCredential returns a per-run proxy credential (user:password). Proxies
// that listen on the host's loopback (relaxed mode, macOS) can be reached by
// every local user; the credential keeps them from being an open proxy.
func newCredential() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate proxy credential: %w", err)
	}
	return "fence:" + hex.EncodeToString(b), nil
}

// proxyEnv returns the proxy variables for the command, given the ports the
// proxies listen on (inside the sandbox, or on the host in relaxed mode).
func proxyEnv(httpPort, socksPort int, credential string) []string {
	user := ""
	if credential != "" {
		user = credential + "@"
	}
	h := "http://" + user + addr(httpPort)
	so := "socks5h://" + user + addr(socksPort)
	noProxy := "localhost,127.0.0.1,::1"
	return []string{
		"HTTP_PROXY=" + h, "HTTPS_PROXY=" + h, "http_proxy=" + h, "https_proxy=" + h,
		"ALL_PROXY=" + so, "all_proxy=" + so,
		"NO_PROXY=" + noProxy, "no_proxy=" + noProxy,
	}
}

// setProxyEnv returns env with the proxies' variables (proxyEnv), and
// NODE_USE_ENV_PROXY=1 unless env sets it: without it Node's built-in
// fetch (and, from Node 24, its http and https modules) ignores
// HTTP_PROXY and tries to connect directly, which nothing in the sandbox's
// network namespace answers; older Nodes ignore the variable.
func setProxyEnv(env []string, httpPort, socksPort int, credential string) []string {
	env = setEnv(env, proxyEnv(httpPort, socksPort, credential)...)
	if !hasEnv(env, "NODE_USE_ENV_PROXY") {
		env = append(env, "NODE_USE_ENV_PROXY=1")
	}
	return env
}

// setEnv replaces or adds the given KEY=VALUE entries.
func setEnv(env []string, kvs ...string) []string {
	keys := map[string]bool{}
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, kvs...)
}

// network is the running network side of a sandbox.
type network struct {
	srv *proxy.Server
	mu  sync.Mutex
	lns []net.Listener
	// outSlots and inSlots bound the connections the forwards carry at
	// once, as proxy.Options.MaxClients bounds the proxies': outSlots
	// those of allowLocalOutboundPorts (the sandbox's to the host),
	// inSlots those of -p (the host's into the sandbox). Each holds two
	// of the supervisor's descriptors (four more while splicing), and
	// without a bound the sandbox could open connections to a forwarded
	// port until fence ran out of descriptors, and its proxies, its guard
	// and the other forwards with it. Connections beyond it wait
	// unserved (one accepted per forward, the rest in the listen backlog)
	// until one ends. One bound per direction: with one for both, the
	// host's side (any local user can connect to a -p port) could hold
	// every slot and stop the command's connections to the host's ports,
	// and the command's the other way round.
	outSlots, inSlots chan struct{}
	// logf, set with -m and -d, gets a line for each forward connection
	// whose other end could not be reached, as fails allows.
	logf  func(string)
	fails logLimiter
}

// newNetwork makes the proxies and the forwards' bound for np, both sized
// to the descriptors fence may hold (connLimits).
func (s *Spec) newNetwork(np *netPlan) *network {
	var lim syscall.Rlimit
	nofile := uint64(1 << 20)
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		nofile = uint64(lim.Cur)
	}
	clients, forwards := connLimits(nofile)
	lines := s.lineWriter()
	logf := lines
	if !s.Debug && !s.Monitor {
		logf = nil
	}
	return &network{
		srv:      s.newProxy(np, clients, logf, lines),
		outSlots: make(chan struct{}, forwards),
		inSlots:  make(chan struct{}, forwards),
		logf:     logf,
	}
}

// lineWriter returns where the proxies and the forwards write their lines
// (whole lines, one at a time): with -m or -d every event, else only the
// proxy's own failures.
func (s *Spec) lineWriter() func(string) {
	w := s.Log
	if w == nil {
		w = os.Stderr
	}
	var mu sync.Mutex
	return func(line string) {
		mu.Lock()
		fmt.Fprintln(w, line)
		mu.Unlock()
	}
}

func (s *Spec) newProxy(np *netPlan, maxClients int, logf, errorf func(string)) *proxy.Server {
	return proxy.New(proxy.Options{
		Rules: np.rules, Log: logf, Errors: errorf, Debug: s.Debug, Monitor: s.Monitor, MaxClients: maxClients,
		// A name the user maps to an address explicitly may reach it,
		// loopback included; no other name may (TrustHosts).
		Hosts: np.hosts, TrustHosts: true, Credential: np.credential,
		Admit:   admitOn(np.hostNet),
		IsLocal: localRoute,
	})
}

// admitOn returns the proxies' Admit: on the host's loopback (relaxed
// mode) only connections from fence's own user are served at all;
// another user's are closed before they take one of the run's slots.
// Where the owner cannot be found (no sock_diag: another platform, a
// kernel without inet_diag, a client already gone), the per-run
// credential alone keeps other users out, as before.
func admitOn(hostNet bool) func(net.Conn) error {
	if !hostNet {
		return nil // the sandbox's own network namespace: no one else's
	}
	me := uint32(os.Geteuid())
	return func(c net.Conn) error {
		l, lok := c.LocalAddr().(*net.TCPAddr)
		r, rok := c.RemoteAddr().(*net.TCPAddr)
		if !lok || !rok || l.IP.To4() == nil || r.IP.To4() == nil {
			return nil
		}
		// The client's socket: its local address is the accepted
		// connection's remote one.
		uid, err := netns.TCPOwner([4]byte(r.IP.To4()), uint16(r.Port), [4]byte(l.IP.To4()), uint16(l.Port))
		if err != nil || uid == me {
			return nil
		}
		return fmt.Errorf("the client belongs to uid %d, not to fence's user (uid %d)", uid, me)
	}
}

// serveOnHost starts the proxies on the host's 127.0.0.1 (never 0.0.0.0),
// on ports the kernel picks, and returns those ports. np must carry a
// credential.
func (n *network) serveOnHost(np *netPlan) (httpPort, socksPort int, err error) {
	if np.credential == "" {
		return 0, 0, errors.New("start proxies on 127.0.0.1: no credential (fence bug)")
	}
	var hl, sl net.Listener
	if hl, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
		if sl, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			hl.Close()
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("start proxies on 127.0.0.1: %w", err)
	}
	n.mu.Lock()
	n.lns = append(n.lns, hl, sl)
	n.mu.Unlock()
	go func() { _ = n.srv.ServeHTTP(hl) }()
	go func() { _ = n.srv.ServeSOCKS(sl) }()
	return hl.Addr().(*net.TCPAddr).Port, sl.Addr().(*net.TCPAddr).Port, nil
}

// serve starts serving on the listeners (as returned by listeners()).
func (n *network) serve(np *netPlan, files []*os.File) error {
	var lns []net.Listener
	for _, f := range files {
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("use sandbox listener: %w", err)
		}
		lns = append(lns, ln)
	}
	if len(lns) < 2 {
		return fmt.Errorf("sandbox returned %d listeners, want at least 2", len(lns))
	}
	n.mu.Lock()
	n.lns = append(n.lns, lns...)
	n.mu.Unlock()
	go func() { _ = n.srv.ServeHTTP(lns[0]) }()
	go func() { _ = n.srv.ServeSOCKS(lns[1]) }()
	for i, p := range np.localPorts {
		go n.forward(lns[2+i], n.outSlots, "host "+addr(p), func() (net.Conn, error) { return net.DialTimeout("tcp", addr(p), forwardDialTimeout) })
	}
	return nil
}

func (n *network) close() {
	n.mu.Lock()
	for _, l := range n.lns {
		l.Close()
	}
	n.mu.Unlock()
	if n.srv != nil {
		n.srv.Close()
	}
}

// fdCost is what a connection that a proxy or a forward carries costs the
// supervisor in descriptors: the two sockets and, while the runtime splices
// them, a pipe (two descriptors) each way.
const fdCost = 6

// connLimits returns the proxies' MaxClients and each direction's bound
// on the forwards' connections for a supervisor that may hold nofile
// descriptors: together they may take three quarters of what is left
// after a reserve of 1024 for everything else (the guard's opens, the
// command's pipes), each no more than proxy.DefaultMaxClients. With a fixed 4096, 4000 CONNECT tunnels held
// 20000 descriptors, all a 20000 limit allows: every later request, open
// and accept in fence failed.
func connLimits(nofile uint64) (proxies, forwards int) {
	avail := nofile / 2
	if nofile > 2048 {
		avail = nofile - 1024
	}
	per := avail / fdCost
	proxies = int(min(uint64(proxy.DefaultMaxClients), max(64, per/2)))
	forwards = int(min(uint64(proxy.DefaultMaxClients), max(16, per/8)))
	return proxies, forwards
}

// forwardDialTimeout bounds a forward's connect, as the proxies' dials are
// bounded: a host service whose backlog is full drops the SYN, and the
// kernel would retry for two minutes.
const forwardDialTimeout = 10 * time.Second

// forward accepts on ln and splices each connection to one from dial, until
// ln is closed. Out of descriptors or memory (the sandbox can open
// connections until the supervisor runs out), it waits and accepts again,
// as the proxies do: returning would leave the port dead for the rest of
// the run, its connections queued and never answered. At most cap(slots)
// connections are carried at once over all forwards given slots
// (n.outSlots or n.inSlots). dest names the other end in the log line of
// a connection dial fails for.
func (n *network) forward(ln net.Listener, slots chan struct{}, dest string, dial func() (net.Conn, error)) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if !retryAccept(err) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			defer c.Close()
			u, err := dial()
			if err != nil {
				// Logged before the connection closes: its client
				// sees the end after the line is out.
				n.logFailedConnect(dest, err)
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(u, c)
			go pipe(c, u)
			<-done
			<-done
		}()
	}
}

// logFailedConnect writes the -m line for a forward connection whose
// other end (dest) could not be reached, in the proxies' style:
//
//	[fence:forward] 21:11:11 ! host 127.0.0.1:5432 ERROR (dial tcp 127.0.0.1:5432: connect: connection refused)
//
// A client that retries in a loop would write a line per attempt: the
// lines are rate-limited (logLimiter), and the next one written after
// some were left out says how many.
func (n *network) logFailedConnect(dest string, err error) {
	if n.logf == nil {
		return
	}
	ok, dropped := n.fails.allow()
	if !ok {
		return
	}
	line := fmt.Sprintf("[fence:forward] %s ! %s ERROR (%v)", time.Now().Format(time.TimeOnly), dest, err)
	if dropped > 0 {
		line += fmt.Sprintf(" (%d more failed connections not logged)", dropped)
	}
	n.logf(line)
}

// A logLimiter lets logBurst lines through at once, then one per
// logInterval.
const (
	logBurst    = 5
	logInterval = time.Second
)

// logLimiter is a token bucket for log lines. The zero value is ready to
// use; now is time.Now unless a test sets it.
type logLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	tokens  int
	last    time.Time // when tokens were last counted
	dropped int       // lines refused since the last one allowed
}

// allow reports whether a line may be written now and, if so, how many
// were refused before it.
func (l *logLimiter) allow() (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	if l.last.IsZero() {
		l.tokens, l.last = logBurst, now
	} else if k := now.Sub(l.last) / logInterval; k > 0 {
		l.tokens = int(min(logBurst, int64(l.tokens)+int64(k)))
		l.last = l.last.Add(k * logInterval)
	}
	if l.tokens == 0 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// retryAccept reports whether an Accept error is a shortage that passes
// (proxy.Server's accept loop waits on the same ones).
func retryAccept(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Timeouts for setting a connection up. None of them limits how long a
// connection or a response may last once it is established: streams (SSE,
// long downloads, tunnels) have no total timeout.
const (
	// handshakeTimeout bounds reading a request head (HTTP, as upstream's
	// ReadHeaderTimeout) or a SOCKS5 handshake.
	handshakeTimeout = 10 * time.Second
	// dialTimeout bounds name resolution and the TCP connect, as upstream.
	dialTimeout = 10 * time.Second
	// idleTimeout closes keep-alive client connections to the HTTP proxy
	// that carry no request.
	idleTimeout = 5 * time.Minute
	// reclaimAge is how long a keep-alive client connection must have
	// waited for its next request before acquire may close it for a new
	// one: a client in the middle of a run of requests sends its next
	// at once, and a close that crosses it fails a request that may not
	// be retried (a POST: net/http reports EOF).
	reclaimAge = time.Second
)

// Options configures a Server. The zero value denies everything and logs
// nothing.
type Options struct {
	// Rules decides every connection. Nil denies everything.
	Rules *Rules

	// Log receives one formatted line per event, in upstream Fence's format,
	// without a trailing newline. Nil means silent. It may be called from
	// several goroutines at once.
	Log func(line string)
	// Debug logs allowed and blocked connections (fence -d).
	Debug bool
	// Monitor logs only blocked connections and errors (fence -m).
	Monitor bool
	// Errors receives the proxy's own failures, which are logged whatever
	// Debug and Monitor say: a panic in a connection's goroutine, with its
	// stack. Nil means os.Stderr.
	Errors func(line string)

	// MaxClients bounds the client connections the proxies serve at once,
	// over both: further ones wait unserved (one accepted per listener,
	// the rest in its backlog) until one ends. 0 means DefaultMaxClients.
	MaxClients int

	// Hosts maps names to addresses, hosts-file style. It is consulted after
	// the rules allowed a name and before DNS; a listed name is never looked
	// up. Keys are matched case-insensitively, without a trailing dot. The
	// address policy (loopback, link-local, metadata) still applies, unless
	// TrustHosts.
	Hosts map[string][]netip.Addr
	// TrustHosts exempts each name in Hosts, and that name alone, from the
	// address policy: the user mapped it to its addresses. Another name
	// that DNS resolves to the same address is still refused (a wildcard
	// domain an attacker controls, rebound to a loopback service).
	TrustHosts bool
	// AllowAddrs lists addresses the proxy may connect to even though they
	// are loopback, link-local, unspecified or cloud-metadata addresses.
	AllowAddrs []netip.Prefix
	// IsLocal, if set, reports whether the host delivers connections to
	// an address to itself (on Linux: the kernel's route for it is of
	// type local). It is asked for each address that the address policy
	// would otherwise let through: a local route (AnyIP: "ip route add
	// local 10.1.0.0/24 dev lo", as cloud guest agents add for forwarded
	// and alias ranges) makes addresses the host's own that no interface
	// lists, and they reach every service listening on 0.0.0.0 or [::]
	// as the interfaces' own addresses do. An error refuses the address.
	IsLocal func(netip.Addr) (bool, error)

	// Admit, if set, is asked about each client connection the proxies
	// accept, before it takes a slot (MaxClients): an error closes it
	// unserved, logged as blocked with the error. For proxies that other
	// users can reach (relaxed mode, the host's 127.0.0.1): their
	// connections, refused only at the credential check, held slots
	// until then and could keep the run's own clients waiting.
	Admit func(net.Conn) error

	// Credential, if non-empty, is required from every client, as the
	// userinfo "user:password" of the proxy URL (without a colon it is the
	// user name, with an empty password): HTTP clients send it in
	// Proxy-Authorization (Basic), SOCKS5 clients with username/password
	// authentication (RFC 1929). Use it whenever the proxies listen where
	// other users can reach them (relaxed mode, host 127.0.0.1).
	Credential string

	// Resolver resolves allowed names that are not in Hosts. Nil means
	// net.DefaultResolver.
	Resolver *net.Resolver
}

// Server serves the HTTP and SOCKS5 proxies for one policy. Serve any number
// of listeners of either kind, from separate goroutines; Close stops them
// all. A Server is safe for concurrent use.
type Server struct {
	rules   atomic.Pointer[Rules] // swapped whole by SetRules; readers never lock
	log     func(string)
	errors  func(string)
	admit   func(net.Conn) error
	debug   bool
	monitor bool
	hosts   map[string][]netip.Addr
	// trustHosts: Options.TrustHosts.
	trustHosts bool
	allow      []netip.Prefix
	credUser   string
	credPass   string
	hasCred    bool
	resolver   *net.Resolver
	dialer     net.Dialer
	// ownAddrs lists the host's own addresses, which the address policy
	// refuses as it refuses loopback; ownAddrs (dial.go) unless a test
	// sets another.
	ownAddrs func() ([]netip.Addr, error)
	// isLocal: Options.IsLocal.
	isLocal func(netip.Addr) (bool, error)

	roots *x509.CertPool // roots for https origins; nil means the host's
	idle  idlePool       // upstream connections between requests
	heads headBudget     // large heads being read, requests and responses (wire.go)
	// handshake is handshakeTimeout, and reclaimAge reclaimAge, unless
	// a test shortens them.
	handshake  time.Duration
	reclaimAge time.Duration
	// slots holds a token per client connection being served (MaxClients):
	// each costs the supervisor ~30 KiB, and the sandbox can open as many
	// as fence may have descriptors.
	slots chan struct{}
	full  atomic.Bool // logged that slots ran out, until a quarter free (release)
	// acquiring is held by the acquire in progress: the HTTP and SOCKS
	// proxies take slots one at a time, so that the slot an idle
	// connection's close frees (reclaimIdle) goes to the acquire that
	// closed it, not to the other proxy's, which would leave it waiting
	// for a slot alone while another connection sits idle.
	acquiring sync.Mutex

	// done is cancelled by Close; it ends dials and lookups in flight.
	done   context.Context
	cancel context.CancelFunc

	// mu guards the fields below it.
	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[io.Closer]struct{} // client and upstream connections
	// idleClients are the HTTP client connections waiting for their next
	// request on keep-alive, with when they began to: acquire closes
	// the longest waiting one when no slot is free (reclaimIdle).
	idleClients map[net.Conn]time.Time
	// idleReady wakes an acquire waiting for a slot when a connection
	// begins to wait idle.
	idleReady chan struct{}
}

// DefaultMaxClients is Options.MaxClients's default: far more than a
// package manager or a browser opens at once, ~120 MiB of the supervisor's
// memory when all are held.
const DefaultMaxClients = 4096

// New returns a Server for o. It starts nothing; call ServeHTTP and
// ServeSOCKS.
func New(o Options) *Server {
	s := &Server{
		log:         o.Log,
		errors:      o.Errors,
		admit:       o.Admit,
		debug:       o.Debug,
		monitor:     o.Monitor,
		allow:       append([]netip.Prefix(nil), o.AllowAddrs...),
		trustHosts:  o.TrustHosts,
		resolver:    o.Resolver,
		dialer:      net.Dialer{Timeout: dialTimeout},
		handshake:   handshakeTimeout,
		reclaimAge:  reclaimAge,
		ownAddrs:    ownAddrs,
		isLocal:     o.IsLocal,
		listeners:   make(map[net.Listener]struct{}),
		conns:       make(map[io.Closer]struct{}),
		idleClients: make(map[net.Conn]time.Time),
		idleReady:   make(chan struct{}, 1),
	}
	n := o.MaxClients
	if n <= 0 {
		n = DefaultMaxClients
	}
	s.slots = make(chan struct{}, n)
	s.rules.Store(o.Rules)
	s.done, s.cancel = context.WithCancel(context.Background())
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	if len(o.Hosts) > 0 {
		s.hosts = make(map[string][]netip.Addr, len(o.Hosts))
		for name, addrs := range o.Hosts {
			name = strings.TrimSuffix(strings.ToLower(name), ".")
			list := s.hosts[name] // an empty list still stops the DNS lookup
			for _, a := range addrs {
				list = append(list, a.Unmap())
			}
			s.hosts[name] = list
		}
	}
	if o.Credential != "" {
		s.hasCred = true
		s.credUser, s.credPass, _ = strings.Cut(o.Credential, ":")
	}
	return s
}

// Rules returns the policy in force.
func (s *Server) Rules() *Rules { return s.rules.Load() }

// SetRules replaces the policy. Connections already established keep going;
// every new connection and request is decided by r.
func (s *Server) SetRules(r *Rules) {
	s.rules.Store(r)
	// Every request is decided anew anyway; pooled upstream connections,
	// which the old rules allowed, are closed rather than left idle.
	s.idle.closeAll()
}

// ServeHTTP serves the HTTP proxy on ln until ln is closed or Close is
// called, and then returns nil. It closes ln when it returns.
func (s *Server) ServeHTTP(ln net.Listener) error {
	return s.serve(ln, "http", s.serveHTTPConn)
}

// ServeSOCKS serves the SOCKS5 proxy on ln until ln is closed or Close is
// called, and then returns nil. It closes ln when it returns.
func (s *Server) ServeSOCKS(ln net.Listener) error {
	return s.serve(ln, "socks", s.serveSOCKSConn)
}

// serve accepts connections on ln and serves each with handle on its own
// goroutine.
func (s *Server) serve(ln net.Listener, kind string, handle func(net.Conn)) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosed() {
				return nil
			}
			if !retryAccept(err) {
				return fmt.Errorf("serve %s proxy on %s: %w", kind, ln.Addr(), err)
			}
			// Out of file descriptors or memory: back off instead of
			// spinning or giving up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if s.admit != nil {
			if err := s.admit(c); err != nil {
				if s.logs(blocked) {
					s.log(fmt.Sprintf("[fence:proxy] %s %s %s proxy: connection from %s refused: %v", time.Now().Format(time.TimeOnly), marks[blocked], kind, c.RemoteAddr(), err))
				}
				c.Close()
				continue
			}
		}
		// A slot for c: with none free, c waits here unserved and further
		// connections wait in the listen backlog, instead of growing the
		// supervisor. Taken after Accept, so that a listener with nothing
		// to accept holds no slot that the other proxy's clients wait for.
		if !s.acquire() {
			c.Close()
			return nil
		}
		go func() {
			defer s.release()
			defer s.survive(c)
			handle(c)
		}()
	}
}

// errInternal is what a connection's goroutine that panicked (survive)
// leaves for the others to find.
var errInternal = errors.New("proxy internal error")

// closerFunc is an io.Closer that calls the function (survive's list).
type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// survive ends a panic in one of a connection's goroutines: it closes the
// connections given (whatever waits on them then ends) and reports the
// panic with its stack, instead of letting it end fence, and the sandbox
// with it, over one connection. Deferred directly by each goroutine that
// runs the proxy's code, so that its recover sees the panic.
func (s *Server) survive(conns ...io.Closer) {
	v := recover()
	if v == nil {
		return
	}
	for _, c := range conns {
		c.Close()
	}
	line := fmt.Sprintf("[fence:proxy] %s internal error, connection closed (a fence bug; please report it): %v\n%s", time.Now().Format(time.TimeOnly), v, debug.Stack())
	if s.errors != nil {
		s.errors(line)
		return
	}
	fmt.Fprintln(os.Stderr, line)
}

// acquire takes a client slot (Options.MaxClients), waiting for one to
// free; it reports false when Close ends the wait.
func (s *Server) acquire() bool {
	s.acquiring.Lock()
	defer s.acquiring.Unlock()
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	for {
		closed, wait := s.reclaimIdle()
		if closed {
			// Its goroutine ends and frees its slot: wait for that
			// alone, closing no other.
			select {
			case s.slots <- struct{}{}:
				return true
			case <-s.done.Done():
				return false
			}
		}
		if !s.full.Swap(true) && s.logs(failed) {
			s.log(fmt.Sprintf("[fence:proxy] %s %s %d client connections open; new ones take an idle keep-alive connection's place, or wait for one to end", time.Now().Format(time.TimeOnly), marks[failed], cap(s.slots)))
		}
		// A slot, or a connection that begins to wait for its next
		// request (served its first while this one waited), or one
		// that has now waited reclaimAge: reclaimed on the next round.
		var aged <-chan time.Time
		var t *time.Timer
		if wait > 0 {
			t = time.NewTimer(wait)
			aged = t.C
		}
		got, ok := false, true
		select {
		case s.slots <- struct{}{}:
			got = true
		case <-s.idleReady:
		case <-aged:
		case <-s.done.Done():
			ok = false
		}
		if t != nil {
			t.Stop()
		}
		if got || !ok {
			return got
		}
	}
}

// reclaimIdle closes the client connection that has waited longest for
// its next request on keep-alive, if it has waited reclaimAge, and
// reports whether there was one; if not, how long until the longest
// waiting one will have (0 when none waits). With
// every slot taken, an idle connection held its slot until idleTimeout (5
// minutes): a client holding more keep-alive connections than there are
// slots, then sending a request on each, hung on the first one over. A
// server may close an idle keep-alive connection at any time; clients
// open another (and retry a request that crossed the close, if
// idempotent), as they do when servers time such connections out.
func (s *Server) reclaimIdle() (bool, time.Duration) {
	s.mu.Lock()
	var oldest net.Conn
	var since time.Time
	for c, t := range s.idleClients {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest == nil {
		s.mu.Unlock()
		return false, 0
	}
	if wait := s.reclaimAge - time.Since(since); wait > 0 {
		s.mu.Unlock()
		return false, wait
	}
	delete(s.idleClients, oldest)
	s.mu.Unlock()
	oldest.Close()
	return true, 0
}

// waitIdle marks c as waiting for its next request (idle) or not, and
// reports, when unmarking, whether c was still marked: false if
// reclaimIdle took it meanwhile, which closed it.
func (s *Server) waitIdle(c net.Conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idle {
		s.idleClients[c] = time.Now()
		select {
		case s.idleReady <- struct{}{}:
		default:
		}
		return true
	}
	_, ok := s.idleClients[c]
	delete(s.idleClients, c)
	return ok
}

// release frees a slot taken by acquire. The shortage is logged again
// once a quarter of the slots are free: while new connections take idle
// ones' places, slots free one at a time.
func (s *Server) release() {
	<-s.slots
	if len(s.slots) <= cap(s.slots)*3/4 {
		s.full.Store(false)
	}
}

func retryAccept(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Close stops every listener and closes every connection the Server holds:
// client connections, tunnels and upstream connections. Serve* return nil.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	s.closed = true
	listeners := s.listeners
	conns := s.conns
	s.listeners = map[net.Listener]struct{}{}
	s.conns = map[io.Closer]struct{}{}
	s.mu.Unlock()

	var errs []error
	for ln := range listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for c := range conns {
		c.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close proxy: %w", err)
	}
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers c so Close can close it. It reports false, having closed
// c, when the Server is already closed.
func (s *Server) track(c io.Closer) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return true
}

func (s *Server) untrack(c io.Closer) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

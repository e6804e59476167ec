package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Connections to origin servers for the HTTP proxy's absolute-URI
// requests. Between requests a connection waits in the Server's idle pool,
// for any client connection to reuse (clients that open a connection per
// request, like urllib and curl, would otherwise pay a TCP, and for https a
// TLS, handshake each time). A pooled connection is reused only for the
// same scheme, host and port, and only under the Rules that allowed it.

const (
	maxIdlePerOrigin = 16  // as upstream's http.Transport
	maxIdle          = 128 // over all origins
	// upstreamIdleTimeout closes pooled connections nobody reused.
	upstreamIdleTimeout = 90 * time.Second
)

// upstream is a connection to an origin server.
type upstream struct {
	key   string // scheme://host:port
	rules *Rules // the policy that allowed it; under another, it is not reused
	c     net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	idle  chan error // while pooled: what ended the watching read
}

func (u *upstream) close() { u.c.Close() }

// idlePool holds upstream connections between requests, newest last.
type idlePool struct {
	mu    sync.Mutex
	conns map[string][]*upstream
	n     int
}

// putIdle pools u, which carries no request, or closes it when the pool is
// full. A goroutine watches it meanwhile: an origin that closes it, sends
// anything unasked, or leaves it idle for upstreamIdleTimeout gets it
// closed and removed, so that a dead connection is noticed before a
// request is written to it.
func (s *Server) putIdle(u *upstream) {
	u.idle = make(chan error, 1)
	// The deadline is set before u can be taken: takeIdle's own, which
	// stops the watch, must come after it.
	_ = u.c.SetReadDeadline(time.Now().Add(upstreamIdleTimeout))
	p := &s.idle
	p.mu.Lock()
	if list := p.conns[u.key]; len(list) < maxIdlePerOrigin && p.n < maxIdle {
		if p.conns == nil {
			p.conns = make(map[string][]*upstream)
		}
		p.conns[u.key] = append(list, u)
		p.n++
		p.mu.Unlock()
		go s.watchIdle(u)
		return
	}
	p.mu.Unlock()
	u.close()
}

func (s *Server) watchIdle(u *upstream) {
	_, err := u.br.Peek(1)
	// Out of the pool before anyone hears of it: once takeIdle has the
	// result, u may be back in the pool for its next idle spell, which
	// this watch must not end.
	if s.idle.remove(u) {
		u.close() // not taken: it died, spoke unasked, or expired
		return
	}
	u.idle <- err
}

// remove takes u out of the pool and reports whether it was there.
func (p *idlePool) remove(u *upstream) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.conns[u.key]
	for i, v := range list {
		if v == u {
			p.set(u.key, append(list[:i], list[i+1:]...))
			p.n--
			return true
		}
	}
	return false
}

// set stores the list for key; an empty list leaves no key behind (a
// client can make up any number of keys).
func (p *idlePool) set(key string, list []*upstream) {
	if len(list) == 0 {
		delete(p.conns, key)
		return
	}
	p.conns[key] = list
}

// closeAll closes every pooled connection (their watches then end).
func (p *idlePool) closeAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns, p.n = nil, 0
	p.mu.Unlock()
	// Closing a TLS connection writes close_notify, which may wait: not
	// on the caller's time.
	go func() {
		for _, list := range conns {
			for _, u := range list {
				u.close()
			}
		}
	}()
}

// takeIdle returns a pooled connection to key that rules allowed and that
// is still usable, or nil.
func (s *Server) takeIdle(key string, rules *Rules) *upstream {
	p := &s.idle
	for {
		p.mu.Lock()
		list := p.conns[key]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		u := list[len(list)-1]
		p.set(key, list[:len(list)-1])
		p.n--
		p.mu.Unlock()
		// Stop the watch: usable only if the watching read was
		// interrupted with nothing read.
		_ = u.c.SetReadDeadline(time.Unix(1, 0))
		err := <-u.idle
		_ = u.c.SetReadDeadline(time.Time{})
		u.idle = nil
		if errors.Is(err, os.ErrDeadlineExceeded) && u.br.Buffered() == 0 && u.rules == rules {
			return u
		}
		u.close()
	}
}

// upstreamFor returns a connection to key for the request in hand: a
// pooled one if there is one, else a new one dialled (with TLS for https).
// reused reports a pooled connection.
func (cc *clientConn) upstreamFor(key string, useTLS bool, host string, port int) (*upstream, bool, error) {
	s := cc.s
	rules := s.Rules()
	if u := s.takeIdle(key, rules); u != nil {
		cc.up = u
		return u, true, nil
	}
	// Decided again here, so that the dialler alone enforces the policy.
	c, err := s.dial(s.done, host, port, rules.Decide(host, port))
	if err != nil {
		return nil, false, err
	}
	if useTLS {
		tc := tls.Client(c, s.tlsConfig(host))
		ctx, cancel := context.WithTimeout(s.done, dialTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, false, fmt.Errorf("tls handshake with %s: %w", net.JoinHostPort(host, strconv.Itoa(port)), err)
		}
		c = tc
	}
	cc.up = &upstream{key: key, rules: rules, c: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}
	return cc.up, false, nil
}

// tlsConfig is the client configuration for an https origin: the host's
// roots (or Server.roots, in tests) and HTTP/1.1 only.
func (s *Server) tlsConfig(host string) *tls.Config {
	return &tls.Config{ServerName: host, RootCAs: s.roots, NextProtos: []string{"http/1.1"}}
}

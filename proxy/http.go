package proxy

import (
	"bufio"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// blockedBody is upstream's 403 body, byte for byte.
const blockedBody = "Connection blocked by network allowlist\n"

// How the HTTP proxy works. It is an HTTP/1.1 server of its own (wire.go
// has the message syntax), not net/http: net/http's share of the binary
// cost every fence command about 1.8 ms of start-up, twice over, since the
// init stage is this same binary (docs/benchmarking.md, "The HTTP proxy
// without net/http"). Each client connection is served by one goroutine,
// request after request:
//
//   - CONNECT (serveConnect): the target is decided once, dialled through
//     Server.dial with that decision, and relayed with half-close,
//     starting with any tunnel bytes the client sent with the request.
//   - Absolute-URI requests for http and https (serveForward): decided,
//     stripped of hop-by-hop fields, re-framed and sent on a connection
//     from Server.dial (with TLS for https; axios sends https requests
//     this way). A 100 Continue the client asked for is passed on, the
//     response is streamed back with a flush after every read, and a 101
//     answer to an Upgrade request turns the exchange into a relay.
//   - Anything else is not a proxy request and gets 400.
//
// Upstream connections wait between requests in the Server's idle pool
// (upstream.go).

// clientConn is one client connection to the HTTP proxy.
type clientConn struct {
	s  *Server
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	up *upstream // the connection the request in hand uses, or nil
}

func (s *Server) serveHTTPConn(c net.Conn) {
	if !s.track(c) {
		return
	}
	cc := &clientConn{s: s, c: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}
	defer func() {
		cc.dropUpstream()
		s.untrack(c)
		c.Close()
	}()
	for first := true; ; first = false {
		// A keep-alive connection may wait idleTimeout for its next
		// request, unless its slot is wanted (reclaimIdle); once the
		// request has begun, its head must arrive within
		// handshakeTimeout. Not the wait for the first request: a client
		// sends it as soon as it has connected.
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		if !cc.nextRequest(!first) {
			return
		}
		if first && cc.socksClient() {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(s.handshake))
		start := time.Now()
		req, err := readRequestHeadIn(cc.br, &s.heads)
		var se *statusError
		if errors.As(err, &se) {
			// Logged in -m too: a client that gets 400 for its own
			// framing would otherwise look like a silent proxy.
			cc.s.logHTTPReason(failed, "-", se.status, "-", "-", start, errors.New(se.msg))
			cc.answer(nil, se.status, "fence proxy: "+se.msg+"\n")
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Begun, never finished: said, as the other refusals are.
			err := fmt.Errorf("request head not complete within %v", s.handshake)
			cc.s.logHTTPReason(failed, "-", 408, "-", "-", start, err)
			_ = c.SetWriteDeadline(time.Now().Add(s.handshake))
			cc.answer(nil, 408, "fence proxy: "+err.Error()+"\n")
			return
		}
		if err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		if !cc.serve(req) {
			return
		}
	}
}

// nextRequest waits for the first byte of the connection's next request
// and reports whether it came. Blank lines before it are skipped (RFC 9112
// §2.2: some clients send one after a POST body): read as the start of a
// request, one that nothing followed got a 408 after the handshake
// timeout, an answer the client may take for its next request's. While
// it waits with nothing buffered (a pipelined request is not waited for),
// a connection with keepAlive set is idle: reclaimIdle may close it.
func (cc *clientConn) nextRequest(keepAlive bool) bool {
	for {
		idle := keepAlive && cc.br.Buffered() == 0
		if idle {
			cc.s.waitIdle(cc.c, true)
		}
		b, err := cc.br.Peek(1)
		if idle && !cc.s.waitIdle(cc.c, false) || err != nil {
			return false
		}
		if b[0] != '\r' && b[0] != '\n' {
			return true
		}
		_, _ = cc.br.Discard(1)
	}
}

// socksClient answers a SOCKS client that was given the HTTP proxy's port
// (curl -x socks5h://127.0.0.1:3128) as a SOCKS proxy refuses it, at once,
// and reports whether it did: it waited for an HTTP head that never came,
// and got a 408 after the handshake timeout. No HTTP request starts with
// byte 4 or 5.
func (cc *clientConn) socksClient() bool {
	b, err := cc.br.Peek(1)
	if err != nil || b[0] != 4 && b[0] != socksVersion {
		return false
	}
	reply := []byte{socksVersion, methodNoAcceptable} // no method will do
	if b[0] == 4 {
		reply = []byte{0, 91, 0, 0, 0, 0, 0, 0} // request rejected
	}
	_ = cc.c.SetWriteDeadline(time.Now().Add(cc.s.handshake))
	_, _ = cc.c.Write(reply)
	cc.s.logHTTPReason(failed, "-", 400, "-", "-", time.Now(), fmt.Errorf("a SOCKS%d client on the HTTP proxy's port: give it the SOCKS5 proxy (ALL_PROXY, socks5h://)", b[0]))
	lingerAfterReply(cc.c, cc.br)
	return true
}

// dropUpstream closes the connection the request in hand used.
func (cc *clientConn) dropUpstream() {
	if cc.up != nil {
		cc.up.close()
		cc.up = nil
	}
}

// serve answers one request and reports whether the connection may carry
// another.
func (cc *clientConn) serve(req *request) bool {
	s := cc.s
	start := time.Now()
	if !s.authorized(req.header) {
		s.logHTTP(blocked, req.method, 407, targetHost(req), requestURL(req), start)
		return cc.answer(req, 407, "Proxy authentication required\n", field{"Proxy-Authenticate", `Basic realm="fence"`})
	}
	if req.method == "CONNECT" {
		cc.serveConnect(req, start)
		return false
	}
	if !strings.Contains(req.target, "://") {
		// A server's request (GET /path), sent to the proxy's port.
		s.logHTTPReason(failed, req.method, 400, req.header.get("Host"), req.target, start, errors.New("not a proxy request"))
		return cc.answer(req, 400, "fence proxy: not a proxy request\n")
	}
	return cc.serveForward(req, start)
}

// requestURL is the URL a request is logged with.
func requestURL(req *request) string {
	if req.method == "CONNECT" {
		return "https://" + req.target
	}
	return withoutUserinfo(req.target)
}

// withoutUserinfo is an absolute URI without the credentials it may carry
// before its host ("http://user:pw@host/" gives "http://host/"): they are
// neither logged nor forwarded.
func withoutUserinfo(target string) string {
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok {
		return target
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	if i := strings.LastIndexByte(rest[:end], '@'); i >= 0 {
		return scheme + "://" + rest[i+1:]
	}
	return target
}

// targetHost is the host a request is logged with, best effort.
func targetHost(req *request) string {
	if req.method == "CONNECT" {
		if h, _, err := splitTarget(req.target, 0); err == nil {
			return h
		}
		return req.target
	}
	if t, err := parseAbsolute(req.target); err == nil {
		if h, _, err := splitTarget(t.authority, 80); err == nil {
			return h
		}
	}
	return ""
}

// authorized reports whether h carries the Server's credential, if it has
// one, as Proxy-Authorization: Basic.
func (s *Server) authorized(h header) bool {
	if !s.hasCred {
		return true
	}
	scheme, payload, ok := strings.Cut(h.get("Proxy-Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(dec), ":")
	return ok && s.checkCredential(user, pass)
}

func (s *Server) checkCredential(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.credUser))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.credPass))
	return u&p == 1
}

// splitTarget splits "host:port" or "host" (then port is def); IPv6 hosts
// come back without brackets. With def 0 the port is required: a CONNECT
// target is authority-form, host:port (RFC 9110 §9.3.6), and one without
// a port is malformed, not a request for 443.
func splitTarget(hostport string, def int) (string, int, error) {
	host, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: "example.com" or "[::1]".
		host, ps = hostport, ""
		if inner, ok := strings.CutPrefix(host, "["); ok {
			host, ok = strings.CutSuffix(inner, "]")
			if !ok {
				return "", 0, fmt.Errorf("parse target %q: %w", hostport, err)
			}
		}
		if strings.ContainsAny(host, "[]") || strings.Count(host, ":") == 1 {
			return "", 0, fmt.Errorf("parse target %q: %w", hostport, err)
		}
	}
	if host == "" {
		return "", 0, fmt.Errorf("parse target %q: empty host", hostport)
	}
	if strings.HasPrefix(hostport, "[") || strings.Contains(host, ":") {
		// Brackets, and colons in a host, mean an IPv6 address, nothing
		// else ("[example.com]", "a:b:c").
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return "", 0, fmt.Errorf("parse target %q: not an IPv6 address in brackets", hostport)
		}
	}
	if ps == "" {
		if def == 0 {
			return "", 0, fmt.Errorf("parse target %q: no port; CONNECT needs host:port", hostport)
		}
		return host, def, nil
	}
	port, ok := parsePort(ps)
	if !ok {
		return "", 0, fmt.Errorf("parse target %q: bad port %q (want 1-65535, plain decimal)", hostport, ps)
	}
	return host, port, nil
}

// parsePort reads a request target's port: 1-65535 in plain decimal.
// strconv.Atoi would also take "+443" and "0443": a sign is not part of a
// port, and a leading zero is octal to some parsers (strtol with base 0),
// so the proxy and whatever reads the target after it could disagree on
// which port was asked for. Both are refused rather than guessed.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= 65535
}

// absTarget is an absolute-form request target, split.
type absTarget struct {
	scheme    string // lower case
	authority string // host[:port], as sent
	path      string // origin-form: path and query, as sent; "" for none
}

// parseAbsolute splits "scheme://authority/path?query".
func parseAbsolute(target string) (absTarget, error) {
	// Credentials in the URL are dropped, as net/http's transport did;
	// the host is what follows the last "@" before the path.
	target = withoutUserinfo(target)
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || !validToken(scheme) {
		return absTarget{}, fmt.Errorf("parse request target %q: not an absolute URI", clip(target))
	}
	t := absTarget{scheme: strings.ToLower(scheme), authority: rest}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		t.authority, t.path = rest[:i], rest[i:]
	}
	if strings.Contains(t.path, "#") {
		return absTarget{}, fmt.Errorf("parse request target %q: a fragment is not part of a request", clip(target))
	}
	return t, nil
}

// originForm is the request target sent to the origin server.
func (t absTarget) originForm(method string) string {
	switch {
	case t.path == "" && method == "OPTIONS":
		return "*"
	case t.path == "":
		return "/"
	case t.path[0] == '?':
		return "/" + t.path
	}
	return t.path
}

// upgradeType returns the protocol a request asks to switch to, or "".
func upgradeType(h header) string {
	if !h.hasToken("Connection", "upgrade") {
		return ""
	}
	return h.get("Upgrade")
}

// serveConnect answers a CONNECT request. The target is decided once, and
// Server.dial enforces that same decision; once the upstream connection is
// up, the client connection is relayed to it, starting with any tunnel
// bytes the client sent along with the request. The client connection
// ends with the tunnel, or after a refusal: bytes the client sent for the
// tunnel must not be read as a request.
func (cc *clientConn) serveConnect(req *request, start time.Time) {
	s := cc.s
	target := req.target // the authority-form request target
	url := "https://" + target
	host, port, err := splitTarget(target, 0)
	if err != nil {
		s.logHTTPReason(failed, "CONNECT", 400, target, url, start, err)
		cc.refuse(400, "fence proxy: "+err.Error()+"\n")
		return
	}
	url = "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	d := s.Rules().Decide(host, port)
	if !d.Allow {
		s.logHTTPReason(blocked, "CONNECT", 403, host, url, start, errors.New(d.reason()))
		cc.refuse(403, blockedBody)
		return
	}
	up, err := s.dial(s.done, host, port, d)
	if err != nil {
		o, status, body := upstreamRefusal(err)
		s.logHTTPReason(o, "CONNECT", status, host, url, start, err)
		cc.refuse(status, body)
		return
	}
	s.logHTTP(allowed, "CONNECT", 200, host, url, start)
	if _, err := io.WriteString(cc.c, connectEstablished); err != nil {
		up.Close()
		return
	}
	s.tunnel(cc.c, buffered(cc.br, cc.c), up, host, port, func(why error) {
		s.logHTTPReason(blocked, "CONNECT", 403, host, url, start, why)
	})
}

// connectEstablished is the whole answer to an accepted CONNECT.
const connectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n"

// upstreamRefusal is the outcome, status and body for a request whose
// upstream could not be reached: 403 when the address policy refused the
// resolved address, 502 for any other failure.
func upstreamRefusal(err error) (outcome, int, string) {
	if isBlocked(err) {
		return blocked, 403, blockedBody
	}
	return failed, 502, "fence proxy: " + err.Error() + "\n"
}

// serveForward proxies an absolute-URI request and reports whether the
// client connection may carry another request.
func (cc *clientConn) serveForward(req *request, start time.Time) bool {
	s := cc.s
	url := withoutUserinfo(req.target)
	fail := func(o outcome, status int, host, body string, err error) bool {
		s.logHTTPReason(o, req.method, status, host, url, start, err)
		return cc.answer(req, status, body)
	}
	t, err := parseAbsolute(req.target)
	if err != nil {
		return fail(failed, 400, "", "fence proxy: "+err.Error()+"\n", err)
	}
	def := 80
	switch t.scheme {
	case "http":
	case "https":
		def = 443
	default:
		host, _, _ := splitTarget(t.authority, 80)
		return fail(failed, 400, host, "fence proxy: unsupported scheme "+strconv.Quote(t.scheme)+"\n", errors.New("unsupported scheme "+strconv.Quote(t.scheme)))
	}
	host, port, err := splitTarget(t.authority, def)
	if err != nil {
		return fail(failed, 400, "", "fence proxy: "+err.Error()+"\n", err)
	}
	if d := s.Rules().Decide(host, port); !d.Allow {
		return fail(blocked, 403, host, blockedBody, errors.New(d.reason()))
	}
	bodyF, err := requestFraming(req)
	if err != nil {
		var se *statusError
		errors.As(err, &se)
		s.logHTTPReason(failed, req.method, se.status, host, url, start, err)
		cc.answer(nil, se.status, "fence proxy: "+se.msg+"\n")
		return false
	}
	upgrade := ""
	if !bodyF.hasContent() {
		upgrade = upgradeType(req.header)
	}
	if upgrade != "" && t.scheme != "http" {
		return fail(failed, 400, host, "fence proxy: upgrade over "+t.scheme+" is not supported; use CONNECT\n", nil)
	}

	// The pool key ignores case and a trailing dot, as the rules and DNS do.
	key := t.scheme + "://" + net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), strconv.Itoa(port))
	var (
		resp *response
		x    *exchange
	)
	// failSent answers once the request has gone upstream and no response
	// came: 400 if the client's body was at fault, else 502.
	failSent := func(err error) bool {
		status, what := 502, "read response"
		x.waitBody(bodyGrace)
		if rerr := x.requestFailed(); rerr != nil {
			status, what, err = 400, "read request body", rerr
		} else if cerr := x.clientLeft(err); cerr != nil {
			// No 502 was sent, nor due: the client hung up (curl -m,
			// ^C) and the watch closed the upstream connection. Logged
			// as nginx does ("client closed request").
			s.logHTTPReason(failed, req.method, 499, host, url, start, fmt.Errorf("the client closed its connection before the response: %w", cerr))
			cc.dropUpstream()
			return false
		}
		s.logHTTPReason(failed, req.method, status, host, url, start, err)
		body := "fence proxy: " + what + ": " + err.Error() + "\n"
		if !x.bodySent() {
			cc.writeText(req, status, body, false)
			cc.lingerClose(x)
			return false
		}
		cc.dropUpstream()
		if !cc.stopWatch(x) {
			return false
		}
		return cc.answer(req, status, body)
	}
	for attempt := 0; ; attempt++ {
		up, reused, err := cc.upstreamFor(key, t.scheme == "https", host, port)
		if err != nil {
			o, status, body := upstreamRefusal(err)
			return fail(o, status, host, body, err)
		}
		writeRequestHead(up.bw, req, t, bodyF, upgrade)
		// The head goes out now unless a fixed-length body's bytes came
		// with it: then the body copy sends both in one write. (Without
		// them the client may be waiting for a 100 Continue; and buffered
		// chunked bytes may end mid-chunk, where the copy would wait for
		// more before sending anything.) Content-Length: 0 has no body
		// to copy: bytes buffered behind it are the next request's (or
		// a blank line), and the head waited for nothing.
		if bodyF.kind != fixedBody || !bodyF.hasContent() || cc.br.Buffered() == 0 {
			if err := up.bw.Flush(); err != nil {
				cc.dropUpstream()
				if reused && attempt == 0 {
					continue // nothing of the request was consumed yet
				}
				return fail(failed, 502, host, "fence proxy: send request: "+err.Error()+"\n", err)
			}
		}
		x = cc.startExchange(up, bodyF)
		resp, err = cc.finalResponse(req, up)
		if err == nil {
			break
		}
		// A kept connection the server closed just as the request went
		// out: a request that may be replayed is sent again, once, as
		// net/http's transport does.
		if reused && attempt == 0 && !bodyF.hasContent() && replayable(req) && errors.Is(err, errNoResponse) {
			cc.dropUpstream()
			if !cc.stopWatch(x) {
				return false
			}
			continue
		}
		return failSent(err)
	}
	up := cc.up

	if resp.status == 101 {
		chosen := resp.header.get("Upgrade")
		if upgrade == "" || !req.header.hasToken("Upgrade", chosen) {
			return failSent(fmt.Errorf("server switched to %q, client asked for %q", chosen, upgrade))
		}
		cc.up = nil
		if !cc.stopWatch(x) {
			up.close()
			return false
		}
		s.logHTTP(allowed, req.method, 101, host, url, start)
		cc.bw.WriteString("HTTP/1.1 101 " + resp.reason + "\r\n")
		resp.header.endToEnd().write(cc.bw)
		cc.bw.WriteString("Connection: Upgrade\r\nUpgrade: " + chosen + "\r\n\r\n")
		if err := cc.bw.Flush(); err != nil {
			up.close()
			return false
		}
		s.relay(cc.c, buffered(cc.br, cc.c), up.c, buffered(up.br, up.c))
		return false
	}

	respF, err := responseFraming(resp, req.method)
	if err != nil {
		return failSent(err)
	}
	s.logHTTP(allowed, req.method, resp.status, host, url, start)
	// A server may answer before it has read the whole request body (an
	// early 413 or 401): the answer then ends the connection. The body
	// copy may simply not have reported yet: it gets a moment.
	early := !x.waitBody(bodyGrace)
	// The upstream connection goes back to the pool as soon as its
	// response has been read, before the client sees the end of it: a
	// client that opens its next connection at once finds it there.
	upKeep := !early && upgrade == "" && resp.minor == 1 && respF.kind != closeBody &&
		!resp.header.hasToken("Connection", "close")
	release := func() {
		if !upKeep {
			return
		}
		if u := x.up.Swap(nil); u != nil {
			cc.up = nil
			s.putIdle(u)
		}
	}
	keep := cc.writeResponse(req, resp, respF, up, early, release)
	if early {
		cc.lingerClose(x)
		return false
	}
	if !cc.stopWatch(x) {
		keep = false
	}
	cc.dropUpstream() // unless released to the pool
	return keep
}

// replayable reports whether a request without a body may be sent twice
// (RFC 9110 §9.2.2; net/http's rule).
func replayable(req *request) bool {
	switch req.method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return req.header.has("Idempotency-Key") || req.header.has("X-Idempotency-Key")
}

// exchange is the client's side of a request in flight. One goroutine
// copies the request body upstream, if there is one, and then watches the
// client connection until the response has been sent: a client that
// breaks off its body, closes or resets the connection ends the upstream
// connection too, so that neither the origin nor the proxy waits for a
// client that has gone (net/http cancels the request then).
type exchange struct {
	// up is the upstream connection until the response is complete;
	// whoever takes it first (a watch that gives up, or the release to
	// the pool) decides its fate.
	up         atomic.Pointer[upstream]
	bodyDone   chan struct{} // closed once the body is copied, or failed
	bodyErr    error
	requestErr error         // the client's body could not be read: cut short or malformed
	done       chan struct{} // closed when the goroutine ends
	clientErr  error         // what ended the watch, if not stopWatch
}

func (cc *clientConn) startExchange(up *upstream, f framing) *exchange {
	x := &exchange{bodyDone: make(chan struct{}), done: make(chan struct{})}
	x.up.Store(up)
	if !f.hasContent() {
		close(x.bodyDone) // nothing to send: not a moment of doubt
	}
	go func() {
		defer close(x.done)
		copied := !f.hasContent() // bodyDone is closed already
		defer func() {
			// After a panic (survive): the exchange failed on both sides,
			// and nothing may wait for the copy.
			if !copied {
				x.bodyErr, x.clientErr = errInternal, errInternal
				close(x.bodyDone)
			}
		}()
		// The upstream connection only while it is still this
		// exchange's (abort): once handed back to the idle pool it may
		// be another client's.
		defer cc.s.survive(cc.c, closerFunc(x.abort))
		if f.hasContent() {
			body := newBodyReader(cc.br, f)
			body.budget = &cc.s.heads
			x.bodyErr = copyBody(up.bw, body, f.kind != fixedBody, nil)
			if body.err != nil && body.err != io.EOF {
				x.requestErr = body.err
			}
			copied = true
			close(x.bodyDone)
			if x.requestErr != nil {
				// The client broke off or garbled its request: the
				// origin must not wait for the rest. (A failed write
				// upstream leaves the connection, which may carry an
				// answer.)
				x.abort()
			}
		}
		if x.bodyErr != nil {
			x.clientErr = x.bodyErr
			return
		}
		// Pipelined bytes do not end the watch: it reads on, into the
		// buffer only, until the buffer is full.
		for n := 1; n <= cc.br.Size(); n = cc.br.Buffered() + 1 {
			if _, err := cc.br.Peek(n); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) && err != bufio.ErrBufferFull {
					x.clientErr = err
					x.abort()
				}
				return
			}
		}
	}()
	return x
}

// clientLeft returns the error with which the client's side ended, when
// err (reading the response) comes from the watch closing the upstream
// connection on it (abort), and nil otherwise.
func (x *exchange) clientLeft(err error) error {
	if !errors.Is(err, net.ErrClosed) {
		return nil
	}
	// If the watch closed the connection, as its last step, it is
	// ending; otherwise (Close at the end of the run) it may not.
	t := time.NewTimer(bodyGrace)
	defer t.Stop()
	select {
	case <-x.done:
	case <-t.C:
		return nil
	}
	if x.bodyErr != nil || errors.Is(x.clientErr, net.ErrClosed) {
		return nil // the body's copy failed; or Close closed both ends
	}
	return x.clientErr
}

// abort closes the upstream connection, unless it went back to the pool.
func (x *exchange) abort() {
	if u := x.up.Swap(nil); u != nil {
		u.close()
	}
}

// bodyGrace is how long a response waits for the request body's copy to
// finish before it goes out as an early answer.
const bodyGrace = 100 * time.Millisecond

// waitBody is bodySent after waiting up to d for the copy to end.
func (x *exchange) waitBody(d time.Duration) bool {
	if !x.bodySent() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-x.bodyDone:
		case <-t.C:
		}
	}
	return x.bodySent()
}

// requestFailed returns why the client's body could not be read, once the
// copy is over, or nil.
func (x *exchange) requestFailed() error {
	select {
	case <-x.bodyDone:
		return x.requestErr
	default:
		return nil
	}
}

// bodySent reports whether the whole request body went upstream.
func (x *exchange) bodySent() bool {
	select {
	case <-x.bodyDone:
		return x.bodyErr == nil
	default:
		return false
	}
}

// stopWatch ends the exchange's goroutine, whose body copy must be over,
// and reports whether the client connection is still usable.
func (cc *clientConn) stopWatch(x *exchange) bool {
	_ = cc.c.SetReadDeadline(time.Unix(1, 0))
	<-x.done
	_ = cc.c.SetReadDeadline(time.Time{})
	return x.clientErr == nil
}

// lingerTimeout and lingerBytes bound how long, and how much, the proxy
// keeps reading from a client it is closing while the client may still be
// sending a request body.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 256 << 10
)

// lingerClose ends the client connection after an answer sent while the
// request body may still be arriving. The write side is closed first; the
// body copy goes on for a moment, so that an origin that answered early
// still gets the body, and what the client sends after a failed copy is
// read and dropped, so that a reset does not destroy the answer before the
// client has read it.
func (cc *clientConn) lingerClose(x *exchange) {
	if cw, ok := cc.c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = cc.c.SetReadDeadline(time.Now().Add(lingerTimeout))
	t := time.NewTimer(lingerTimeout)
	select {
	case <-x.bodyDone:
	case <-t.C:
		// The copy is stuck writing to an origin that stopped reading.
		x.abort()
		cc.dropUpstream()
		<-x.bodyDone
	}
	t.Stop()
	if x.bodyErr != nil {
		_, _ = io.CopyN(io.Discard, cc.br, lingerBytes)
	}
	_ = cc.c.SetReadDeadline(time.Unix(1, 0)) // ends the watch
	<-x.done
	cc.dropUpstream()
	cc.c.Close()
}

// errNoResponse wraps the error when a connection ended before any byte of
// a response.
var errNoResponse = errors.New("connection closed before a response")

// writeRequestHead writes the head sent to the origin server: the target
// in origin form, Host from the request target (RFC 9112 §3.2.2), the
// client's end-to-end fields in their order, and the proxy's own framing.
func writeRequestHead(w *bufio.Writer, req *request, t absTarget, f framing, upgrade string) {
	w.WriteString(req.method)
	w.WriteByte(' ')
	w.WriteString(t.originForm(req.method))
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(t.authority)
	w.WriteString("\r\n")
	for _, fl := range req.header.endToEnd() {
		if !strings.EqualFold(fl.name, "Host") {
			w.WriteString(fl.name + ": " + fl.value + "\r\n")
		}
	}
	switch f.kind {
	case fixedBody:
		w.WriteString("Content-Length: " + strconv.FormatInt(f.length, 10) + "\r\n")
	case chunkedBody:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if req.header.hasToken("Te", "trailers") {
		w.WriteString("TE: trailers\r\n") // end-to-end by intent; gRPC needs it
	}
	if upgrade != "" {
		w.WriteString("Connection: Upgrade\r\nUpgrade: " + upgrade + "\r\n")
	}
	w.WriteString("\r\n")
}

// maxInterim bounds the interim (1xx) answers read before a final response.
const maxInterim = 16

// finalResponse reads the response to req from up, passing 100 Continue
// on to a client that asked for it and dropping other interim answers.
func (cc *clientConn) finalResponse(req *request, up *upstream) (*response, error) {
	for i := 0; ; i++ {
		if _, err := up.br.Peek(1); err != nil {
			return nil, fmt.Errorf("%w: %w", errNoResponse, err)
		}
		resp, err := readResponseHeadIn(up.br, &cc.s.heads)
		if err != nil {
			return nil, err
		}
		if resp.status >= 200 || resp.status == 101 {
			return resp, nil
		}
		if i == maxInterim {
			return nil, fmt.Errorf("more than %d interim responses", maxInterim)
		}
		if resp.status != 100 || req.minor == 0 || !req.header.hasToken("Expect", "100-continue") {
			// Only the 100 Continue a client waits for is passed on.
			// Python's http.client (urllib, requests, pip) takes any
			// other 1xx, such as 103 Early Hints, for the final
			// response, as net/http-based proxies never pass them on.
			continue
		}
		cc.bw.WriteString("HTTP/1.1 " + strconv.Itoa(resp.status) + " " + resp.reason + "\r\n")
		resp.header.endToEnd().write(cc.bw)
		cc.bw.WriteString("\r\n")
		if err := cc.bw.Flush(); err != nil {
			return nil, err
		}
	}
}

// writeResponse sends resp and its body to the client: end-to-end fields,
// the proxy's own framing, then the body as it arrives, flushed after
// every read. A body that cannot be copied to its end aborts the client
// connection, so that a truncated body never looks complete. It reports
// whether the client connection may carry another request. early marks an
// answer that came before the whole request body was sent: it ends the
// client connection. release runs when the upstream's part is complete.
func (cc *clientConn) writeResponse(req *request, resp *response, f framing, up *upstream, early bool, release func()) (keep bool) {
	w := cc.bw
	keep = !early && !req.header.hasToken("Connection", "close") &&
		(req.minor == 1 || req.header.hasToken("Connection", "keep-alive"))
	chunkedOut := false

	w.WriteString("HTTP/1.1 " + strconv.Itoa(resp.status) + " " + resp.reason + "\r\n")
	resp.header.endToEnd().write(w)
	switch {
	case f.kind == fixedBody:
		w.WriteString("Content-Length: " + strconv.FormatInt(f.length, 10) + "\r\n")
	case f.kind == noBody:
		// A HEAD or 304 response's Content-Length describes the
		// resource: passed on as the server sent it.
		if n, err := contentLength(resp.header); err == nil && n >= 0 && resp.status >= 200 && resp.status != 204 {
			w.WriteString("Content-Length: " + strconv.FormatInt(n, 10) + "\r\n")
		}
	case req.minor == 1:
		// Chunked even when the connection ends after it: a body cut
		// short upstream then never looks complete.
		chunkedOut = true
		w.WriteString("Transfer-Encoding: chunked\r\n")
		if f.kind == chunkedBody {
			var names []string
			resp.header.tokens("Trailer", func(tok string) bool {
				names = append(names, tok)
				return true
			})
			if len(names) > 0 {
				w.WriteString("Trailer: " + strings.Join(names, ", ") + "\r\n")
			}
		}
	default:
		keep = false // an HTTP/1.0 client reads to the connection's end
	}
	switch {
	case !keep:
		w.WriteString("Connection: close\r\n")
	case req.minor == 0:
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")

	body := newBodyReader(up.br, f)
	body.budget, body.busy = &cc.s.heads, errBusyResponse // for the trailer
	if err := copyBody(w, body, chunkedOut, release); err != nil {
		cc.c.Close()
		return false
	}
	return keep
}

// copyBufPool holds the buffers copyBody copies with, so that a body
// costs no 32 KiB allocation.
var copyBufPool = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// copyBody copies body to w, as chunks when chunked, flushing after every
// read so that a stream (SSE, NDJSON, long polls, chunked downloads, an
// upload) moves as it arrives. Nothing bounds how long it may take. The
// error is the first from reading body or writing w; when chunked, the
// last chunk (with body's trailer) is written only after a complete body.
// onEnd, if set, runs once body is complete, before its last bytes are
// written.
func copyBody(w *bufio.Writer, body *bodyReader, chunked bool, onEnd func()) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		// The body has ended when the reader says so, or has already
		// noted its end along with the last bytes.
		end := rerr == io.EOF || rerr == nil && body.err == io.EOF
		if end && onEnd != nil {
			onEnd() // before the reader of w can see the end
		}
		if n > 0 {
			if chunked {
				writeChunk(w, buf[:n])
			} else {
				w.Write(buf[:n])
			}
		}
		if end {
			if chunked {
				writeLastChunk(w, body.trailer)
			}
			return w.Flush()
		}
		if rerr != nil {
			return rerr
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// answer writes the proxy's own text/plain answer to req (nil when the
// request could not be read) and reports whether the connection may carry
// another request: not after a request whose body was not read.
func (cc *clientConn) answer(req *request, status int, body string, extra ...field) bool {
	keep := req != nil && req.minor == 1 && req.method != "CONNECT" && !req.header.hasToken("Connection", "close")
	if keep {
		if f, err := requestFraming(req); err != nil || f.hasContent() {
			keep = false
		}
	}
	cc.writeText(req, status, body, keep, extra...)
	return keep
}

// refuse answers a CONNECT that gets no tunnel; the connection ends.
func (cc *clientConn) refuse(status int, body string) {
	cc.writeText(nil, status, body, false)
}

// writeText writes the proxy's own answer; to a HEAD request without the
// body its Content-Length announces.
func (cc *clientConn) writeText(req *request, status int, body string, keep bool, extra ...field) {
	w := cc.bw
	w.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + statusText(status) + "\r\n")
	header(extra).write(w)
	w.WriteString("Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n")
	w.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	if !keep {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if req == nil || req.method != "HEAD" {
		w.WriteString(body)
	}
	_ = w.Flush()
}

// statusText is the reason phrase of the statuses the proxy answers with.
func statusText(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 407:
		return "Proxy Authentication Required"
	case 408:
		return "Request Timeout"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

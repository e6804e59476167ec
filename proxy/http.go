package proxy

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
)

// blockedBody is upstream's 403 body, byte for byte (http.Error adds the
// newline).
const blockedBody = "Connection blocked by network allowlist\n"

// How goproxy is used. goproxy owns CONNECT tunnelling (its accept path
// replays bytes the client sent early and half-closes TCP in both
// directions) and plain absolute-URI forwarding (header copy, trailers, SSE
// flushing). Everything that decides or dials is ours:
//
//   - httpHandler checks the credential and takes Upgrade requests itself
//     (goproxy only relays websocket upgrades, strips Connection for the
//     others, and leaves the client connection open when the server hangs
//     up);
//   - onConnect decides CONNECT targets and installs a per-request dialer
//     that carries the decision to Server.dial;
//   - onRequest decides absolute-URI requests and strips hop-by-hop headers;
//     goproxy then sends them through s.transport, whose only dialer is
//     Server.dial and which has no proxy, no redirect following and no
//     total timeout;
//   - onResponse strips hop-by-hop response headers and turns transport
//     errors into 403 or 502.
//
// goproxy's own Tr (TLS verification off, HTTP_PROXY from the environment)
// and ConnectDial (HTTPS_PROXY from the environment) are replaced in
// newGoproxy and never used.

// httpHandler is the HTTP proxy's http.Handler. (Server cannot be one: its
// ServeHTTP method serves a listener.)
type httpHandler struct{ s *Server }

var _ http.Handler = httpHandler{}

func (h httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if !s.authorized(r) {
		s.logHTTP(blocked, r.Method, http.StatusProxyAuthRequired, r.URL.Hostname(), requestURL(r), time.Now())
		w.Header().Set("Proxy-Authenticate", `Basic realm="fence"`)
		http.Error(w, "Proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		s.gp.ServeHTTP(w, r)
		return
	}
	if typ := upgradeType(r.Header); typ != "" && r.URL.IsAbs() {
		s.serveUpgrade(w, r, typ)
		return
	}
	// Flush after every write: goproxy flushes only event streams, so a
	// chunked stream (NDJSON, long polls) would otherwise sit in the
	// server's buffer.
	s.gp.ServeHTTP(flushWriter{w}, r)
}

func requestURL(r *http.Request) string {
	if r.Method == http.MethodConnect {
		return "https://" + r.Host
	}
	return r.URL.String()
}

// authorized reports whether r carries the Server's credential, if it has
// one, as Proxy-Authorization: Basic.
func (s *Server) authorized(r *http.Request) bool {
	if !s.hasCred {
		return true
	}
	scheme, payload, ok := strings.Cut(r.Header.Get("Proxy-Authorization"), " ")
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

// reqState follows one proxied request or CONNECT through goproxy's
// handlers (as ProxyCtx.UserData).
type reqState struct {
	start  time.Time
	host   string
	url    string
	logged bool
	// established is set once a CONNECT tunnel is up: from then on a copy
	// error must not be answered with an HTTP response.
	established atomic.Bool
}

// Shared, immutable goproxy actions. Only Action is set: no TLS config, so
// nothing here can MITM.
var (
	acceptConnect = &goproxy.ConnectAction{Action: goproxy.ConnectAccept}
	rejectConnect = &goproxy.ConnectAction{Action: goproxy.ConnectReject}
)

func (s *Server) newGoproxy() *goproxy.ProxyHttpServer {
	gp := goproxy.NewProxyHttpServer()
	gp.Tr = s.transport
	gp.ConnectDial = nil // would honour HTTPS_PROXY; our per-request Dialer is used instead
	gp.ConnectDialWithReq = nil
	gp.Logger = discardLogger{}
	gp.Verbose = false
	gp.KeepAcceptEncoding = true // forward the client's Accept-Encoding untouched
	gp.NonproxyHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "fence proxy: not a proxy request", http.StatusBadRequest)
	})
	gp.ConnectionErrHandler = s.connectError
	gp.OnRequest().HandleConnectFunc(s.onConnect)
	gp.OnRequest().DoFunc(s.onRequest)
	gp.OnResponse().DoFunc(s.onResponse)
	return gp
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func (s *Server) newTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // never the host's HTTP_PROXY
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, port, err := splitTarget(addr, 80)
			if err != nil {
				return nil, err
			}
			// Requests were decided in onRequest; a new upstream
			// connection is decided again so that the dialer alone
			// enforces the policy.
			return s.dial(ctx, host, port, s.Rules().Decide(host, port))
		},
		TLSHandshakeTimeout:   dialTimeout,
		DisableCompression:    true, // pass bodies through as the server sent them
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// No ResponseHeaderTimeout and no Client.Timeout: long polls and
		// streams have no deadline.
	}
}

// splitTarget splits "host:port" or "host" (then port is def); IPv6 hosts
// come back without brackets.
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
	if ps == "" {
		return host, def, nil
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("parse target %q: bad port %q", hostport, ps)
	}
	return host, port, nil
}

// onConnect decides a CONNECT request. Allowed: goproxy accepts it and dials
// through ctx.Dialer, which carries this decision, so the connection is
// decided exactly once. Blocked: goproxy writes ctx.Resp and closes.
func (s *Server) onConnect(target string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	st := &reqState{start: time.Now(), url: "https://" + target}
	ctx.UserData = st
	host, port, err := splitTarget(target, 443)
	if err != nil {
		s.logHTTP(failed, http.MethodConnect, http.StatusBadRequest, target, st.url, st.start)
		ctx.Resp = textResponse(ctx.Req, http.StatusBadRequest, "fence proxy: "+err.Error()+"\n")
		return rejectConnect, target
	}
	st.host = host
	st.url = "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	d := s.Rules().Decide(host, port)
	if !d.Allow {
		s.logHTTP(blocked, http.MethodConnect, http.StatusForbidden, host, st.url, st.start)
		ctx.Resp = textResponse(ctx.Req, http.StatusForbidden, blockedBody)
		return rejectConnect, target
	}
	ctx.Dialer = func(dctx context.Context, _, _ string) (net.Conn, error) {
		c, err := s.dial(dctx, host, port, d)
		switch {
		case err == nil:
			st.established.Store(true)
			s.logHTTP(allowed, http.MethodConnect, http.StatusOK, host, st.url, st.start)
		case isBlocked(err):
			s.logHTTPReason(blocked, http.MethodConnect, http.StatusForbidden, host, st.url, st.start, err)
		default:
			s.logHTTPReason(failed, http.MethodConnect, http.StatusBadGateway, host, st.url, st.start, err)
		}
		return c, err
	}
	return acceptConnect, target
}

// connectError answers a CONNECT whose dial failed: 403 if the address
// policy refused it, 502 with the reason otherwise. goproxy closes w after.
func (s *Server) connectError(w io.Writer, ctx *goproxy.ProxyCtx, err error) {
	if st, ok := ctx.UserData.(*reqState); ok && st.established.Load() {
		return // a copy error inside an established tunnel: nothing to say
	}
	var resp *http.Response
	if isBlocked(err) {
		resp = textResponse(ctx.Req, http.StatusForbidden, blockedBody)
	} else {
		resp = textResponse(ctx.Req, http.StatusBadGateway, "fence proxy: "+err.Error()+"\n")
	}
	resp.Close = true
	_ = resp.Write(w)
}

// onRequest decides an absolute-URI request and strips hop-by-hop headers.
func (s *Server) onRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	st := &reqState{start: time.Now(), url: r.URL.String(), host: r.URL.Hostname()}
	ctx.UserData = st
	def := 80
	switch r.URL.Scheme {
	case "http":
	case "https":
		def = 443
	default:
		st.logged = true
		s.logHTTP(failed, r.Method, http.StatusBadRequest, st.host, st.url, st.start)
		return r, textResponse(r, http.StatusBadRequest, "fence proxy: unsupported scheme "+strconv.Quote(r.URL.Scheme)+"\n")
	}
	host, port, err := splitTarget(r.URL.Host, def)
	if err != nil {
		st.logged = true
		s.logHTTP(failed, r.Method, http.StatusBadRequest, st.host, st.url, st.start)
		return r, textResponse(r, http.StatusBadRequest, "fence proxy: "+err.Error()+"\n")
	}
	if !s.Rules().Decide(host, port).Allow {
		st.logged = true
		s.logHTTP(blocked, r.Method, http.StatusForbidden, host, st.url, st.start)
		return r, textResponse(r, http.StatusForbidden, blockedBody)
	}
	removeHopByHop(r.Header)
	return r, nil
}

// onResponse logs the request, strips hop-by-hop response headers and turns
// a transport error into 403 (address policy) or 502.
func (s *Server) onResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	st, _ := ctx.UserData.(*reqState)
	if st == nil {
		st = &reqState{start: time.Now(), url: ctx.Req.URL.String(), host: ctx.Req.URL.Hostname()}
	}
	if resp == nil {
		err := ctx.Error
		if err == nil {
			err = fmt.Errorf("no response from %s", st.host)
		}
		st.logged = true
		if isBlocked(err) {
			s.logHTTPReason(blocked, ctx.Req.Method, http.StatusForbidden, st.host, st.url, st.start, err)
			return textResponse(ctx.Req, http.StatusForbidden, blockedBody)
		}
		s.logHTTPReason(failed, ctx.Req.Method, http.StatusBadGateway, st.host, st.url, st.start, err)
		return textResponse(ctx.Req, http.StatusBadGateway, "fence proxy: "+err.Error()+"\n")
	}
	if !st.logged {
		st.logged = true
		s.logHTTP(allowed, ctx.Req.Method, resp.StatusCode, st.host, st.url, st.start)
	}
	removeHopByHop(resp.Header)
	return resp
}

// textResponse builds a text/plain response as http.Error would.
func textResponse(r *http.Request, status int, body string) *http.Response {
	return &http.Response{
		Status:     strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":           {"text/plain; charset=utf-8"},
			"X-Content-Type-Options": {"nosniff"},
			"Content-Length":         {strconv.Itoa(len(body))},
		},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// hopHeaders are the hop-by-hop headers of RFC 7230 §6.1 and RFC 7235, plus
// the non-standard Proxy-Connection and Keep-Alive. Headers named in
// Connection are removed as well.
var hopHeaders = [...]string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopByHop deletes hop-by-hop headers from h, keeping "TE: trailers"
// (end-to-end by intent; gRPC needs it).
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if tok = textproto.TrimString(tok); tok != "" {
				h.Del(tok)
			}
		}
	}
	trailers := headerHasToken(h, "Te", "trailers")
	for _, k := range hopHeaders {
		delete(h, k)
	}
	if trailers {
		h["Te"] = []string{"trailers"}
	}
}

// headerHasToken reports whether the comma-separated header key (canonical
// form) contains token, case-insensitively.
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h[key] {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(tok), token) {
				return true
			}
		}
	}
	return false
}

// upgradeType returns the protocol a request asks to switch to, or "".
func upgradeType(h http.Header) string {
	if !headerHasToken(h, "Connection", "upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// flushWriter flushes after every write so that streamed responses reach
// the client as they arrive.
type flushWriter struct{ http.ResponseWriter }

func (w flushWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}

func (w flushWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ReadFrom copies with a pooled buffer: without it io.Copy would allocate
// 32 KiB per response, since the wrapper hides the server's own ReadFrom.
func (w flushWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(writeOnly{w}, r, *bp)
}

// writeOnly hides flushWriter.ReadFrom from io.CopyBuffer.
type writeOnly struct{ io.Writer }

var copyBufPool = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// Unwrap lets http.ResponseController reach the server's writer.
func (w flushWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveUpgrade proxies a plain-HTTP request that asks to switch protocols
// (WebSocket and others): it sends the request with the Upgrade headers
// kept, and on 101 relays bytes both ways with half-close. Any other answer
// is relayed as an ordinary response.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, typ string) {
	start := time.Now()
	url := r.URL.String()
	fail := func(o outcome, status int, host, body string, err error) {
		s.logHTTPReason(o, r.Method, status, host, url, start, err)
		writeText(w, status, body)
	}
	if r.URL.Scheme != "http" {
		fail(failed, http.StatusBadRequest, r.URL.Hostname(), "fence proxy: upgrade over "+r.URL.Scheme+" is not supported; use CONNECT\n", nil)
		return
	}
	host, port, err := splitTarget(r.URL.Host, 80)
	if err != nil {
		fail(failed, http.StatusBadRequest, r.URL.Hostname(), "fence proxy: "+err.Error()+"\n", err)
		return
	}
	d := s.Rules().Decide(host, port)
	if !d.Allow {
		fail(blocked, http.StatusForbidden, host, blockedBody, nil)
		return
	}
	up, err := s.dial(r.Context(), host, port, d)
	if err != nil {
		if isBlocked(err) {
			fail(blocked, http.StatusForbidden, host, blockedBody, err)
		} else {
			fail(failed, http.StatusBadGateway, host, "fence proxy: "+err.Error()+"\n", err)
		}
		return
	}
	upgraded := false
	defer func() {
		if !upgraded {
			up.Close()
		}
	}()

	out := r.Clone(r.Context())
	out.RequestURI = ""
	removeHopByHop(out.Header)
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", typ)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = nil // Request.Write would add Go's
	}
	if err := out.Write(up); err != nil {
		fail(failed, http.StatusBadGateway, host, "fence proxy: send request: "+err.Error()+"\n", err)
		return
	}
	upr := bufio.NewReader(up)
	resp, err := http.ReadResponse(upr, out)
	if err != nil {
		fail(failed, http.StatusBadGateway, host, "fence proxy: read response: "+err.Error()+"\n", err)
		return
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusSwitchingProtocols {
		s.logHTTP(allowed, r.Method, resp.StatusCode, host, url, start)
		removeHopByHop(resp.Header)
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(flushWriter{w}, resp.Body)
		return
	}
	if got := resp.Header.Get("Upgrade"); !strings.EqualFold(got, typ) {
		fail(failed, http.StatusBadGateway, host, fmt.Sprintf("fence proxy: server switched to %q, client asked for %q\n", got, typ), nil)
		return
	}
	client, crw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		fail(failed, http.StatusInternalServerError, host, "fence proxy: "+err.Error()+"\n", err)
		return
	}
	upgraded = true
	if !s.track(client) {
		up.Close()
		return
	}
	removeHopByHop(resp.Header)
	resp.Header.Set("Connection", "Upgrade")
	resp.Header.Set("Upgrade", typ)
	crw.WriteString("HTTP/1.1 " + resp.Status + "\r\n")
	resp.Header.Write(crw)
	crw.WriteString("\r\n")
	if err := crw.Flush(); err != nil {
		s.untrack(client)
		client.Close()
		up.Close()
		return
	}
	s.logHTTP(allowed, r.Method, resp.StatusCode, host, url, start)
	s.relay(client, buffered(crw.Reader, client), up, buffered(upr, up))
	s.untrack(client)
}

// writeText answers with a text/plain body, as http.Error does, but without
// changing the body.
func writeText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

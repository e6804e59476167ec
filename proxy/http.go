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
	"time"
)

// blockedBody is upstream's 403 body, byte for byte (http.Error adds the
// newline).
const blockedBody = "Connection blocked by network allowlist\n"

// How the HTTP proxy works. It is a net/http server whose handler takes
// every request itself; nothing is delegated to a proxy library:
//
//   - CONNECT (serveConnect): the target is decided once, dialled through
//     Server.dial with that decision, and on success the client connection
//     is hijacked and relayed to the upstream connection with half-close,
//     including any tunnel bytes the client sent along with the request.
//   - Upgrade requests to absolute http URIs (serveUpgrade): sent by hand
//     on a connection from Server.dial, and relayed on 101.
//   - Other absolute-URI requests (serveForward): decided, stripped of
//     hop-by-hop headers, and sent through s.transport, whose only dialer
//     is Server.dial and which has no proxy, no redirect following and no
//     total timeout; the response is streamed back with a flush after
//     every write.
//   - Anything else is not a proxy request and gets 400.

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
		s.serveConnect(w, r)
		return
	}
	if !r.URL.IsAbs() {
		writeText(w, http.StatusBadRequest, "fence proxy: not a proxy request\n")
		return
	}
	if typ := upgradeType(r.Header); typ != "" {
		s.serveUpgrade(w, r, typ)
		return
	}
	s.serveForward(w, r)
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

func (s *Server) newTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // never the host's HTTP_PROXY
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, port, err := splitTarget(addr, 80)
			if err != nil {
				return nil, err
			}
			// Requests were decided in serveForward; a new upstream
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

// serveConnect answers a CONNECT request. The target is decided once, and
// Server.dial enforces that same decision; once the upstream connection is
// up, the client connection is hijacked and relayed to it, starting with
// any tunnel bytes the client sent along with the request.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	target := r.URL.Host // the authority-form request target
	url := "https://" + target
	host, port, err := splitTarget(target, 443)
	if err != nil {
		s.logHTTP(failed, http.MethodConnect, http.StatusBadRequest, target, url, start)
		refuseConnect(w, http.StatusBadRequest, "fence proxy: "+err.Error()+"\n")
		return
	}
	url = "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	d := s.Rules().Decide(host, port)
	if !d.Allow {
		s.logHTTP(blocked, http.MethodConnect, http.StatusForbidden, host, url, start)
		refuseConnect(w, http.StatusForbidden, blockedBody)
		return
	}
	// A client may send its first tunnel bytes and half-close before the
	// tunnel is up; net/http then cancels r's context, but the tunnel is
	// still wanted. Dialling is bounded by dialTimeout and Close anyway.
	up, err := s.dial(context.WithoutCancel(r.Context()), host, port, d)
	if err != nil {
		o, status, body := upstreamRefusal(err)
		s.logHTTPReason(o, http.MethodConnect, status, host, url, start, err)
		refuseConnect(w, status, body)
		return
	}
	client, crw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		s.logHTTPReason(failed, http.MethodConnect, http.StatusInternalServerError, host, url, start, err)
		refuseConnect(w, http.StatusInternalServerError, "fence proxy: "+err.Error()+"\n")
		return
	}
	if !s.track(client) {
		up.Close()
		return
	}
	// The server may leave deadlines on a hijacked connection; a tunnel
	// has none.
	_ = client.SetDeadline(time.Time{})
	s.logHTTP(allowed, http.MethodConnect, http.StatusOK, host, url, start)
	if _, err := io.WriteString(client, connectEstablished); err != nil {
		s.untrack(client)
		client.Close()
		up.Close()
		return
	}
	s.relay(client, buffered(crw.Reader, client), up, up)
	s.untrack(client)
}

// upstreamRefusal is the outcome, status and body for a request whose
// upstream could not be reached: 403 when the address policy refused the
// resolved address, 502 for any other failure.
func upstreamRefusal(err error) (outcome, int, string) {
	if isBlocked(err) {
		return blocked, http.StatusForbidden, blockedBody
	}
	return failed, http.StatusBadGateway, "fence proxy: " + err.Error() + "\n"
}

// connectEstablished is the whole answer to an accepted CONNECT.
const connectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n"

// refuseConnect answers a CONNECT that gets no tunnel, and closes the client
// connection after the answer: bytes the client sent for the tunnel must
// not be read as a request.
func refuseConnect(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Connection", "close")
	writeText(w, status, body)
}

// serveForward proxies an absolute-URI request that is not an upgrade: it
// decides the target, sends the request through s.transport without its
// hop-by-hop headers, and streams the response back.
func (s *Server) serveForward(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	url := r.URL.String()
	def := 80
	switch r.URL.Scheme {
	case "http":
	case "https":
		def = 443
	default:
		s.logHTTP(failed, r.Method, http.StatusBadRequest, r.URL.Hostname(), url, start)
		writeText(w, http.StatusBadRequest, "fence proxy: unsupported scheme "+strconv.Quote(r.URL.Scheme)+"\n")
		return
	}
	host, port, err := splitTarget(r.URL.Host, def)
	if err != nil {
		s.logHTTP(failed, r.Method, http.StatusBadRequest, r.URL.Hostname(), url, start)
		writeText(w, http.StatusBadRequest, "fence proxy: "+err.Error()+"\n")
		return
	}
	if !s.Rules().Decide(host, port).Allow {
		s.logHTTP(blocked, r.Method, http.StatusForbidden, host, url, start)
		writeText(w, http.StatusForbidden, blockedBody)
		return
	}

	// A shallow copy whose header is r's, edited in place: net/http reads
	// what it needs from the request header before calling the handler.
	out := r.WithContext(r.Context())
	out.RequestURI = "" // set only on server requests
	out.Close = false   // the client's Connection: close is for this hop
	removeHopByHop(out.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = nil // the transport would add Go's
	}
	resp, err := s.transport.RoundTrip(out)
	if err != nil {
		o, status, body := upstreamRefusal(err)
		s.logHTTPReason(o, r.Method, status, host, url, start, err)
		writeText(w, status, body)
		return
	}
	defer resp.Body.Close()
	s.logHTTP(allowed, r.Method, resp.StatusCode, host, url, start)
	writeResponse(w, resp)
}

// writeResponse sends resp, an upstream response, to the client: headers
// without hop-by-hop ones, the body as it arrives, then trailers. If the
// body cannot be copied to the end, the client connection is aborted, so
// that a truncated body never looks complete.
func writeResponse(w http.ResponseWriter, resp *http.Response) {
	removeHopByHop(resp.Header)
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	if len(resp.Trailer) > 0 {
		// Announce the trailers the server declared (removeHopByHop
		// dropped its Trailer header): net/http then sends them.
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	if err := copyFlush(w, resp.Body); err != nil {
		panic(http.ErrAbortHandler) // net/http closes the connection quietly
	}
	// resp.Trailer is complete once the body has been read to EOF.
	for k, vs := range resp.Trailer {
		h[http.TrailerPrefix+k] = vs
	}
}

// copyBufPool holds the buffers copyFlush copies with, so that a response
// costs no 32 KiB allocation.
var copyBufPool = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// copyFlush copies src to w, flushing after every write so that a stream
// (SSE, NDJSON, long polls, chunked downloads) reaches the client as it
// arrives rather than when the server's buffer fills. Nothing bounds how
// long it may take.
func copyFlush(w http.ResponseWriter, src io.Reader) error {
	f, _ := w.(http.Flusher)
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if f != nil {
				f.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

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
		o, status, body := upstreamRefusal(err)
		fail(o, status, host, body, err)
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
		writeResponse(w, resp)
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

package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SOCKS5 constants (RFC 1928, RFC 1929).
const (
	socksVersion    = 0x05
	userPassVersion = 0x01

	methodNone         = 0x00
	methodUserPass     = 0x02
	methodNoAcceptable = 0xff

	cmdConnect      = 0x01
	cmdBind         = 0x02
	cmdUDPAssociate = 0x03

	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04

	repSucceeded           = 0x00
	repGeneralFailure      = 0x01
	repNotAllowed          = 0x02
	repNetworkUnreachable  = 0x03
	repHostUnreachable     = 0x04
	repConnectionRefused   = 0x05
	repCommandNotSupported = 0x07
	repAddressNotSupported = 0x08
)

// socksRequest is a parsed SOCKS5 request.
type socksRequest struct {
	cmd  byte
	host string // domain name as sent, or an IP address in text form
	port int
}

func (r socksRequest) target() string { return joinHostPort(r.host, r.port) }

func cmdName(cmd byte) string {
	switch cmd {
	case cmdConnect:
		return "CONNECT"
	case cmdBind:
		return "BIND"
	case cmdUDPAssociate:
		return "UDP-ASSOCIATE"
	}
	return "CMD-" + strconv.Itoa(int(cmd))
}

// errSOCKS marks handshake failures caused by the client; the reply, if
// any, has already been written.
var errSOCKS = errors.New("socks5 handshake")

// errSOCKS4 is a SOCKS4 or 4a client's, answered with SOCKS4's reject.
var errSOCKS4 = errors.New("version 4, want 5: fence serves SOCKS5 only, use socks5h://")

// errHTTPOnSOCKS is an HTTP client's on the SOCKS5 port, answered with a
// 400 that says where to go: without it the client saw a reset.
var errHTTPOnSOCKS = errors.New("an HTTP request on the SOCKS5 proxy's port: give the client the HTTP proxy (HTTP_PROXY)")

// httpOnSOCKSAnswer is that 400.
func httpOnSOCKSAnswer() string {
	const body = "fence proxy: this is the SOCKS5 proxy; send HTTP to the HTTP proxy (HTTP_PROXY)\n"
	return fmt.Sprintf("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// lingerAfterReply ends a connection whose request is partly unread, after
// a refusal written to it: a close now would reset the connection, and a
// reset may destroy the reply before the client has read it. The reply is
// followed by the end, and what the client sent is read (a moment, and
// lingerBytes, at most).
func lingerAfterReply(c net.Conn, r io.Reader) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, r, lingerBytes)
}

// errSOCKSCredential marks a client that did not offer or did not pass
// the Server's credential.
var errSOCKSCredential = errors.New("credential")

// serveSOCKSConn serves one SOCKS5 client: handshake, one decision, one
// dial, then bytes.
func (s *Server) serveSOCKSConn(c net.Conn) {
	if !s.track(c) {
		return
	}
	defer func() {
		s.untrack(c)
		c.Close()
	}()

	// The deadline covers the handshake only; the tunnel has none.
	_ = c.SetDeadline(time.Now().Add(s.handshake))
	req, err := s.socksHandshake(c)
	if err != nil {
		switch {
		case req.cmd != 0:
			// A well-formed request for a command we refuse.
			s.logSOCKS(blocked, cmdName(req.cmd), req.target(), "command not supported")
		case errors.Is(err, errSOCKSCredential):
			s.logSOCKS(blocked, "CONNECT", "-", "missing or wrong proxy credential")
		case !errors.Is(err, io.EOF):
			// A connection closed before its first byte is no request;
			// anything else the client sent wrong is logged, in -m too.
			s.logSOCKS(failed, "CONNECT", "-", strings.TrimPrefix(err.Error(), errSOCKS.Error()+": "))
		}
		if errors.Is(err, errSOCKS4) || errors.Is(err, errHTTPOnSOCKS) {
			// The request came with the greeting and is unread.
			lingerAfterReply(c, c)
		}
		return
	}
	target := req.target()
	d := s.Rules().Decide(req.host, req.port)
	if !d.Allow {
		_ = writeReply(c, repNotAllowed)
		s.logSOCKS(blocked, "CONNECT", target, d.reason())
		return
	}
	up, err := s.dial(s.done, req.host, req.port, d)
	if err != nil {
		_ = writeReply(c, replyFor(err))
		if isBlocked(err) {
			s.logSOCKS(blocked, "CONNECT", target, err.Error())
		} else {
			s.logSOCKS(failed, "CONNECT", target, err.Error())
		}
		return
	}
	if err := writeReply(c, repSucceeded); err != nil {
		up.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	s.logSOCKS(allowed, "CONNECT", target, "")
	s.tunnel(c, c, up, req.host, req.port, func(why error) {
		s.logSOCKS(blocked, "CONNECT", target, why.Error())
	})
}

// socksHandshake negotiates the method (no authentication, or
// username/password when the Server has a credential), authenticates, and
// reads one request. It writes every reply except the final one for
// CONNECT. It returns an error wrapping errSOCKS, after replying where the
// protocol has a reply, for anything but a well-formed CONNECT; then the
// returned request is set only if it was well-formed (BIND, UDP ASSOCIATE).
func (s *Server) socksHandshake(rw io.ReadWriter) (socksRequest, error) {
	// 2+255 bytes is the longest field we read at once (methods, user
	// name, password, domain name plus port).
	var arr [2 + 255]byte
	buf := arr[:]

	if _, err := io.ReadFull(rw, buf[:2]); err != nil {
		return socksRequest{}, fmt.Errorf("%w: read greeting: %w", errSOCKS, err)
	}
	if buf[0] == 4 {
		// A SOCKS4 or 4a client (curl -x socks4a://): its "request
		// rejected" reply (VN 0, CD 91) tells it what a reset did not.
		// Its request is not read: nothing of it is served.
		_, _ = rw.Write([]byte{0, 91, 0, 0, 0, 0, 0, 0})
		return socksRequest{}, fmt.Errorf("%w: %w", errSOCKS, errSOCKS4)
	}
	if 'A' <= buf[0] && buf[0] <= 'Z' && 'A' <= buf[1] && buf[1] <= 'Z' {
		// "GET", "CONNECT", "POST": a client given this port for HTTP
		// (curl -x http://127.0.0.1:1080). Its request is not read.
		_, _ = io.WriteString(rw, httpOnSOCKSAnswer())
		return socksRequest{}, fmt.Errorf("%w: %w", errSOCKS, errHTTPOnSOCKS)
	}
	if buf[0] != socksVersion {
		return socksRequest{}, fmt.Errorf("%w: version %d, want 5", errSOCKS, buf[0])
	}
	methods := buf[:buf[1]]
	if _, err := io.ReadFull(rw, methods); err != nil {
		return socksRequest{}, fmt.Errorf("%w: read methods: %w", errSOCKS, err)
	}
	want := byte(methodNone)
	if s.hasCred {
		want = methodUserPass
	}
	offered := false
	for _, m := range methods {
		offered = offered || m == want
	}
	if !offered {
		_, _ = rw.Write([]byte{socksVersion, methodNoAcceptable})
		if s.hasCred {
			return socksRequest{}, fmt.Errorf("%w: client offers no username/password %w", errSOCKS, errSOCKSCredential)
		}
		return socksRequest{}, fmt.Errorf("%w: client offers no acceptable method", errSOCKS)
	}
	if _, err := rw.Write([]byte{socksVersion, want}); err != nil {
		return socksRequest{}, fmt.Errorf("%w: write method: %w", errSOCKS, err)
	}
	if want == methodUserPass {
		if err := s.socksAuth(rw, buf); err != nil {
			return socksRequest{}, err
		}
	}

	req, err := readRequest(rw, buf)
	if err != nil {
		var re *replyError
		if errors.As(err, &re) {
			_ = writeReply(rw, re.code)
		}
		return socksRequest{}, fmt.Errorf("%w: %w", errSOCKS, err)
	}
	if req.cmd != cmdConnect {
		// BIND would open a listener on the host and UDP ASSOCIATE a relay
		// whose datagrams the rules never see: refuse both.
		_ = writeReply(rw, repCommandNotSupported)
		return req, fmt.Errorf("%w: command %s not supported", errSOCKS, cmdName(req.cmd))
	}
	return req, nil
}

// socksAuth runs RFC 1929 username/password authentication.
func (s *Server) socksAuth(rw io.ReadWriter, buf []byte) error {
	if _, err := io.ReadFull(rw, buf[:2]); err != nil {
		return fmt.Errorf("%w: read auth: %w", errSOCKS, err)
	}
	if buf[0] != userPassVersion {
		return fmt.Errorf("%w: auth version %d, want 1", errSOCKS, buf[0])
	}
	user := buf[:int(buf[1])+1] // user name, then PLEN
	if _, err := io.ReadFull(rw, user); err != nil {
		return fmt.Errorf("%w: read user: %w", errSOCKS, err)
	}
	u := string(user[:len(user)-1])
	pass := buf[:user[len(user)-1]]
	if _, err := io.ReadFull(rw, pass); err != nil {
		return fmt.Errorf("%w: read password: %w", errSOCKS, err)
	}
	if !s.checkCredential(u, string(pass)) {
		_, _ = rw.Write([]byte{userPassVersion, 0x01})
		return fmt.Errorf("%w: bad %w", errSOCKS, errSOCKSCredential)
	}
	if _, err := rw.Write([]byte{userPassVersion, 0x00}); err != nil {
		return fmt.Errorf("%w: write auth status: %w", errSOCKS, err)
	}
	return nil
}

// replyError is a request error that has a SOCKS5 reply code.
type replyError struct {
	code byte
	msg  string
}

func (e *replyError) Error() string { return e.msg }

// readRequest reads a SOCKS5 request: VER CMD RSV ATYP DST.ADDR DST.PORT.
// buf must hold at least 257 bytes. Malformed requests with a reply code
// come back as *replyError.
func readRequest(r io.Reader, buf []byte) (socksRequest, error) {
	var req socksRequest
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return req, fmt.Errorf("read request: %w", err)
	}
	if buf[0] != socksVersion {
		return req, &replyError{repGeneralFailure, fmt.Sprintf("request version %d, want 5", buf[0])}
	}
	cmd := buf[1]
	// buf[2] is RSV; RFC 1928 says 0, and nothing depends on it.
	switch atyp := buf[3]; atyp {
	case atypIPv4:
		b := buf[:4+2]
		if _, err := io.ReadFull(r, b); err != nil {
			return req, fmt.Errorf("read IPv4 address: %w", err)
		}
		req.host = netip.AddrFrom4([4]byte(b[:4])).String()
		req.port = int(b[4])<<8 | int(b[5])
	case atypIPv6:
		b := buf[:16+2]
		if _, err := io.ReadFull(r, b); err != nil {
			return req, fmt.Errorf("read IPv6 address: %w", err)
		}
		req.host = netip.AddrFrom16([16]byte(b[:16])).String()
		req.port = int(b[16])<<8 | int(b[17])
	case atypDomain:
		if _, err := io.ReadFull(r, buf[:1]); err != nil {
			return req, fmt.Errorf("read domain length: %w", err)
		}
		b := buf[:int(buf[0])+2]
		if _, err := io.ReadFull(r, b); err != nil {
			return req, fmt.Errorf("read domain: %w", err)
		}
		if len(b) == 2 {
			// A malformed request, as one of another version: general
			// failure. Not 0x04 (host unreachable), which reports a
			// network fault on the way to a host, nor 0x02: no rule
			// was asked, there is no host to ask about.
			return req, &replyError{repGeneralFailure, "empty domain name"}
		}
		req.host = string(b[:len(b)-2])
		req.port = int(b[len(b)-2])<<8 | int(b[len(b)-1])
	default:
		// The address length is unknown, so the request cannot be
		// consumed; reply and close.
		return req, &replyError{repAddressNotSupported, fmt.Sprintf("address type %d not supported", atyp)}
	}
	req.cmd = cmd
	return req, nil
}

// writeReply writes a reply with BND.ADDR 0.0.0.0:0: clients of CONNECT
// don't use it, and the host's own address is none of the sandbox's
// business.
func writeReply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{socksVersion, code, 0x00, atypIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

// replyFor maps a dial error to a SOCKS5 reply code.
func replyFor(err error) byte {
	var dnsErr *net.DNSError
	switch {
	case isBlocked(err):
		return repNotAllowed
	case errors.As(err, &dnsErr):
		return repHostUnreachable
	case errors.Is(err, syscall.ECONNREFUSED):
		return repConnectionRefused
	case errors.Is(err, syscall.ENETUNREACH):
		return repNetworkUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded):
		return repHostUnreachable
	}
	return repGeneralFailure
}

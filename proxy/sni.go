package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// A tunnel (CONNECT, SOCKS5 CONNECT) is allowed for the host the client
// named to the proxy, but a TLS client names the server again, in the
// ClientHello's server_name, and a CDN or any shared front end routes the
// connection by that name: CONNECT allowed.example:443 followed by a
// ClientHello for evil.example on the same front end ("domain fronting")
// reached a site the policy does not allow. Upstream Fence does not look
// (fence-compat: "no SNI or Host consistency check").
//
// So the first bytes the client sends through a tunnel are read before
// any of them go upstream. If they start a TLS record, the whole
// ClientHello is read and parsed by crypto/tls's own server-side parser
// (which reassembles a ClientHello split across records, and refuses one
// with two server names or a duplicated extension, so that what is checked
// is what a server would see), and its server name must be the tunnel's
// host or one the rules allow on the tunnel's port. A TLS record start
// that does not parse as a ClientHello closes the tunnel (fail closed:
// records a server skips before the ClientHello are no bypass); other
// first bytes (ssh, a server-first protocol's reply, plain HTTP) pass
// unchanged. What is read is then sent upstream as it came.
//
// Not covered: the Host header of HTTP inside the tunnel (encrypted, or
// plain HTTP through a tunnel to port 80), a TLS handshake that starts
// later in the stream (STARTTLS), and the inner name of an Encrypted Client
// Hello (the outer one, the front end's public name, is checked).

// errHelloRead ends crypto/tls's handshake once the ClientHello is parsed.
var errHelloRead = errors.New("client hello read")

// helloConn is what crypto/tls's server reads the ClientHello from: the
// client's bytes, each recorded; what it would write (an alert) is
// dropped.
type helloConn struct {
	net.Conn           // the client, for its addresses
	r        io.Reader // the client's bytes, after what was buffered
	rec      bytes.Buffer
}

func (h *helloConn) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.rec.Write(p[:n])
	return n, err
}

func (h *helloConn) Write(p []byte) (int, error)      { return len(p), nil }
func (h *helloConn) Close() error                     { return nil }
func (h *helloConn) SetDeadline(time.Time) error      { return nil }
func (h *helloConn) SetReadDeadline(time.Time) error  { return nil }
func (h *helloConn) SetWriteDeadline(time.Time) error { return nil }

// tlsRecordType reports whether b is the first byte of a TLS record:
// change_cipher_spec (0x14), alert, handshake (0x16), application_data or
// heartbeat (0x18). Not only a handshake record can start a TLS
// connection: Go's server drops warning alerts before the ClientHello,
// and OpenSSL's an empty ChangeCipherSpec record, then route by the
// ClientHello that follows.
func tlsRecordType(b byte) bool { return 0x14 <= b && b <= 0x18 }

// tlsStart reports whether a stream that starts with b0 and b1 is taken
// for TLS, whose start must then lead to a ClientHello crypto/tls parses:
// a record type and major version 3 (OpenSSL, BoringSSL and the other
// servers of fronts read nothing else as TLS), or an alert or handshake
// record with a version below 16.0, which Go's server (Caddy, Traefik)
// also takes for a first record. Other starts pass unchecked: a binary
// protocol whose first byte falls in 0x14-0x18 (MongoDB's messages start
// with their length, low byte first) is refused only when its second
// byte fits one of those forms too.
func tlsStart(b0, b1 byte) bool {
	return tlsRecordType(b0) && (b1 == 3 || (b0 == 0x15 || b0 == 0x16) && b1 < 0x10)
}

// readTunnelStart reads the client's first bytes in a tunnel from r (c is
// the client connection, for the read deadline). It returns what it read,
// all of which belongs upstream, whether they start TLS (tlsStart), and
// then the server name of the ClientHello they lead to ("" for a
// ClientHello without a name). err is io.EOF if the client sent nothing,
// and errBadHello if a TLS start did not lead to a ClientHello that
// parses.
func readTunnelStart(r io.Reader, c net.Conn, timeout time.Duration) (read []byte, isTLS bool, name string, err error) {
	first := make([]byte, 2)
	if _, err := io.ReadFull(r, first[:1]); err != nil {
		return nil, false, "", err
	}
	if !tlsRecordType(first[0]) {
		return first[:1], false, "", nil
	}
	// The rest of the ClientHello follows at once from a TLS client; the
	// deadline ends a client that stops halfway (it is refused: a front
	// end would take the rest as it came).
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	if _, err := io.ReadFull(r, first[1:]); err != nil {
		if errors.Is(err, io.EOF) {
			return first[:1], false, "", nil // one byte, then the end
		}
		return first[:1], false, "", fmt.Errorf("%w: %v", errBadHello, err)
	}
	if !tlsStart(first[0], first[1]) {
		return first, false, "", nil
	}
	h := &helloConn{Conn: c, r: io.MultiReader(bytes.NewReader(first), r)}
	var sni string
	var saw bool
	cfg := &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		sni, saw = hello.ServerName, true
		return nil, errHelloRead
	}}
	err = tls.Server(h, cfg).Handshake()
	read = h.rec.Bytes()
	if !saw {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return read, true, "", fmt.Errorf("%w: the client closed the tunnel within it", errBadHello)
		}
		if n := dottedName(read); n != "" {
			return read, true, "", fmt.Errorf("%w: %v (its server name %q ends in a dot, which Go's TLS parser refuses: give the client the name without it)", errBadHello, err, n)
		}
		return read, true, "", fmt.Errorf("%w: %v", errBadHello, err)
	}
	return read, true, strings.ToLower(sni), nil
}

// dottedName looks, in the bytes of a ClientHello crypto/tls refused, for
// a server_name extension holding one host name that ends in a dot
// (app.test., as Python's ssl and Node's tls send when given one), and
// returns it, or "". For the message only: the tunnel is refused either
// way, and nothing is decided by this reading.
func dottedName(b []byte) string {
	for i := 0; i+9 <= len(b); i++ {
		// type 0 (server_name), extension length, list length, name
		// type 0 (host_name), name length, the name.
		if b[i] != 0 || b[i+1] != 0 || b[i+6] != 0 {
			continue
		}
		ext := int(b[i+2])<<8 | int(b[i+3])
		list := int(b[i+4])<<8 | int(b[i+5])
		n := int(b[i+7])<<8 | int(b[i+8])
		if n < 2 || ext != list+2 || list != n+3 || i+9+n > len(b) {
			continue
		}
		name := b[i+9 : i+9+n]
		if name[n-1] != '.' || name[0] == '.' {
			continue
		}
		ok := true
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
				ok = false
				break
			}
		}
		if ok {
			return string(name)
		}
	}
	return ""
}

// errBadHello is a TLS record at the start of a tunnel that does not lead
// to a ClientHello crypto/tls can parse.
var errBadHello = errors.New("the tunnel starts with a TLS record that is not a valid ClientHello")

// nameAllowed reports whether a ClientHello's server name may go through a
// tunnel to host:port: the tunnel's own host, or a name rules allows on
// that port. An empty name (a client connecting by address) is allowed.
func nameAllowed(rules *Rules, name, host string, port int) (bool, Decision) {
	if name == "" || strings.EqualFold(strings.TrimSuffix(name, "."), strings.TrimSuffix(host, ".")) {
		return true, Decision{}
	}
	d := rules.Decide(name, port)
	return d.Allow, d
}

// checkTunnelStart reads the start of a tunnel to host:port from clientR
// and returns what it read, for upstream, or the reason the tunnel is to
// be closed (a ClientHello for a name the policy refuses, or one that does
// not parse). A client that closes before sending anything returns no
// reason and io.EOF as err, and the tunnel ends as it would have.
// hello reports a ClientHello that passed; read then ends with the
// record that ends it, and rest holds what crypto/tls read beyond it,
// which was sent after the ClientHello (a second ClientHello need not
// wait for the HelloRetryRequest it answers: the client can tell that the
// server will ask for one).
func (s *Server) checkTunnelStart(clientR io.Reader, client net.Conn, host string, port int) (read, rest []byte, hello bool, refused error, err error) {
	read, isTLS, name, err := readTunnelStart(clientR, client, s.handshake)
	if errors.Is(err, errBadHello) {
		return nil, nil, false, err, nil
	}
	if err != nil || !isTLS {
		return read, nil, false, nil, err
	}
	if ok, d := nameAllowed(s.Rules(), name, host, port); !ok {
		return nil, nil, false, fmt.Errorf("TLS server name %q is not the tunnel's host and %s", name, d.reason()), nil
	}
	end, err := helloEnd(read)
	if err != nil {
		return nil, nil, false, err, nil
	}
	return read[:end], read[end:], true, nil, nil
}

// helloEnd returns where the TLS record that ends the ClientHello in b
// ends: b holds the records crypto/tls read it from (warning alerts may
// come first) and possibly more. A record that holds bytes beyond the
// ClientHello (another handshake message) is refused: what follows the
// ClientHello must wait for the server's answer to it.
func helloEnd(b []byte) (int, error) {
	var hs []byte // handshake bytes so far
	for i := 0; i+5 <= len(b); {
		n := int(b[i+3])<<8 | int(b[i+4])
		end := i + 5 + n
		if end > len(b) {
			break
		}
		if b[i] == 0x16 {
			hs = append(hs, b[i+5:end]...)
			if len(hs) >= 4 {
				msgEnd := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
				switch {
				case len(hs) == msgEnd:
					return end, nil
				case len(hs) > msgEnd:
					return 0, fmt.Errorf("%w: the record that ends the ClientHello holds %d bytes more", errBadHello, len(hs)-msgEnd)
				}
			}
		}
		i = end
	}
	return 0, fmt.Errorf("%w: the ClientHello's end was not found", errBadHello)
}

// A server that supports none of the key shares in a TLS 1.3 ClientHello
// answers with a HelloRetryRequest, and the client sends a second
// ClientHello. RFC 8446 lets its server name not change, and Go's server
// refuses one that does, but OpenSSL's takes the second name (its
// servername callback, which picks the virtual server, runs again): a
// first ClientHello with the tunnel's name and a second with another
// reached that other site. So tunnel watches the server's answer to a
// checked ClientHello, and a second ClientHello is checked as the first.

// helloRetryRandom is the random of a ServerHello that is a
// HelloRetryRequest (RFC 8446 §4.1.3).
var helloRetryRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// helloRetryLen is how much of the server's answer tells whether it is a
// HelloRetryRequest: the record header (5 bytes), the handshake message
// header (4), legacy_version (2) and the random (32).
const helloRetryLen = 5 + 4 + 2 + 32

// isHelloRetry reports whether b, the server's first bytes, start a
// HelloRetryRequest.
func isHelloRetry(b []byte) bool {
	return len(b) >= helloRetryLen && b[0] == 0x16 && b[5] == 2 && bytes.Equal(b[11:helloRetryLen], helloRetryRandom)
}

// checkSecondHello is checkTunnelStart for what the client sends after a
// HelloRetryRequest: a ClientHello, possibly after a ChangeCipherSpec
// record (RFC 8446 §D.4, which crypto/tls refuses before a first
// ClientHello, so it is read here). Anything else closes the tunnel.
func (s *Server) checkSecondHello(clientR io.Reader, client net.Conn, host string, port int) (read []byte, refused error, err error) {
	_ = client.SetReadDeadline(time.Now().Add(s.handshake))
	defer client.SetReadDeadline(time.Time{})
	var ccs []byte
	first := make([]byte, 1)
	for {
		if _, err := io.ReadFull(clientR, first); err != nil {
			return ccs, nil, err
		}
		if first[0] != 0x14 || len(ccs) > 0 {
			break
		}
		// A ChangeCipherSpec record's header and its one byte.
		rec := make([]byte, 6)
		rec[0] = first[0]
		if _, err := io.ReadFull(clientR, rec[1:]); err != nil {
			return ccs, nil, err
		}
		if rec[3] != 0 || rec[4] != 1 {
			return nil, fmt.Errorf("%w: a record of %d bytes after a HelloRetryRequest", errBadHello, int(rec[3])<<8|int(rec[4])), nil
		}
		ccs = rec
	}
	if !tlsRecordType(first[0]) {
		return nil, fmt.Errorf("%w: the client answered a HelloRetryRequest with something else", errBadHello), nil
	}
	read, rest, hello, refused, err := s.checkTunnelStart(io.MultiReader(bytes.NewReader(first), clientR), client, host, port)
	if refused != nil {
		return nil, refused, nil
	}
	if err == nil && !hello {
		return nil, fmt.Errorf("%w: the client answered a HelloRetryRequest with something else", errBadHello), nil
	}
	// What follows a second ClientHello goes upstream with it: a server
	// asks for another at most once (RFC 8446 §4.1.4).
	return append(append(ccs, read...), rest...), nil, err
}

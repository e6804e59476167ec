package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// relay copies client→up and up→client until both directions have ended,
// then closes both connections. When one direction reaches EOF its
// destination is half-closed (CloseWrite), so the peer sees EOF while the
// other direction keeps flowing; an error in either direction closes both.
//
// clientR and upR read from client and up, possibly after bytes already
// buffered from them. When they are the connections themselves, io.Copy
// lets the runtime splice TCP to TCP without copying through user space.
func (s *Server) relay(client net.Conn, clientR io.Reader, up net.Conn, upR io.Reader) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.survive(client, up)
		pipe(up, clientR, client)
	}()
	pipe(client, upR, up)
	<-done
	client.Close()
	up.Close()
}

// tunnel is relay for a CONNECT or SOCKS5 tunnel to host:port: the
// client's first bytes go upstream only once checkTunnelStart has read
// them (see sni.go). The server's side flows from the start, so protocols
// in which the server speaks first work. A start it refuses is passed to
// refused (for the log) and closes both connections. After a ClientHello
// that passed, the server's answer is looked at, and a HelloRetryRequest
// has the client's second ClientHello checked too (watchRetry).
func (s *Server) tunnel(client net.Conn, clientR io.Reader, up net.Conn, host string, port int, refused func(error)) {
	done := make(chan struct{})
	// start says whether the client's start was a ClientHello that
	// passed, sent before it goes upstream; retry says whether the
	// server's answer to it was a HelloRetryRequest, or is closed.
	start := make(chan bool, 1)
	retry := make(chan bool, 1)
	go func() {
		defer close(done)
		defer s.survive(client, up)
		read, rest, hello, refusal, err := s.checkTunnelStart(clientR, client, host, port)
		start <- hello
		if !s.sendStart(client, up, read, refusal, err, refused) {
			return
		}
		src := clientR
		if hello {
			if len(rest) > 0 {
				src = io.MultiReader(bytes.NewReader(rest), clientR)
			}
			if src = s.watchRetry(client, src, up, host, port, retry, refused); src == nil {
				return
			}
		}
		pipe(up, src, client)
	}()
	s.downstream(client, up, start, retry)
	<-done
	client.Close()
	up.Close()
}

// watchRetry holds what the client sends after a ClientHello that passed
// until downstream has said on retry whether the server's answer is a
// HelloRetryRequest; after one, what follows is checked as a second
// ClientHello. Nothing the client sent after the ClientHello goes upstream
// before the answer is known: a client can tell that a server will ask
// for another ClientHello (one whose key_share is empty, or offers no
// group the server takes) and send the second at once, without waiting
// for the HelloRetryRequest, and OpenSSL's server reads it as it would
// have after. A client that ends its side meanwhile ends it upstream too.
// Bytes held longer than the handshake timeout without an answer from the
// server close the tunnel. It returns the reader for the rest of the
// client's bytes, or nil when the tunnel's client to server direction has
// ended.
func (s *Server) watchRetry(client net.Conn, clientR io.Reader, up net.Conn, host string, port int, retry <-chan bool, refused func(error)) io.Reader {
	known, isRetry := false, false
	select {
	case r, ok := <-retry:
		known, isRetry = true, ok && r
	default:
	}
	var held []byte
	if !known {
		buf := make([]byte, 16<<10)
		n, err := clientR.Read(buf)
		if n == 0 && err != nil {
			// Nothing sent after the ClientHello: the end, passed on.
			s.sendStart(client, up, nil, nil, err, refused)
			return nil
		}
		held = buf[:n]
		t := time.NewTimer(s.handshake)
		select {
		case r, ok := <-retry:
			isRetry = ok && r
		case <-t.C:
			t.Stop()
			refused(fmt.Errorf("%w: the client sent more after its ClientHello, and the server did not answer it within %v", errBadHello, s.handshake))
			client.Close()
			up.Close()
			return nil
		}
		t.Stop()
		if err != nil {
			clientR = io.MultiReader(bytes.NewReader(held), errReader{err})
		} else {
			clientR = io.MultiReader(bytes.NewReader(held), clientR)
		}
	}
	if !isRetry {
		return clientR
	}
	read, refusal, err := s.checkSecondHello(clientR, client, host, port)
	if refusal != nil {
		refusal = fmt.Errorf("after a HelloRetryRequest: %w", refusal)
	}
	if !s.sendStart(client, up, read, refusal, err, refused) {
		return nil
	}
	return clientR
}

// errReader is a reader that only fails, with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// sendStart sends upstream what a check read and reports whether the
// client's bytes are to flow on; if not, it has ended the tunnel's client
// to server direction (closing both connections, or half-closing up when
// the client half-closed before sending anything).
func (s *Server) sendStart(client, up net.Conn, read []byte, refusal, err error, refused func(error)) bool {
	if refusal != nil {
		refused(refusal)
		client.Close()
		up.Close()
		return false
	}
	if len(read) > 0 {
		if _, werr := up.Write(read); werr != nil {
			client.Close()
			up.Close()
			return false
		}
	}
	switch {
	case errors.Is(err, io.EOF) && len(read) == 0:
		// The client half-closed before sending anything: as pipe
		// does at EOF.
		if cw, ok := up.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
			client.Close()
			up.Close()
		}
		return false
	case err != nil:
		client.Close()
		up.Close()
		return false
	}
	return true
}

// downstream copies up to client for tunnel. Until the client's start is
// known (start), and after a ClientHello until helloRetryLen bytes of the
// server's answer have passed, it reads into a buffer of its own, and
// sends on retry whether that answer is a HelloRetryRequest; then pipe
// takes over (splice). retry is closed when it returns.
func (s *Server) downstream(client, up net.Conn, start <-chan bool, retry chan<- bool) {
	defer close(retry)
	var (
		decided, hello bool
		answer         []byte // the server's first bytes after a ClientHello
	)
	var buf []byte
	for {
		if !decided {
			select {
			case hello = <-start:
				decided = true
			default:
			}
		}
		if decided && (!hello || len(answer) >= helloRetryLen) {
			break
		}
		if buf == nil {
			buf = make([]byte, 16<<10)
		}
		n, err := up.Read(buf)
		if n > 0 {
			if !decided {
				select {
				case hello = <-start:
					decided = true
				default:
				}
			}
			if decided && hello && len(answer) < helloRetryLen {
				answer = append(answer, buf[:min(n, helloRetryLen-len(answer))]...)
				if len(answer) == helloRetryLen {
					retry <- isHelloRetry(answer)
				}
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				client.Close()
				up.Close()
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if cw, ok := client.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
					return
				}
			}
			client.Close()
			up.Close()
			return
		}
	}
	pipe(client, up, up)
}

func pipe(dst net.Conn, src io.Reader, srcConn net.Conn) {
	_, err := io.Copy(dst, src)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			return
		}
	}
	// An error, or no way to half-close: end both directions.
	dst.Close()
	srcConn.Close()
}

// buffered returns a reader that yields the bytes br has already buffered
// from c, then reads c itself. With nothing buffered it is c, which keeps
// splice possible.
func buffered(br *bufio.Reader, c net.Conn) io.Reader {
	n := br.Buffered()
	if n == 0 {
		return c
	}
	b, _ := br.Peek(n)
	return io.MultiReader(bytes.NewReader(b), c)
}

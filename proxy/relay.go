package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
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
		pipe(up, clientR, client)
		close(done)
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
		read, hello, refusal, err := s.checkTunnelStart(clientR, client, host, port)
		start <- hello
		if !s.sendStart(client, up, read, refusal, err, refused) {
			return
		}
		src := clientR
		if hello {
			if src = s.watchRetry(client, clientR, up, host, port, retry, refused); src == nil {
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

// watchRetry passes on what the client sends after a ClientHello that
// passed until downstream has said on retry whether the server's answer is
// a HelloRetryRequest. Bytes read while that is unknown were sent before
// the client could have seen one (downstream says so before it passes it
// on), and go upstream; after one, what follows is checked as a second
// ClientHello. It returns the reader for the rest of the client's bytes,
// or nil when the tunnel's client to server direction has ended.
func (s *Server) watchRetry(client net.Conn, clientR io.Reader, up net.Conn, host string, port int, retry <-chan bool, refused func(error)) io.Reader {
	var known, isRetry bool
	var buf []byte
	for {
		if !known {
			select {
			case r, ok := <-retry:
				known, isRetry = true, ok && r
			default:
			}
		}
		if known && !isRetry {
			return clientR
		}
		if buf == nil {
			buf = make([]byte, 16<<10)
		}
		n, err := clientR.Read(buf)
		if !known {
			select {
			case r, ok := <-retry:
				known, isRetry = true, ok && r
			default:
			}
		}
		if known && isRetry && n > 0 {
			src := io.MultiReader(bytes.NewReader(buf[:n]), clientR)
			read, refusal, err := s.checkSecondHello(src, client, host, port)
			if refusal != nil {
				refusal = fmt.Errorf("after a HelloRetryRequest: %w", refusal)
			}
			if !s.sendStart(client, up, read, refusal, err, refused) {
				return nil
			}
			return src
		}
		if n > 0 && !s.sendStart(client, up, buf[:n], nil, nil, refused) {
			return nil
		}
		if err != nil && !s.sendStart(client, up, nil, nil, err, refused) {
			return nil
		}
	}
}

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

package proxy

import (
	"bufio"
	"bytes"
	"errors"
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
// refused (for the log) and closes both connections.
func (s *Server) tunnel(client net.Conn, clientR io.Reader, up net.Conn, host string, port int, refused func(error)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		read, refusal, err := s.checkTunnelStart(clientR, client, host, port)
		if refusal != nil {
			refused(refusal)
			client.Close()
			up.Close()
			return
		}
		if len(read) > 0 {
			if _, werr := up.Write(read); werr != nil {
				client.Close()
				up.Close()
				return
			}
		}
		switch {
		case errors.Is(err, io.EOF) && len(read) == 0:
			// The client half-closed before sending anything: as
			// pipe does at EOF.
			if cw, ok := up.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
				client.Close()
				up.Close()
			}
		case err != nil:
			client.Close()
			up.Close()
		default:
			pipe(up, clientR, client)
		}
	}()
	pipe(client, up, up)
	<-done
	client.Close()
	up.Close()
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

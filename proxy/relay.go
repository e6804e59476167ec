package proxy

import (
	"bufio"
	"bytes"
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

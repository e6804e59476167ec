package fence

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first Accepts as a listener does when the
// process is out of descriptors.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// A forward (allowLocalOutboundPorts, -p) outlives a moment without
// descriptors: the sandbox can open connections until the supervisor runs
// out, and forward used to return at the first failed Accept, which left
// the port dead for the rest of the run (connections queued and hung).
func TestForwardSurvivesAcceptErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(3)
	go forward(fl, func() (net.Conn, error) {
		a, b := net.Pipe()
		go func() {
			defer b.Close()
			io.WriteString(b, "hello")
		}()
		return a, nil
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if string(b) != "hello" {
		t.Fatalf("read %q, %v: the forward stopped accepting after a failed Accept", b, err)
	}
}

// A closed listener still ends the forward.
func TestForwardEndsWithListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		forward(ln, func() (net.Conn, error) { return nil, io.EOF })
		close(done)
	}()
	ln.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("forward did not return after its listener closed")
	}
}

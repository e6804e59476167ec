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
	n := &network{slots: make(chan struct{}, 4)}
	go n.forward(fl, func() (net.Conn, error) {
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
		(&network{slots: make(chan struct{}, 4)}).forward(ln, func() (net.Conn, error) { return nil, io.EOF })
		close(done)
	}()
	ln.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("forward did not return after its listener closed")
	}
}

// The forwards carry at most cap(network.slots) connections at once: the
// sandbox could otherwise open connections to an allowLocalOutboundPorts
// port until the supervisor ran out of descriptors (20000 of 20000 held,
// and the proxies answered "socket: too many open files"). Further
// connections wait, and are served once one ends.
func TestForwardBoundsConnections(t *testing.T) {
	n := &network{slots: make(chan struct{}, 2)}

	// The host service: holds each connection until its client's EOF.
	svc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var active, most, served atomic.Int32
	go func() {
		for {
			c, err := svc.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			n := active.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			go func() {
				io.Copy(io.Discard, c)
				active.Add(-1)
				c.Close()
			}()
		}
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go n.forward(ln, func() (net.Conn, error) { return net.Dial("tcp", svc.Addr().String()) })
	var cs []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	time.Sleep(300 * time.Millisecond)
	if m := most.Load(); m > 2 {
		t.Fatalf("%d connections forwarded at once, want at most 2", m)
	}
	cs[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for served.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("a waiting connection was not served after one ended (%d served)", served.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := most.Load(); m > 2 {
		t.Fatalf("%d connections forwarded at once, want at most 2", m)
	}
}

// The bounds on connections keep the supervisor within its descriptor
// limit: 4096 proxy clients cost ~24000 descriptors, more than a 20000
// limit, and the supervisor then failed every request, open and accept.
func TestConnLimitsFitDescriptors(t *testing.T) {
	for _, nofile := range []uint64{1024, 4096, 20000, 65536, 1 << 20} {
		p, f := connLimits(nofile)
		if used := uint64(p+f) * fdCost; nofile >= 4096 && used > nofile-1024 {
			t.Errorf("nofile %d: %d proxy clients and %d forwards may hold %d descriptors", nofile, p, f, used)
		}
		if p < 64 || f < 16 {
			t.Errorf("nofile %d: bounds %d and %d too small to work with", nofile, p, f)
		}
	}
	if p, f := connLimits(1 << 20); p != 4096 || f != 4096 {
		t.Errorf("a large limit gives %d and %d, want 4096 each", p, f)
	}
}

package nsexec

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dialLoopback is PID 1's half of -p: it must connect, report refusals and
// time out on a listener that never accepts, without holding a thread per
// pending connect (a local user can queue thousands on a -p port).
func TestDialLoopback(t *testing.T) {
	t.Run("connects", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			defer c.Close()
			b, _ := io.ReadAll(c)
			got <- string(b)
		}()
		f, err := dialLoopback(ln.Addr().(*net.TCPAddr).Port, false, 5*time.Second)
		if err != nil {
			t.Fatalf("dialLoopback: %v", err)
		}
		if _, err := f.WriteString("hello"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if s := <-got; s != "hello" {
			t.Fatalf("server read %q, want %q", s, "hello")
		}
	})
	t.Run("IPv6", func(t *testing.T) {
		ln, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("needs IPv6 on lo (::1) for a server to dial: %v", err)
		}
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		f, err := dialLoopback(ln.Addr().(*net.TCPAddr).Port, true, 5*time.Second)
		if err != nil {
			t.Fatalf("dialLoopback to [::1]: %v", err)
		}
		f.Close()
	})
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if f, err := dialLoopback(port, false, 5*time.Second); !errors.Is(err, unix.ECONNREFUSED) {
			if f != nil {
				f.Close()
			}
			t.Fatalf("dialLoopback to a closed port: %v, want ECONNREFUSED", err)
		}
	})
	t.Run("times out without a thread per wait", func(t *testing.T) {
		port := fullListener(t)
		const n = 40
		before := threads(t)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := dialLoopback(port, false, 500*time.Millisecond)
				if f != nil {
					f.Close()
				}
				errs[i] = err
			}()
		}
		time.Sleep(250 * time.Millisecond) // all of them waiting
		during := threads(t)
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, unix.ETIMEDOUT) {
				t.Fatalf("connect %d to a listener that never accepts: %v, want ETIMEDOUT", i, err)
			}
		}
		if during-before >= n/2 {
			t.Fatalf("%d pending connects took %d threads (%d → %d): they must wait in the poller", n, during-before, before, during)
		}
	})
}

// fullListener returns the port of a listener whose accept queue is full and
// that never accepts: further SYNs are dropped, so connects stay pending.
func fullListener(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			continue // queued in the accept queue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return sa.(*unix.SockaddrInet4).Port
		}
		t.Fatalf("filling the accept queue: %v", err)
	}
	t.Fatal("the kernel kept accepting connections on a listener with backlog 0 that never accepts")
	return 0
}

func threads(t *testing.T) int {
	t.Helper()
	d, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

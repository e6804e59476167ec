package e2e

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// The sandbox has an empty network namespace: lo only, and up.
func TestNetOnlyLoopback(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("-c", "cat /proc/net/dev; echo operstate $(cat /sys/class/net/lo/operstate 2>/dev/null); echo flags $(cat /sys/class/net/lo/flags 2>/dev/null)")
		var ifaces []string
		for _, l := range lines(res.stdout) {
			if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
				ifaces = append(ifaces, strings.TrimSpace(name))
			}
		}
		if len(ifaces) != 1 || ifaces[0] != "lo" {
			t.Errorf("interfaces inside %v, want only lo: %v", ifaces, res)
		}
		// IFF_UP is bit 0 of the flags.
		for _, l := range lines(res.stdout) {
			if f, ok := strings.CutPrefix(l, "flags "); ok {
				n, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 32)
				if err != nil || n&1 == 0 {
					t.Errorf("lo is not up: flags %q", f)
				}
			}
		}
	})
}

// A server started inside on 127.0.0.1 is reachable from inside.
func TestNetLoopbackInside(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		s.write("www/hello.txt", "hello-from-inside\n")
		s.write("client.py", `import sys, time, urllib.request
url = "http://127.0.0.1:%s/hello.txt" % sys.argv[1]
for _ in range(300):
    try:
        print(urllib.request.urlopen(url, timeout=5).read().decode(), end="")
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
print("server never answered")
sys.exit(1)
`)
		res := s.fence("-c", `python3 -m http.server 8765 --bind 127.0.0.1 --directory www >/dev/null 2>&1 & python3 client.py 8765`)
		if res.code != 0 || res.stdout != "hello-from-inside\n" {
			t.Errorf("loopback HTTP inside: want hello-from-inside: %v", res)
		}
	})
}

// A server inside may listen on a port below 1024, root or not: the
// sandbox's network namespace holds only its own lo, and with every
// capability dropped even root got EACCES for port 80. The host's setting
// stays as it was.
func TestNetLowPortsInside(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		before, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
		if err != nil {
			t.Fatal(err)
		}
		res := s.fence("--", "python3", "-c", `import socket
for port in (80, 443, 1023):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
print("bound")`)
		if res.code != 0 || res.stdout != "bound\n" {
			t.Errorf("binding ports below 1024 inside: %v", res)
		}
		if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); string(after) != string(before) {
			t.Errorf("the host's ip_unprivileged_port_start changed: %q, was %q", after, before)
		}
	})
}

// hostServer listens on the host's 127.0.0.1 and counts the connections it
// accepts.
func hostServer(t *testing.T) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nhost-server"))
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	// Control: the server works from the host.
	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !waitUntil(runTimeout, func() bool { return accepted.Load() == 1 }) {
		t.Fatal("host server did not accept the control connection")
	}
	accepted.Store(0)
	return port, accepted
}

// A TCP server on the host's 127.0.0.1 is not reachable from inside: the
// connection is refused (not silently dropped), and the server sees
// nothing.
func TestNetHostLoopbackUnreachable(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		port, accepted := hostServer(t)
		t.Run("bash-dev-tcp", func(t *testing.T) {
			res := s.fence("-c", `exec 3<>/dev/tcp/127.0.0.1/`+port+` && echo connected`)
			if res.code == 0 || strings.Contains(res.stdout, "connected") {
				t.Errorf("bash /dev/tcp to the host's server connected: %v", res)
			}
			if !strings.Contains(res.stderr, "Connection refused") {
				t.Errorf("bash /dev/tcp: want \"Connection refused\" (fails fast): %v", res)
			}
		})
		t.Run("python", func(t *testing.T) {
			need(t, "python3")
			res := s.fence("--", "python3", "-c", `import errno, socket, sys
s = socket.socket()
s.settimeout(10)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))`, port)
			if strings.TrimSpace(res.stdout) != "ECONNREFUSED" {
				t.Errorf("python connect to the host's server: want ECONNREFUSED: %v", res)
			}
		})
		t.Run("curl", func(t *testing.T) {
			need(t, "curl")
			res := s.fence("--", "curl", "-sS", "--max-time", "10", "http://127.0.0.1:"+port+"/")
			// curl exit 7: failed to connect (refused), not 28 (timeout).
			if res.code != 7 || strings.Contains(res.stdout, "host-server") {
				t.Errorf("curl to the host's server: want exit 7 (connection refused): %v", res)
			}
		})
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host server accepted %d connections from the sandbox", n)
		}
	})
}

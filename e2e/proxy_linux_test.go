package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hostHTTP starts an HTTP server on the host's 127.0.0.1 that answers
// "hello from <name>" and counts requests.
func hostHTTP(t *testing.T, name string) (port int, hits *int) {
	t.Helper()
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		fmt.Fprintf(w, "hello from %s %s", name, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port, &n
}

func TestProxyHTTPAndSOCKS(t *testing.T) {
	need(t, "curl")
	port, hits := hostHTTP(t, "api")
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls ok")
	}))
	defer tlsSrv.Close()
	tlsPort := tlsSrv.Listener.Addr().(*net.TCPAddr).Port
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		p := strconv.Itoa(port)
		cfg := s.config("net.json", `{"network": {
			"allowedDomains": ["api.test:`+p+`", "secure.test:`+strconv.Itoa(tlsPort)+`"],
			"deniedDomains": ["evil.api.test"],
			"hosts": ["127.0.0.1 api.test secure.test other.test"]}}`)
		res := s.mustRun("-s", cfg, "-c", `
echo "env:$HTTP_PROXY|$HTTPS_PROXY|$ALL_PROXY|$NO_PROXY|$NODE_USE_ENV_PROXY"
curl -sS --max-time 10 http://api.test:`+p+`/allowed; echo
curl -sS --max-time 10 -o /dev/null -w "blocked:%{http_code}\n" http://other.test:`+p+`/
curl -sS --max-time 10 http://other.test:`+p+`/; echo
curl -sS --max-time 10 -k https://secure.test:`+strconv.Itoa(tlsPort)+`/; echo
curl -sS --max-time 10 -x "$ALL_PROXY" http://api.test:`+p+`/socks; echo
curl -sS --max-time 10 -x "$ALL_PROXY" http://other.test:`+p+`/ >/dev/null 2>&1; echo "socks-blocked:$?"
getent hosts api.test >/dev/null 2>&1; echo "dns:$?"
`)
		out := res.stdout
		for _, want := range []string{
			"env:http://127.0.0.1:3128|http://127.0.0.1:3128|socks5h://127.0.0.1:1080|localhost,127.0.0.1,::1|1",
			"hello from api /allowed",
			"blocked:403",
			"Connection blocked by network allowlist",
			"tls ok",
			"hello from api /socks",
			"dns:2",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q\n%v", want, res)
			}
		}
		if strings.Contains(out, "socks-blocked:0") {
			t.Errorf("SOCKS5 reached a name that is not allowed\n%v", res)
		}
		if strings.Contains(out, "hello from api /\n") {
			t.Errorf("a blocked name reached the server\n%v", res)
		}
	})
	if *hits != 2*2 { // /allowed and /socks, per runner
		t.Errorf("server saw %d requests, want 4", *hits)
	}
}

// TestProxyNoNetworkWithoutRules: an empty allowlist allows nothing, through
// the proxies or around them.
func TestProxyNoNetworkWithoutRules(t *testing.T) {
	need(t, "curl")
	port, hits := hostHTTP(t, "host")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		p := strconv.Itoa(port)
		res := s.fence("-c", `curl -sS --max-time 5 --noproxy '' -o /dev/null -w "%{http_code}\n" http://127.0.0.1:`+p+`/ ; curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:`+p+`/; echo "direct:$?"`)
		if !ranInside(t, res) {
			return
		}
		if !strings.Contains(res.stdout, "403") || strings.Contains(res.stdout, "direct:0") {
			t.Errorf("want 403 through the proxy and a failed direct connection\n%v", res)
		}
	})
	if *hits != 0 {
		t.Errorf("host server saw %d requests, want 0", *hits)
	}
}

// TestLocalOutboundPorts: allowLocalOutboundPorts makes the host's
// 127.0.0.1:PORT reachable at 127.0.0.1:PORT inside, and only that port.
func TestLocalOutboundPorts(t *testing.T) {
	need(t, "curl")
	port, _ := hostHTTP(t, "db")
	other, otherHits := hostHTTP(t, "other")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("local.json", `{"network": {"allowLocalOutboundPorts": [`+strconv.Itoa(port)+`]}}`)
		res := s.mustRun("-s", cfg, "-c", `curl -sS --max-time 5 http://127.0.0.1:`+strconv.Itoa(port)+`/x; echo; curl -sS --max-time 5 http://127.0.0.1:`+strconv.Itoa(other)+`/; echo "other:$?"`)
		if !strings.Contains(res.stdout, "hello from db /x") || strings.Contains(res.stdout, "other:0") {
			t.Errorf("want the listed port reachable and no other\n%v", res)
		}
	})
	if *otherHits != 0 {
		t.Errorf("unlisted host port saw %d requests", *otherHits)
	}
}

// TestForwardDirectionsApart: the forwards of each direction have a bound
// of their own on the connections they carry at once. With one bound for
// both, the command's connections to an allowLocalOutboundPorts port (or
// any local user's to a -p port, the other way) could take every slot,
// and the other direction's connections waited unserved.
func TestForwardDirectionsApart(t *testing.T) {
	need(t, "python3")
	// fence's bound per direction is 16 at an open-file limit of 256.
	const limit, held = "256", 16
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	var accepted atomic.Int32
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	go func() {
		for {
			c, err := host.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open: each keeps its slot
			mu.Unlock()
			accepted.Add(1)
		}
	}()
	out := strconv.Itoa(host.Addr().(*net.TCPAddr).Port)
	script := `import socket,sys
out,inp,n=int(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3])
held=[socket.create_connection(("127.0.0.1",out),timeout=10) for _ in range(n)]
srv=socket.socket()
srv.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
srv.bind(("127.0.0.1",inp))
srv.listen(4)
print("ready",flush=True)
c,_=srv.accept()
c.sendall(b"pong")
c.close()
`
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		accepted.Store(0)
		free, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		in := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
		free.Close()
		cfg := s.config("forwards.json", `{"network": {"allowLocalOutboundPorts": [`+out+`]}}`)
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		cmd := s.command(ctx, opts{}, "-s", cfg, "-p", in, "--", "python3", "-c", script, out, in, strconv.Itoa(held))
		withFileLimit(cmd, "-n", limit)
		stdout, stderr := startPiped(t, cmd)
		defer func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}()
		if line, err := stdout.ReadString('\n'); line != "ready\n" {
			t.Fatalf("first line %q (%v), want \"ready\"; stderr %s", line, err, stderr.String())
		}
		for deadline := time.Now().Add(10 * time.Second); accepted.Load() < held; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the host's server got %d of the command's %d connections", accepted.Load(), held)
			}
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+in, 5*time.Second)
		if err != nil {
			t.Fatalf("connect to the exposed port: %v", err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if string(got) != "pong" {
			t.Errorf("-p connection while the command holds %d outbound ones: got %q (%v), want \"pong\"; stderr %s", held, got, err, stderr.String())
		}
	})
}

// TestLocalOutboundPortDownLogged: with -m, a connection to an
// allowLocalOutboundPorts port whose host service is down is logged (it
// used to be closed without a word, so the sandbox's client's failure
// looked like fence's).
func TestLocalOutboundPortDownLogged(t *testing.T) {
	need(t, "curl")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // nobody listens on the host's port now
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("down.json", `{"network": {"allowLocalOutboundPorts": [`+p+`]}}`)
		res := s.fence("-m", "-s", cfg, "-c", `curl -sS --max-time 5 http://127.0.0.1:`+p+`/ 2>/dev/null; echo "curl:$?"`)
		if !ranInside(t, res) {
			return
		}
		if strings.Contains(res.stdout, "curl:0") {
			t.Fatalf("curl reached a host port nobody listens on\n%v", res)
		}
		want := "! host 127.0.0.1:" + p + " ERROR (dial tcp 127.0.0.1:" + p + ": connect: connection refused)"
		var found bool
		for _, line := range lines(res.stderr) {
			found = found || strings.HasPrefix(line, "[fence:forward] ") && strings.HasSuffix(line, want)
		}
		if !found {
			t.Errorf("stderr lacks a [fence:forward] line ending in %q\n%v", want, res)
		}
	})
}

// TestProxyOnLowPort: the proxies can listen on ports below 1024 inside the
// sandbox (its own network namespace: nothing on the host is touched), for
// root and for a user alike; a port that could not be bound would fail the
// start, not leave the proxy elsewhere.
func TestProxyOnLowPort(t *testing.T) {
	need(t, "curl")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("low.json", `{"network": {"httpProxyPort": 80, "allowedDomains": ["allowed.test"]}}`)
		// denied.test is refused by the proxy itself: no name is looked up
		// and nothing leaves the machine.
		res := s.mustRun("-s", cfg, "-c", `printf '%s ' "$HTTP_PROXY"; curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -x http://127.0.0.1:80 http://denied.test/`)
		if !strings.HasPrefix(res.stdout, "http://127.0.0.1:80 ") || !strings.HasSuffix(res.stdout, " 403") {
			t.Errorf("want HTTP_PROXY on port 80 and the proxy there refusing denied.test with 403\n%v", res)
		}
	})
}

// TestExposePort: -p PORT makes a server inside reachable from the host's
// 127.0.0.1:PORT, whether it listens on 127.0.0.1 or on ::1 only (a dev
// server bound to localhost that resolved to IPv6).
func TestExposePort(t *testing.T) {
	need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("index.html", "served from inside")
		for _, bind := range []string{"127.0.0.1", "::1"} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			cmd := s.command(ctx, opts{}, "-p", strconv.Itoa(port), "--", "python3", "-m", "http.server", strconv.Itoa(port), "--bind", bind)
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				cancel()
				t.Fatal(err)
			}
			go io.Copy(io.Discard, bufio.NewReader(stderr))
			var body string
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/index.html")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					body = string(b)
					if resp.StatusCode == 200 {
						break
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			cancel()
			if body != "served from inside" {
				t.Errorf("server bound to %s: host got %q from the exposed port", bind, body)
			}
		}
	})
}

// unixClient is a python3 script that connects to the unix socket argv[1]
// and prints "got:" and what the server sent, or "refused:" and the errno.
const unixClient = `import socket,sys
s=socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print("got:"+s.recv(64).decode().strip())
except OSError as e:
    print("refused:%d" % e.errno)
`

// TestUnixSocketsOnLinux: a host unix socket in a readable directory is
// unreachable by default and reachable when allowUnixSockets lists it.
func TestUnixSocketsOnLinux(t *testing.T) {
	need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		sockDir := s.mkdir("run")
		sock := filepath.Join(sockDir, "agent.sock")
		hostUnixServer(t, sock, "agent-secret")
		client := unixClient
		res := s.mustRun("--", "python3", "-c", client, sock)
		if !strings.Contains(res.stdout, "refused:13") {
			t.Errorf("default policy: want EACCES from the host socket\n%v", res)
		}
		cfg := s.config("unix.json", `{"network": {"allowUnixSockets": ["`+sockDir+`"]}}`)
		res = s.mustRun("-s", cfg, "--", "python3", "-c", client, sock)
		if !strings.Contains(res.stdout, "got:agent-secret") {
			t.Errorf("allowUnixSockets: want the socket reachable\n%v", res)
		}
		// A socket the sandbox bound may be connected to; one it bound,
		// removed and replaced by a symlink to the host's socket may not
		// (the guard used to allow the name it had bound, and the kernel
		// then followed the symlink). Also from a working directory
		// deeper than a socket address holds (bind used to fail there).
		deep := s.mkdir(strings.Repeat("d", 60) + "/" + strings.Repeat("e", 60))
		res = s.fenceWith(opts{dir: deep}, "-s", s.config("w.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`),
			"--", "python3", "-c", `import os, socket, sys
srv = socket.socket(socket.AF_UNIX); srv.bind("own.sock"); srv.listen(); print("name:", srv.getsockname())
c = socket.socket(socket.AF_UNIX); c.connect("own.sock"); print("own: connected")
os.symlink("own.sock", "link.sock")
c = socket.socket(socket.AF_UNIX); c.connect("link.sock"); print("own through a link: connected")
s = socket.socket(socket.AF_UNIX); s.bind("s"); s.close(); os.unlink("s"); os.symlink(sys.argv[1], "s")
c = socket.socket(socket.AF_UNIX)
try:
    c.connect("s"); print("host through a bound name: got:" + c.recv(64).decode().strip())
except OSError as e:
    print("host through a bound name: refused:%d" % e.errno)`, sock)
		if res.code != 0 || res.stdout != "name: own.sock\nown: connected\nown through a link: connected\nhost through a bound name: refused:13\n" {
			t.Errorf("sockets the sandbox bound: %v", res)
		}
	})
}

// An allowUnixSockets socket in the host's /tmp (ssh-agent's
// /tmp/ssh-XXXX/agent.N, X11's /tmp/.X11-unix) is reachable: the private
// /tmp hid it, and the listed socket failed with ENOENT. Also under
// defaultDenyRead, and with the private /tmp still writable; a socket in
// /tmp that is not listed stays out of reach.
func TestUnixSocketInHostTmp(t *testing.T) {
	need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		dir, err := os.MkdirTemp("/tmp", "fence-e2e-agent-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		s.own(dir, 0o700)
		sock := filepath.Join(dir, "agent.sock")
		other := filepath.Join(dir, "other.sock")
		hostUnixServer(t, sock, "agent-reply")
		hostUnixServer(t, other, "other-reply")
		client := `import socket,sys
for p in sys.argv[1:]:
    s=socket.socket(socket.AF_UNIX)
    try:
        s.connect(p); print("got:"+s.recv(64).decode().strip())
    except OSError as e:
        print("refused:%d" % e.errno)
open("/tmp/own", "w").write("x"); print("tmp writable")
`
		for _, ddr := range []string{"false", "true"} {
			cfg := s.config("unix-"+ddr+".json", `{"filesystem":{"defaultDenyRead":`+ddr+`,"allowRead":["."]},"network":{"allowUnixSockets":["`+sock+`"]}}`)
			res := s.mustRun("-s", cfg, "--", "python3", "-c", client, sock, other)
			if res.stdout != "got:agent-reply\nrefused:2\ntmp writable\n" {
				t.Errorf("defaultDenyRead %s, allowUnixSockets a socket in the host's /tmp: want it reachable, the other hidden, /tmp writable\n%v", ddr, res)
			}
		}
	})
}

// A listed socket in the host's /tmp that another user owns, in a
// directory of theirs (postgres's /tmp/.s.PGSQL.5432, MySQL's
// /tmp/mysql.sock) is reachable too: the bind checks that it binds a
// socket, so the owner cannot swap it for a link to a file of yours. It
// was left out, and the connect failed with ENOENT and no word.
func TestUnixSocketOfAnotherUserInHostTmp(t *testing.T) {
	need(t, "python3")
	if os.Geteuid() != 0 {
		t.Skip("another user's socket needs root to make")
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		dir, err := os.MkdirTemp("/tmp", "fence-e2e-pg-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		sock := filepath.Join(dir, ".s.PGSQL.5432")
		hostUnixServer(t, sock, "pg-reply")
		// A third user's, neither root nor the runner.
		for _, p := range []string{dir, sock} {
			if err := os.Lchown(p, 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		client := unixClient
		for _, ddr := range []string{"false", "true"} {
			cfg := s.config("pg-"+ddr+".json", `{"filesystem":{"defaultDenyRead":`+ddr+`,"allowRead":["."]},"network":{"allowUnixSockets":["`+sock+`"]}}`)
			res := s.mustRun("-s", cfg, "--", "python3", "-c", client, sock)
			if res.stdout != "got:pg-reply\n" {
				t.Errorf("defaultDenyRead %s, allowUnixSockets another user's socket in the host's /tmp: want it reachable\n%v", ddr, res)
			}
		}
	})
}

// An allowUnixSockets path in a writable directory is resolved at every
// start, and connects go through where it leads: a run that replaced it
// by a symlink to another host socket (docker's, in real life) would have
// the next run reach that one. The name is held: a server in the sandbox
// can still bind and remove it, but not make it a symlink, a hard link or
// a directory renamed there, nor rename a directory above it.
func TestUnixSocketNotRedirected(t *testing.T) {
	need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		victimDir := s.outsideDir("fence-e2e-victim-")
		victim := filepath.Join(victimDir, "docker.sock")
		hostUnixServer(t, victim, "host-root")
		s.mkdir("run")
		cfg := s.config("unix.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]},"network":{"allowUnixSockets":["`+s.path("run/app.sock")+`"]}}`)
		script := `import os, socket, sys
srv = socket.socket(socket.AF_UNIX); srv.bind("run/app.sock"); srv.listen()
c = socket.socket(socket.AF_UNIX); c.connect("run/app.sock"); print("served")
srv.close(); os.unlink("run/app.sock"); print("removed")
for name, f in (("symlink", lambda: os.symlink(sys.argv[1], "run/app.sock")),
                ("hardlink", lambda: os.link(sys.argv[1], "run/app.sock")),
                ("rename-above", lambda: (os.rename("run", "run2"), os.mkdir("run"), os.symlink(sys.argv[1], "run/app.sock")))):
    try:
        f(); print(name + ": made")
    except OSError as e:
        print(name + ": refused")
`
		res := s.fenceWith(opts{}, "-s", cfg, "--", "python3", "-c", script, victim)
		if res.code != 0 || res.stdout != "served\nremoved\nsymlink: refused\nhardlink: refused\nrename-above: refused\n" {
			t.Errorf("the allowUnixSockets name in a writable directory: %v", res)
		}
		// Whatever the first run left, the next one does not reach the
		// host's other socket through the listed name.
		res = s.fenceWith(opts{}, "-s", cfg, "--", "python3", "-c", `import socket
c = socket.socket(socket.AF_UNIX)
try:
    c.connect("run/app.sock"); print("got:" + c.recv(64).decode().strip())
except OSError as e:
    print("refused")`)
		if strings.Contains(res.stdout, "host-root") {
			t.Errorf("the next run reached the host socket through the listed name: %v", res)
		}
	})
}

// hostUnixServer listens on the unix socket path, open to every user, and
// answers each connection with the line reply, until the test ends.
func hostUnixServer(t *testing.T, path, reply string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, reply+"\n")
			c.Close()
		}
	}()
}

// proxyReply connects to the proxy at port as uid (through python3 when
// uid is not the test's own), sends a CONNECT without the credential, and
// returns the status line it got, or "closed" if the proxy closed the
// connection without a word (a reset, if the request had arrived).
func proxyReply(t *testing.T, python string, uid int, port string) string {
	t.Helper()
	script := `import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=5)
try:
    s.sendall(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
    b=s.recv(64)
except (ConnectionResetError, BrokenPipeError):
    b=b""  # closed with the request unread: a reset, not a FIN
print(b.split(b"\r\n")[0].decode() if b else "closed")
`
	cmd := exec.Command(python, "-c", script, port)
	if uid != os.Geteuid() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as uid %d: %v\n%s", uid, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestRelaxedProxyOtherUsers: in relaxed mode the proxies listen on the
// host's 127.0.0.1, where every local user can connect. Another user's
// connection is closed at once, before it takes one of the run's client
// slots (holding 4,096 of them unauthenticated kept the command's own
// requests waiting); fence's own user still meets the credential check.
func TestRelaxedProxyOtherUsers(t *testing.T) {
	python := need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("relaxed.json", `{"network": {"allowedDomains": ["*"]}}`)
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		cmd := s.command(ctx, opts{}, "-s", cfg, "-c", `echo "$HTTP_PROXY"; read line || true`)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr := startPiped(t, cmd)
		defer func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("fence: %v\n%s", err, stderr.String())
			}
		}()
		line, err := stdout.ReadString('\n')
		i := strings.LastIndex(line, ":")
		if err != nil || !strings.HasPrefix(line, "http://fence:") || i < 0 {
			t.Fatalf("proxy URL line %q (%v); stderr %s", line, err, stderr.String())
		}
		port := strings.TrimSpace(line[i+1:])
		if got := proxyReply(t, python, s.r.uid, port); !strings.HasPrefix(got, "HTTP/1.1 407") {
			t.Errorf("fence's own user without the credential: got %q, want 407", got)
		}
		if os.Geteuid() != 0 {
			return // another user's connection needs root to make
		}
		other := 65534
		if s.r.uid == 65534 {
			other = 0
		}
		if got := proxyReply(t, python, other, port); got != "closed" {
			t.Errorf("uid %d's connection to the proxies of uid %d's run: got %q, want it closed unserved", other, s.r.uid, got)
		}
	})
}

// TestRelaxedMode: allowedDomains ["*"] shares the host network, and the
// proxies it still runs on the host's loopback demand the per-run
// credential from anyone else.
func TestRelaxedMode(t *testing.T) {
	need(t, "curl")
	port, _ := hostHTTP(t, "direct")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("relaxed.json", `{"network": {"allowedDomains": ["*"]}}`)
		p := strconv.Itoa(port)
		res := s.mustRun("-s", cfg, "-c", `curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:`+p+`/d; echo; echo "proxy=$HTTP_PROXY"`)
		if !strings.Contains(res.stdout, "hello from direct /d") {
			t.Errorf("relaxed mode: host network not shared\n%v", res)
		}
		i := strings.Index(res.stdout, "proxy=http://fence:")
		if i < 0 {
			t.Fatalf("relaxed mode: proxy URL without credential\n%v", res)
		}
		if !strings.Contains(res.stderr, "Warning:") {
			t.Errorf(`"*" in a user file must warn\n%v`, res)
		}
		// A relaxed template: fence guesses the host network from -t
		// before loading any config (no second spawn); the result must be
		// the same.
		res = s.mustRun("-t", "code-relaxed", "-c", `curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:`+p+`/t`)
		if !strings.Contains(res.stdout, "hello from direct /t") {
			t.Errorf("-t code-relaxed: host network not shared\n%v", res)
		}
	})
}

// A unix socket reached through ".." is checked where the kernel finds it,
// not where the path, cleaned, seems to lead: a directory renamed to and
// fro between an allowed directory and another (x below, a socket of
// another user's beside it in a sticky directory, which the sandbox can
// neither move nor reach) made allowed/x/a/../../s.sock connect to that
// socket while the guard named it allowed/s.sock.
func TestUnixSocketThroughDotDotRace(t *testing.T) {
	need(t, "python3")
	needRootFor(t, "a socket and a sticky directory of another user")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		other := 65534
		if !s.r.root() {
			other = 0
		}
		ws := s.mkdir("ws")
		allowed := s.mkdir("ws/allowed")
		s.mkdir("ws/allowed/x/" + strings.Repeat("a/", 10))
		st := filepath.Join(ws, "st")
		if err := os.Mkdir(st, 0o755); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(st, "s.sock")
		hostUnixServer(t, sock, "host-secret")
		for _, p := range []string{sock, st} {
			if err := os.Chown(p, other, other); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(st, 0o1777); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(allowed, "x") + strings.Repeat("/a", 10) + strings.Repeat("/..", 11) + "/s.sock"
		if len(path) > 107 {
			t.Skipf("workspace path too long for a socket address (%d bytes)", len(path))
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+ws+`"]},"network":{"allowUnixSockets":["`+allowed+`"]}}`)
		res := s.fence("-s", cfg, "--", "python3", "-c", `import os, socket, sys, threading, time
allowed, st, path = sys.argv[1:4]
def conn(p):
    c = socket.socket(socket.AF_UNIX)
    try:
        c.connect(p); return "got:" + c.recv(64).decode().strip()
    except OSError as e:
        return "refused:%d" % e.errno
    finally:
        c.close()
print("direct", conn(st + "/s.sock"))
stop, moves = False, [0]
def mover():
    while not stop:
        try:
            os.rename(allowed + "/x", st + "/x"); os.rename(st + "/x", allowed + "/x"); moves[0] += 1
        except OSError:
            pass
th = threading.Thread(target=mover); th.start()
got, tries, t0 = 0, 0, time.time()
while time.time() - t0 < 3 and not got:
    tries += 1
    if conn(path).startswith("got:"): got += 1
stop = True; th.join()
print("moves", moves[0] > 0, "got", got, "tries", tries)`, allowed, st, path)
		if !strings.Contains(res.stdout, "direct refused:13\n") || !strings.Contains(res.stdout, "moves True got 0 ") {
			t.Errorf("want the host socket refused, directly and through .. while x moves (and x moved): %v", res)
		}
	})
}

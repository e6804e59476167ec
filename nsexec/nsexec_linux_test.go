package nsexec_test

import (
	"bufio"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nsfence/fence/nsexec"
	"github.com/nsfence/fence/nsexec/landlock"
	"github.com/nsfence/fence/nsexec/spawn"
)

func TestMain(m *testing.M) {
	// The test binary is re-executed as the init stage.
	if nsexec.IsInit() {
		nsexec.Init()
	}
	os.Exit(m.Run())
}

func requireBash(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/bash", "/bin/bash"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("bash not installed: needed for /dev/tcp")
	return ""
}

// run starts o with stdout captured and returns stdout and the exit code.
func start(t *testing.T, o *nsexec.Options) (*nsexec.Process, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	o.Stdout = w
	p, err := nsexec.Start(o)
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("start sandbox: %v", err)
	}
	return p, r
}

// TestListenerHandOff checks the path the proxies use: a listener created by
// the init stage inside the sandbox's network namespace, passed to the
// supervisor with SCM_RIGHTS, and served there.
func TestListenerHandOff(t *testing.T) {
	bash := requireBash(t)
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/3128 && echo ping >&3 && read -r x <&3 && echo "got-$x"`},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
		// 3128 is fixed on purpose: the port lives in the sandbox's own
		// network namespace, so it cannot clash with anything on the host.
		Listeners: []string{"127.0.0.1:3128"},
	}
	p, out := start(t, o)
	defer out.Close()
	if len(p.Listeners) != 1 {
		t.Fatalf("got %d listeners, want 1", len(p.Listeners))
	}
	ln, err := net.FileListener(p.Listeners[0])
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		_, _ = io.WriteString(c, "pong\n")
		served <- strings.TrimSpace(line)
	}()
	code, err := p.Wait()
	if err != nil || code != 0 {
		t.Fatalf("sandbox exited %d, %v", code, err)
	}
	if got := <-served; got != "ping" {
		t.Fatalf("supervisor side read %q, want ping", got)
	}
	b, _ := io.ReadAll(out)
	if strings.TrimSpace(string(b)) != "got-pong" {
		t.Fatalf("command printed %q, want got-pong", b)
	}
}

// TestHostLoopbackUnreachable: the host's 127.0.0.1 is a different address
// space from the sandbox's.
func TestHostLoopbackUnreachable(t *testing.T) {
	bash := requireBash(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + itoa(port) + " && echo connected"},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
	}
	p, out := start(t, o)
	defer out.Close()
	code, _ := p.Wait()
	b, _ := io.ReadAll(out)
	if code == 0 || strings.Contains(string(b), "connected") {
		t.Fatalf("sandbox reached the host's 127.0.0.1:%d (exit %d, %q)", port, code, b)
	}
}

// TestInitThreadsInSandboxNetns: every thread of PID 1 is in the sandbox's
// network namespace, with the command: PID 1 creates the namespace on one
// of its threads and moves the others in (nsexec's setup), and a thread
// left behind in the host's would make connections for -p, or for the
// guard, on the host. Reading another process's namespaces from outside
// needs root (PID 1 is not dumpable).
func TestInitThreadsInSandboxNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reading PID 1's /proc/PID/task/*/ns/net from outside needs root: run the tests as root")
	}
	o := &nsexec.Options{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", "readlink /proc/self/ns/net; read x; exit 0"},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	o.Stdin = r
	p, out := start(t, o)
	r.Close()
	defer out.Close()
	line, _ := bufio.NewReader(out).ReadString('\n')
	inside := strings.TrimSpace(line)
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inside, "net:[") || inside == host {
		t.Fatalf("the command's network namespace is %q, the host's %q: want a namespace of its own", inside, host)
	}
	tasks, err := os.ReadDir("/proc/" + itoa(p.Pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 3 {
		t.Fatalf("PID 1 has %d threads: the test needs the runtime's usual few to mean anything", len(tasks))
	}
	for _, task := range tasks {
		ns, err := os.Readlink("/proc/" + itoa(p.Pid) + "/task/" + task.Name() + "/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		if ns != inside {
			t.Errorf("thread %s of PID 1 is in network namespace %s, the command in %s", task.Name(), ns, inside)
		}
	}
	w.Close()
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d %v", code, err)
	}
}

// TestInitFailureReported: a policy the init stage cannot apply is an error
// from Start, and the command never runs.
func TestInitFailureReported(t *testing.T) {
	o := &nsexec.Options{
		Path: "/bin/true",
		Args: []string{"true"},
		Dir:  "/nonexistent-dir-for-fence-test",
	}
	_, err := nsexec.Start(o)
	if err == nil || !strings.Contains(err.Error(), "working directory") {
		t.Fatalf("Start error = %v, want a working directory error", err)
	}
}

// TestMaskOfRootRefused: a mask of "/" would hide nothing (the root mount
// is where paths start, not a mount on it), in place or on a staged root:
// the start fails instead of running the command with every file readable.
func TestMaskOfRootRefused(t *testing.T) {
	for _, fs := range []nsexec.FSPolicy{
		{Masked: []string{"/"}},
		{Masked: []string{"/"}, ReadOnly: []string{"/"}},
	} {
		o := &nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: "/", FS: fs}
		p, err := nsexec.Start(o)
		if err == nil {
			code, werr := p.Wait()
			t.Errorf("masked / with %+v: the sandbox started (true exited %d, %v), want a refusal", fs, code, werr)
		} else if !strings.Contains(err.Error(), "mask /: a mask cannot hide the root") {
			t.Errorf("masked / with %+v: start error %v, want the mask's refusal", fs, err)
		}
	}
}

// TestPrivateTmpLinks: outside a defaultDenyRead root, Links are made in
// the private /tmp (a home that is a symlink there) and nowhere else: one
// elsewhere stops the start.
func TestPrivateTmpLinks(t *testing.T) {
	o := &nsexec.Options{Path: "/bin/sh", Args: []string{"sh", "-c", "readlink /tmp/x/home"}, Dir: "/"}
	o.FS.Links = [][2]string{{"/tmp/x/home", "real"}}
	p, r := start(t, o)
	out, _ := io.ReadAll(r)
	if code, err := p.Wait(); err != nil || code != 0 || string(out) != "real\n" {
		t.Errorf("a link in the private /tmp: exit %d, %v, output %q; want \"real\"", code, err, out)
	}
	for _, bad := range []string{"/etc/x", "/tmp/../etc/x", "/tmpx"} {
		o := &nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: "/"}
		o.FS.Links = [][2]string{{bad, "real"}}
		if _, err := nsexec.Start(o); err == nil || !strings.Contains(err.Error(), "not in the private /tmp") {
			t.Errorf("a link at %s: start error %v, want a refusal", bad, err)
		}
	}
}

// TestWaitTwice: Reaped is closed once PID 1 is reaped, and a second Wait
// (its background reap finds nothing left) must not close it again, which
// panicked in a goroutine of its own, taking the whole program down.
func TestWaitTwice(t *testing.T) {
	p, r := start(t, &nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: "/"})
	defer r.Close()
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v; want 0", code, err)
	}
	select {
	case <-p.Reaped():
	case <-time.After(10 * time.Second):
		t.Fatal("Reaped not closed 10 s after Wait")
	}
	if _, err := p.Wait(); err != nil {
		t.Errorf("second Wait: %v", err)
	}
	// The second Wait's background reap must have ended quietly.
	time.Sleep(50 * time.Millisecond)
	if _, err := unix.Wait4(p.Pid, nil, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Errorf("wait4(%d) after Wait = %v, want ECHILD (PID 1 reaped)", p.Pid, err)
	}
}

// TestPendingEndsOnce: a pending init stage that Start refuses (here the
// network mode differs) is aborted by Start itself; the caller's own Abort
// afterwards (deferred, as in fence.Run) and a second Start must then do
// nothing, not close the spawning thread's channel twice, and the init
// stage must be gone.
func TestPendingEndsOnce(t *testing.T) {
	c, err := spawn.Start(false, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pd := nsexec.Adopt(c)
	if _, err := pd.Start(&nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: "/", HostNetwork: true}); err == nil {
		t.Fatal("Start with another network mode succeeded")
	}
	pd.Abort()
	pd.Abort()
	if _, err := pd.Start(&nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: "/"}); err == nil {
		t.Fatal("Start after Abort succeeded")
	}
	// Start's own Abort reaped the init stage (c.Pid is set: Start waited
	// for the clone).
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(c.Pid, &ws, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Fatalf("wait4(%d) after Abort = %d, %v; want ECHILD (the init stage was not reaped)", c.Pid, pid, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestConnectIntoSandbox: the supervisor reaches a server that listens on
// 127.0.0.1 inside the sandbox (the -p path), through a socket PID 1
// connects and hands over.
func TestConnectIntoSandbox(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: needed for the in-sandbox server")
	}
	server := `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8765)); s.listen(1)
print("listening", flush=True)
c, _ = s.accept(); data = c.recv(100); c.sendall(b"echo:" + data); c.close()
`
	o := &nsexec.Options{
		Path: py, Args: []string{"python3", "-c", server},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
	}
	p, out := start(t, o)
	defer out.Close()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "listening" {
		t.Fatalf("server said %q", line)
	}
	c, err := p.Connect(8765)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "hi"); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "echo:hi" {
		t.Fatalf("got %q", b)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d %v", code, err)
	}
	if _, err := p.Connect(8765); err == nil {
		t.Fatal("Connect after exit succeeded")
	}
}

// TestNoFDLeak: the command inherits exactly stdin, stdout and stderr; the
// control socket, listeners and the guard's notification fd stay behind.
func TestNoFDLeak(t *testing.T) {
	o := &nsexec.Options{
		Path: "/bin/ls", Args: []string{"ls", "/proc/self/fd"},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
		Listeners: []string{"127.0.0.1:3128"},
		FS:        nsexec.FSPolicy{Guarded: []string{"/nonexistent/.bashrc"}},
	}
	p, out := start(t, o)
	defer out.Close()
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d %v", code, err)
	}
	b, _ := io.ReadAll(out)
	// ls itself has one fd open on the directory it lists.
	if got := strings.Fields(string(b)); len(got) != 4 || got[0] != "0" || got[1] != "1" || got[2] != "2" {
		t.Fatalf("fds in the command: %q, want 0 1 2 and ls's own", got)
	}
}

// TestPassFiles: the descriptors PassFilesLater gives reach the command at
// their numbers, more of them than one message carries, and the command
// gets no other; they are the caller's own, close-on-exec (PID 1 did not
// inherit them, and may receive one at its own number). Numbers that PID 1
// could not place, and an error of PassFilesLater, end the start before the
// command runs.
func TestPassFiles(t *testing.T) {
	bash := requireBash(t)
	const n = 300 // over the 253 descriptors one message can carry
	var nums []int
	for i := range n {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(w, "pipe%d\n", i); err != nil {
			t.Fatal(err)
		}
		w.Close()
		defer r.Close()
		nums = append(nums, int(r.Fd()))
	}
	first, last := nums[0], nums[n-1]
	o := &nsexec.Options{
		Path: bash, Args: []string{"bash", "-c", fmt.Sprintf(`read -r a <&%d; read -r b <&%d; echo "$a $b"; ls /proc/self/fd | wc -l`, first, last)},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
		PassFilesLater: func() ([]int, error) { return nums, nil },
	}
	p, out := start(t, o)
	defer out.Close()
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d %v", code, err)
	}
	b, _ := io.ReadAll(out)
	// 0 to 2, the pipes, and ls's own directory.
	if want := fmt.Sprintf("pipe0 pipe%d\n%d\n", n-1, 3+n+1); string(b) != want {
		t.Fatalf("command printed %q, want %q", b, want)
	}

	// The same start with nothing to pass runs the command: the refusals
	// below are PassFilesLater's.
	ran := filepath.Join(t.TempDir(), "ran")
	o = &nsexec.Options{Path: "/bin/touch", Args: []string{"touch", ran}, Dir: "/", FS: nsexec.FSPolicy{Writable: []string{filepath.Dir(ran)}},
		PassFilesLater: func() ([]int, error) { return nil, nil }}
	if p, err := nsexec.Start(o); err != nil {
		t.Fatal(err)
	} else if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("touch with nothing to pass: exit %d %v", code, err)
	}
	if _, err := os.Stat(ran); err != nil {
		t.Fatalf("touch with nothing to pass: %v", err)
	}
	for i, bad := range []func() ([]int, error){
		func() ([]int, error) { return []int{2}, nil },
		func() ([]int, error) { return []int{first, first}, nil },
		func() ([]int, error) { return []int{-1}, nil },
		func() ([]int, error) { return nil, errors.New("no pipes today") },
	} {
		ran := filepath.Join(t.TempDir(), "ran")
		o := &nsexec.Options{Path: "/bin/touch", Args: []string{"touch", ran}, Dir: "/", FS: nsexec.FSPolicy{Writable: []string{filepath.Dir(ran)}}, PassFilesLater: bad}
		if p, err := nsexec.Start(o); err == nil {
			_, _ = p.Wait()
			t.Errorf("bad PassFilesLater %d: started, want an error", i)
		}
		if _, err := os.Stat(ran); err == nil {
			t.Errorf("bad PassFilesLater %d: the command ran", i)
		}
	}
}

// TestStartGated: with a gate, the sandbox comes up, but the command runs
// only once the gate is closed (the supervisor registers its signal
// handlers meanwhile), and StartGated returns only then.
func TestStartGated(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gate := make(chan struct{})
	var opened int64
	go func() {
		time.Sleep(300 * time.Millisecond)
		opened = time.Now().UnixNano()
		close(gate)
	}()
	p, err := nsexec.StartGated(&nsexec.Options{
		// date's clock is the host's: CLOCK_REALTIME has no namespace.
		Path: "/bin/sh", Args: []string{"sh", "-c", "date +%s%N"},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", Stdout: w,
	}, gate)
	w.Close()
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	returned := time.Now().UnixNano()
	b, _ := io.ReadAll(r)
	code, err := p.Wait()
	if err != nil || code != 0 {
		t.Fatalf("wait: code %d, err %v", code, err)
	}
	ran, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("command output %q: %v", b, err)
	}
	if opened == 0 || returned < opened {
		t.Fatalf("StartGated returned before the gate was closed")
	}
	if ran < opened {
		t.Fatalf("command ran %v before the gate was closed", time.Duration(opened-ran))
	}
}

// TestMountOnStagedRoot: a bind on "/" itself (allowWrite ["."] run from
// /) covers the staged root. Masks and read-only binds made after it must
// still land in the tree the command sees, not on the covered mount.
func TestMountOnStagedRoot(t *testing.T) {
	dir := t.TempDir()
	secret, prot := dir+"/secret", dir+"/prot"
	if err := os.WriteFile(secret, []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prot, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &nsexec.Options{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", `cat "$1"; echo "|"; echo x >> "$2" && echo wrote; echo "sys=$(awk '$5 == "/sys" {print $6}' /proc/self/mountinfo)"; echo "self=$(readlink /proc/self)"; ls /dev`, "sh", secret, prot},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable:  []string{"/"},
			Masked:    []string{secret},
			Protected: []string{prot},
		},
	}
	p, out := start(t, o)
	defer out.Close()
	outb, _ := io.ReadAll(out)
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := string(outb); strings.Contains(got, "s3cret") || strings.Contains(got, "wrote") || !strings.HasPrefix(got, "|") {
		t.Fatalf("output %q: the masked file was readable or the protected file writable", got)
	}
	if b, _ := os.ReadFile(prot); string(b) != "keep" {
		t.Fatalf("protected file changed to %q", b)
	}
	// The sandbox's own /proc and /dev go on top of the bind of "/": the
	// shell's pid is one of the sandbox's few, and no host device node
	// (kmsg, say) shows through.
	got := string(outb)
	i := strings.Index(got, "self=")
	if i < 0 {
		t.Fatalf("output %q: no self= line", got)
	}
	var pid int
	if _, err := fmt.Sscanf(got[i:], "self=%d", &pid); err != nil || pid > 20 {
		t.Fatalf("/proc/self is %q inside: the host's /proc shows through the bind of /", got[i:])
	}
	// The host's /sys comes with the writable "/", read-only (kernel
	// settings are not the command's to change, even when root runs it).
	var st, parent unix.Stat_t
	if unix.Stat("/sys", &st) == nil && unix.Stat("/", &parent) == nil && st.Dev != parent.Dev {
		j := strings.Index(got, "sys=")
		if j < 0 || !strings.HasPrefix(got[j+len("sys="):], "ro") {
			t.Fatalf("/sys inside is not mounted read-only under a writable /: %q", got)
		}
	}
	if _, err := os.Stat("/dev/kmsg"); err == nil && strings.Contains(got, "kmsg") {
		t.Fatalf("/dev inside lists kmsg: the host's /dev shows through the bind of /\n%s", got)
	}
}

// TestHostMountsReadOnly: the sandbox's root is the mount namespace's copy
// of the host's tree, made read-only, nosuid and nodev in place; every
// mount of it must be, the host's submounts too (/sys/fs/cgroup, a disk
// on /mnt), or without Landlock the sandbox could write there. Only the
// sandbox's own /proc, /dev and /tmp, and the writable binds, are not.
func TestHostMountsReadOnly(t *testing.T) {
	w := t.TempDir()
	o := &nsexec.Options{
		Path: "/bin/cat",
		Args: []string{"cat", "/proc/self/mountinfo"},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
		FS:   nsexec.FSPolicy{Writable: []string{w}},

		NoLandlock: true,
	}
	p, out := start(t, o)
	defer out.Close()
	outb, _ := io.ReadAll(out)
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	own := func(mp string) bool {
		for _, d := range []string{"/proc", "/dev", "/tmp", w} {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				return true
			}
		}
		return false
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(outb)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || own(f[4]) {
			continue
		}
		n++
		opts := map[string]bool{}
		for _, o := range strings.Split(f[5], ",") {
			opts[o] = true
		}
		if !opts["ro"] || !opts["nosuid"] || !opts["nodev"] {
			t.Errorf("host mount %s inside is %s, want ro,nosuid,nodev", f[4], f[5])
		}
	}
	if n == 0 {
		t.Fatalf("no host mount in the sandbox's mountinfo:\n%s", outb)
	}
}

// TestSocketsBoundOnlyIfSockets: FSPolicy.Sockets are bound only where
// what the bind finds is a socket. Another user may swap a listed socket
// in /tmp for a symlink to a file of yours after the plan: the file must
// not show at the socket's path in the private /tmp.
func TestSocketsBoundOnlyIfSockets(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "nsexec-sockets-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, []byte("SECRET-KEY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	swapped := filepath.Join(dir, "swapped.sock")
	if err := os.Symlink(key, swapped); err != nil {
		t.Fatal(err)
	}
	// A file where a socket was planned is not bound.
	plain := filepath.Join(dir, "plain.sock")
	if err := os.WriteFile(plain, []byte("NOT-A-SOCKET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &nsexec.Options{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", `test -S "$1" && echo socket; cat "$2" 2>/dev/null || echo no-file`, "sh", sock, plain},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
		FS:   nsexec.FSPolicy{Sockets: []string{sock, plain}},
	}
	p, out := start(t, o)
	defer out.Close()
	outb, _ := io.ReadAll(out)
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := string(outb); got != "socket\nno-file\n" {
		t.Errorf("sockets %s and %s (a file) bound: got %q, want the socket alone", sock, plain, got)
	}
	// A symlink where the planner resolved a socket (another user's swap
	// for one to your file, or to a socket of yours) stops the start.
	o = &nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: "/", FS: nsexec.FSPolicy{Sockets: []string{sock, swapped}}}
	if _, err := nsexec.Start(o); err == nil || !strings.Contains(err.Error(), "a symlink is on the way now") {
		t.Errorf("a socket path that is a symlink at the bind: start error %v, want a refusal", err)
	}
}

// TestTmpBindsPinned: a path of the host's /tmp bound over the private one
// (the working directory, a repository's top, allowRead there), or a
// protected path (read-only over a writable one), is bound as
// the planner found it: a symlink on the way at the bind (another user's
// swap, as from /tmp/theirs/proj to ~) fails the start instead of showing
// what the link leads to there, unmasked.
func TestTmpBindsPinned(t *testing.T) {
	// In the host's /tmp (which the private one hides) and elsewhere.
	for _, base := range []string{"/tmp", "/var/tmp"} {
		t.Run(base, func(t *testing.T) { bindsPinned(t, base) })
	}
}

func bindsPinned(t *testing.T, base string) {
	dir, err := os.MkdirTemp(base, "nsexec-pinned-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "f"), []byte("content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &nsexec.Options{Path: "/bin/cat", Args: []string{"cat", filepath.Join(real, "f")}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/"}
	o.FS.ReadOnly = []string{real}
	p, out := start(t, o)
	got, _ := io.ReadAll(out)
	out.Close()
	if code, err := p.Wait(); err != nil || code != 0 || string(got) != "content\n" {
		t.Fatalf("a directory of the host's /tmp bound read-only: exit %d, %v, output %q; want its file", code, err, got)
	}
	swapped := filepath.Join(dir, "swapped")
	if err := os.Symlink(real, swapped); err != nil {
		t.Fatal(err)
	}
	for _, bind := range []func(*nsexec.FSPolicy, string){
		func(fs *nsexec.FSPolicy, p string) { fs.ReadOnly = []string{p} },
		func(fs *nsexec.FSPolicy, p string) { fs.Writable = []string{p} },
		// A protected path too (a shared project's .vscode swapped for
		// a symlink to ~/.ssh, and back before the attach).
		func(fs *nsexec.FSPolicy, p string) { fs.Protected = []string{p} },
	} {
		for _, p := range []string{swapped, filepath.Join(swapped, "f")} {
			o := &nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: "/"}
			bind(&o.FS, p)
			if _, err := nsexec.Start(o); err == nil || !strings.Contains(err.Error(), "a symlink is on the way now") {
				t.Errorf("a bind of %s (a symlink on the way): start error %v, want a refusal", p, err)
			}
		}
	}
}

// TestDirIsOwnChecked: with DirIsOwn, PID 1 refuses to start the command
// unless Dir, as the sandbox shows it, is the directory it inherited (the
// caller's), whatever a path swapped meanwhile leads to.
func TestDirIsOwnChecked(t *testing.T) {
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	other := "/usr" // there in the sandbox, and not the caller's
	o := &nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: other, DirIsOwn: true}
	if _, err := nsexec.Start(o); err == nil || !strings.Contains(err.Error(), "changed while fence started") {
		t.Errorf("Dir %s, the caller in %s: start error %v, want a refusal", other, here, err)
	}
	o = &nsexec.Options{Path: "/bin/true", Args: []string{"true"}, Dir: here, DirIsOwn: true}
	p, out := start(t, o)
	out.Close()
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Errorf("Dir the caller's own: exit %d, %v", code, err)
	}
}

// TestJobEvents: with JobControl, PID 1 reports the command's pid as the
// supervisor sees it, then its stops; SignalGroup reaches its whole group.
// No terminal is needed: TTY without Foreground only makes the command a
// process group of its own.
func TestJobEvents(t *testing.T) {
	p, r := start(t, &nsexec.Options{
		Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 30 & kill -STOP $$; kill $!; echo continued"},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", TTY: true, JobControl: true,
	})
	defer r.Close()
	if p.Jobs == nil {
		t.Fatal("no Jobs channel with JobControl")
	}
	next := func() nsexec.JobEvent {
		t.Helper()
		select {
		case ev, ok := <-p.Jobs:
			if !ok {
				t.Fatal("Jobs closed early")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no job event within 10 s")
		}
		return nsexec.JobEvent{}
	}
	ev := next()
	if ev.Err != nil || ev.Pid <= 0 {
		t.Fatalf("first event %+v; want the command's pid", ev)
	}
	// The pid is the command's in this PID namespace: it has a second pid
	// in the sandbox's, and it leads its own group.
	st, err := os.ReadFile("/proc/" + itoa(ev.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var nspid []string
	for line := range strings.Lines(string(st)) {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			nspid = strings.Fields(v)
		}
	}
	if len(nspid) != 2 || nspid[0] != itoa(ev.Pid) || nspid[1] == "1" {
		t.Errorf("NSpid of pid %d: %q; want it and a pid in the sandbox other than 1", ev.Pid, nspid)
	}
	if pg, err := syscall.Getpgid(ev.Pid); err != nil || pg != ev.Pid {
		t.Errorf("pgid of the command %d: %d (%v); want its own group", ev.Pid, pg, err)
	}
	if ev = next(); ev.Stop != syscall.SIGSTOP {
		t.Fatalf("second event %+v; want a stop by SIGSTOP", ev)
	}
	if err := p.SignalGroup(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	if code, err := p.Wait(); err != nil || code != 0 || string(out) != "continued\n" {
		t.Errorf("after SIGCONT: exit %d (%v), output %q; want 0 and \"continued\"", code, err, out)
	}
	for ev := range p.Jobs {
		t.Errorf("event after the exit: %+v", ev)
	}
}

// TestFreezeThaw: Freeze stops every process of the sandbox, whatever its
// process group; Thaw continues all but those that were stopped before,
// including a child born from a fork under way at the freeze (a fork
// loop makes that likely over the rounds).
func TestFreezeThaw(t *testing.T) {
	p, r := start(t, &nsexec.Options{
		Path: "/bin/sh", Args: []string{"sh", "-c", `setsid sh -c 'while :; do /bin/true; done' & sleep 300 & kill -STOP $!
while read -r _ _ st _ </proc/$!/stat; [ "$st" != T ]; do :; done
echo ready $!; wait`},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", TTY: true, JobControl: true,
	})
	defer r.Close()
	go func() {
		for range p.Jobs {
		}
	}()
	defer func() {
		_ = p.SignalGroup(syscall.SIGKILL)
		_, _ = p.Wait()
	}()
	// The sleep's pid in the sandbox: it was stopped before any freeze
	// (maybe still as the shell's fork, before its exec).
	line, _ := bufio.NewReader(r).ReadString('\n')
	sleepNS, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		t.Fatalf("command output %q, want ready and a pid", line)
	}
	// states returns the sandbox's processes (PID 1's descendants) by
	// state letter, the stopped sleep apart. A process in an
	// uninterruptible sleep with SIGSTOP pending (a vfork parent whose
	// child stopped before its exec) counts as stopped: it stops before
	// its next instruction.
	states := func() (stopped, running []int, sleepStopped bool) {
		for pid, st := range descendants(p.Pid) {
			status, _ := os.ReadFile("/proc/" + itoa(pid) + "/status")
			var nspid []string
			stopPending := false
			for line := range strings.Lines(string(status)) {
				if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
					nspid = strings.Fields(v)
				}
				if v, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
					mask, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
					stopPending = mask&(1<<(syscall.SIGSTOP-1)) != 0
				}
			}
			switch {
			case len(nspid) == 2 && nspid[1] == sleepNS:
				sleepStopped = st == "T"
			case st == "T" || st == "t" || st == "D" && stopPending:
				stopped = append(stopped, pid)
			case st != "Z":
				running = append(running, pid)
			}
		}
		return
	}
	for round := 0; round < 30; round++ {
		if err := p.Freeze(); err != nil {
			t.Fatal(err)
		}
		// A child of a fork under way at the freeze may still show as
		// running: it stops before its first instruction.
		var running []int
		for deadline := time.Now().Add(time.Second); ; time.Sleep(2 * time.Millisecond) {
			if _, running, _ = states(); len(running) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(running) > 0 {
			var what []string
			for _, pid := range running {
				st, _ := os.ReadFile("/proc/" + itoa(pid) + "/status")
				cmd, _ := os.ReadFile("/proc/" + itoa(pid) + "/cmdline")
				what = append(what, fmt.Sprintf("%d %q %s", pid, cmd, st))
			}
			t.Fatalf("round %d: processes %v still run after Freeze", round, what)
		}
		if err := p.Thaw(); err != nil {
			t.Fatal(err)
		}
		// Thaw is not acknowledged: give PID 1 a moment.
		var stopped []int
		var sleepStopped bool
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if stopped, _, sleepStopped = states(); len(stopped) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(stopped) > 0 {
			var what []string
			for _, pid := range stopped {
				cmd, _ := os.ReadFile("/proc/" + itoa(pid) + "/cmdline")
				what = append(what, fmt.Sprintf("%d %q", pid, cmd))
			}
			t.Fatalf("round %d: processes %v still stopped after Thaw", round, what)
		}
		if !sleepStopped {
			t.Fatalf("round %d: the sleep stopped before the freeze was continued by Thaw", round)
		}
	}
}

// descendants returns the processes below pid with their state letter.
func descendants(pid int) map[int]string {
	parent, state := map[int]int{}, map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[n], state[n] = pp, f[0]
	}
	out := map[int]string{}
	for n := range parent {
		for a := parent[n]; a > 1; a = parent[a] {
			if a == pid {
				out[n] = state[n]
				break
			}
		}
	}
	return out
}

// TestPTY: with Options.PTY the command's terminal descriptors are a
// pseudo-terminal of the sandbox's, whose master the supervisor gets, and
// Foreground moves its foreground between PID 1's group (where a command
// started in the background stops on a read, SIGTTIN) and the command's.
func TestPTY(t *testing.T) {
	p, err := nsexec.Start(&nsexec.Options{
		Path: "/bin/sh", Args: []string{"sh", "-c", "tty; read x; echo got-$x"},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", TTY: true, JobControl: true, PTY: 1<<0 | 1<<1,
	})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	if p.PTY == nil {
		t.Fatal("no pseudo-terminal master with Options.PTY")
	}
	defer p.PTY.Close()
	var mu sync.Mutex
	var out strings.Builder
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := p.PTY.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	fg := func() int {
		pg, err := unix.IoctlGetInt(int(p.PTY.Fd()), unix.TIOCGPGRP)
		if err != nil {
			t.Fatalf("foreground of the sandbox's terminal: %v", err)
		}
		return pg
	}
	ev := <-p.Jobs
	if ev.Pid <= 0 {
		t.Fatalf("first job event %+v; want the command's pid", ev)
	}
	if got := fg(); got != p.Pid {
		t.Errorf("foreground at start %d; want PID 1's group %d (the command starts in the background)", got, p.Pid)
	}
	if ev := <-p.Jobs; ev.Stop != syscall.SIGTTIN {
		t.Fatalf("job event %+v; want a stop by SIGTTIN (a read from the background)", ev)
	}
	for _, cmd := range []bool{true, false, true} {
		if err := p.Foreground(cmd); err != nil {
			t.Fatalf("Foreground(%v): %v", cmd, err)
		}
		want := p.Pid
		if cmd {
			want = ev.Pid
		}
		if got := fg(); got != want {
			t.Errorf("after Foreground(%v): foreground %d, want %d", cmd, got, want)
		}
	}
	if err := p.SignalGroup(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PTY.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Errorf("exit %d (%v); want 0", code, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(output(), "got-hello") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if o := output(); !strings.Contains(o, "/dev/pts/0") || !strings.Contains(o, "got-hello") {
		t.Errorf("output %q; want the terminal's name /dev/pts/0 and got-hello", o)
	}
}

// TestProcKernelFilesReadOnly: the fresh /proc's files that act on the
// host's kernel (sysctls, SysRq, IRQ affinities) are read-only mounts, so
// that even without Landlock (NoLandlock, a kernel that lacks it) a
// sandbox that fence runs as root cannot write them: the kernel lets a uid
// 0 without capabilities write kernel.core_pattern, which names a program
// the host runs as root. The command's own entries stay as they were.
func TestProcKernelFilesReadOnly(t *testing.T) {
	o := &nsexec.Options{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", `awk '$5 ~ "^/proc/" {print $5, substr($6, 1, 2)}' /proc/self/mountinfo; v=$(cat /proc/sys/kernel/printk_ratelimit) && echo "$v" > /proc/sys/kernel/printk_ratelimit && echo written`},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
		FS:   nsexec.FSPolicy{Writable: []string{t.TempDir()}},

		NoLandlock: true,
	}
	p, out := start(t, o)
	defer out.Close()
	outb, _ := io.ReadAll(out)
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	got := string(outb)
	if strings.Contains(got, "written") {
		t.Errorf("the sandbox wrote /proc/sys/kernel/printk_ratelimit without Landlock:\n%s", got)
	}
	for _, want := range []string{"/proc/sys ro", "/proc/irq ro", "/proc/bus ro", "/proc/fs ro", "/proc/acpi ro"} {
		if _, err := os.Stat(strings.Fields(want)[0]); err == nil && !strings.Contains(got, want) {
			t.Errorf("want %q among the mounts under /proc:\n%s", want, got)
		}
	}
}

// TestLandlockApplied: the command runs in a Landlock domain unless
// NoLandlock. Its own /proc/self/comm is writable under the mount policy
// (the sandbox's /proc is read-write) and outside Landlock's writable
// set: written with NoLandlock (the control: the probe can tell), refused
// without.
func TestLandlockApplied(t *testing.T) {
	if !landlock.Usable() {
		t.Skipf("kernel Landlock ABI %d, fence needs ABI %d (Linux 5.19, CONFIG_SECURITY_LANDLOCK and landlock in lsm=)", landlock.ABI(), landlock.MinABI)
	}
	for _, noLandlock := range []bool{true, false} {
		p, out := start(t, &nsexec.Options{
			Path: "/bin/sh", Args: []string{"sh", "-c", "echo renamed > /proc/self/comm 2>/dev/null && echo written || echo refused"},
			Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", NoLandlock: noLandlock,
		})
		b, _ := io.ReadAll(out)
		out.Close()
		if code, err := p.Wait(); err != nil || code != 0 {
			t.Fatalf("NoLandlock %v: exit %d %v", noLandlock, code, err)
		}
		want := "refused\n"
		if noLandlock {
			want = "written\n"
		}
		if string(b) != want {
			t.Errorf("NoLandlock %v: a write to /proc/self/comm: %q, want %q", noLandlock, b, want)
		}
	}
}

// TestProcDeviceFilesReadOnly: /proc/bus/pci/BUS/DEV is a PCI device's
// configuration space, which the kernel writes for any uid 0 that could
// open the file (the only check after the open is lockdown's). Without
// Landlock and without a writable path (no write guard to refuse the
// open), a sandbox that fence runs as root opened it to write. It is a
// read-only mount now; nothing is written here (an open with O_APPEND and
// no write).
func TestProcDeviceFilesReadOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can open the files to write at all")
	}
	if _, err := os.Stat("/proc/bus/pci"); err != nil {
		t.Skip("no /proc/bus/pci")
	}
	o := &nsexec.Options{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", `for f in /proc/bus/pci/*/*; do [ -f "$f" ] && (: >> "$f") 2>/dev/null && echo "opened $f to write"; done; echo checked`},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",

		NoLandlock: true,
	}
	p, out := start(t, o)
	defer out.Close()
	outb, _ := io.ReadAll(out)
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := string(outb); got != "checked\n" {
		t.Errorf("want no PCI configuration file opened to write:\n%s", got)
	}
}

// TestProcHostNetSysctlsReadOnly: a sandbox that shares the host's network
// namespace (HostNetwork) sees the host's network sysctls under
// /proc/sys/net, so they stay read-only as the rest of /proc/sys: without
// Landlock, a sandbox fence runs as root could otherwise change the host's
// network settings (forwarding, rp_filter, ...), which the kernel lets a
// uid 0 without capabilities write.
func TestProcHostNetSysctlsReadOnly(t *testing.T) {
	const sysctl = "/proc/sys/net/ipv4/ip_default_ttl"
	if os.Geteuid() != 0 {
		// The host's sysctls are root's, mode 0644: any other user's
		// write fails whatever the mount, and the test would pass with
		// /proc/sys/net writable.
		t.Skip("needs root: only root's sandbox could write the host's network sysctls")
	}
	before, err := os.ReadFile(sysctl)
	if err != nil {
		t.Skipf("no %s: %v", sysctl, err)
	}
	o := &nsexec.Options{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", `v=$(cat ` + sysctl + `) && echo "$v" > ` + sysctl + ` && echo written`},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
		FS:   nsexec.FSPolicy{Writable: []string{t.TempDir()}},

		HostNetwork: true,
		NoLandlock:  true,
	}
	p, out := start(t, o)
	defer out.Close()
	outb, _ := io.ReadAll(out)
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(outb), "written") {
		t.Errorf("a sandbox on the host's network wrote the host's %s without Landlock: %s", sysctl, outb)
	}
	if after, err := os.ReadFile(sysctl); err == nil && string(after) != string(before) {
		t.Errorf("%s changed from %q to %q", sysctl, before, after)
	}
}

// TestPID1FaultSignalsToThreads: sigqueue takes any thread id for its pid,
// and a thread of PID 1 other than the first stands for PID 1; a SIGSEGV
// queued there (code SI_QUEUE, not a kill's) crashed PID 1's Go runtime,
// which ended the sandbox with a stack dump and exit status 2 in place of
// the command's. Landlock's signal scope (Linux 6.12) refuses it; without
// Landlock (NoLandlock, an older kernel) only the command's seccomp filter
// stands, and must.
func TestPID1FaultSignalsToThreads(t *testing.T) {
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("python3 not installed")
	}
	o := &nsexec.Options{
		Path: python,
		Args: []string{"python3", "-c", `import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
nr = {"x86_64": 129, "aarch64": 138}[os.uname().machine]
for sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL):
    info = (ctypes.c_int * 32)()
    info[0], info[2] = sig, -1  # si_signo, si_code SI_QUEUE
    for tid in sorted(int(t) for t in os.listdir("/proc/1/task")):
        if tid != 1 and libc.syscall(nr, tid, sig, info) == 0:
            print("sent", sig, "to", tid, flush=True)
time.sleep(0.2)
print("alive")
raise SystemExit(3)`},
		Env: []string{"PATH=/usr/bin:/bin"},
		Dir: "/",

		NoLandlock: true,
	}
	p, out := start(t, o)
	defer out.Close()
	outb, _ := io.ReadAll(out)
	code, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || strings.Contains(string(outb), "sent") {
		t.Errorf("exit %d, want the command's 3, and no signal sent: %s", code, outb)
	}
}

// TestNoExecLater: denied programs given by Options.NoExecLater, sent
// after the rest of the policy while PID 1 builds the tree, are masked
// before the command runs, as those in FS.NoExec are (both kept): when
// they come at once and when PID 1 has to wait for them, with and without
// a start gate (whose msgStart must not overtake them).
func TestNoExecLater(t *testing.T) {
	truePath, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Skipf("no /bin/true here: %v", err)
	}
	falsePath, err := filepath.EvalSymlinks("/bin/false")
	if err != nil {
		t.Skipf("no /bin/false here: %v", err)
	}
	for _, tc := range []struct {
		name  string
		delay time.Duration
		gated bool
	}{
		{"at once", 0, false},
		{"PID 1 waits", 100 * time.Millisecond, false},
		{"gated, PID 1 waits", 100 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			o := &nsexec.Options{
				Path:   "/bin/sh",
				Args:   []string{"sh", "-c", truePath + `; echo "late:$?"; ` + falsePath + `; echo "early:$?"; /bin/sh -c 'exit 7'; echo "other:$?"`},
				Env:    []string{"PATH=/usr/bin:/bin"},
				Dir:    "/",
				Stdout: w,
				FS:     nsexec.FSPolicy{NoExec: []string{falsePath}},
				NoExecLater: func() ([]string, error) {
					calls++
					time.Sleep(tc.delay)
					return []string{truePath}, nil
				},
			}
			var gate chan struct{}
			if tc.gated {
				gate = make(chan struct{})
				close(gate)
			}
			p, err := nsexec.StartGated(o, gate)
			w.Close()
			if err != nil {
				t.Fatalf("start sandbox: %v", err)
			}
			b, _ := io.ReadAll(r)
			if code, err := p.Wait(); err != nil || code != 0 {
				t.Fatalf("sandbox exited %d, %v", code, err)
			}
			if calls != 1 {
				t.Errorf("NoExecLater was called %d times, want once", calls)
			}
			if got := string(b); !strings.Contains(got, "late:126\n") || !strings.Contains(got, "early:126\n") || !strings.Contains(got, "other:7\n") {
				t.Errorf("output %q: want %s and %s refused (126), another program run (7)", got, truePath, falsePath)
			}
		})
	}
}

// TestNoExecLaterReport: when PID 1 fails while NoExecLater runs, the
// start reports PID 1's error, not the closed socket that the denied
// programs then meet.
func TestNoExecLaterReport(t *testing.T) {
	o := &nsexec.Options{
		Path: "/bin/true",
		Args: []string{"true"},
		Dir:  "/",
		NoExecLater: func() ([]string, error) {
			time.Sleep(200 * time.Millisecond)
			return []string{"/bin/true"}, nil
		},
	}
	o.FS.Links = [][2]string{{"/etc/x", "real"}}
	if _, err := nsexec.Start(o); err == nil || !strings.Contains(err.Error(), "not in the private /tmp") {
		t.Errorf("start error %v, want PID 1's refusal of the link", err)
	}
}

// TestNoExecLaterError: when NoExecLater fails, the start fails with its
// error, the command never runs and the init stage is gone: PID 1 does
// not finish the tree without the denied programs.
func TestNoExecLaterError(t *testing.T) {
	w := t.TempDir()
	marker := filepath.Join(w, "ran")
	o := &nsexec.Options{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", "echo ran > " + marker},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Dir:  "/",
		FS:   nsexec.FSPolicy{Writable: []string{w}},
		NoExecLater: func() ([]string, error) {
			// Long enough for PID 1 to be waiting for them.
			time.Sleep(50 * time.Millisecond)
			return nil, errors.New("look for denied programs: test failure")
		},
	}
	p, err := nsexec.Start(o)
	if err == nil {
		p.Wait()
		t.Fatal("the start succeeded although NoExecLater failed")
	}
	if !strings.Contains(err.Error(), "test failure") {
		t.Errorf("start failed with %v, want NoExecLater's error", err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran although the policy was never complete")
	}
}

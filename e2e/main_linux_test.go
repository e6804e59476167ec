package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nsfence/fence/internal/rtoverlay"
	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// binDir holds the binaries built for the suite (fence, fixtures). It is
// world-readable so that the unprivileged runner can execute them.
var binDir string

// fenceBin is the fence binary under test.
var fenceBin string

// stdPath is the PATH every sandboxed command gets: the system directories
// only, so that the same tools are found as root and as nobody (a PATH into
// /root, e.g. pyenv shims, is not reachable by nobody).
var stdPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// runTimeout bounds every fence run; it only keeps a broken build from
// hanging the suite, nothing asserts how long a run takes.
const runTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv(reaperEnv) != "" {
		os.Exit(nonReapingParent(os.Args[1:]))
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// Every descriptor this process inherited above 2 made close-on-exec:
	// fence passes the pipes it inherits on to the command (and warns of
	// one too near a low open-file limit), and one leaked by the shell or
	// CI runner that started go test would otherwise reach every fence
	// the tests run, and change what they see.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: make inherited descriptors close-on-exec:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "fence-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create binary dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: chmod binary dir:", err)
		return 1
	}
	binDir = dir
	fenceBin = filepath.Join(dir, "fence")
	if out, err := goBuild(fenceBin, "../cmd/fence", nil); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build fence: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// goBuild runs `go build -o out pkg` with CGO_ENABLED=0 (plus extraEnv).
// fence itself is built as make build builds it: with nsexec/spawn's
// entry point, for the architecture extraEnv names if it names one, and
// with its runtime overlay (rtoverlay.Flags).
func goBuild(out, pkg string, extraEnv []string) ([]byte, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// No VCS stamping: the build must not depend on git (or on who owns
	// the checkout).
	args := []string{"build", "-buildvcs=false", "-o", out}
	if pkg == "../cmd/fence" {
		arch := runtime.GOARCH
		for _, kv := range extraEnv {
			if a, ok := strings.CutPrefix(kv, "GOARCH="); ok {
				arch = a
			}
		}
		if flag := spawn.LDFlags("linux", arch); flag != "" {
			args = append(args, "-ldflags="+flag)
		}
		// And with make build's runtime overlay.
		args = append(args, rtoverlay.Flags(gobin, filepath.Join(filepath.Dir(out), "overlay"))...)
	}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if pkg == "../cmd/fence" {
		env = append(env, goExperiment(gobin)...)
	}
	cmd := exec.Command(gobin, append(args, pkg)...)
	cmd.Env = append(env, extraEnv...)
	return cmd.CombinedOutput()
}

// goExperiment returns make build's GOEXPERIMENT setting
// (spawn.GoExperiment added to the environment's), as go env reports it,
// or nothing where the toolchain refuses it.
func goExperiment(gobin string) []string {
	cmd := exec.Command(gobin, "env", "GOEXPERIMENT")
	cmd.Env = append(os.Environ(), "GOEXPERIMENT="+spawn.WithGoExperiment(os.Getenv("GOEXPERIMENT")))
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	return []string{"GOEXPERIMENT=" + strings.TrimSpace(string(out))}
}

// runner is who runs fence: root, or an unprivileged user.
type runner struct {
	name     string
	uid, gid int
	// cred is set when the test process must switch to uid/gid to run
	// fence (the test runs as root, the runner is nobody).
	cred *syscall.Credential
	// skip, when set, is why this runner cannot be used here.
	skip string
}

func (r runner) root() bool { return r.uid == 0 }

// runners returns the two ways every behaviour is tested.
func runners() []runner {
	if os.Geteuid() == 0 {
		return []runner{
			{name: "root", uid: 0, gid: 0},
			{name: "user", uid: 65534, gid: 65534, cred: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}},
		}
	}
	uid, gid := os.Getuid(), os.Getgid()
	return []runner{
		{name: "root", skip: "the root variant needs root: run the tests as root (e.g. sudo go test ./e2e/)"},
		{name: "user", uid: uid, gid: gid},
	}
}

// forEachRunner runs f as a "root" and a "user" subtest, each with a fresh
// workspace owned by the runner.
func forEachRunner(t *testing.T, f func(t *testing.T, s *sandbox)) {
	t.Helper()
	for _, r := range runners() {
		t.Run(r.name, func(t *testing.T) {
			if r.skip != "" {
				t.Skip(r.skip)
			}
			f(t, newSandbox(t, r))
		})
	}
}

// sandbox is one workspace and the runner that uses it. The workspace root
// is fence's working directory; HOME is a directory inside it ("home"), so
// that it stays visible inside the sandbox even though the workspace lives
// under the host's /tmp, which the sandbox replaces with a private tmpfs
// (the working directory itself is kept readable).
type sandbox struct {
	t    *testing.T
	r    runner
	dir  string // workspace root and working directory
	home string // $HOME, dir/home
}

func newSandbox(t *testing.T, r runner) *sandbox {
	t.Helper()
	dir, err := os.MkdirTemp("", "fence-e2e-ws-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// Resolve symlinks (TMPDIR may be one): fence resolves its cwd, and
	// the tests compare paths.
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	s := &sandbox{t: t, r: r, dir: dir}
	s.own(dir, 0o755)
	checkTraversable(t, r, filepath.Dir(dir))
	s.home = s.mkdir("home")
	return s
}

// checkTraversable fails early, with the fix, when the runner cannot reach
// dir (for example a TMPDIR inside /root when running as nobody).
func checkTraversable(t *testing.T, r runner, dir string) {
	t.Helper()
	if r.cred == nil {
		return
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s is not searchable by other users (mode %v), so uid %d cannot reach the workspace: set TMPDIR to a world-searchable directory", d, st.Mode().Perm(), r.uid)
		}
		if d == "/" {
			return
		}
	}
}

// outsideDir makes a directory of the runner's, mode 0755, in /var/tmp:
// outside the workspace and outside /tmp, which -t code makes writable
// whole (a home, or a directory of the user's a planted link could lead
// to). It is removed after the test.
func (s *sandbox) outsideDir(prefix string) string {
	s.t.Helper()
	d, err := os.MkdirTemp("/var/tmp", prefix)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { os.RemoveAll(d) })
	s.own(d, 0o755)
	return d
}

// own gives path to the runner with mode perm.
func (s *sandbox) own(path string, perm os.FileMode) {
	s.t.Helper()
	if err := os.Chmod(path, perm); err != nil {
		s.t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(path, s.r.uid, s.r.gid); err != nil {
			s.t.Fatal(err)
		}
	}
}

// path returns the absolute host path of rel (relative to the workspace).
func (s *sandbox) path(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(s.dir, rel)
}

// mkdir creates rel and its missing parents (0755, owned by the runner)
// and returns its absolute path.
func (s *sandbox) mkdir(rel string) string {
	s.t.Helper()
	p := s.path(rel)
	var missing []string
	for d := p; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			s.t.Fatal(err)
		}
		s.own(missing[i], 0o755)
	}
	return p
}

// write creates (or replaces) the file rel with content, owned by the
// runner, mode 0644, and returns its absolute path.
func (s *sandbox) write(rel, content string) string {
	s.t.Helper()
	p := s.path(rel)
	s.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.own(p, 0o644)
	return p
}

// writeFromGoroutine is write for a goroutine other than the test's, which
// must not call t.Fatal: the file's directory must exist, and the error is
// returned.
func (s *sandbox) writeFromGoroutine(rel, content string) error {
	p := s.path(rel)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(p, 0o644); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		return os.Lchown(p, s.r.uid, s.r.gid)
	}
	return nil
}

// symlink creates the symlink rel (in the workspace) to target, owned by
// the runner, and returns its absolute path.
func (s *sandbox) symlink(target, rel string) string {
	s.t.Helper()
	p := s.path(rel)
	s.mkdir(filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		s.t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(p, s.r.uid, s.r.gid); err != nil {
			s.t.Fatal(err)
		}
	}
	return p
}

// config writes a fence config file named name (in the workspace) and
// returns its path, for -s.
func (s *sandbox) config(name, json string) string {
	s.t.Helper()
	return s.write(name, json)
}

// env is the environment fence is started with: a fixed PATH, HOME in the
// workspace, the C locale (stable error messages), plus extra entries.
func (s *sandbox) env(extra ...string) []string {
	env := []string{
		"PATH=" + strings.Join(stdPath, ":"),
		"HOME=" + s.home,
		"LC_ALL=C",
		"TERM=dumb",
	}
	if s.r.root() {
		env = append(env, "USER=root", "LOGNAME=root")
	}
	return append(env, extra...)
}

// opts are the knobs of one fence run.
type opts struct {
	stdin   io.Reader
	env     []string      // added to sandbox.env()
	dir     string        // working directory; the workspace by default
	timeout time.Duration // the run's limit; runTimeout by default
}

// command returns an exec.Cmd for fence with args, run by the runner in the
// workspace.
func (s *sandbox) command(ctx context.Context, o opts, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, fenceBin, args...)
	cmd.Dir = s.dir
	if o.dir != "" {
		cmd.Dir = o.dir
	}
	cmd.Env = s.env(o.env...)
	cmd.Stdin = o.stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
	// A process that outlives fence and keeps the output pipes open must
	// not hang the test (the orphan test checks for those separately).
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// withFileLimit makes cmd (from command) run fence under ulimit opt n
// (-n: soft and hard, -Sn: soft).
func withFileLimit(cmd *exec.Cmd, opt, n string) {
	cmd.Args = append([]string{"sh", "-c", "ulimit " + opt + " " + n + " && exec \"$@\"", "sh"}, cmd.Args...)
	cmd.Path = "/bin/sh"
}

// startPiped starts cmd with its stdout on a pipe, returned, and its
// stderr collected in a buffer. The caller waits for cmd.
func startPiped(t *testing.T, cmd *exec.Cmd) (*bufio.Reader, *bytes.Buffer) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return bufio.NewReader(stdout), stderr
}

// running is a fence started with startReady: its command printed "ready".
type running struct {
	cmd    *exec.Cmd
	out    *bufio.Reader // the command's stdout after "ready"
	stderr *bytes.Buffer
}

// startReady starts fence -c script (script prints "ready" once it is set
// up) and returns once that line arrived; setpgid puts fence in a process
// group of its own, as a shell job is. The caller waits for r.cmd.
func (s *sandbox) startReady(ctx context.Context, setpgid bool, script string) running {
	s.t.Helper()
	cmd := s.command(ctx, opts{}, "-c", script)
	cmd.SysProcAttr.Setpgid = setpgid
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	r := running{cmd: cmd, out: bufio.NewReader(stdout), stderr: &bytes.Buffer{}}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	if line, err := r.out.ReadString('\n'); line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		s.t.Fatalf("first line %q (%v), want \"ready\"; stderr %q", line, err, r.stderr.String())
	}
	return r
}

// result is what one fence run did.
type result struct {
	args           []string
	stdout, stderr string
	// code is fence's exit code; -1 if fence itself was killed by a
	// signal (sig) or did not run.
	code int
	sig  syscall.Signal
	err  error
}

func (r result) String() string {
	s := fmt.Sprintf("fence %q: exit %d", r.args, r.code)
	if r.sig != 0 {
		s += fmt.Sprintf(" (fence killed by %v)", r.sig)
	}
	if r.err != nil {
		s += fmt.Sprintf(" (err %v)", r.err)
	}
	return s + fmt.Sprintf("\nstdout: %q\nstderr: %q", r.stdout, r.stderr)
}

// fence runs fence with args and returns what happened.
func (s *sandbox) fence(args ...string) result {
	s.t.Helper()
	return s.fenceWith(opts{}, args...)
}

func (s *sandbox) fenceWith(o opts, args ...string) result {
	s.t.Helper()
	limit := runTimeout
	if o.timeout > 0 {
		limit = o.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := s.command(ctx, o, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: -1}
	if ctx.Err() != nil {
		res.err = fmt.Errorf("timed out after %v", limit)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.code = 0
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.sig = ws.Signal()
		}
		if res.err == nil && !errors.Is(err, exec.ErrWaitDelay) && ee.ExitCode() < 0 {
			res.err = err
		}
	default:
		res.err = err
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		res.err = fmt.Errorf("output pipes still open %v after fence exited (a process outlived it)", cmd.WaitDelay)
	}
	return res
}

// mustRun runs fence and fails the test unless it exits 0.
func (s *sandbox) mustRun(args ...string) result {
	s.t.Helper()
	res := s.fence(args...)
	if res.code != 0 || res.err != nil {
		s.t.Fatalf("want exit 0: %v", res)
	}
	return res
}

// ranInside reports whether the command got to run. fence's own failures
// (bad config, sandbox setup) print "Error: " first; a check that the
// command failed proves nothing then, so ranInside fails the test.
func ranInside(t *testing.T, res result) bool {
	t.Helper()
	if strings.HasPrefix(res.stderr, "Error: ") || res.err != nil {
		t.Errorf("fence failed before the command ran, so this check proves nothing: %v", res)
		return false
	}
	return true
}

// need skips the test when tool is not installed in stdPath and returns
// its path otherwise.
func need(t *testing.T, tool string) string {
	t.Helper()
	for _, d := range stdPath {
		p := filepath.Join(d, tool)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Skipf("%s is not installed (not found in %s)", tool, strings.Join(stdPath, ":"))
	return ""
}

// mustNotExist fails if path exists on the host.
func mustNotExist(t *testing.T, path, why string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		b, _ := os.ReadFile(path)
		t.Errorf("%s: %s exists on the host (content %q); it must not", why, path, b)
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: stat %s: %v", why, path, err)
	}
}

// mustHaveContent fails unless path holds exactly want on the host.
func mustHaveContent(t *testing.T, path, want, why string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", why, err)
		return
	}
	if string(b) != want {
		t.Errorf("%s: %s holds %q, want %q", why, path, b, want)
	}
}

// writeDenied reports whether stderr says a write failed with EROFS or
// EACCES (C locale messages, as printed by the shell and coreutils).
func writeDenied(stderr string) bool {
	return strings.Contains(stderr, "Read-only file system") || strings.Contains(stderr, "Permission denied")
}

// unique returns a name that no other run uses.
var uniqueN struct {
	sync.Mutex
	n int
}

func unique(prefix string) string {
	uniqueN.Lock()
	defer uniqueN.Unlock()
	uniqueN.n++
	return prefix + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(uniqueN.n) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
}

// fixture builds the Go program in testdata/name once (static) and
// returns its path in binDir.
var fixtures sync.Map // name -> *fixtureBuild

type fixtureBuild struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	v, _ := fixtures.LoadOrStore(name, &fixtureBuild{})
	fb := v.(*fixtureBuild)
	fb.once.Do(func() {
		fb.path = filepath.Join(binDir, name)
		fb.out, fb.err = goBuild(fb.path, "./testdata/"+name, nil)
	})
	if fb.err != nil {
		t.Fatalf("build fixture %s: %v\n%s", name, fb.err, fb.out)
	}
	return fb.path
}

// copyIn copies the host file src into the workspace as rel (mode perm,
// owned by the runner): binDir lies under the host's /tmp, which the
// sandbox does not see.
func (s *sandbox) copyIn(src, rel string, perm os.FileMode) string {
	s.t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		s.t.Fatal(err)
	}
	p := s.write(rel, string(b))
	s.own(p, perm)
	return p
}

// lines splits out into trimmed, non-empty lines.
func lines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

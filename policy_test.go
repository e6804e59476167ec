package fence

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/nsexec"
	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/syntax"
)

func TestShellQuoteRoundTrip(t *testing.T) {
	cases := [][]string{
		{"echo", "hello world"}, {"printf", "%s\n", "a'b"}, {"x", ""}, {"a;b", "$(id)", "`x`"},
		{"ls", "-l"}, {"grep", "git push", "log.txt"},
	}
	for _, args := range cases {
		if got := wordsOf(t, ShellQuote(args)); !slices.Equal(got, args) {
			t.Errorf("ShellQuote(%q) = %q parses back as %q", args, ShellQuote(args), got)
		}
	}
}

// wordsOf parses s as one simple command and returns its literal words.
func wordsOf(t testing.TB, s string) []string {
	f, err := syntax.NewParser().Parse(strings.NewReader(s), "")
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	if len(f.Stmts) != 1 {
		t.Fatalf("%q is %d statements", s, len(f.Stmts))
	}
	call, ok := f.Stmts[0].Cmd.(*syntax.CallExpr)
	if !ok {
		t.Fatalf("%q is not a simple command", s)
	}
	var out []string
	for _, w := range call.Args {
		var b strings.Builder
		for _, p := range w.Parts {
			switch p := p.(type) {
			case *syntax.Lit:
				b.WriteString(p.Value)
			case *syntax.SglQuoted:
				b.WriteString(p.Value)
			default:
				t.Fatalf("%q: word part %T is not literal", s, p)
			}
		}
		out = append(out, strings.ReplaceAll(b.String(), `\'`, "'"))
	}
	return out
}

func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"hello", "a b", "it's", "", "$HOME", "a\nb", "*", "--flag=x"} {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.ContainsRune(a+b, 0) || !utf8.ValidString(a) || !utf8.ValidString(b) {
			return // argv cannot hold NUL; the test's parser rejects bad UTF-8 (bash does not)
		}
		if strings.ContainsRune(a+b, '\r') {
			return // the test's parser folds CRLF even inside quotes; bash does not
		}
		q := ShellQuote([]string{"cmd", a, b})
		got := wordsOf(t, q)
		if !slices.Equal(got, []string{"cmd", a, b}) {
			t.Fatalf("ShellQuote(%q, %q) = %q parses back as %q", a, b, q, got)
		}
	})
}

func TestArgvDirectExecOrShell(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH"), "SHELL=/bin/sh"}
	s := &Spec{Args: []string{"ls", "-l"}}
	if p, args, err := s.argv(env); err != nil || p != "ls" || !slices.Equal(args, []string{"ls", "-l"}) {
		t.Fatalf("plain argv: %q %q %v", p, args, err)
	}
	s = &Spec{Args: []string{"cd", "/tmp"}}
	if _, args, err := s.argv(env); err != nil || len(args) != 3 || args[1] != "-c" || args[2] != "cd /tmp" {
		t.Fatalf("builtin goes through the shell: %q %v", args, err)
	}
	// bash's builtins and keywords are bash's, as upstream's bash -c ran
	// them; echo, true and false are exec'd where the programs do the same.
	for _, c := range []struct {
		args   []string
		env    []string
		direct bool
	}{
		{[]string{"time", "make"}, nil, false},
		{[]string{":"}, nil, false},
		{[]string{"pwd"}, nil, false},
		{[]string{"printf", "%s", "x"}, nil, false},
		{[]string{"true"}, nil, true},
		{[]string{"echo", "hello"}, nil, true},
		{[]string{"echo", "--help"}, nil, false},
		{[]string{"false", "--version"}, nil, false},
		{[]string{"echo", "-e", `a\n`}, []string{"POSIXLY_CORRECT=1"}, false},
		{[]string{"ls"}, []string{"BASH_FUNC_ls%%=() {  echo x\n}"}, false},
		{[]string{"ls"}, []string{"BASH_FUNC_other%%=() {  echo x\n}"}, true},
	} {
		p, args, err := (&Spec{Args: c.args}).argv(append(env, c.env...))
		if err != nil || (p == c.args[0]) != c.direct {
			t.Errorf("%q with %q: direct exec %v, want %v (%q %q %v)", c.args, c.env, p == c.args[0], c.direct, p, args, err)
		}
	}
	s = &Spec{Command: "echo hi | cat", ShellLogin: true}
	if _, args, err := s.argv(env); err != nil || args[1] != "-lc" || args[2] != "echo hi | cat" {
		t.Fatalf("-c with --shell-login: %q %v", args, err)
	}
	if _, _, err := (&Spec{}).argv(env); err != ErrNoCommand {
		t.Fatalf("no command: %v", err)
	}
	if _, _, err := (&Spec{Args: []string{"x"}, Shell: "weird"}).argv(env); err != nil {
		t.Fatalf("argv of a plain program must not need the shell: %v", err)
	}
	if _, _, err := (&Spec{Command: "x", Shell: "weird"}).argv(env); err == nil || !strings.Contains(err.Error(), `invalid shell mode "weird"`) {
		t.Fatalf("bad shell mode: %v", err)
	}
}

func TestSanitizeEnv(t *testing.T) {
	out, stripped := SanitizeEnv([]string{"LD_PRELOAD=/x.so", "HOME=/h", "DYLD_INSERT_LIBRARIES=y", "FENCE_SANDBOX=0", "LDX=1"})
	if !slices.Equal(out, []string{"HOME=/h", "LDX=1", "FENCE_SANDBOX=1"}) {
		t.Fatalf("env = %q", out)
	}
	if !slices.Equal(stripped, []string{"LD_PRELOAD", "DYLD_INSERT_LIBRARIES"}) {
		t.Fatalf("stripped = %q", stripped)
	}
}

func TestFSPolicy(t *testing.T) {
	ws := t.TempDir()
	home := t.TempDir()
	for _, d := range []string{".git/hooks", "sub", "keys"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{".bashrc", ".git/config", "secret.txt", "keys/a.pem", "keys/b.pem", "keys/c.txt"} {
		if err := os.WriteFile(filepath.Join(ws, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.Filesystem.AllowWrite = []string{".", "/tmp", "missing-dir", "sub/**"}
	c.Filesystem.DenyRead = []string{"secret.txt", "./keys/*.pem"}
	c.Filesystem.DenyWrite = []string{"~/nothing-here"}
	s := &Spec{Config: c, Cwd: ws, Home: home}
	if err := s.defaults(); err != nil {
		t.Fatal(err)
	}
	fp, err := s.fsPolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ = filepath.EvalSymlinks(ws)
	home, _ = filepath.EvalSymlinks(home)
	if !fp.HostTmp {
		t.Error(`allowWrite "/tmp" must select the host /tmp`)
	}
	if !slices.Equal(fp.Writable, []string{ws, filepath.Join(ws, "sub")}) {
		t.Errorf("writable = %q", fp.Writable)
	}
	for _, p := range []string{".bashrc", ".git/hooks", ".git/config"} {
		if !slices.Contains(fp.Protected, filepath.Join(ws, p)) {
			t.Errorf("protected lacks %s: %q", p, fp.Protected)
		}
	}
	for _, p := range []string{filepath.Join(ws, "secret.txt"), filepath.Join(ws, "keys/a.pem"), filepath.Join(ws, "keys/b.pem"), filepath.Join(home, ".ssh/id_ed25519")} {
		if !slices.Contains(fp.Masked, p) {
			t.Errorf("masked lacks %s: %q", p, fp.Masked)
		}
	}
	if slices.Contains(fp.Masked, filepath.Join(ws, "keys/c.txt")) {
		t.Error("glob masked a non-matching file")
	}
	// allowGitConfig lifts .git/config; allowRead lifts a credential path.
	c.Filesystem.AllowGitConfig = true
	c.Filesystem.AllowRead = []string{"~/.ssh"}
	fp = mustFSPolicy(t, s, c)
	if slices.Contains(fp.Protected, filepath.Join(ws, ".git/config")) {
		t.Error("allowGitConfig did not lift .git/config")
	}
	if slices.Contains(fp.Masked, filepath.Join(home, ".ssh/id_ed25519")) {
		t.Error("allowRead did not lift the credential mask")
	}
	// A grant above the credential's own directory does not.
	c.Filesystem.AllowRead = []string{"~", "/"}
	fp = mustFSPolicy(t, s, c)
	if !slices.Contains(fp.Masked, filepath.Join(home, ".ssh/id_ed25519")) {
		t.Errorf(`allowRead ["~", "/"] lifted the credential mask: masked %q`, fp.Masked)
	}
	// denyWrite takes precedence over allowWrite, also when the denied
	// path contains the allowed one (nothing binds it read-only then: it
	// must not be bound writable at all).
	c.Filesystem.AllowWrite = []string{"sub", "/tmp"}
	c.Filesystem.DenyWrite = []string{ws, "/"}
	fp = mustFSPolicy(t, s, c)
	if len(fp.Writable) != 0 || fp.HostTmp {
		t.Errorf("denyWrite %q left writable %q (host /tmp %v)", c.Filesystem.DenyWrite, fp.Writable, fp.HostTmp)
	}
	c.Filesystem.DenyWrite = []string{filepath.Join(ws, "keys")}
	fp = mustFSPolicy(t, s, c)
	if !slices.Equal(fp.Writable, []string{filepath.Join(ws, "sub")}) || !fp.HostTmp {
		t.Errorf("denyWrite of an unrelated directory changed writable to %q (host /tmp %v)", fp.Writable, fp.HostTmp)
	}
	// A trailing "/**" means the directory itself: a literal one is a
	// guarded name (a missing newdir cannot be created), not a pattern; a
	// glob's pattern covers the matching directories too.
	c.Filesystem.AllowWrite = []string{"."}
	c.Filesystem.DenyWrite = []string{"newdir/**", "**/secret*/**"}
	fp = mustFSPolicy(t, s, c)
	if !slices.Contains(fp.Guarded, filepath.Join(ws, "newdir")) {
		t.Errorf(`denyWrite "newdir/**": newdir not guarded: %q`, fp.Guarded)
	}
	if want := []string{filepath.Join(ws, "**/secret*/**"), filepath.Join(ws, "**/secret*")}; !slices.Equal(fp.DenyWritePatterns, want) {
		t.Errorf("denyWrite patterns %q, want %q", fp.DenyWritePatterns, want)
	}
	// So are names with a "]" or an escaped glob character: no globs.
	c.Filesystem.DenyWrite = []string{"new]/**", `new\[1]/**`}
	fp = mustFSPolicy(t, s, c)
	for _, n := range []string{"new]", "new[1]"} {
		if !slices.Contains(fp.Guarded, filepath.Join(ws, n)) {
			t.Errorf("denyWrite %s/**: not guarded: %q", n, fp.Guarded)
		}
	}
	// A built-in protected name that is a symlink to a parent (a hostile
	// checkout's .vscode -> ..) is not a denyWrite of that parent.
	c.Filesystem.DenyWrite = nil
	c.Filesystem.AllowWrite = []string{"."}
	if err := os.Symlink("..", filepath.Join(ws, ".vscode")); err != nil {
		t.Fatal(err)
	}
	s = &Spec{Config: c, Cwd: ws, Home: home} // a fresh path cache
	if err := s.defaults(); err != nil {
		t.Fatal(err)
	}
	fp = mustFSPolicy(t, s, c)
	if !slices.Contains(fp.Writable, ws) {
		t.Errorf(".vscode -> .. took the workspace's write access away: writable %q", fp.Writable)
	}
	// Everything writable: everything visible, the host's /tmp included.
	c.Filesystem.AllowWrite = []string{"/"}
	c.Filesystem.DefaultDenyRead = true
	c.Filesystem.AllowRead = []string{"/etc"}
	fp = mustFSPolicy(t, s, c)
	if !slices.Equal(fp.Writable, []string{"/"}) || !fp.HostTmp || fp.DefaultDenyRead || len(fp.ReadOnly) != 0 {
		t.Errorf(`allowWrite ["/"]: writable %q, host /tmp %v, defaultDenyRead %v, read-only %q; want "/", true, false, none`,
			fp.Writable, fp.HostTmp, fp.DefaultDenyRead, fp.ReadOnly)
	}
}

// mustFSPolicy plans c and fails the test if planning fails: a zero
// FSPolicy would pass every "X is not masked/writable" check vacuously.
func mustFSPolicy(t *testing.T, s *Spec, c *config.Config) nsexec.FSPolicy {
	t.Helper()
	fp, err := s.fsPolicy(c)
	if err != nil {
		t.Fatalf("fsPolicy(allowWrite %q, denyWrite %q, allowRead %q): %v", c.Filesystem.AllowWrite, c.Filesystem.DenyWrite, c.Filesystem.AllowRead, err)
	}
	return fp
}

// A working directory under /tmp that nothing makes writable stays
// readable over the private /tmp, but not under defaultDenyRead, where only
// what the policy lists is readable: there fence refuses to start, naming
// the fix, instead of showing the directory.
func TestFSPolicyCwdUnderTmp(t *testing.T) {
	// In the host's /tmp itself, whatever TMPDIR says.
	tmp, err := os.MkdirTemp("/tmp", "fence-cwd-under-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	ws, err := filepath.EvalSymlinks(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if !underAny(ws, []string{"/tmp"}) {
		t.Skipf("/tmp leads to %s (a symlink, as on macOS): the test needs a working directory under /tmp", ws)
	}
	home := t.TempDir()
	plan := func(ddr bool, allowRead ...string) (nsexec.FSPolicy, error) {
		c := config.Default()
		c.Filesystem.DefaultDenyRead = ddr
		c.Filesystem.AllowRead = allowRead
		s := &Spec{Config: c, Cwd: ws, Home: home}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		return s.fsPolicy(c)
	}
	fp, err := plan(false)
	if err != nil || !slices.Contains(fp.ReadOnly, ws) {
		t.Errorf("cwd under /tmp: read-only %q, err %v; want the working directory readable", fp.ReadOnly, err)
	}
	_, err = plan(true)
	if err == nil || !strings.Contains(err.Error(), "working directory "+ws+" is not readable") || !strings.Contains(err.Error(), `add "." to filesystem.allowRead`) {
		t.Errorf("defaultDenyRead, cwd under /tmp not listed: err %v; want a refusal naming the directory and the fix", err)
	}
	if fp, err = plan(true, "."); err != nil || !underAny(ws, fp.ReadOnly) {
		t.Errorf(`defaultDenyRead with allowRead ["."]: read-only %q, err %v; want the working directory readable`, fp.ReadOnly, err)
	}
}

// An allowUnixSockets path in the host's /tmp is bound read-only over the
// private /tmp (it failed with ENOENT), also under defaultDenyRead; not
// with the host's /tmp writable, where it is there already, nor /tmp
// itself, whose bind would make the private /tmp read-only.
func TestFSPolicyUnixSocketInHostTmp(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !underAny(dir, []string{"/tmp"}) {
		t.Skipf("the test's temporary directory %s is not under /tmp (TMPDIR is set)", dir)
	}
	listen := func(p string) {
		t.Helper()
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	sock := filepath.Join(dir, "agent.sock")
	listen(sock)
	ws, home := t.TempDir(), t.TempDir()
	plan := func(ddr bool, allowWrite []string, sockets ...string) nsexec.FSPolicy {
		t.Helper()
		c := config.Default()
		c.Filesystem.DefaultDenyRead = ddr
		c.Filesystem.AllowRead = []string{"."}
		c.Filesystem.AllowWrite = allowWrite
		c.Network.AllowUnixSockets = sockets
		s := &Spec{Config: c, Cwd: ws, Home: home}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		fp, err := s.fsPolicy(c)
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}
	for _, ddr := range []bool{false, true} {
		if fp := plan(ddr, nil, sock); !slices.Contains(fp.Sockets, sock) || slices.Contains(fp.ReadOnly, sock) {
			t.Errorf("defaultDenyRead %v: sockets %q, read-only %q; want the listed socket %s in sockets alone", ddr, fp.Sockets, fp.ReadOnly, sock)
		}
		if fp := plan(ddr, nil, dir); !slices.Contains(fp.ReadOnly, dir) {
			t.Errorf("defaultDenyRead %v: read-only %q; want the listed directory %s there", ddr, fp.ReadOnly, dir)
		}
		if fp := plan(ddr, []string{"/tmp"}, sock); slices.Contains(fp.ReadOnly, sock) || slices.Contains(fp.Sockets, sock) {
			t.Errorf("defaultDenyRead %v, allowWrite /tmp: read-only %q, sockets %q; want no bind of the socket", ddr, fp.ReadOnly, fp.Sockets)
		}
		if fp := plan(ddr, nil, "/tmp"); slices.Contains(fp.ReadOnly, "/tmp") {
			t.Errorf("defaultDenyRead %v, allowUnixSockets /tmp: read-only %q; want no bind of /tmp", ddr, fp.ReadOnly)
		}
	}
	// Only a socket or a directory: not a file listed by mistake (or
	// one a socket was swapped for).
	file := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(file, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fp := plan(false, nil, file); slices.Contains(fp.ReadOnly, file) {
		t.Errorf("allowUnixSockets %s, a regular file: read-only %q; want no bind", file, fp.ReadOnly)
	}
	// Nothing another user can change on the way: one who makes
	// /tmp/ssh-XXXX, with a symlink there to a directory of yours, or
	// with a socket swapped for such a link before the bind.
	if os.Geteuid() != 0 {
		t.Skip("another user's directory needs root to make")
	}
	secret := filepath.Join(dir, "secret")
	if err := os.Mkdir(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "ssh-other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	listen(filepath.Join(other, "agent.2"))
	if err := os.Symlink(secret, filepath.Join(other, "agent.1")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{other, filepath.Join(other, "agent.1"), filepath.Join(other, "agent.2")} {
		if err := os.Lchown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	for _, ddr := range []bool{false, true} {
		fp := plan(ddr, nil, filepath.Join(other, "agent.*"))
		for _, p := range []string{secret, filepath.Join(other, "agent.2")} {
			if slices.Contains(fp.ReadOnly, p) {
				t.Errorf("defaultDenyRead %v, allowUnixSockets %s/agent.*, another user's: read-only %q; want no bind of %s", ddr, other, fp.ReadOnly, p)
			}
		}
		if slices.Contains(fp.Sockets, secret) {
			t.Errorf("defaultDenyRead %v, allowUnixSockets %s/agent.*, another user's: sockets %q; want no bind of %s", ddr, other, fp.Sockets, secret)
		}
		// Another user's socket (postgres's /tmp/.s.PGSQL.5432): bound
		// if a socket when bound, which the bind checks.
		if agent := filepath.Join(other, "agent.2"); !slices.Contains(fp.Sockets, agent) {
			t.Errorf("defaultDenyRead %v, allowUnixSockets %s/agent.*, another user's: sockets %q; want %s there", ddr, other, fp.Sockets, agent)
		}
	}
	// A directory of yours that others may write, not sticky: the same
	// for a directory in it.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if fp := plan(false, nil, sub); slices.Contains(fp.ReadOnly, sub) {
		t.Errorf("allowUnixSockets %s in a directory anyone may write: read-only %q; want no bind", sub, fp.ReadOnly)
	}
}

// Under defaultDenyRead, a working directory above a listed path is
// there too: the scaffold holds it, with only what is listed below it, as
// it always held "/". fence ran there before it learnt to refuse an
// unlisted working directory, and must still (fence -s strict.json from
// "/", from $HOME with only ~/project listed).
func TestFSPolicyCwdAboveListedPath(t *testing.T) {
	ws, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(ws, "proj")
	if err := os.Mkdir(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	plan := func(cwd string, allowRead ...string) error {
		c := config.Default()
		c.Filesystem.DefaultDenyRead = true
		c.Filesystem.AllowRead = allowRead
		s := &Spec{Config: c, Cwd: cwd, Home: home}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		_, err := s.fsPolicy(c)
		return err
	}
	if err := plan(ws, proj); err != nil {
		t.Errorf("cwd %s above the listed %s: %v; want it allowed", ws, proj, err)
	}
	if err := plan("/"); err != nil {
		t.Errorf("cwd /: %v; want it allowed", err)
	}
	if err := plan(ws, filepath.Join(ws, "missing")); err == nil {
		t.Errorf("cwd %s above nothing that exists: want a refusal", ws)
	}
	if err := plan(proj, filepath.Join(ws, "proj2")); err == nil {
		t.Errorf("cwd %s beside a listed path: want a refusal", proj)
	}
}

// A credential variable naming the working directory, $HOME or "/" does
// not hide the work: GNUPGHOME there hides its secret keys only, a file
// list naming a directory nothing, and a grant of such a directory does
// not lift the credentials in it.
func TestFSPolicyCredentialEnvHoldingWork(t *testing.T) {
	ws, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(ws, "private-keys-v1.d"), filepath.Join(home, "private-keys-v1.d")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, "credentials.toml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	plan := func(c *config.Config, env ...string) nsexec.FSPolicy {
		t.Helper()
		s := &Spec{Config: c, Cwd: ws, Home: home, Env: env}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		fp, err := s.fsPolicy(c)
		if err != nil {
			t.Fatalf("env %q: %v", env, err)
		}
		return fp
	}
	for _, env := range [][]string{{"GNUPGHOME=" + ws}, {"GNUPGHOME=" + home}, {"GNUPGHOME=/"}, {"KUBECONFIG=" + ws + ":/"}, {"AWS_SHARED_CREDENTIALS_FILE=" + home}} {
		fp := plan(config.Default(), env...)
		for _, p := range []string{"/", ws, home} {
			if slices.Contains(fp.Masked, p) {
				t.Errorf("env %q hides %s: masked %q", env, p, fp.Masked)
			}
		}
		if strings.HasPrefix(env[0], "GNUPGHOME=") {
			dir := strings.TrimPrefix(env[0], "GNUPGHOME=")
			if k := filepath.Join(dir, "private-keys-v1.d"); dir != "/" && !slices.Contains(fp.Masked, k) {
				t.Errorf("env %q: want %s hidden: masked %q", env, k, fp.Masked)
			}
		}
	}
	// CARGO_HOME=$HOME: allowRead ["~"] asks for the home, not the token.
	c := config.Default()
	c.Filesystem.DefaultDenyRead = true
	c.Filesystem.AllowRead = []string{"~", "."}
	fp := plan(c, "CARGO_HOME="+home)
	if k := filepath.Join(home, "credentials.toml"); !slices.Contains(fp.Masked, k) {
		t.Errorf(`CARGO_HOME=$HOME, allowRead ["~"]: want %s hidden: masked %q`, k, fp.Masked)
	}
}

// credentialEnvPolicy makes the empty files under dir and plans the
// default config in ws with env.
func credentialEnvPolicy(t *testing.T, ws, dir string, env []string, files ...string) (*Spec, *config.Config, nsexec.FSPolicy) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := config.Default()
	s := &Spec{Config: c, Cwd: ws, Home: t.TempDir(), Env: env}
	if err := s.defaults(); err != nil {
		t.Fatal(err)
	}
	fp, err := s.fsPolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, fp
}

// A credential variable's value is a path, glob characters and
// backslashes and all: it is hidden, and lifted by a grant of it.
func TestFSPolicyCredentialEnvGlobCharacters(t *testing.T) {
	ws, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ci := filepath.Join(ws, `ci [1]*?\x`)
	env := []string{"DOCKER_CONFIG=" + filepath.Join(ci, "dock"), "GNUPGHOME=" + filepath.Join(ci, "gpg"), "KUBECONFIG=" + filepath.Join(ci, "kube")}
	s, c, fp := credentialEnvPolicy(t, ws, ci, env, "dock/config.json", "gpg/pubring.kbx", "kube")
	for _, want := range []string{"dock/config.json", "gpg", "kube"} {
		if p := filepath.Join(ci, want); !slices.Contains(fp.Masked, p) {
			t.Errorf("%s not hidden: masked %q", p, fp.Masked)
		}
	}
	c.Filesystem.AllowRead = []string{filepath.Join(ci, "dock")}
	if fp, err = s.fsPolicy(c); err != nil {
		t.Fatal(err)
	}
	if p := filepath.Join(ci, "dock/config.json"); slices.Contains(fp.Masked, p) {
		t.Errorf("allowRead of its directory did not lift %s: masked %q", p, fp.Masked)
	}
}

// The key files CI points to with GOOGLE_APPLICATION_CREDENTIALS (a
// service account key), NETRC and DOCKER_CERT_PATH (the TLS client key for
// the Docker daemon) are hidden.
func TestFSPolicyCredentialEnvKeyFiles(t *testing.T) {
	ws, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"GOOGLE_APPLICATION_CREDENTIALS=" + filepath.Join(ws, "gha-creds-1.json"), "NETRC=" + filepath.Join(ws, "netrc"), "DOCKER_CERT_PATH=" + filepath.Join(ws, "certs")}
	_, _, fp := credentialEnvPolicy(t, ws, ws, env, "gha-creds-1.json", "netrc", "certs/key.pem", "certs/ca.pem")
	for _, want := range []string{"gha-creds-1.json", "netrc", "certs/key.pem"} {
		if p := filepath.Join(ws, want); !slices.Contains(fp.Masked, p) {
			t.Errorf("%s not hidden: masked %q", p, fp.Masked)
		}
	}
	if p := filepath.Join(ws, "certs/ca.pem"); slices.Contains(fp.Masked, p) {
		t.Errorf("%s hidden: masked %q", p, fp.Masked)
	}
}

// A TMPDIR the command cannot write in the sandbox is replaced by /tmp.
func TestSandboxTmpdir(t *testing.T) {
	ws := t.TempDir()
	for _, d := range []string{"w/tmp", "w/locked", "ro"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ws, _ = filepath.EvalSymlinks(ws)
	s := &Spec{Cwd: ws}
	fp := nsexec.FSPolicy{Writable: []string{filepath.Join(ws, "w")}, Protected: []string{filepath.Join(ws, "w/locked")}}
	for dir, want := range map[string]string{
		filepath.Join(ws, "w/tmp"):    filepath.Join(ws, "w/tmp"),
		"w":                           "w",
		"/tmp":                        "/tmp",
		filepath.Join(ws, "ro"):       "/tmp",
		"ro":                          "/tmp",
		filepath.Join(ws, "w/locked"): "/tmp",
		filepath.Join(ws, "missing"):  "/tmp",
		"/tmp/fence-not-in-private":   "/tmp",
	} {
		env := s.sandboxTmpdir([]string{"A=1", "TMPDIR=" + dir}, fp)
		if got := getenv(env, "TMPDIR"); got != want || getenv(env, "A") != "1" {
			t.Errorf("TMPDIR=%s: sandbox gets %q (env %q), want %q", dir, got, env, want)
		}
	}
	if env := s.sandboxTmpdir([]string{"A=1"}, fp); hasEnv(env, "TMPDIR") {
		t.Errorf("TMPDIR set where the host had none: %q", env)
	}
	fp.HostTmp = true
	if env := s.sandboxTmpdir([]string{"TMPDIR=/tmp"}, fp); getenv(env, "TMPDIR") != "/tmp" {
		t.Errorf("TMPDIR=/tmp with the host's /tmp: %q", env)
	}
}

// A home and a working directory reached through symlinks are protected
// where they lead: the guard compares resolved paths.
func TestFSPolicySymlinkedHomeAndCwd(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"var/home/u", "repo/.git"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"home": "var/home", "link": "repo"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	c := config.Default()
	c.Filesystem.AllowWrite = []string{"~", "."}
	c.Filesystem.DenyWrite = []string{"~/**/*.pem", "~/nothere.txt", filepath.Join(root, "home/u/abs.txt")}
	s := &Spec{Config: c, Cwd: filepath.Join(root, "link"), Home: filepath.Join(root, "home/u"),
		PolicyFiles: []string{filepath.Join(root, "link/fence.json"), filepath.Join(root, "home/u/.fence.json")}}
	if err := s.defaults(); err != nil {
		t.Fatal(err)
	}
	fp, err := s.fsPolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	home, repo := filepath.Join(root, "var/home/u"), filepath.Join(root, "repo")
	for _, p := range []string{
		home + "/.bashrc", home + "/.mcp.json", home + "/nothere.txt", home + "/abs.txt", home + "/.fence.json",
		repo + "/fence.json", repo + "/.bashrc", repo + "/.git/hooks",
	} {
		if !slices.Contains(fp.Guarded, p) {
			t.Errorf("guarded lacks %s: %q", p, fp.Guarded)
		}
	}
	if !slices.Contains(fp.DenyWritePatterns, home+"/**/*.pem") {
		t.Errorf("denyWrite patterns lack %s/**/*.pem: %q", home, fp.DenyWritePatterns)
	}
}

// TestOwnCwdChecked: with OwnCwd (the CLI's working directory), a Cwd path
// that does not lead to the directory the process is in, as when another
// user swapped a directory on the way for a symlink while fence started,
// stops the plan; one that does goes on, also through a symlink.
func TestOwnCwdChecked(t *testing.T) {
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(here, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cwd string
		ok  bool
	}{{here, true}, {link, true}, {root, false}} {
		s := &Spec{Config: config.Default(), Cwd: tc.cwd, OwnCwd: true, Home: root}
		err := s.defaults()
		if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "changed while fence started") {
			t.Errorf("OwnCwd with Cwd %s (the process is in %s): %v", tc.cwd, here, err)
		}
	}
	// Without OwnCwd (a library caller's Cwd elsewhere) nothing is checked.
	s := &Spec{Config: config.Default(), Cwd: root, Home: root}
	if err := s.defaults(); err != nil {
		t.Errorf("a Cwd of the caller's choice: %v", err)
	}
}

// FuzzPolicy: any allowWrite/denyRead/denyWrite entries resolve to absolute,
// clean paths without panicking, and never make a credential file readable
// or a protected name writable by accident.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{"~", "~/x", "./a/../b", "../../etc", "/abs//p/", "rel", "~user/x", "*.pem", "dir/**", "**/.env", "[", "."} {
		f.Add(s, s)
	}
	ws, home := f.TempDir(), f.TempDir()
	f.Fuzz(func(t *testing.T, w, d string) {
		if w == "" || d == "" {
			return
		}
		c := config.Default()
		c.Filesystem.AllowWrite = []string{w}
		c.Filesystem.DenyRead = []string{d}
		c.Filesystem.DenyWrite = []string{d}
		if c.Validate() != nil {
			return // fence refuses the config before planning
		}
		s := &Spec{Config: c, Cwd: ws, Home: home, Args: []string{"true"}}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		fp, err := s.fsPolicy(c)
		if err != nil {
			if recursive(d) || strings.Contains(err.Error(), `hides "/", every file`) ||
				strings.Contains(err.Error(), "working directory "+s.Cwd+" is inside ") {
				return // refused, as it must be: a "**" inside, all hidden, the working directory hidden
			}
			t.Fatalf("w=%q d=%q: %v", w, d, err)
		}
		for _, list := range [][]string{fp.Writable, fp.Protected, fp.Masked, fp.Guarded, fp.ReadOnly} {
			for _, p := range list {
				if !filepath.IsAbs(p) || p != filepath.Clean(p) {
					t.Fatalf("w=%q d=%q: path %q is not absolute and clean", w, d, p)
				}
			}
		}
		if !slices.Contains(fp.Guarded, filepath.Join(s.Cwd, ".bashrc")) && underAny(s.Cwd, fp.Writable) {
			t.Fatalf("w=%q: cwd writable but .bashrc not guarded: %q", w, fp.Guarded)
		}
	})
}

// The submodules of .gitmodules, read as git reads the file: sections and
// keys in any case, comments, tabs; paths that leave the repository and
// other sections' keys are ignored; an unreadable file is an error.
func TestSubmodules(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".gitmodules")
	if err := os.WriteFile(file, []byte(`# comment
[submodule "a"]
	path = a
	url = ../a.git
[Submodule "third_party/lib"] ; why not
	Path	=	"third_party/lib" # quoted
[submodule "up"]
	path = ../outside
[remote "origin"]
	path = not-a-submodule
[submodule "abs"]
	path = /etc
`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := submodules(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []submodule{{"a", "a"}, {"third_party/lib", "third_party/lib"}}
	if !slices.Equal(got, want) {
		t.Errorf("submodules = %q, want %q", got, want)
	}
	if got, err := submodules(filepath.Join(dir, "missing")); got != nil || err != nil {
		t.Errorf("a missing .gitmodules: %q, %v", got, err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := submodules(fifo); err == nil {
		t.Error("a FIFO .gitmodules read as none")
	}
}

func TestUnderAny(t *testing.T) {
	for _, c := range []struct {
		p    string
		dirs []string
		want bool
	}{
		{"/a/b", []string{"/a"}, true},
		{"/a", []string{"/a"}, true},
		{"/a/", []string{"/a/"}, true},
		{"/a/b", []string{"/a/"}, true},
		{"/ab", []string{"/a"}, false},
		{"/a", []string{"/a/b"}, false},
		{"/x/y", []string{"/q", "/"}, true},
		{"/x", []string{"/x/y", "/z"}, false},
		{"/x", nil, false},
	} {
		if got := underAny(c.p, c.dirs); got != c.want {
			t.Errorf("underAny(%q, %q) = %v, want %v", c.p, c.dirs, got, c.want)
		}
	}
}

// configPattern: the home or working directory a config path is relative
// to is taken literally, whatever its name holds; the config's own part
// keeps its globs; a path without globs is a path, backslashes and all.
func TestConfigPattern(t *testing.T) {
	s := &Spec{Cwd: "/w/p[1]", Home: "/h/u*"}
	for _, c := range []struct{ in, want string }{
		{".env", `/w/p\[1]/.env`},
		{"*.key", `/w/p\[1]/*.key`},
		{"../x/*.pem", `/w/x/*.pem`},
		{"~/.ssh/id_*", `/h/u\*/.ssh/id_*`},
		{"~/.cache", `/h/u\*/.cache`},
		{"~", `/h/u\*`},
		{"/srv/a[12]/*", "/srv/a[12]/*"},
		{`/srv/back\slash`, `/srv/back\\slash`},
	} {
		got := s.configPattern(c.in)
		if got != c.want {
			t.Errorf("configPattern(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := (&Spec{Cwd: "/w"}).configPattern("~/x"); got != "" {
		t.Errorf(`configPattern("~/x") without a home = %q, want ""`, got)
	}
}

// A missing XDG base directory that allowWrite names (the code template's
// ~/.cache/**) is made, so that it can be bound writable; nothing else is,
// and nothing in another user's home.
func TestMakeHomeDirs(t *testing.T) {
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(home, "..", filepath.Base(home)+"-ws")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ws) })
	c := config.Default()
	c.Filesystem.AllowWrite = []string{"~/.cache/**", "~/.config", "~/.local/state/**", "~/.claude/**", "~/.cache2/**", "~/.claude.json", "~/.local/shared/**", "~/.npm/_cacache", "~/.npm/_logs"}
	s := &Spec{Config: c, Cwd: ws, Home: home}
	if err := s.defaults(); err != nil {
		t.Fatal(err)
	}
	fp, err := s.fsPolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{".cache", ".config", ".local/state", ".local", ".npm/_cacache", ".npm/_logs", ".npm"} {
		p := filepath.Join(home, d)
		if st, err := os.Stat(p); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("%s not made 0700: %v %v", p, st, err)
		}
		if d == ".local" || d == ".npm" {
			continue
		}
		if !slices.Contains(fp.Writable, p) {
			t.Errorf("%s not writable: %q", p, fp.Writable)
		}
	}
	for _, d := range []string{".claude", ".cache2", ".claude.json", ".local/shared", ".local/share"} {
		if _, err := os.Lstat(filepath.Join(home, d)); err == nil {
			t.Errorf("%s made", d)
		}
	}
	// Nothing through a symlink (into another tree, maybe another
	// user's), nor in "/".
	elsewhere := t.TempDir()
	if err := os.RemoveAll(filepath.Join(home, ".local")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(home, ".local")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.fsPolicy(c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(elsewhere, "state")); err == nil {
		t.Error("~/.local/state made through a symlinked ~/.local")
	}
	if os.Geteuid() != 0 {
		return
	}
	// Another user's home (sudo -E): nothing made there.
	other, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(other, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	s.Home = other
	if _, err := s.fsPolicy(c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(other, ".cache")); err == nil {
		t.Error("~/.cache made in a home of another user")
	}
}

// The linked worktrees' git directories: strict (bound read-only and
// guarded) where the worktree is not writable (there or not), or protected
// within a writable path, or where gitdir does not say where it is, or
// with a hooks directory or submodules; removable (with the worktree's
// .git file) where it is writable, there or gone.
func TestLinkedWorktreesPolicy(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(root, "repo")
	files := map[string]string{
		"repo/.git/HEAD":                     "ref: refs/heads/main\n",
		"repo/.git/worktrees/out/gitdir":     root + "/out/.git\n",
		"out/.git":                           "gitdir: " + ws + "/.git/worktrees/out\n",
		"repo/.git/worktrees/in/gitdir":      "../../../in/.git\n", // relative (worktree.useRelativePaths)
		"repo/in/.git":                       "gitdir: ../.git/worktrees/in\n",
		"repo/.git/worktrees/gone/gitdir":    ws + "/gone/.git\n",
		"repo/.git/worktrees/away/gitdir":    root + "/away/.git\n", // a disk not mounted now
		"repo/.git/worktrees/kept/gitdir":    ws + "/kept/.git\n",
		"repo/kept/.git":                     "gitdir: ../.git/worktrees/kept\n",
		"repo/.git/worktrees/nogitdir/HEAD":  "ref: refs/heads/x\n",
		"repo/.git/worktrees/hooked/gitdir":  root + "/gone2/.git\n",
		"repo/.git/worktrees/hooked/hooks/x": "",
	}
	for f, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []string{"out", "in", "gone", "away", "kept", "nogitdir", "hooked"} {
		if err := os.WriteFile(filepath.Join(ws, ".git/worktrees", w, "commondir"), []byte("../..\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := config.Default()
	c.Filesystem.AllowWrite = []string{"."}
	c.Filesystem.DenyWrite = []string{"kept"}
	s := &Spec{Config: c, Cwd: ws, Home: filepath.Join(root, "home")}
	if err := s.defaults(); err != nil {
		t.Fatal(err)
	}
	fp, err := s.fsPolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	wt := filepath.Join(ws, ".git/worktrees")
	for _, w := range []string{"out", "away", "kept", "nogitdir", "hooked"} {
		for _, n := range []string{"commondir", "gitdir", "config", "config.worktree", "hooks"} {
			p := filepath.Join(wt, w, n)
			if !slices.Contains(fp.Guarded, p) || slices.Contains(fp.Removable, p) {
				t.Errorf("%s: want it guarded and not removable; guarded %q, removable %q", p, fp.Guarded, fp.Removable)
			}
		}
		if p := filepath.Join(wt, w, "commondir"); !slices.Contains(fp.Protected, p) {
			t.Errorf("%s: want it bound read-only; protected %q", p, fp.Protected)
		}
	}
	for _, w := range []string{"in", "gone"} {
		for _, n := range []string{"", "commondir", "gitdir", "config", "config.worktree", "hooks"} {
			p := filepath.Join(wt, w, n)
			if !slices.Contains(fp.Removable, p) || slices.Contains(fp.Protected, p) {
				t.Errorf("%s: want it removable and not bound read-only; removable %q", p, fp.Removable)
			}
		}
	}
	if p := filepath.Join(ws, "in/.git"); !slices.Contains(fp.Removable, p) {
		t.Errorf("a writable worktree's .git file: want it removable; removable %q", fp.Removable)
	}
	// Held: the worktrees directory, the modules directories (no symlink
	// there to a directory of the sandbox's).
	for _, h := range []string{wt, filepath.Join(wt, "out/modules"), filepath.Join(wt, "in/modules"), filepath.Join(ws, ".git/modules")} {
		if !slices.Contains(fp.Held, h) {
			t.Errorf("held = %q, want %s in it", fp.Held, h)
		}
	}
	// A worktree with a submodule: strict, its submodule's git directory
	// too, and no new one.
	mod := filepath.Join(wt, "in/modules/lib")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fp, err = s.fsPolicy(c); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(wt, "in/commondir"), filepath.Join(mod, "config"), filepath.Join(mod, "hooks")} {
		if !slices.Contains(fp.Guarded, p) || slices.Contains(fp.Removable, p) {
			t.Errorf("%s: want it guarded and not removable; guarded %q", p, fp.Guarded)
		}
	}
	if !slices.Contains(fp.ProtectedPatterns, filepath.Join(wt, "in/modules/*")) {
		t.Errorf("no pattern for the worktree's new submodules: %q", fp.ProtectedPatterns)
	}
	if err := os.RemoveAll(filepath.Join(wt, "in/modules")); err != nil {
		t.Fatal(err)
	}
	// allowGitConfig: config.worktree is the user's to change.
	c.Filesystem.AllowGitConfig = true
	if fp, err = s.fsPolicy(c); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(wt, "out/config.worktree"), filepath.Join(wt, "in/config.worktree")} {
		if slices.Contains(fp.Guarded, p) || slices.Contains(fp.Removable, p) {
			t.Errorf("allowGitConfig: %s still protected", p)
		}
	}
	// Nothing writable there: nothing listed.
	c.Filesystem.AllowWrite = []string{filepath.Join(root, "home")}
	if fp, err = s.fsPolicy(c); err != nil {
		t.Fatal(err)
	}
	if len(fp.Removable) != 0 || slices.Contains(fp.Guarded, filepath.Join(wt, "out/commondir")) {
		t.Errorf("a repository that is not writable: removable %q, guarded %q", fp.Removable, fp.Guarded)
	}
}

// TestGitIncludes: the files git reads through include.path and
// includeIf.path, relative to the including file, "~/" to $HOME, nested
// ones, whatever the condition; missing ones returned but not read; loops
// and depths past git's limit end.
func TestGitIncludes(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	write := func(p, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	global := filepath.Join(home, ".gitconfig")
	write(global, `[user]
	name = x ; path = not-an-include
[Include]
	Path = dot/a.inc # comment
[includeIf "gitdir:~/work/"]
	path = "~/work.inc"
[include]
	path = /abs/missing.inc
[core]
	path = core-not-include
`)
	write(filepath.Join(home, "dot/a.inc"), "[include]\n\tpath = sub/b.inc\n")
	write(filepath.Join(home, "dot/sub/b.inc"), "[include]\n\tpath = ../a.inc\n") // a loop
	write(filepath.Join(home, "work.inc"), "[core]\n\tbare = false\n")
	s := &Spec{Home: home}
	got, err := s.gitIncludes([]string{global, filepath.Join(home, "missing-config")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(home, "dot/a.inc"), filepath.Join(home, "work.inc"), "/abs/missing.inc", filepath.Join(home, "dot/sub/b.inc")}
	if !slices.Equal(got, want) {
		t.Errorf("gitIncludes = %q, want %q", got, want)
	}
	// A chain longer than git follows ends at its limit.
	for i := 0; i <= maxGitIncludeDepth+3; i++ {
		write(filepath.Join(dir, "chain", fmt.Sprint(i)), fmt.Sprintf("[include]\npath = %d\n", i+1))
	}
	got, err = s.gitIncludes([]string{filepath.Join(dir, "chain", "0")})
	if err != nil || len(got) != maxGitIncludeDepth {
		t.Errorf("a chain of includes: %d files (%v), want %d", len(got), err, maxGitIncludeDepth)
	}
	// An included file that cannot be read safely stops the plan.
	fifo := filepath.Join(home, "dot/fifo.inc")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dir, "fifo-config"), "[include]\npath = home/dot/fifo.inc\n")
	if _, err := s.gitIncludes([]string{filepath.Join(dir, "fifo-config")}); err == nil {
		t.Error("an included FIFO read as empty")
	}
}

// huskyHooks: husky's hooks directory (.husky/_, or any DIR/_ holding
// husky's runner h) names the hook scripts its stubs run, DIR/<hook>;
// another directory named _ names nothing.
func TestHuskyHooks(t *testing.T) {
	dir := t.TempDir()
	custom := filepath.Join(dir, "githooks", "_")
	if err := os.MkdirAll(custom, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(custom, "h"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "plain", "_"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hooks string
		want  string // one of the hooks it must name, or "" for none
	}{
		{filepath.Join(dir, ".husky", "_"), filepath.Join(dir, ".husky", "pre-commit")},
		// As husky's h takes it: dirname(1) drops trailing slashes.
		{filepath.Join(dir, ".husky", "_") + "/", filepath.Join(dir, ".husky", "pre-commit")},
		{filepath.Join(dir, ".husky") + "//_//", filepath.Join(dir, ".husky", "pre-commit")},
		{custom + "/", filepath.Join(dir, "githooks", "commit-msg")},
		{custom, filepath.Join(dir, "githooks", "commit-msg")},
		{filepath.Join(dir, "plain", "_"), ""},
		{filepath.Join(dir, ".husky"), ""},
	} {
		got := huskyHooks(tc.hooks)
		if tc.want == "" && len(got) != 0 || tc.want != "" && !slices.Contains(got, tc.want) {
			t.Errorf("huskyHooks(%s) = %v, want it to name %q", tc.hooks, got, tc.want)
		}
	}
}

// hookTargets: where the symlinks in a hooks directory lead, a relative
// one from where the directory is (itself a symlink here); regular hooks,
// links by other names or to directories, and directories that are not
// there or are files, name nothing. One of
// the user's that cannot be listed stops fence.
func TestHookTargets(t *testing.T) {
	dir := t.TempDir()
	hooks := filepath.Join(dir, "repo", ".git", "hooks")
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("repo", ".git", "hooks"), filepath.Join(dir, "hooks-link")); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"pre-commit": "../../tools/pre-commit", "post-merge": "/abs/post-merge"} {
		if err := os.Symlink(target, filepath.Join(hooks, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(hooks, "commit-msg"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Not hooks git runs: another name, a directory.
	for name, target := range map[string]string{"notes": "../../notes", "post-checkout": "../../.."} {
		if err := os.Symlink(target, filepath.Join(hooks, name)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := hookTargets([]string{filepath.Join(dir, "hooks-link"), filepath.Join(dir, "missing"), filepath.Join(hooks, "commit-msg")})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	real, err := filepath.EvalSymlinks(hooks) // a TMPDIR may be a symlink
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/abs/post-merge", real + "/../../tools/pre-commit"}
	if !slices.Equal(got, want) {
		t.Errorf("hookTargets = %q, want %q", got, want)
	}
	if os.Geteuid() != 0 { // root lists it anyway
		if err := os.Chmod(hooks, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(hooks, 0o755)
		if _, err := hookTargets([]string{hooks}); err == nil {
			t.Error("a hooks directory of the user's that cannot be listed: no error")
		}
	}
}

// Every name a built-in template's denyWrite glob keeps is recorded when a
// sandbox creates it, whatever that sandbox's own patterns: a run under
// the template may then change what a run without it made.
func TestRecordNamesCoverTemplates(t *testing.T) {
	for _, ti := range config.Templates() {
		c, err := config.Template(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.Filesystem.DenyWrite {
			if !config.HasGlob(p) {
				continue
			}
			if name := p[strings.LastIndex(p, "/")+1:]; !slices.Contains(recordNames, name) {
				t.Errorf("template %s: denyWrite %q keeps files named %q, which recordNames lacks", ti.Name, p, name)
			}
		}
	}
}

// otherViews finds a path through the other mounts of its file system:
// a bind mount of a directory above it, a btrfs pool mounted whole beside
// its subvolume; not through a mount of another file system, nor where a
// mount on top hides it.
func TestOtherViews(t *testing.T) {
	mounts := []mountEntry{
		{"8:1", "/", "/", nil},
		{"0:40", "/@home", "/home", nil},
		{"0:40", "/", "/mnt/pool", nil},
		{"8:1", "/home2", "/srv/h", nil},
		{"0:40", "/@home/alice", "/srv/alice", nil},
		{"0:50", "/", "/srv/alice/.ssh", nil}, // hides the view's .ssh
		{"0:40", "/@home/bob", "/srv/bob", nil},
	}
	for _, c := range []struct {
		p    string
		want []string
	}{
		{"/home/alice/.ssh/id_rsa", []string{"/mnt/pool/@home/alice/.ssh/id_rsa"}},
		{"/home/bob/.aws/credentials", []string{"/mnt/pool/@home/bob/.aws/credentials", "/srv/bob/.aws/credentials"}},
		{"/mnt/pool/@home/bob/.netrc", []string{"/home/bob/.netrc", "/srv/bob/.netrc"}},
		{"/home2/x/secret", []string{"/srv/h/x/secret"}},
		{"/etc/shadow", nil},
		{"/srv/alice/.ssh/id_rsa", nil},
	} {
		if got := otherViews(mounts, c.p, nil); !slices.Equal(got, c.want) {
			t.Errorf("otherViews(%s) = %q, want %q", c.p, got, c.want)
		}
	}
}

// An overlay shows its layers' files at its mount point, where no mount
// above hides them; and a file in an overlay is in its layers too.
// A layer given through a symlink (Docker's overlay2/l/ID) is compared by
// identity: the hidden file in the directory it leads to is masked at the
// overlay's mount point too.
func TestOtherViewsOverlayLinkedLayer(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "l"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../home", filepath.Join(dir, "l", "L1")); err != nil {
		t.Fatal(err)
	}
	mounts := []mountEntry{
		{"8:1", "/", "/", nil},
		{"0:60", "/", "/srv/merged", []string{filepath.Join(dir, "l", "L1"), filepath.Join(dir, "l", "missing")}},
	}
	p := filepath.Join(home, ".ssh", "id_rsa")
	if got, want := otherViews(mounts, p, newFileIDs()), []string{"/srv/merged/.ssh/id_rsa"}; !slices.Equal(got, want) {
		t.Errorf("otherViews(%s) through a linked layer = %q, want %q", p, got, want)
	}
	// Without identities only the layer as written counts.
	if got := otherViews(mounts, p, nil); got != nil {
		t.Errorf("otherViews without identities = %q, want nothing", got)
	}
	// In the overlay, the layer's files are masked where the link leads,
	// and only there: a mask through a symlink fails the start.
	q := "/srv/merged/.netrc"
	if got, want := otherViews(mounts, q, newFileIDs()), []string{filepath.Join(home, ".netrc"), filepath.Join(dir, "l", "missing", ".netrc")}; !slices.Equal(got, want) {
		t.Errorf("otherViews(%s) = %q, want %q", q, got, want)
	}
}

// A layer has no mounts in it: past a mount point under the layer, the
// overlay shows what is beneath it, not the hidden file. An overlay
// mounted inside its own layer (or of "/") gave views of views without end.
func TestOtherViewsOverlayMountBoundary(t *testing.T) {
	mounts := []mountEntry{
		{"8:1", "/", "/", nil},
		{"0:50", "/", "/home", nil},
		{"0:60", "/", "/srv/merged", []string{"/srv"}},
		{"0:61", "/", "/mnt/all", []string{"/"}},
		{"8:1", "/opt/data", "/opt/data", nil}, // bound onto itself
		{"0:62", "/", "/mnt/opt", []string{"/opt"}},
	}
	for _, c := range []struct {
		p    string
		want []string
	}{
		{"/srv/key", []string{"/srv/merged/key", "/mnt/all/srv/key"}},
		{"/srv/merged/key", []string{"/srv/key"}},
		{"/home/alice/.netrc", nil},
		{"/opt/data/key", []string{"/mnt/all/opt/data/key", "/mnt/opt/data/key"}},
	} {
		if got := otherViews(mounts, c.p, nil); !slices.Equal(got, c.want) {
			t.Errorf("otherViews(%s) = %q, want %q", c.p, got, c.want)
		}
	}
	// The views of views come to an end.
	views := []string{"/srv/key"}
	for i := 0; i < len(views) && i < 100; i++ {
		for _, v := range otherViews(mounts, views[i], nil) {
			if !slices.Contains(views, v) {
				views = append(views, v)
			}
		}
	}
	if len(views) > 10 {
		t.Errorf("views of views of /srv/key do not end: %q...", views[:10])
	}
}

// However many places the mount table shows hidden paths at, the start
// ends: past the limit, with an error naming the cause.
func TestMaskedViewsBounded(t *testing.T) {
	dir := t.TempDir()
	hidden := filepath.Join(dir, "h", ".ssh", "id_rsa")
	mounts := []mountEntry{{"8:1", "/", "/", nil}}
	for i := range 20 { // the home bound at 20 other places
		mounts = append(mounts, mountEntry{"8:1", filepath.Join(dir, "h"), filepath.Join(dir, fmt.Sprintf("b%d", i)), nil})
	}
	s := &Spec{}
	out, err := s.maskedViews([]string{hidden}, []string{hidden}, mounts, 10)
	if err == nil || !strings.Contains(err.Error(), "more than 10 places") {
		t.Fatalf("maskedViews = %d masks, %v; want the limit's error", len(out), err)
	}
	out, err = s.maskedViews([]string{hidden}, []string{hidden}, mounts, 100)
	if err != nil || len(out) != 21 {
		t.Fatalf("maskedViews = %d masks, %v; want the path and its 20 views", len(out), err)
	}
}

func TestOtherViewsOverlay(t *testing.T) {
	mounts := []mountEntry{
		{"8:1", "/", "/", nil},
		{"0:60", "/", "/srv/merged", []string{"/srv/up", "/home/alice", "/opt/base"}},
		{"0:61", "/", "/srv/merged/.gnupg", nil}, // hides the view's .gnupg
	}
	for _, c := range []struct {
		p    string
		want []string
	}{
		{"/home/alice/.ssh/id_rsa", []string{"/srv/merged/.ssh/id_rsa"}},
		{"/home/alice/.gnupg/x", nil},
		{"/srv/merged/.netrc", []string{"/srv/up/.netrc", "/home/alice/.netrc", "/opt/base/.netrc"}},
		{"/home/bob/.netrc", nil},
	} {
		if got := otherViews(mounts, c.p, nil); !slices.Equal(got, c.want) {
			t.Errorf("otherViews(%s) = %q, want %q", c.p, got, c.want)
		}
	}
}

// go's env file, as go reads it: the last line for a key counts (go env -w
// drops the others), and on macOS it is in ~/Library/Application Support,
// whatever XDG_CONFIG_HOME says.
func TestGoEnvFileDir(t *testing.T) {
	home := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".config/go/env", "GOCACHE=/old\nGOFLAGS=-mod=mod\nGOCACHE=/new/cache/\n")
	write("Library/Application Support/go/env", "GOCACHE=\"/mac/cache\"\n")
	s := &Spec{Home: home, Env: []string{"HOME=" + home}}
	if got := s.goEnvFileDirOS("linux", "GOCACHE"); got != "/new/cache" {
		t.Errorf("linux: got %q, want the last line's /new/cache", got)
	}
	if got := s.goEnvFileDirOS("darwin", "GOCACHE"); got != "/mac/cache" {
		t.Errorf("darwin: got %q, want /mac/cache from ~/Library/Application Support/go/env", got)
	}
	fifo := filepath.Join(home, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Env = append(s.Env, "GOENV="+fifo)
	if got := s.goEnvFileDirOS("linux", "GOCACHE"); got != "" {
		t.Errorf("GOENV a FIFO: got %q", got)
	}
}

// TestFindGitPerPolicy: findGit answers from one lookup for the rest of a
// policy, and a new policy looks again: a repository made between two plans
// of the same Spec has its .git/hooks protected by the second.
func TestFindGitPerPolicy(t *testing.T) {
	ws := t.TempDir()
	c := config.Default()
	c.Filesystem.AllowWrite = []string{"."}
	s := &Spec{Config: c, Cwd: ws, Home: t.TempDir()}
	if err := s.defaults(); err != nil {
		t.Fatal(err)
	}
	ws, _ = filepath.EvalSymlinks(ws)
	hooks := filepath.Join(ws, ".git", "hooks")
	if fp := mustFSPolicy(t, s, c); slices.Contains(fp.Protected, hooks) {
		t.Fatalf("protected has %s before there is a repository: %q", hooks, fp.Protected)
	}
	if dot, _ := s.findGit(); dot != "" {
		t.Fatalf("findGit found %q in an empty directory", dot)
	}
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	// Within the policy just made, the answer stands.
	if dot, _ := s.findGit(); dot != "" {
		t.Errorf("findGit looked again within one policy: %q", dot)
	}
	s.paths = resolver{} // as a new plan starts (planFS), findGit's memo left alone
	if fp := mustFSPolicy(t, s, c); !slices.Contains(fp.Protected, hooks) {
		t.Errorf("the next policy does not protect %s: %q", hooks, fp.Protected)
	}
	if dot, dirs := s.findGit(); dot != filepath.Join(ws, ".git") || !slices.Equal(dirs, []string{dot}) {
		t.Errorf("findGit = %q %q after the repository was made", dot, dirs)
	}
}

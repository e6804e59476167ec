package fence

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/nsexec"
	"golang.org/x/sys/unix"
)

// FUSE and CIFS lookups return EINTR when a signal (a terminal resize, the
// runtime's own preemption) interrupts them. The resolver retries, as
// os.Lstat does: an interrupted lookup must not drop a policy path, which
// would leave a denyRead path readable.
func TestResolverRetriesInterruptedLookups(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "secret")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	real := lstat
	defer func() { lstat = real }()
	interrupted := 0
	lstat = func(p string, st *unix.Stat_t) error {
		if interrupted < 3 {
			interrupted++
			return unix.EINTR
		}
		return real(p, st)
	}
	var r resolver
	got, err := r.eval(target)
	if err != nil || got != target {
		t.Fatalf("eval(%s) with interrupted lookups: %q, %v; want the path", target, got, err)
	}
	if interrupted != 3 {
		t.Fatalf("the fake lstat was interrupted %d times, want 3", interrupted)
	}
}

// The denied-program lookups retry an interrupted lookup, treat absence
// as absence, and any other failure as an error: the program might be
// there, and would stay unmasked.
func TestRuntimeDeniedLookups(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "denied"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	real := lstatAt
	defer func() { lstatAt = real }()

	n := 0
	lstatAt = func(fd int, name *byte) unix.Errno {
		if n++; n%2 == 1 {
			return unix.EINTR
		}
		return real(fd, name)
	}
	var r resolver
	got, err := runtimeDenied(&r, []string{"denied", "absent"}, bin, "", nil)
	if err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) || slices.Contains(got, filepath.Join(bin, "absent")) {
		t.Fatalf("with every other lookup interrupted: %q, %v; want %s masked and nothing else from there", got, err, filepath.Join(bin, "denied"))
	}

	lstatAt = func(fd int, name *byte) unix.Errno { return unix.EIO }
	r = resolver{}
	if got, err := runtimeDenied(&r, []string{"denied"}, bin, "", nil); err == nil || !strings.Contains(err.Error(), "denied") || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("with lookups failing with EIO: %q, %v; want an error naming the program and the cause", got, err)
	}
}

// A path that hides or protects (denyRead, denyWrite, the built-in
// credential and protected paths, the policy files) and exists but cannot
// be looked up (EIO, ESTALE, a FUSE server gone) stops the plan with one
// line naming the entry, the cause and the fix: the sandbox would
// otherwise run with that path readable or writable. Absence, and the
// errors that mean the command cannot reach the path either, drop the
// entry as before; paths that grant access are simply not granted.
func TestDenyListsFailClosed(t *testing.T) {
	ws, _ := filepath.EvalSymlinks(t.TempDir())
	home, _ := filepath.EvalSymlinks(t.TempDir())
	for _, d := range []string{"keys/sub", "sub", "other", "ro/keys"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(ws, "secret.txt"), filepath.Join(ws, "keys/a.pem"), filepath.Join(ws, "keys/sub/x.pem"),
		filepath.Join(ws, "ro/keys/k.pem"), filepath.Join(ws, "fence.json"), filepath.Join(home, ".ssh/id_ed25519")} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	realLstat, realOpen := lstat, openList
	defer func() { lstat, openList = realLstat, realOpen }()
	failLstat := func(path string, e unix.Errno) {
		lstat = func(p string, st *unix.Stat_t) error {
			if p == path {
				return e
			}
			return realLstat(p, st)
		}
	}
	failList := func(dir string, e unix.Errno) {
		openList = func(d string) (int, error) {
			if d == dir {
				return -1, e
			}
			return realOpen(d)
		}
	}
	plan := func(edit func(*config.Config, *Spec)) (nsexec.FSPolicy, error) {
		c := config.Default()
		c.Filesystem.AllowWrite = []string{"."}
		c.Filesystem.DenyRead = []string{"secret.txt"}
		c.Filesystem.DenyWrite = []string{"keys/*.pem"}
		s := &Spec{Config: c, Cwd: ws, Home: home}
		if edit != nil {
			edit(c, s)
		}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		return s.fsPolicy(c)
	}
	refused := func(name string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: the plan went on", name)
			return
		}
		msg := err.Error()
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error lacks %q: %s", name, w, msg)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error is not one line: %q", name, msg)
		}
	}
	reset := func() { lstat, openList = realLstat, realOpen }

	failLstat(filepath.Join(ws, "secret.txt"), unix.EIO)
	_, err := plan(nil)
	refused("denyRead lookup", err, `filesystem.denyRead "secret.txt"`, "input/output error", "fix the file system or remove the entry")

	failLstat(filepath.Join(ws, "keys/a.pem"), unix.ESTALE)
	_, err = plan(nil)
	refused("denyWrite match lookup", err, `filesystem.denyWrite "keys/*.pem"`, "stale file handle")

	reset()
	failList(filepath.Join(ws, "keys"), unix.EIO)
	_, err = plan(nil)
	refused("denyWrite listing", err, `filesystem.denyWrite "keys/*.pem"`, filepath.Join(ws, "keys"), "input/output error")

	failList(filepath.Join(ws, "keys/sub"), unix.EIO)
	_, err = plan(func(c *config.Config, _ *Spec) { c.Filesystem.DenyRead = []string{"keys/*/x.pem"} })
	refused("a listing below a wildcard directory", err, `filesystem.denyRead "keys/*/x.pem"`, filepath.Join(ws, "keys/sub"))

	failList(filepath.Join(home, ".ssh"), unix.EIO)
	_, err = plan(nil)
	refused("credential listing", err, `the credential path "~/.ssh/id_*"`, "fix the file system or list it in allowRead")
	if strings.Contains(fmt.Sprint(err), "remove the entry") {
		t.Errorf("a built-in path cannot be removed from the config: %v", err)
	}
	// allowRead lifting the credential directory: nothing to hide there,
	// nothing looked up.
	if _, err := plan(func(c *config.Config, _ *Spec) { c.Filesystem.AllowRead = []string{"~/.ssh"} }); err != nil {
		t.Errorf("credential directory lifted by allowRead: %v", err)
	}

	// Searchable but not readable: the command could still open id_rsa.
	failList(filepath.Join(home, ".ssh"), unix.EACCES)
	_, err = plan(nil)
	refused("unlistable credential directory", err, `the credential path "~/.ssh/id_*"`, "searched but not read", "chmod u+r")

	reset()
	failLstat(filepath.Join(ws, ".bashrc"), unix.EIO)
	_, err = plan(nil)
	refused("built-in protected path", err, `the protected path`, ".bashrc", "input/output error")

	failLstat(filepath.Join(ws, ".git"), unix.EIO)
	_, err = plan(nil)
	refused(".git, looked up for the protected .git/hooks", err, `the protected path`, filepath.Join(ws, ".git"), "input/output error")

	failLstat(filepath.Join(ws, "fence.json"), unix.EIO)
	_, err = plan(func(_ *config.Config, s *Spec) { s.PolicyFiles = []string{filepath.Join(ws, "fence.json")} })
	refused("policy file", err, `the policy file`, "fence.json", "input/output error")

	// A host path with a newline in it keeps the error on one line.
	odd := filepath.Join(ws, "odd\nname")
	if err := os.WriteFile(odd, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	failLstat(odd, unix.EIO)
	_, err = plan(func(c *config.Config, _ *Spec) { c.Filesystem.DenyRead = []string{odd} })
	refused("a path with a newline", err, `odd\nname`, "input/output error")

	// Absence drops the entry.
	for _, e := range []unix.Errno{unix.ENOENT, unix.ENOTDIR, unix.ELOOP, unix.ENAMETOOLONG} {
		failLstat(filepath.Join(ws, "secret.txt"), e)
		fp, err := plan(nil)
		if err != nil {
			t.Errorf("denyRead lookup failing with %v: %v; want the entry dropped", e, err)
		} else if slices.Contains(fp.Masked, filepath.Join(ws, "secret.txt")) {
			t.Errorf("denyRead lookup failing with %v: masked anyway", e)
		}
	}

	// A directory that may not be searched hides what is under it from
	// the command too, unless the command can chmod it: it is the user's
	// and writable in the sandbox (ws is, ro is not: allowWrite "keys").
	failLstat(filepath.Join(ws, "secret.txt"), unix.EACCES)
	_, err = plan(nil)
	refused("unsearchable directory the command could chmod", err, `filesystem.denyRead "secret.txt"`, "chmod u+x", ws)
	failLstat(filepath.Join(ws, "ro/keys/k.pem"), unix.EACCES)
	fp, err := plan(func(c *config.Config, _ *Spec) {
		c.Filesystem.AllowWrite = []string{"keys"}
		c.Filesystem.DenyRead = []string{"ro/keys/k.pem"}
	})
	if err != nil {
		t.Errorf("unsearchable directory outside the writable paths: %v; want the entry dropped", err)
	} else if slices.Contains(fp.Masked, filepath.Join(ws, "ro/keys/k.pem")) {
		t.Errorf("unsearchable directory outside the writable paths: masked anyway")
	}
	if os.Geteuid() == 0 {
		// Another user's directory: the command cannot chmod it.
		if err := os.Chown(filepath.Join(ws, "keys/sub"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		failLstat(filepath.Join(ws, "keys/sub/x.pem"), unix.EACCES)
		if _, err := plan(func(c *config.Config, _ *Spec) { c.Filesystem.DenyRead = []string{"keys/sub/x.pem"} }); err != nil {
			t.Errorf("another user's unsearchable directory in a writable path: %v; want the entry dropped", err)
		}
	}

	// No home: "~" entries name nothing (cron, systemd units, env -i).
	reset()
	if _, err := plan(func(_ *config.Config, s *Spec) { s.Home = "" }); err != nil {
		t.Errorf("without a home: %v", err)
	}

	// Grants that cannot be resolved are not granted, and do not stop
	// the plan.
	failLstat(filepath.Join(ws, "sub"), unix.EIO)
	fp, err = plan(func(c *config.Config, _ *Spec) {
		c.Filesystem.AllowWrite = []string{"sub"}
		c.Filesystem.AllowRead = []string{"other"}
	})
	if err != nil {
		t.Fatalf("a grant that cannot be resolved stopped the plan: %v", err)
	}
	if slices.Contains(fp.Writable, filepath.Join(ws, "sub")) {
		t.Errorf("allowWrite of an unresolvable path granted it: %q", fp.Writable)
	}
	reset()
	if fp, err = plan(nil); err != nil || !slices.Contains(fp.Masked, filepath.Join(home, ".ssh/id_ed25519")) {
		t.Errorf("without failures: %v, masked %q; want the credential masked", err, fp.Masked)
	}
}

// A glob under "/**" hides the matched directories whole: "secret*/**"
// once expanded to nothing (it looked like a tree walk) and hid nothing.
func TestGlobbedTreeIsExpanded(t *testing.T) {
	ws, _ := filepath.EvalSymlinks(t.TempDir())
	for _, d := range []string{"secrets1", "secrets2", "public"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := config.Default()
	c.Filesystem.DenyRead = []string{"secret*/**"}
	s := &Spec{Config: c, Cwd: ws, Home: t.TempDir()}
	if err := s.defaults(); err != nil {
		t.Fatal(err)
	}
	fp, err := s.fsPolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"secrets1", "secrets2"} {
		if !slices.Contains(fp.Masked, filepath.Join(ws, d)) {
			t.Errorf("%s not masked: %q", d, fp.Masked)
		}
	}
	if slices.Contains(fp.Masked, filepath.Join(ws, "public")) {
		t.Errorf("public masked: %q", fp.Masked)
	}
}

// The denied programs' PATH directories: a directory that exists but cannot
// be resolved or opened is an error, a missing one is skipped.
func TestRuntimeDeniedDirectories(t *testing.T) {
	bin, _ := filepath.EvalSymlinks(t.TempDir())
	if err := os.WriteFile(filepath.Join(bin, "denied"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	realLstat, realOpen := lstat, openDir
	defer func() { lstat, openDir = realLstat, realOpen }()

	var r resolver
	got, err := runtimeDenied(&r, []string{"denied"}, "/nonexistent/bin:"+bin, "", nil)
	if err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) {
		t.Fatalf("with a missing PATH directory: %q, %v; want %s masked", got, err, filepath.Join(bin, "denied"))
	}

	lstat = func(p string, st *unix.Stat_t) error {
		if p == bin {
			return unix.EIO
		}
		return realLstat(p, st)
	}
	r = resolver{}
	_, err = runtimeDenied(&r, []string{"denied"}, bin, "", nil)
	if err == nil || !strings.Contains(err.Error(), bin) || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), "PATH") {
		t.Errorf("with the PATH directory's lookup failing: %v; want an error naming it, the cause and the fix", err)
	}

	// Relative entries (an empty one is ".") are searched from the
	// working directory the command starts in.
	lstat = realLstat
	cwd := filepath.Dir(bin)
	for _, entry := range []string{filepath.Base(bin), "./" + filepath.Base(bin)} {
		r = resolver{}
		got, err = runtimeDenied(&r, []string{"denied"}, "/nonexistent:"+entry, cwd, nil)
		if err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) {
			t.Errorf("PATH entry %q from %s: %q, %v; want %s masked", entry, cwd, got, err, filepath.Join(bin, "denied"))
		}
	}
	r = resolver{}
	if got, err = runtimeDenied(&r, []string{"denied"}, ":/nonexistent", bin, nil); err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) {
		t.Errorf("an empty PATH entry from %s: %q, %v; want %s masked", bin, got, err, filepath.Join(bin, "denied"))
	}

	// A PATH directory that may not be searched runs nothing by name,
	// unless the command can chmod it (it is the user's, and writable).
	realAt := lstatAt
	defer func() { lstatAt = realAt }()
	lstatAt = func(fd int, name *byte) unix.Errno { return unix.EACCES }
	r = resolver{}
	if got, err = runtimeDenied(&r, []string{"denied"}, bin, "", nil); err != nil || len(got) != 0 {
		t.Errorf("unsearchable PATH directory, read-only in the sandbox: %q, %v; want nothing masked, no error", got, err)
	}
	r = resolver{}
	if _, err = runtimeDenied(&r, []string{"denied"}, bin, "", []string{bin}); err == nil || !strings.Contains(err.Error(), "chmod") {
		t.Errorf("unsearchable PATH directory of the user's, writable in the sandbox: %v; want an error", err)
	}
	lstatAt = realAt

	openDir = func(dir string) (int, error) {
		if dir == bin {
			return -1, unix.ENOTCONN
		}
		return realOpen(dir)
	}
	r = resolver{}
	_, err = runtimeDenied(&r, []string{"denied"}, bin, "", nil)
	if err == nil || !strings.Contains(err.Error(), bin) || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("with the PATH directory's open failing: %v; want an error naming it and the cause", err)
	}
}

package fence

import (
	"fmt"
	"os"
	"os/user"
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
	noListings(t)
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
	lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno {
		if n++; n%2 == 1 {
			return unix.EINTR
		}
		return real(fd, name, st)
	}
	var r resolver
	got, err := runtimeDenied(&r, []string{"denied", "absent"}, bin, true, "", nil)
	if err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) || slices.Contains(got, filepath.Join(bin, "absent")) {
		t.Fatalf("with every other lookup interrupted: %q, %v; want %s masked and nothing else from there", got, err, filepath.Join(bin, "denied"))
	}

	lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno { return unix.EIO }
	r = resolver{}
	if got, err := runtimeDenied(&r, []string{"denied"}, bin, true, "", nil); err == nil || !strings.Contains(err.Error(), "denied") || !strings.Contains(err.Error(), "input/output error") {
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
	noListings(t)
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
	_, err = plan(func(c *config.Config, _ *Spec) { c.Filesystem.DenyRead = []string{"keys/*/*.pem"} })
	refused("a listing below a wildcard directory", err, `filesystem.denyRead "keys/*/*.pem"`, filepath.Join(ws, "keys/sub"))
	reset()
	failLstat(filepath.Join(ws, "keys/sub/x.pem"), unix.EIO)
	_, err = plan(func(c *config.Config, _ *Spec) { c.Filesystem.DenyRead = []string{"keys/*/x.pem"} })
	refused("a literal name below a wildcard directory", err, `filesystem.denyRead "keys/*/x.pem"`, filepath.Join(ws, "keys/sub/x.pem"))
	reset()

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
	noListings(t)
	realLstat, realOpen := lstat, openDir
	defer func() { lstat, openDir = realLstat, realOpen }()

	var r resolver
	got, err := runtimeDenied(&r, []string{"denied"}, "/nonexistent/bin:"+bin, true, "", nil)
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
	_, err = runtimeDenied(&r, []string{"denied"}, bin, true, "", nil)
	if err == nil || !strings.Contains(err.Error(), bin) || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), "PATH") {
		t.Errorf("with the PATH directory's lookup failing: %v; want an error naming it, the cause and the fix", err)
	}

	// Relative entries (an empty one is ".") are searched from the
	// working directory the command starts in.
	lstat = realLstat
	cwd := filepath.Dir(bin)
	for _, entry := range []string{filepath.Base(bin), "./" + filepath.Base(bin)} {
		r = resolver{}
		got, err = runtimeDenied(&r, []string{"denied"}, "/nonexistent:"+entry, true, cwd, nil)
		if err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) {
			t.Errorf("PATH entry %q from %s: %q, %v; want %s masked", entry, cwd, got, err, filepath.Join(bin, "denied"))
		}
	}
	r = resolver{}
	if got, err = runtimeDenied(&r, []string{"denied"}, ":/nonexistent", true, bin, nil); err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) {
		t.Errorf("an empty PATH entry from %s: %q, %v; want %s masked", bin, got, err, filepath.Join(bin, "denied"))
	}

	// A PATH directory that may not be searched runs nothing by name,
	// unless the command can chmod it (it is the user's, and writable).
	realAt := lstatAt
	defer func() { lstatAt = realAt }()
	lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno { return unix.EACCES }
	r = resolver{}
	if got, err = runtimeDenied(&r, []string{"denied"}, bin, true, "", nil); err != nil || len(got) != 0 {
		t.Errorf("unsearchable PATH directory, read-only in the sandbox: %q, %v; want nothing masked, no error", got, err)
	}
	r = resolver{}
	if _, err = runtimeDenied(&r, []string{"denied"}, bin, true, "", []string{bin}); err == nil || !strings.Contains(err.Error(), "chmod") {
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
	_, err = runtimeDenied(&r, []string{"denied"}, bin, true, "", nil)
	if err == nil || !strings.Contains(err.Error(), bin) || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("with the PATH directory's open failing: %v; want an error naming it and the cause", err)
	}
}

// The second review's cases: a search refused at a directory the command
// cannot chmod must not hide a later real failure of the same glob; a
// symlink into a directory of the user's that may not be searched is
// judged by that directory; the writable paths reach every list; PATH
// empty or unset means the working directory too.
func TestDenyListsFailClosedAcrossDirectories(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test gives a directory to another user (chown) to make one the command cannot chmod")
	}
	ws, _ := filepath.EvalSymlinks(t.TempDir())
	home := filepath.Join(ws, "home")
	for _, d := range []string{"home/a", "home/c", "home/vault/ssh", "bin"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"home/c/secret.txt", "home/vault/ssh/id_rsa", "bin/tool"} {
		if err := os.WriteFile(filepath.Join(ws, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(home, "a"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("vault/ssh", filepath.Join(home, ".ssh")); err != nil {
		t.Fatal(err)
	}
	noListings(t)
	realLstat, realOpen, realSearchable := lstat, openList, searchable
	defer func() { lstat, openList, searchable = realLstat, realOpen, realSearchable }()
	// refuse makes the directories in dirs unsearchable: lookups below
	// them and opens of them fail as the kernel would fail them.
	refuse := func(dirs ...string) {
		below := func(p string) bool {
			for _, d := range dirs {
				if strings.HasPrefix(p, d+"/") {
					return true
				}
			}
			return false
		}
		is := func(p string) bool { return slices.Contains(dirs, p) || below(p) }
		lstat = func(p string, st *unix.Stat_t) error {
			if below(p) {
				return unix.EACCES
			}
			return realLstat(p, st)
		}
		openList = func(d string) (int, error) {
			if is(d) || d == filepath.Join(home, ".ssh") && is(filepath.Join(home, "vault")) {
				return -1, unix.EACCES
			}
			return realOpen(d)
		}
		searchable = func(p string) error {
			if is(p) || p == filepath.Join(home, ".ssh") && is(filepath.Join(home, "vault")) {
				return unix.EACCES
			}
			return realSearchable(p)
		}
	}
	plan := func(edit func(*config.Config)) error {
		c := config.Default()
		edit(c)
		s := &Spec{Config: c, Cwd: ws, Home: home, Env: []string{"PATH=/usr/bin:/bin"}, Args: []string{"true"}}
		_, err := s.Plan()
		return err
	}

	// home/a (another user's) refuses the search, then home/c (the
	// user's, writable) does: the second must still stop the plan.
	refuse(filepath.Join(home, "a"), filepath.Join(home, "c"))
	err := plan(func(c *config.Config) {
		c.Filesystem.AllowWrite = []string{"~"}
		c.Filesystem.DenyRead = []string{"~/*/secret.txt"}
	})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(home, "c")) {
		t.Errorf("a refused search of another user's directory hid the next one's: %v", err)
	}
	// Without the writable home only the harmless refusals are left.
	if err := plan(func(c *config.Config) { c.Filesystem.DenyRead = []string{"~/*/secret.txt"} }); err != nil {
		t.Errorf("the same, home read-only in the sandbox: %v; want the plan to go on", err)
	}

	// ~/.ssh -> vault/ssh, vault the user's, unsearchable, writable. The
	// first entry below it to be looked up stops the plan: a credential
	// path, or a protected one (~/.ssh/authorized_keys).
	refuse(filepath.Join(home, "vault"))
	err = plan(func(c *config.Config) { c.Filesystem.AllowWrite = []string{"~"} })
	if err == nil || !strings.Contains(err.Error(), "/.ssh/") || !strings.Contains(err.Error(), filepath.Join(home, "vault")) {
		t.Errorf("a symlinked credential directory behind an unsearchable directory of the user's: %v; want a refusal naming %s", err, filepath.Join(home, "vault"))
	}
	// Each list gets the writable paths: denyWrite, and the denied
	// programs (through Plan).
	err = plan(func(c *config.Config) {
		c.Filesystem.AllowWrite = []string{"~"}
		c.Filesystem.AllowRead = []string{"~/.ssh"}
		c.Filesystem.DenyWrite = []string{"~/vault/ssh/id_rsa"}
	})
	if err == nil || !strings.Contains(err.Error(), "filesystem.denyWrite") {
		t.Errorf("denyWrite below an unsearchable writable directory of the user's: %v; want a refusal", err)
	}
	refuse(filepath.Join(ws, "bin"))
	err = plan(func(c *config.Config) {
		c.Filesystem.AllowWrite = []string{"."}
		c.Command.Deny = []string{filepath.Join(ws, "bin/tool")}
	})
	if err == nil || !strings.Contains(err.Error(), "command.deny") {
		t.Errorf("a denied program below an unsearchable writable directory of the user's: %v; want a refusal", err)
	}
	// The same directory not writable (something else is: the exec deny's
	// lookups run beside the rest of the plan, taking every path for
	// writable, and an error there is judged again with the real ones):
	// the command cannot chmod it, so nothing runs from it.
	err = plan(func(c *config.Config) {
		c.Filesystem.AllowWrite = []string{"~"}
		c.Command.Deny = []string{filepath.Join(ws, "bin/tool")}
	})
	if err != nil {
		t.Errorf("a denied program below an unsearchable directory of the user's that is not writable: %v; want the plan to hold", err)
	}
	// The host's /tmp counts as writable when allowWrite lists it.
	tmp, err := os.MkdirTemp("/tmp", "fence-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	refuse(tmp)
	for _, hostTmp := range []bool{false, true} {
		err = plan(func(c *config.Config) {
			c.Filesystem.DenyRead = []string{filepath.Join(tmp, "secret")}
			if hostTmp {
				c.Filesystem.AllowWrite = []string{"/tmp"}
			}
		})
		if hostTmp != (err != nil) {
			t.Errorf("denyRead below an unsearchable directory of the user's in /tmp, host /tmp %v: %v", hostTmp, err)
		}
	}
}

// An empty PATH is the working directory for sh and bash; an unset one is
// bash's default, which ends with it.
func TestRuntimeDeniedEmptyOrUnsetPath(t *testing.T) {
	cwd, _ := filepath.EvalSymlinks(t.TempDir())
	if err := os.WriteFile(filepath.Join(cwd, "evil"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A directory of a denied program's name runs nothing: a project's
	// chroot/ stays visible.
	if err := os.Mkdir(filepath.Join(cwd, "chroot"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		set  bool
	}{{"", true}, {"", false}} {
		var r resolver
		got, err := runtimeDenied(&r, []string{"evil", "chroot"}, tc.path, tc.set, cwd, nil)
		if err != nil || !slices.Contains(got, filepath.Join(cwd, "evil")) || slices.Contains(got, filepath.Join(cwd, "chroot")) {
			t.Errorf("PATH %q (set %v): %q, %v; want %s masked, not %s", tc.path, tc.set, got, err, filepath.Join(cwd, "evil"), filepath.Join(cwd, "chroot"))
		}
	}
}

// Without $HOME (env -i, cron, a service manager) the home fence protects
// is the user's entry in the password database.
func TestHomeDirWithoutHOME(t *testing.T) {
	u, err := user.Current()
	if err != nil || !filepath.IsAbs(u.HomeDir) {
		t.Skipf("no home directory in the password database for uid %d: %v", os.Getuid(), err)
	}
	for _, h := range []string{"", "relative/home"} {
		t.Setenv("HOME", h)
		if got := config.HomeDir(); got != u.HomeDir {
			t.Errorf("HOME=%q: config.HomeDir() = %q, want %q", h, got, u.HomeDir)
		}
		s := &Spec{Config: config.Default(), Cwd: t.TempDir()}
		if err := s.defaults(); err != nil || s.Home != u.HomeDir {
			t.Errorf("HOME=%q: the plan's home is %q (%v), want %q", h, s.Home, err, u.HomeDir)
		}
	}
	t.Setenv("HOME", "/elsewhere")
	if got := config.HomeDir(); got != "/elsewhere" {
		t.Errorf("HOME=/elsewhere: config.HomeDir() = %q", got)
	}
}

// noListings makes every lookup of the test a lookup (resolver.missing
// answers nothing from a directory's listing) and restores listNames when
// the test ends: these tests model file systems whose lookups fail, which
// listDirNames does not list (network, FUSE) or cannot list either.
func noListings(t *testing.T) {
	real := listNames
	listNames = func(string) map[string]struct{} { return nil }
	t.Cleanup(func() { listNames = real })
}

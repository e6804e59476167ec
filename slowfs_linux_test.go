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
	got, err := runtimeDenied(&r, []string{"denied", "absent"}, bin)
	if err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) || slices.Contains(got, filepath.Join(bin, "absent")) {
		t.Fatalf("with every other lookup interrupted: %q, %v; want %s masked and nothing else from there", got, err, filepath.Join(bin, "denied"))
	}

	lstatAt = func(fd int, name *byte) unix.Errno { return unix.EIO }
	r = resolver{}
	if got, err := runtimeDenied(&r, []string{"denied"}, bin); err == nil || !strings.Contains(err.Error(), "denied") || !strings.Contains(err.Error(), "input/output error") {
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
	for _, d := range []string{filepath.Join(ws, "keys"), filepath.Join(ws, "sub"), filepath.Join(ws, "other"), filepath.Join(home, ".ssh")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(ws, "secret.txt"), filepath.Join(ws, "keys/a.pem"), filepath.Join(home, ".ssh/id_ed25519")} {
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
	plan := func(edit func(*config.Config)) (nsexec.FSPolicy, error) {
		c := config.Default()
		c.Filesystem.AllowWrite = []string{"."}
		c.Filesystem.DenyRead = []string{"secret.txt"}
		c.Filesystem.DenyWrite = []string{"keys/*.pem"}
		if edit != nil {
			edit(c)
		}
		s := &Spec{Config: c, Cwd: ws, Home: home}
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

	// Every failure below is EIO on a path that exists.
	failLstat(filepath.Join(ws, "secret.txt"), unix.EIO)
	_, err := plan(nil)
	refused("denyRead lookup", err, `filesystem.denyRead "secret.txt"`, "input/output error", "remove the entry")

	failLstat(filepath.Join(ws, "keys/a.pem"), unix.ESTALE)
	_, err = plan(nil)
	refused("denyWrite match lookup", err, `filesystem.denyWrite "keys/*.pem"`, "stale file handle")

	lstat = realLstat
	failList(filepath.Join(ws, "keys"), unix.EIO)
	_, err = plan(nil)
	refused("denyWrite listing", err, `filesystem.denyWrite "keys/*.pem"`, filepath.Join(ws, "keys"), "input/output error")

	failList(filepath.Join(home, ".ssh"), unix.EIO)
	_, err = plan(nil)
	refused("credential listing", err, `the credential path "~/.ssh/id_*"`, "fix the file system")
	if strings.Contains(fmt.Sprint(err), "remove the entry") {
		t.Errorf("a built-in path cannot be removed from the config: %v", err)
	}

	// Searchable but not readable: the command could still open id_rsa.
	failList(filepath.Join(home, ".ssh"), unix.EACCES)
	_, err = plan(nil)
	refused("unlistable credential directory", err, `the credential path "~/.ssh/id_*"`, "searched but not read")

	openList = realOpen
	failLstat(filepath.Join(ws, ".bashrc"), unix.EIO)
	_, err = plan(nil)
	refused("built-in protected path", err, `the protected path`, ".bashrc", "input/output error")

	failLstat(filepath.Join(ws, ".git"), unix.EIO)
	_, err = plan(nil)
	refused("whether .git exists", err, filepath.Join(ws, ".git"), "input/output error")

	// Absence, and what the command cannot reach either, drop the entry.
	for _, e := range []unix.Errno{unix.ENOENT, unix.ENOTDIR, unix.EACCES, unix.ELOOP} {
		failLstat(filepath.Join(ws, "secret.txt"), e)
		fp, err := plan(nil)
		if err != nil {
			t.Errorf("denyRead lookup failing with %v: %v; want the entry dropped", e, err)
		} else if slices.Contains(fp.Masked, filepath.Join(ws, "secret.txt")) {
			t.Errorf("denyRead lookup failing with %v: masked anyway", e)
		}
	}

	// Grants that cannot be resolved are not granted, and do not stop
	// the plan.
	failLstat(filepath.Join(ws, "sub"), unix.EIO)
	fp, err := plan(func(c *config.Config) {
		c.Filesystem.AllowWrite = []string{"sub"}
		c.Filesystem.AllowRead = []string{"~/.ssh/id_ed25519"}
	})
	if err != nil {
		t.Fatalf("a grant that cannot be resolved stopped the plan: %v", err)
	}
	if slices.Contains(fp.Writable, filepath.Join(ws, "sub")) {
		t.Errorf("allowWrite of an unresolvable path granted it: %q", fp.Writable)
	}
	lstat = realLstat
	if fp, err = plan(nil); err != nil || !slices.Contains(fp.Masked, filepath.Join(home, ".ssh/id_ed25519")) {
		t.Errorf("without failures: %v, masked %q; want the credential masked", err, fp.Masked)
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
	got, err := runtimeDenied(&r, []string{"denied"}, "/nonexistent/bin:"+bin)
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
	_, err = runtimeDenied(&r, []string{"denied"}, bin)
	if err == nil || !strings.Contains(err.Error(), bin) || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), "PATH") {
		t.Errorf("with the PATH directory's lookup failing: %v; want an error naming it, the cause and the fix", err)
	}

	lstat = realLstat
	openDir = func(dir string) (int, error) {
		if dir == bin {
			return -1, unix.ENOTCONN
		}
		return realOpen(dir)
	}
	r = resolver{}
	_, err = runtimeDenied(&r, []string{"denied"}, bin)
	if err == nil || !strings.Contains(err.Error(), bin) || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("with the PATH directory's open failing: %v; want an error naming it and the cause", err)
	}
}

package nsexec

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestFDTablePidfdOldKernel: where the kernel refuses thread pidfds (before
// 6.9), the guard reaches a thread's sockets through its process's pidfd.
// Simulated on this thread: the opener refuses PIDFD_THREAD.
func TestFDTablePidfdOldKernel(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	errs := make(chan string, 8)
	// body runs on a thread of its own; it must not be the main thread,
	// where thread and process ids are the same.
	body := func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()
		if tid == unix.Getpid() {
			errs <- "ran on the main thread"
			return
		}
		var asked []int
		old := func(pid, flags int) (int, error) {
			asked = append(asked, pid)
			if flags&unix.PIDFD_THREAD != 0 {
				return -1, unix.EINVAL
			}
			return unix.PidfdOpen(pid, flags)
		}
		for _, open := range []func(int, int) (int, error){old, unix.PidfdOpen} {
			pidfd, err := fdTablePidfd(tid, open)
			if err != nil {
				errs <- fmt.Sprintf("pidfd for thread %d: %v", tid, err)
				return
			}
			dup, err := unix.PidfdGetfd(pidfd, int(w.Fd()), 0)
			unix.Close(pidfd)
			if err != nil {
				errs <- fmt.Sprintf("pidfd_getfd through it: %v", err)
				return
			}
			if _, err := unix.Write(dup, []byte("x")); err != nil {
				errs <- fmt.Sprintf("write to the fd taken: %v", err)
			}
			unix.Close(dup)
		}
		if want := []int{tid, unix.Getpid()}; len(asked) != 2 || asked[0] != want[0] || asked[1] != want[1] {
			errs <- fmt.Sprintf("pidfd_open asked for %v, want %v (thread, then its process)", asked, want)
		}
	}
	go func() {
		defer close(errs)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if unix.Gettid() != unix.Getpid() {
			body()
			return
		}
		// Holding the main thread, so that body gets another one.
		done := make(chan struct{})
		go func() { body(); close(done) }()
		<-done
	}()
	failed := false
	for e := range errs {
		t.Error(e)
		failed = true
	}
	if failed {
		return
	}
	b := make([]byte, 3)
	if n, _ := r.Read(b); n != 2 {
		t.Errorf("read %d bytes back, want 2", n)
	}
}

// A signal to the guard's thread can fail NOTIF_SEND and NOTIF_ID_VALID
// with EINTR before they did anything (they take the listener's lock
// interruptibly): the answer is sent again, and the caller is not taken for
// gone. Simulated: the first two calls are interrupted.
func TestGuardNotifIoctlEINTR(t *testing.T) {
	type call struct {
		req  uint
		resp seccompNotifResp
		id   uint64
	}
	var calls []call
	old := notifIoctlOnce
	defer func() { notifIoctlOnce = old }()
	notifIoctlOnce = func(fd int, req uint, arg unsafe.Pointer) error {
		c := call{req: req}
		switch req {
		case unix.SECCOMP_IOCTL_NOTIF_SEND:
			c.resp = *(*seccompNotifResp)(arg)
		case unix.SECCOMP_IOCTL_NOTIF_ID_VALID:
			c.id = *(*uint64)(arg)
		}
		calls = append(calls, c)
		if len(calls) <= 2 {
			return unix.EINTR
		}
		return nil
	}

	g := &guard{}
	g.respond(-1, seccompNotif{ID: 7}, -1, unix.EPERM)
	if len(calls) != 3 {
		t.Fatalf("respond made %d ioctls, want 3 (two interrupted, one answer): %+v", len(calls), calls)
	}
	for _, c := range calls {
		if c.req != unix.SECCOMP_IOCTL_NOTIF_SEND || c.resp.ID != 7 || c.resp.Error != -int32(unix.EPERM) {
			t.Errorf("respond sent %+v, want NOTIF_SEND of id 7 with -EPERM", c)
		}
	}

	calls = nil
	if errno := stillAsking(-1, 9); errno != 0 {
		t.Errorf("stillAsking after interrupted ID_VALIDs: %v, want 0 (still pending)", errno)
	}
	if len(calls) != 3 || calls[2].req != unix.SECCOMP_IOCTL_NOTIF_ID_VALID || calls[2].id != 9 {
		t.Errorf("stillAsking made %+v, want three ID_VALID of id 9", calls)
	}
}

// The syscalls the guard makes for the command (connect, bind, the
// injection of an fd) run with every signal blocked on their thread, so
// that no signal turns them into an EINTR the command was never sent.
func TestSignalsBlocked(t *testing.T) {
	sigBlk := func() uint64 {
		t.Helper()
		b, err := os.ReadFile("/proc/thread-self/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "SigBlk:"); ok {
				m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
		t.Fatal("no SigBlk in /proc/thread-self/status")
		return 0
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := sigBlk()
	var inside uint64
	if err := signalsBlocked(func() error { inside = sigBlk(); return nil }); err != nil {
		t.Fatal(err)
	}
	// The kernel never blocks SIGKILL (9) and SIGSTOP (19).
	want := ^uint64(0) &^ (1<<(9-1) | 1<<(19-1))
	if inside != want {
		t.Errorf("SigBlk inside = %#x, want %#x (everything but SIGKILL and SIGSTOP)", inside, want)
	}
	if after := sigBlk(); after != before {
		t.Errorf("SigBlk after = %#x, want the %#x from before", after, before)
	}
}

// Every glob matches names with a newline in them (a directory "x\ny"
// used to slip out of "**": no (?s)), and names that are not UTF-8 (the
// pattern used to panic the guard), and nothing it should not.
func TestGlobRegexpOddNames(t *testing.T) {
	for _, c := range []struct {
		glob, path string
		want       bool
	}{
		{"/ws/**/.env", "/ws/x\ny/.env", true},
		{"/ws/**/fence.json", "/ws/a\n/b/fence.json", true},
		{"/ws/**", "/ws/x\ny", true},
		{"/ws/*.pem", "/ws/a\nb.pem", true},
		{"/ws/?", "/ws/\n", true},
		{"/ws/*.pem", "/ws/a/b.pem", false}, // * stops at a slash
		{"/ws/caf\xe9/**/*.pem", "/ws/caf\xe9/a/k.pem", true},
		{"/ws/\xe9\xe9/*.pem", "/ws/\xe9\xe9/k.pem", true},
		{"/ws/**/x\xff.env", "/ws/a/x\xff.env", true},
		{"/ws/caf\xe9/*.pem", "/ws/cafe/k.pem", false}, // an invalid byte is not a valid one
	} {
		if got := globRegexp(c.glob).MatchString(c.path); got != c.want {
			t.Errorf("%q on %q: %v, want %v", c.glob, c.path, got, c.want)
		}
	}
}

// Within one name, the guard's globs mean what filepath.Match (the
// config's syntax) says: classes, ranges, negation, escapes. A class used
// to be literal text in the guard, so "**/secret[12].txt" protected no
// file deeper than a read-only bind reaches.
func TestGlobRegexpMatchesFilepathMatch(t *testing.T) {
	names := []string{"secret1.txt", "secret2.txt", "secret3.txt", "secret[12].txt", "a", "b", "c", "-", "]", "^", "!", "x*y", "x?y", "xzy", "z",
		`x\y`, "[", "a-c", "é", "p[1]", "p1"}
	for _, pat := range []string{"secret[12].txt", "secret[1-2].txt", "secret[^1].txt", "[a-c]", "[^a-c]", "[-a]", "[a-]", `[\]]`, `[\^]`,
		`x\*y`, `x\?y`, "x[*]y", `x\\y`, "[é]", `p\[1]`, "p[1]", "[", "a[", "*", "?",
		`[a\-c]`, "[c-a]", "[^c-a]", "[é-a]", `[a-\]]`, "[a-cz-x]", "[!a]"} {
		re := globRegexp("/d/" + pat)
		for _, n := range names {
			want, err := filepath.Match(pat, n)
			if err != nil {
				continue // refused by the config's checks before it gets here
			}
			if got := re.MatchString("/d/" + n); got != want {
				t.Errorf("%q on %q: %v, filepath.Match says %v", pat, n, got, want)
			}
		}
	}
	if globRegexp("/d/[^a]").MatchString("/d//") || globRegexp("/d/**/secret[12].txt").MatchString("/d/x/secret3.txt") || !globRegexp("/d/**/secret[12].txt").MatchString("/d/x/y/secret2.txt") {
		t.Error("a class across names")
	}
}

// The forms compileGlob matches without a regexp agree with globRegexp.
func TestCompileGlobAgrees(t *testing.T) {
	paths := []string{"/ws/fence.json", "/ws/a/fence.json", "/ws/a/b/fence.json", "/ws/xfence.json", "/ws/a/xfence.json",
		"/ws", "/ws/", "/wsx/fence.json", "/ws/fence.json/x", "/ws/a\nb/fence.json", "/g/modules/x", "/g/modules/x/y",
		"/g/modules/", "/g/modules", "/g/modulesx/y", "/ws/.env", "/ws/a/.env", "/ws/.envx",
		"/", "//fence.json", "/ws//fence.json", "/a.b+c/fence.json", "/a.b+c/x/fence.json",
		"/ws/k.pem", "/ws/a/k.pem", "/ws/.pem", "/ws/k.pemx", "/ws/k.pem/x", "/ws/a/b/c.pem", "/ws/a\nb.pem", "/ws/\xff.pem", "/ws/\xe2\x82.pem",
		"/ws/.env.local", "/ws/a/.env.", "/ws/a/.envx", "/ws/a/x.env.y", "/h/.zcompdump", "/h/.zcompdump-host-5.9", "/h/x/.zcompdump",
		"/h/p10k-instant-prompt-u.zsh", "/h/p10k-instant-prompt-.zsh", "/h/p10k-.zsh.zsh", "/h/p10k-a/b.zsh", "/ws/ab", "/ws/aXbYb", "/ws/a/ab"}
	for _, p := range []string{"/ws/**/fence.json", "/g/modules/*", "/ws/**/.env", "/ws/**/*.pem", "/ws/*.pem", "/**/fence.json", "/a.b+c/**/fence.json",
		"/ws/**/.env.*", "/ws/.env.*", "/h/.zcompdump*", "/h/p10k-instant-prompt-*.zsh", "/h/p10k-*.zsh", "/ws/**/*", "/ws/a*b", "/ws/**/a*b*", "/ws/*\xff.pem", "/ws/**/\uFFFD.pem"} {
		g, re := compileGlob(p), globRegexp(p)
		for _, path := range paths {
			if got, want := g.match(path), re.MatchString(path); got != want {
				t.Errorf("%q on %q: %v, the regexp says %v", p, path, got, want)
			}
		}
	}
	for _, p := range []string{"/ws/**/fence.json", "/g/modules/*", "/ws/**/*.pem", "/ws/*.key", "/ws/**/.env.*", "/h/.zcompdump*"} {
		if compileGlob(p).re != nil {
			t.Errorf("%s went to a regexp", p)
		}
	}
}

// FuzzCompileGlobAgrees: compileGlob's forms without a regexp match what
// globRegexp matches, on any path.
func FuzzCompileGlobAgrees(f *testing.F) {
	f.Add("/ws/a/k.pem")
	f.Add("/ws/\xe2\x82\xac*.pem")
	f.Fuzz(func(t *testing.T, path string) {
		for _, p := range []string{"/ws/**/*.pem", "/ws/*.pem", "/ws/**/.env.*", "/h/p10k-*.zsh", "/ws/**/a*b*c", "/ws/**/€*"} {
			g := compileGlob(p)
			if got, want := g.match(path), globRegexp(p).MatchString(path); got != want {
				t.Errorf("%q on %q: %v, the regexp says %v", p, path, got, want)
			}
		}
	})
}

// Literal protected patterns (PATH, PATH/**) are looked up by path and
// directory, not matched one by one; they must decide as the patterns'
// regexps do, escaped and glob patterns staying regexps.
func TestProtectedLiteralPatterns(t *testing.T) {
	pats := []string{"/w/proj/.git/config", "/w/proj/.git/hooks", "/w/proj/.git/hooks/**", `/w/a\*b/x`, "/w/**/fence.json", "/w/g*/y"}
	g := newGuard(&FSPolicy{ProtectedPatterns: pats}, UnixPolicy{AllowAll: true})
	if len(g.protectedPaths) != 2 || len(g.protectedTrees) != 1 {
		t.Fatalf("literal patterns: %d paths, %d trees, want 2 and 1", len(g.protectedPaths), len(g.protectedTrees))
	}
	for _, p := range []string{"/w/proj/.git/config", "/w/proj/.git/hooks", "/w/proj/.git/hooks/pre-commit", "/w/proj/.git/hooks/a/b",
		"/w/a*b/x", "/w/x/fence.json", "/w/gz/y",
		"/w/proj/.git/configx", "/w/proj/.git/hooksx", "/w/proj/.git", "/w/proj/.git/hooks2/x", "/w/aXb/x", "/w/g/z/y", "/x/proj/.git/config"} {
		want := false
		for _, q := range pats {
			if globRegexp(q).MatchString(p) {
				want = true
			}
		}
		if got := g.isProtected(p); got != want {
			t.Errorf("isProtected(%q) = %v, want %v (the patterns' regexps)", p, got, want)
		}
	}
}

// TestGuardGitDecisions: the guard's git decisions (GitDirs), on a user's
// repository made before the guard and one of the sandbox's (recorded as
// created): what is kept, looked up from the directory the operation is
// in, not from its path, which may be stale (a directory above renamed
// meanwhile) or name the other repository.
func TestGuardGitDecisions(t *testing.T) {
	ws := t.TempDir()
	mk := func(rel string) {
		t.Helper()
		p := filepath.Join(ws, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"user/.git/hooks/a", "user/.git/config", "user/.git/modules/m/hooks/a", "user/.git/worktrees/w/gitdir",
		"user/.git/objects/o", "sbx/.git/hooks/a", "sbx/.git/config", "plain/wt/.git", "user/src/lib/f", "sbx/src/f", "plain/wt/sub/f", "user/docs/HEAD",
		"user/src/sbx2/.git/refs/remotes/origin/x", "user/src/sbx2/d/f"} {
		mk(f)
	}
	var created []string
	for _, d := range []string{"sbx/.git", "user/src/sbx2/.git"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(ws, d), &st); err != nil {
			t.Fatal(err)
		}
		created = append(created, FormatCreated(uint64(st.Dev), st.Ino, filepath.Join(ws, d)))
	}
	g := newGuard(&FSPolicy{GitDirs: true, Created: created}, UnixPolicy{AllowAll: true})
	open := func(rel string) int {
		t.Helper()
		fd, err := unix.Open(filepath.Join(ws, rel), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	for _, c := range []struct {
		dir, base, path string // path: what the guard was told full is
		want            bool
	}{
		{"user/.git/hooks", "pre-commit", "user/.git/hooks/pre-commit", true},
		{"user/.git/hooks", "a", "user/.git/hooks/a", true},
		{"user/.git", "config", "user/.git/config", true},
		{"user/.git", "hooks", "user/.git/hooks", true},
		{"user/.git/hooks", ".", "user/.git/hooks", true},
		{"user/.git", "HEAD", "user/.git/HEAD", false},
		{"user/.git/objects", "o", "user/.git/objects/o", false},
		{"user/.git/modules/m/hooks", "a", "user/.git/modules/m/hooks/a", true},
		{"user/.git/worktrees/w", "gitdir", "user/.git/worktrees/w/gitdir", true},
		{"sbx/.git/hooks", "a", "sbx/.git/hooks/a", false},
		{"sbx/.git", "config", "sbx/.git/config", false},
		// A stale path: the directory is the user's, whatever it says.
		{"user/.git/hooks", "a", "sbx/.git/hooks/a", true},
		{"sbx/.git/hooks", "a", "user/.git/hooks/a", false},
	} {
		if got := g.gitKept(open(c.dir), c.base, filepath.Join(ws, c.path)); got != c.want {
			t.Errorf("gitKept(%s, %s, %s) = %v, want %v", c.dir, c.base, c.path, got, c.want)
		}
	}
	for _, c := range []struct {
		dir, base string
		puts      int
		want      bool
	}{
		{"user", ".git", putsNothing, true},  // the user's .git removed or renamed
		{"user", ".git", putsDir, true},      // replaced
		{"sbx", ".git", putsNothing, false},  // the sandbox's
		{"sbx", ".git", putsFile, true},      // made a file, in a directory there before
		{"plain/wt", ".git", putsFile, true}, // a .git file of the user's changed
		{"plain/wt", ".git", putsNothing, true},
		{"plain", ".git", putsFile, true}, // a new .git file in a directory there before
		{"plain", ".git", putsDir, false}, // git init
		// git init in a directory of the user's work tree, there before
		// the run: git there, outside, would take it for the repository.
		{"user/src", ".git", putsDir, true},
		{"user/src/lib", ".git", putsDir, true},
		{"plain/wt/sub", ".git", putsDir, true}, // below a .git file
		{"sbx/src", ".git", putsDir, false},     // the sandbox's repository
		// A HEAD there: with objects/ and refs/ beside it, a bare
		// repository that git there, outside, would use.
		{"user/src", "HEAD", putsFile, true},
		{"user/src/lib", "HEAD", putsFile, true},
		{"plain/wt/sub", "HEAD", putsFile, true},
		{"user/src", "HEAD", putsNothing, false},
		{"user/docs", "HEAD", putsFile, false},         // one there already: replaced as git does
		{"user/.git/objects", "HEAD", putsFile, false}, // git's own, in its git directory
		{"user/.git/modules/m", "HEAD", putsFile, false},
		{"sbx/src", "HEAD", putsFile, false},
		{"plain", "HEAD", putsFile, false}, // in no repository
		// Beside the user's .git: git at the top, its .git/HEAD broken
		// (the sandbox may write it), takes the top for a bare
		// repository.
		{"user", "HEAD", putsFile, true},
		{"plain/wt", "HEAD", putsFile, true},
		{"sbx", "HEAD", putsFile, false},
		// A repository of the sandbox's in the user's work tree (a
		// clone there, or one a directory of the user's was moved
		// into, to be given a .git and moved back): still the user's
		// work tree; git's own HEADs in its git directory are let be.
		{"user/src/sbx2/d", ".git", putsDir, true},
		{"user/src/sbx2/d", "HEAD", putsFile, true},
		{"user/src/sbx2/.git/refs/remotes/origin", "HEAD", putsFile, false},
		{"user/src/sbx2/.git/refs", ".git", putsDir, true},
		{"plain", "git", putsFile, false},
	} {
		if got := g.dotGitRefused(open(c.dir), c.base, c.puts); got != c.want {
			t.Errorf("dotGitRefused(%s, %s, %d) = %v, want %v", c.dir, c.base, c.puts, got, c.want)
		}
	}
	for _, c := range []struct {
		dir, base string
		want      bool
	}{
		{".", "user", true}, {".", "sbx", false}, {"plain", "wt", true}, {".", "plain", false},
	} {
		if got := g.holdsKeptGit(open(c.dir), c.base); got != c.want {
			t.Errorf("holdsKeptGit(%s, %s) = %v, want %v", c.dir, c.base, got, c.want)
		}
	}
	for _, c := range []struct {
		dir, base, path string
		to, want        bool
	}{
		{"user/.git/modules", "m", "user/.git/modules/m", false, true},
		{"user/.git", "modules", "user/.git/modules", false, true},
		{"user/.git/modules", "new", "user/.git/modules/new", true, true},
		{"user/.git/worktrees", "w", "user/.git/worktrees/w", false, true},
		{"user/.git", "objects", "user/.git/objects", false, false},
		{"sbx/.git", "modules", "sbx/.git/modules", true, false},
	} {
		if got := g.gitTreeMoved(open(c.dir), c.base, filepath.Join(ws, c.path), c.to); got != c.want {
			t.Errorf("gitTreeMoved(%s, %s, to %v) = %v, want %v", c.dir, c.base, c.to, got, c.want)
		}
	}
	// Made in this run: a linked worktree's git directory is the
	// sandbox's, a new submodule's is not (without allowGitConfig). A
	// tick of the coarse clock later: a directory made within one tick of
	// the guard's start may read as older (and is kept).
	time.Sleep(30 * time.Millisecond)
	for _, f := range []string{"user/.git/worktrees/n/gitdir", "user/.git/modules/n/config", "user/.git/worktrees/n/modules/s/config",
		"user/.git/worktrees/w/modules/s/hooks/post-checkout", "plain/new/f", "plain/born/f"} {
		mk(f)
	}
	// What the guard made (madeDir after its mkdir); plain/born is new
	// too, but not the guard's (as a directory of the user's that
	// overlayfs copied up reads).
	for _, d := range []string{"user/.git/worktrees/n", "user/.git/modules/n", "user/.git/worktrees/n/modules", "user/.git/worktrees/n/modules/s",
		"user/.git/worktrees/w/modules", "user/.git/worktrees/w/modules/s", "user/.git/worktrees/w/modules/s/hooks", "plain/new"} {
		g.madeDir(open(filepath.Dir(d)), filepath.Base(d))
	}
	if g.dotGitRefused(open("plain/new"), ".git", putsFile) {
		t.Error("a .git file in a directory made in the run is refused")
	}
	if err := os.Mkdir(filepath.Join(ws, "user/src/new"), 0o755); err != nil {
		t.Fatal(err)
	}
	g.madeDir(open("user/src"), "new")
	if g.dotGitRefused(open("user/src/new"), ".git", putsDir) {
		t.Error("git init in a directory made in the run, in the user's work tree, is refused")
	}
	if g.dotGitRefused(open("user/src/new"), "HEAD", putsFile) {
		t.Error("a HEAD in a directory made in the run, in the user's work tree, is refused")
	}
	if !g.dotGitRefused(open("plain/born"), ".git", putsFile) {
		t.Error("a .git file in a directory born in the run that the guard did not make is not refused")
	}
	if g.gitKept(open("user/.git/worktrees/n"), "gitdir", filepath.Join(ws, "user/.git/worktrees/n/gitdir")) {
		t.Error("a worktree's git directory made in the run is kept")
	}
	if g.gitKept(open("user/.git/worktrees/n/modules/s"), "config", filepath.Join(ws, "user/.git/worktrees/n/modules/s/config")) {
		t.Error("a submodule's git directory in a worktree made in the run is kept")
	}
	// A new submodule git directory in a worktree of the user's is not
	// the sandbox's: the user's next git submodule update there takes it.
	if !g.gitKept(open("user/.git/worktrees/w/modules/s/hooks"), "post-checkout", filepath.Join(ws, "user/.git/worktrees/w/modules/s/hooks/post-checkout")) {
		t.Error("a submodule's git directory made in the run in a worktree of the user's is not kept")
	}
	if !g.gitKept(open("user/.git/modules/n"), "config", filepath.Join(ws, "user/.git/modules/n/config")) {
		t.Error("a submodule's git directory made in the run is not kept")
	}
	if !gitNamed(filepath.Join(ws, "sbx/.git/config"), false) || gitNamed(filepath.Join(ws, "sbx/.git/index"), false) {
		t.Error("gitNamed: a path alone")
	}
}

// The created files PID 1 reports fit in one msgExit, the repositories
// first: 120,000 .pem files made a message the supervisor refused whole,
// and none of them was recorded.
func TestCreatedFilesBounded(t *testing.T) {
	var created []string
	for i := range 120000 {
		created = append(created, FormatCreated(2049, uint64(i+10), fmt.Sprintf("/home/u/project/node_modules/pkg%06d/test/key.pem", i)))
	}
	created = append(created, FormatCreated(2049, 1, "/home/u/project/sub/.git"))
	g := newGuard(&FSPolicy{GitDirs: true}, UnixPolicy{AllowAll: true})
	for _, c := range created { // made in this run
		dev, ino, path, _ := ParseCreated(c)
		g.created[fileID{dev, ino}] = path
	}
	got := g.createdFiles(createdBudget)
	if len(got) == 0 || len(got) == len(created) {
		t.Fatalf("%d of %d created files reported", len(got), len(created))
	}
	if !slices.Contains(got, created[len(created)-1]) {
		t.Error("the repository is not among the files reported")
	}
	b := encodeMessage(message{Type: typeExit, Created: got, Stages: []Stage{{"exited", 1}}})
	var pt parts
	var m message
	for _, pk := range packets(b) {
		d, err := decodeMessage(pk)
		if err != nil {
			t.Fatal(err)
		}
		var err2 error
		if m, _, err2 = pt.add(d); err2 != nil {
			t.Fatalf("msgExit of %d bytes: %v", len(b), err2)
		}
	}
	if len(m.Created) != len(got) {
		t.Errorf("%d created files arrived, %d sent", len(m.Created), len(got))
	}
	if all := g.createdFiles(1 << 30); len(all) != len(created) {
		t.Errorf("with room for all, %d of %d reported", len(all), len(created))
	}
	// Those it was told of are left out, unless renamed.
	l := newGuard(&FSPolicy{GitDirs: true, Created: created[:3]}, UnixPolicy{AllowAll: true})
	l.created[fileID{2049, 10}] = "/home/u/project/renamed.pem"
	if got := l.createdFiles(createdBudget); len(got) != 1 || got[0] != FormatCreated(2049, 10, "/home/u/project/renamed.pem") {
		t.Errorf("with 3 files loaded, one renamed: %q reported", got)
	}
}

// BenchmarkGuardPatterns: the patterns -t code gives the write guard,
// matched against a file npm install creates (each created file is).
func BenchmarkGuardPatterns(b *testing.B) {
	var pats []string
	for _, p := range []string{".env.*", "**/.env", "**/.env.*", "*.key", "*.pem", "*.p12", "*.pfx", "**/*.key", "**/*.pem", "**/*.p12", "**/*.pfx", "**/fence.json"} {
		pats = append(pats, "/home/u/proj/"+p)
	}
	path := "/home/u/proj/node_modules/@scope/pkg/dist/esm/index.module.js"
	for _, c := range []struct {
		name    string
		compile func(string) glob
	}{{"compiled", compileGlob}, {"regexp", func(p string) glob { return glob{re: globRegexp(p)} }}} {
		b.Run(c.name, func(b *testing.B) {
			var gs []glob
			for _, p := range pats {
				gs = append(gs, c.compile(p))
			}
			g := &guard{}
			for b.Loop() {
				if g.matches(gs, path) {
					b.Fatal("matched")
				}
			}
		})
	}
}

// TestUmasksUniform: until a umask(2) is let through, every caller's umask
// is the command's, known without /proc; after one, it is read again.
func TestUmasksUniform(t *testing.T) {
	const gone = 1 << 30 // above any pid_max: no /proc/TID/status to read
	var u umasks
	if m := u.get(gone); m != 0o077 {
		t.Fatalf("before start: umask of a thread that does not exist %#o, want 077 (the status read fails)", m)
	}
	u.start(0o1027) // what umask(2) returns is the mask alone; the bits above are dropped anyway
	if m := u.get(gone); m != 0o027 {
		t.Fatalf("after start(027): %#o, want 027 without any read", m)
	}
	u.disable() // a thread with a filesystem context of its own: a copy, the same mask
	if m := u.get(gone); m != 0o027 {
		t.Fatalf("after disable: %#o, want 027 still", m)
	}
	me := unix.Gettid()
	u.set(me)
	if m := u.get(gone); m != 0o077 {
		t.Errorf("after a umask(2): %#o for a thread whose status cannot be read, want 077", m)
	}
	want, err := procUmask(me)
	if err != nil {
		t.Fatal(err)
	}
	if m := u.get(me); m != want {
		t.Errorf("after a umask(2): %#o for this thread, want its own %#o", m, want)
	}
}

// TestPidfdsKeepThreadPidfds: the guard keeps a pidfd per calling thread
// and takes descriptors through it, and a kept pidfd of a thread that
// has ended reaches nothing and is dropped.
func TestPidfdsKeepThreadPidfds(t *testing.T) {
	if fd, err := unix.PidfdOpen(unix.Gettid(), unix.PIDFD_THREAD); err != nil {
		t.Skipf("no thread pidfds here (Linux 6.9 has them): %v", err)
	} else {
		unix.Close(fd)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var want unix.Stat_t
	if err := unix.Fstat(int(r.Fd()), &want); err != nil {
		t.Fatal(err)
	}
	same := func(fd int) bool {
		defer unix.Close(fd)
		var st unix.Stat_t
		return unix.Fstat(fd, &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino
	}
	var p pidfds
	defer func() {
		for _, fd := range p.byTid {
			unix.Close(fd)
		}
	}()
	// A thread of its own, not the main one, which the runtime keeps
	// (nor this goroutine's, held so that the other runs elsewhere).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tids, done := make(chan int), make(chan struct{})
	tid := -1
	for range 100 {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			if unix.Gettid() == os.Getpid() {
				runtime.UnlockOSThread()
				tids <- -1
				return
			}
			tids <- unix.Gettid()
			<-done
		}()
		if tid = <-tids; tid > 0 {
			break
		}
	}
	if tid < 0 {
		t.Fatal("no goroutine ran on a thread other than the main one")
	}
	for i := range 2 {
		fd, err := p.getfd(tid, int(r.Fd()))
		if err != nil || !same(fd) {
			t.Fatalf("getfd %d of a live thread: %v, or not the pipe", i, err)
		}
		if _, ok := p.byTid[tid]; !ok || len(p.byTid) != 1 {
			t.Fatalf("getfd %d: pidfds kept %v, want one for thread %d", i, p.byTid, tid)
		}
	}
	close(done)
	for i := 0; ; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); os.IsNotExist(err) {
			break
		}
		if i == 500 {
			t.Fatalf("thread %d did not end (pid %d)", tid, os.Getpid())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fd, err := p.getfd(tid, int(r.Fd())); err == nil {
		unix.Close(fd)
		t.Fatal("a descriptor taken through the pidfd of a thread that has ended")
	}
	if _, ok := p.byTid[tid]; ok {
		t.Errorf("the pidfd of a thread that has ended is still kept")
	}
}

// TestResolveParentNames: the directory of a new name and the name's full
// path, as the kernel names them, whether the path has symlinks (the
// descriptor's name is read) or not (the path as written, cleaned).
func TestResolveParentNames(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a/b", "c"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "a"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a/b"), filepath.Join(dir, "deep")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, full string }{
		{dir + "/a/b/new", dir + "/a/b/new"},
		{dir + "//a/./b/new", dir + "/a/b/new"},
		{dir + "/c/../a/new", dir + "/a/new"},
		{dir + "/link/b/new", dir + "/a/b/new"}, // through a symlink
		{dir + "/deep/../new", dir + "/a/new"},  // .. of the link's target, not lexical
		{dir + "/a/b/", dir + "/a/b"},
		{"/new", "/new"},
	} {
		p, base, full, errno := resolveParentFrom(os.Getpid(), unix.AT_FDCWD, tc.path)
		if errno != 0 {
			t.Errorf("%s: %v", tc.path, errno)
			continue
		}
		real, err := fdPath(p)
		unix.Close(p)
		if full != tc.full || err != nil || filepath.Join(real, base) != full && real != full {
			t.Errorf("%s: full %q (directory %q, base %q), want %q", tc.path, full, real, base, tc.full)
		}
	}
}

// TestDotDot: a ".." component anywhere, not a name that merely holds dots.
func TestDotDot(t *testing.T) {
	for p, want := range map[string]bool{
		"/a/..": true, "/../a": true, "..": true, "/a/../b/": true, "a//../b": true,
		"/a/b": false, "/a/..b": false, "/a/b../c": false, "/.../a": false, "/a/./b": false, "": false, "/": false,
	} {
		if got := dotDot(p); got != want {
			t.Errorf("dotDot(%q) = %v, want %v", p, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { dotDot("/tmp/ws/repo/.git/") }); n != 0 {
		t.Errorf("dotDot allocates %v times per call", n)
	}
}

// TestMayWriteTrustsFoundMounts: mayWrite opens a path again until it has
// found the descriptor's mount there, and from then on trusts that mount
// (no reopen), still only for paths below a writable place.
func TestMayWriteTrustsFoundMounts(t *testing.T) {
	dir := t.TempDir()
	g := &guard{writable: []string{dir}}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var sx unix.Statx_t
	if err := statxFD(fd, &sx); err != nil || sx.Mask&unix.STATX_MNT_ID_UNIQUE == 0 {
		t.Skipf("statx gives no unique mount id here (Linux 6.8 has it): %v", err)
	}
	if g.ownMount(sx.Mnt_id) {
		t.Fatal("a mount is trusted before mayWrite found it")
	}
	if !g.mayWrite(fd, dir) {
		t.Fatalf("mayWrite of the writable %s: false", dir)
	}
	if !g.ownMount(sx.Mnt_id) {
		t.Fatalf("mount %d of %s not recorded once found at its path", sx.Mnt_id, dir)
	}
	// Trusted, without a reopen: a path that is not there passes...
	if !g.mayWrite(fd, filepath.Join(dir, "gone")) {
		t.Error("a trusted mount was opened again")
	}
	// ...but never one outside the writable places.
	if g.mayWrite(fd, filepath.Dir(dir)) {
		t.Errorf("mayWrite of %s, not writable, on a trusted mount: true", filepath.Dir(dir))
	}
	// A fresh guard has found nothing: the same path that is not there
	// is refused.
	if (&guard{writable: []string{dir}}).mayWrite(fd, filepath.Join(dir, "gone")) {
		t.Error("an untrusted mount was not opened again")
	}
}

// BenchmarkUmaskGetPending: the umask of a caller while 4 processes that
// called umask(2) compute (they stay pending: leftUmask cannot tell).
func BenchmarkUmaskGetPending(b *testing.B) {
	python, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 not installed")
	}
	var pids []int
	for range 4 {
		cmd := exec.Command(python, "-c", "while True: pass")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		pids = append(pids, cmd.Process.Pid)
	}
	time.Sleep(300 * time.Millisecond) // past their start, computing
	var u umasks
	for _, pid := range pids {
		u.set(pid)
	}
	me := unix.Gettid()
	for b.Loop() {
		u.get(me)
	}
}

// The guard's per-run sets are bounded (maxFresh): past the bound, a file
// or directory made is not tracked, which is the stricter answer (a
// pattern file is kept as the user's would be, a directory taken for one
// that was there before), and PID 1's memory stays flat however many the
// sandbox makes.
func TestGuardRunSetsBounded(t *testing.T) {
	dir := t.TempDir()
	g := newGuard(&FSPolicy{GitDirs: true, DenyWritePatterns: []string{filepath.Join(dir, "*.pem")}}, UnixPolicy{AllowAll: true})
	for i := range maxFresh {
		id := fileID{dev: 1, ino: uint64(i + 1)}
		g.created[id], g.madeDirs[id], g.fresh[id] = "/x", true, true
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := os.WriteFile(filepath.Join(dir, "k.pem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	g.madeHere(fd, "k.pem", filepath.Join(dir, "k.pem"), true)
	g.madeDir(fd, "d")
	if len(g.created) != maxFresh || len(g.madeDirs) != maxFresh || len(g.fresh) != maxFresh {
		t.Errorf("past the bound: created %d, madeDirs %d, fresh %d entries, want %d each", len(g.created), len(g.madeDirs), len(g.fresh), maxFresh)
	}
	// Below it, the same calls track both.
	g = newGuard(&FSPolicy{GitDirs: true, DenyWritePatterns: []string{filepath.Join(dir, "*.pem")}}, UnixPolicy{AllowAll: true})
	g.madeHere(fd, "k.pem", filepath.Join(dir, "k.pem"), true)
	g.madeDir(fd, "d")
	if len(g.created) != 1 || len(g.madeDirs) != 1 {
		t.Errorf("below the bound: created %d, madeDirs %d entries, want 1 each", len(g.created), len(g.madeDirs))
	}
}

// openNoWait hands back what the caller's own open would have: the same
// status flags, without the O_NONBLOCK it opened with, and errWait only
// for an open that would wait.
func TestOpenNoWaitFlags(t *testing.T) {
	dir := t.TempDir()
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	statusFlags := func(fd int, err error) int {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fl
	}
	for _, flags := range []int{
		unix.O_WRONLY | unix.O_CREAT | unix.O_APPEND,
		unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC | unix.O_ASYNC,
		unix.O_WRONLY | unix.O_CREAT | unix.O_NOATIME,
	} {
		flags |= unix.O_CLOEXEC
		want := statusFlags(unix.Openat(dfd, "direct", flags, 0o644))
		got := statusFlags(openNoWait(dfd, "guarded", flags, 0o644))
		if got != want || got&unix.O_NONBLOCK != 0 {
			t.Errorf("open with %#x: status flags %#x through openNoWait, %#x opened directly", flags, got, want)
		}
	}
	if err := unix.Mkfifo(filepath.Join(dir, "p"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags int
		wait  bool
	}{
		{unix.O_RDONLY, true}, // waits for a writer
		{unix.O_WRONLY, true}, // no reader: waits for one
		{unix.O_RDWR, false},  // opens at once
	} {
		fd, err := openNoWait(dfd, "p", c.flags|unix.O_CLOEXEC, 0)
		if fd >= 0 {
			unix.Close(fd)
		}
		if (err == errWait) != c.wait || !c.wait && err != nil {
			t.Errorf("FIFO opened with %#x: %v, want errWait %v", c.flags, err, c.wait)
		}
	}
}

// A directory the guard makes right after it starts counts as made in this
// run: file systems stamp it with the coarse clock, which read earlier
// than the fine clock's start for the first tick (up to 4 ms), and git
// init in a new directory of a repository was refused one run in two.
func TestMadeInRunFirstTick(t *testing.T) {
	ws := t.TempDir()
	wfd, err := unix.Open(ws, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(wfd)
	for i := range 50 {
		g := newGuard(&FSPolicy{GitDirs: true}, UnixPolicy{AllowAll: true})
		name := "d" + strconv.Itoa(i)
		if err := unix.Mkdirat(wfd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		g.madeDir(wfd, name)
		dfd, err := unix.Openat(wfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		made := g.madeInRunAt(dfd)
		unix.Close(dfd)
		if !made {
			t.Fatalf("run %d: a directory the guard made just after it started is not taken as made in the run", i)
		}
	}
}

// holdsRepository finds what git would take for a repository at any depth
// of a directory put where one of a user's was: a .git, or a HEAD with
// objects and refs beside it; a HEAD alone (a package's fixture) is none.
func TestHoldsRepository(t *testing.T) {
	g := newGuard(&FSPolicy{GitDirs: true}, UnixPolicy{AllowAll: true})
	for _, c := range []struct {
		name  string
		paths []string // directories end in /
		want  bool
	}{
		{"plain", []string{"a/b/c.go", "d/"}, false},
		{"head alone", []string{"a/HEAD", "a/objects/"}, false},
		{"bare deep", []string{"a/b/HEAD", "a/b/objects/", "a/b/refs/"}, true},
		{"head and commondir", []string{"a/b/HEAD", "a/b/commondir"}, true},
		{"dot git deep", []string{"a/b/.git/"}, true},
		{"dot git file", []string{".git"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, p := range c.paths {
				full := filepath.Join(dir, "top", p)
				if strings.HasSuffix(p, "/") {
					if err := os.MkdirAll(full, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(dfd)
			if got, _ := g.holdsRepository(dfd, "top", "/n"); got != c.want {
				t.Errorf("holdsRepository = %v, want %v", got, c.want)
			}
		})
	}
}

// A directory that counts as the user's (movedUserDirs) and is then
// removed or renamed over leaves no record: its inode number is soon a
// new directory's (ext4 reuses it at once), which then could get no .git
// (a test suite's git init tmp/t7 refused after rm -rf out; mkdir out).
// A rename of the directory to its own name replaces nothing and keeps it.
func TestMovedUserDirForgotten(t *testing.T) {
	dir := t.TempDir()
	g := newGuard(&FSPolicy{GitDirs: true}, UnixPolicy{AllowAll: true})
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "out", &st, 0); err != nil {
		t.Fatal(err)
	}
	id := idOf(&st)
	g.movedUserDirs[id] = true
	gone := g.lastLink(fd, "out")
	if gone != id {
		t.Fatalf("lastLink = %v, want %v: a directory of the user's only", gone, id)
	}
	g.forget(gone)
	if g.movedUserDir(id) {
		t.Errorf("removed directory still counts as the user's")
	}
}

// TestOpenNullDeviceNotFollowed: the /dev/null shortcut opens only the null
// device itself. A /dev/null made a symlink to a protected file (allowWrite
// "/dev") was opened with the caller's O_TRUNC, emptying the file, or
// O_CREAT, making it, before the check sent the request the generic way.
func TestOpenNullDeviceNotFollowed(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, ".env")
	if err := os.WriteFile(secret, []byte("SECRET=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	null := filepath.Join(dir, "null")
	if err := os.Symlink(secret, null); err != nil {
		t.Fatal(err)
	}
	if fd, errno, ok := openNullDevice(null, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC); ok {
		t.Errorf("a symlink to a file taken for the null device: fd %d, %v", fd, errno)
	}
	if b, _ := os.ReadFile(secret); string(b) != "SECRET=1\n" {
		t.Errorf("the file behind the symlink was changed: %q", b)
	}
	made := filepath.Join(dir, "made")
	if err := os.Remove(null); err != nil || os.Symlink(made, null) != nil {
		t.Fatal(err)
	}
	openNullDevice(null, unix.O_WRONLY|unix.O_CREAT)
	if _, err := os.Lstat(made); err == nil {
		t.Errorf("O_CREAT through a dangling symlink made %s", made)
	}
	// The null device itself: opened, with the kernel's answers.
	fd, errno, ok := openNullDevice("/dev/null", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC)
	if !ok || errno != 0 {
		t.Fatalf("/dev/null: ok %v, %v", ok, errno)
	}
	unix.Close(fd)
	for flags, want := range map[int]unix.Errno{
		unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL:                    unix.EEXIST,
		unix.O_WRONLY | unix.O_DIRECTORY:                              unix.ENOTDIR,
		unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_DIRECTORY: unix.EINVAL,
	} {
		if _, errno, ok := openNullDevice("/dev/null", flags); !ok || errno != want {
			t.Errorf("/dev/null with flags %#o: ok %v, %v, want %v", flags, ok, errno, want)
		}
	}
}

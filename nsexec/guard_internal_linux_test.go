package nsexec

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
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
		"/", "//fence.json", "/ws//fence.json", "/a.b+c/fence.json", "/a.b+c/x/fence.json"}
	for _, p := range []string{"/ws/**/fence.json", "/g/modules/*", "/ws/**/.env", "/ws/**/*.pem", "/ws/*.pem", "/**/fence.json", "/a.b+c/**/fence.json"} {
		g, re := compileGlob(p), globRegexp(p)
		for _, path := range paths {
			if got, want := g.match(path), re.MatchString(path); got != want {
				t.Errorf("%q on %q: %v, the regexp says %v", p, path, got, want)
			}
		}
	}
	if compileGlob("/ws/**/fence.json").re != nil || compileGlob("/g/modules/*").re != nil {
		t.Error("the simple forms went to a regexp")
	}
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

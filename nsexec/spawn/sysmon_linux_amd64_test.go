package spawn

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/nsfence/fence/nsexec/internal/rawsig"
	"golang.org/x/sys/unix"
)

// sysmonHelperEnv makes the test binary run CoarsenSysmon from a package
// init function (as package early does: on the main thread, during
// initialisation) and report on it instead of running the tests.
const sysmonHelperEnv = "FENCE_SPAWN_TEST_SYSMON"

// testSlack is the slack the helper asks for: not a value any thread has by
// default.
const testSlack = 3 * time.Millisecond

func init() {
	if os.Getenv(sysmonHelperEnv) == "" {
		return
	}
	report := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	// slacks reports every thread's slack, where this process may read it
	// (CAP_SYS_NICE).
	slacks := func(when string) {
		entries, _ := os.ReadDir("/proc/self/task")
		for _, e := range entries {
			if b, err := os.ReadFile("/proc/" + e.Name() + "/timerslack_ns"); err == nil {
				report("%s %s %s", when, e.Name(), strings.TrimSpace(string(b)))
			}
		}
	}
	var before, after rawsig.Action
	if err := rawsig.Sigaction(sysmonSignal, nil, &before); err != nil {
		report("error query action: %v", err)
		os.Exit(0)
	}
	ownBefore, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	tid := sysmonThread()
	finish := CoarsenSysmon(testSlack)
	// What finish waits for is the handler, not the time it takes: give
	// sysmon plenty (a loaded machine may keep it off a CPU for a while),
	// and keep this thread busy meanwhile, as package early does.
	for end := Now() + int64(20*time.Millisecond); Now() < end; {
	}
	t0 := Now()
	report("done %v", finish())
	report("took %d", Now()-t0)
	// Threads (and the process) with the signal pending: with it blocked,
	// a signal sent would stay there, and finish would have waited for it.
	bit := uint64(1) << (sysmonSignal - 1)
	entries, _ := os.ReadDir("/proc/self/task")
	for _, e := range entries {
		b, _ := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && (k == "SigPnd" || k == "ShdPnd") {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && m&bit != 0 {
					report("pending %s %s", e.Name(), k)
				}
			}
		}
	}
	_ = rawsig.Sigaction(sysmonSignal, nil, &after)
	report("restored %v", before == after)
	ownAfter, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	report("own %d %d", ownBefore, ownAfter)
	report("sysmon %d", tid)
	// Before sysmon may have started a thread, which would inherit its
	// slack.
	slacks("coarse")
	// Keep this thread busy so that sysmon keeps polling (it parks when no
	// goroutine runs), and sample where it sleeps.
	naps := 0
	for end := Now() + int64(50*time.Millisecond); Now() < end; {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/wchan", tid)); err == nil && strings.Contains(string(b), "nanosleep") {
			naps++
		}
	}
	report("naps %d", naps)
	// RestoreSysmon from another goroutine, as fence.Run does.
	done := make(chan struct{})
	go func() { RestoreSysmon(); close(done) }()
	<-done
	_ = rawsig.Sigaction(sysmonSignal, nil, &after)
	report("restored-again %v", before == after)
	slacks("after")
	os.Exit(0)
}

// CoarsenSysmon gives the runtime's sysmon thread, and it alone, the
// slack; the signal's action is the runtime's again afterwards, and the
// caller's own slack is untouched. RestoreSysmon gives sysmon the original
// slack back. The helper runs in a user namespace of its own with
// CAP_SYS_NICE (ambient, through vforkExec), so that it may read its own
// threads' slack whoever runs the test.
func TestCoarsenSysmon(t *testing.T) {
	null := openFile(t, "/dev/null")
	n := int(null.Fd())
	var out string
	var rep map[string][]string
	// sysmonThread gives up (0, and no coarsening: fence starts as
	// before) when thread ids have wrapped around below the main
	// thread's, as they do every 32k processes at the default pid_max on
	// a machine that runs the e2e tests meanwhile: a new helper gets ids
	// from further on.
	for attempt := 0; attempt < 5; attempt++ {
		out = runVfork(t, "/proc/self/exe", []string{"spawn.test"}, unix.CLONE_NEWUSER, [4]int{n, -1, n, n},
			[]uintptr{unix.CAP_SYS_NICE}, sysmonHelperEnv+"=1")
		rep = parseReport(t, []byte(out))
		if s := rep["sysmon"]; len(s) != 1 || s[0] != "0" {
			break
		}
	}
	one := func(k string) string {
		if len(rep[k]) != 1 {
			t.Fatalf("helper reported %q %d times:\n%s", k, len(rep[k]), out)
		}
		return rep[k][0]
	}
	if one("done") != "true" {
		t.Errorf("CoarsenSysmon did not set sysmon's slack:\n%s", out)
	}
	if one("restored") != "true" || one("restored-again") != "true" {
		t.Errorf("the action of signal %d was not restored:\n%s", sysmonSignal, out)
	}
	own := strings.Fields(one("own"))
	if own[0] != own[1] {
		t.Errorf("the caller's own timer slack changed from %s to %s", own[0], own[1])
	}
	sysmon := one("sysmon")
	if sysmon == "0" {
		t.Fatalf("sysmon's thread was not found:\n%s", out)
	}
	// sysmon sleeps in nanosleep between its polls; no other thread of
	// the runtime does.
	if naps, _ := strconv.Atoi(one("naps")); naps == 0 {
		t.Errorf("thread %s was never seen in nanosleep: it is not sysmon", sysmon)
	}
	slacks := func(when string) map[string]string {
		m := map[string]string{}
		for _, s := range rep[when] {
			f := strings.Fields(s)
			m[f[0]] = f[1]
		}
		if len(m) < 2 {
			t.Fatalf("no thread slacks reported %s (CAP_SYS_NICE in the helper's user namespace?):\n%s", when, out)
		}
		return m
	}
	coarse, after := slacks("coarse"), slacks("after")
	for tid, got := range coarse {
		want := own[0]
		if tid == sysmon {
			want = strconv.FormatInt(testSlack.Nanoseconds(), 10)
		}
		if got != want {
			t.Errorf("after CoarsenSysmon, thread %s (sysmon %s) has timer slack %s ns, want %s", tid, sysmon, got, want)
		}
	}
	// Threads that sysmon started in between inherited its slack and keep
	// it; the others must not have changed.
	for tid, got := range after {
		if _, old := coarse[tid]; (old || tid == sysmon) && got != own[0] {
			t.Errorf("after RestoreSysmon, thread %s (sysmon %s) has timer slack %s ns, want %s", tid, sysmon, got, own[0])
		}
	}
}

// A caller that blocks the signal would leave it pending on sysmon for
// good: CoarsenSysmon then does nothing, at once.
func TestCoarsenSysmonSignalBlocked(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	set := uint64(1) << (sysmonSignal - 1)
	var old uint64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		t.Fatal(e)
	}
	defer unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	// The helper inherits this thread's mask through vforkExec, as fence
	// inherits its caller's through exec.
	null := openFile(t, "/dev/null")
	n := int(null.Fd())
	out := runVfork(t, "/proc/self/exe", []string{"spawn.test"}, 0, [4]int{n, -1, n, n}, nil, sysmonHelperEnv+"=1")
	rep := parseReport(t, []byte(out))
	if len(rep["done"]) != 1 || rep["done"][0] != "false" {
		t.Errorf("CoarsenSysmon with signal %d blocked: want done false:\n%s", sysmonSignal, out)
	}
	// Nothing sent, so nothing waited for (finish waits only for a
	// signal it sent); timing it instead failed on loaded machines.
	if p := rep["pending"]; len(p) != 0 {
		t.Errorf("with signal %d blocked it was sent anyway (pending: %v), and finish waited for it", sysmonSignal, p)
	}
	for _, s := range rep["coarse"] {
		f := strings.Fields(s)
		if f[1] != strings.Fields(rep["own"][0])[0] {
			t.Errorf("thread %s has timer slack %s with the signal blocked", f[0], f[1])
		}
	}
}

func parseReport(t *testing.T, out []byte) map[string][]string {
	t.Helper()
	rep := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		rep[f[0]] = append(rep[f[0]], strings.Join(f[1:], " "))
	}
	if e := rep["error"]; len(e) > 0 {
		t.Fatalf("helper: %v", e)
	}
	return rep
}

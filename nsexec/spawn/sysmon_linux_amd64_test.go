package spawn

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

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
	var before, after sigaction
	if err := rtSigaction(sysmonSignal, nil, &before); err != nil {
		report("error query action: %v", err)
		os.Exit(0)
	}
	ownBefore, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	tid := sysmonThread()
	finish := CoarsenSysmon(testSlack)
	report("done %v", finish())
	_ = rtSigaction(sysmonSignal, nil, &after)
	report("restored %v", before == after)
	ownAfter, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	report("own %d %d", ownBefore, ownAfter)
	report("sysmon %d", tid)
	// Every thread's slack, where this process may read it (CAP_SYS_NICE),
	// before sysmon may have started a thread (which would inherit its
	// slack).
	entries, _ := os.ReadDir("/proc/self/task")
	for _, e := range entries {
		if b, err := os.ReadFile("/proc/" + e.Name() + "/timerslack_ns"); err == nil {
			report("slack %s %s", e.Name(), strings.TrimSpace(string(b)))
		}
	}
	// Keep this thread busy so that sysmon keeps polling (it parks when no
	// goroutine runs), and sample where it sleeps.
	naps := 0
	for end := Now() + int64(50*time.Millisecond); Now() < end; {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/wchan", tid)); err == nil && strings.Contains(string(b), "nanosleep") {
			naps++
		}
	}
	report("naps %d", naps)
	os.Exit(0)
}

// CoarsenSysmon gives the runtime's sysmon thread, and it alone, the
// slack; the signal's action is the runtime's again afterwards, and the
// caller's own slack is untouched.
func TestCoarsenSysmon(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), sysmonHelperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	rep := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		rep[f[0]] = append(rep[f[0]], strings.Join(f[1:], " "))
	}
	one := func(k string) string {
		if len(rep[k]) != 1 {
			t.Fatalf("helper reported %q %d times:\n%s", k, len(rep[k]), out)
		}
		return rep[k][0]
	}
	if e := rep["error"]; len(e) > 0 {
		t.Fatalf("helper: %v", e)
	}
	if one("done") != "true" {
		t.Errorf("CoarsenSysmon did not set sysmon's slack:\n%s", out)
	}
	if one("restored") != "true" {
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
	if os.Geteuid() != 0 {
		// Reading another thread's slack needs CAP_SYS_NICE; the rest
		// was checked above, and the e2e tests check the values as root.
		return
	}
	if len(rep["slack"]) < 2 {
		t.Fatalf("no thread slacks reported:\n%s", out)
	}
	for _, s := range rep["slack"] {
		f := strings.Fields(s)
		want := own[0]
		if f[0] == sysmon {
			want = strconv.FormatInt(testSlack.Nanoseconds(), 10)
		}
		if f[1] != want {
			t.Errorf("thread %s (sysmon %s) has timer slack %s ns, want %s", f[0], sysmon, f[1], want)
		}
	}
}

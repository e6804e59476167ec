package e2e

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// No process outlives the command: a background child is killed with the
// sandbox, and fence returns without waiting for it.
func TestNoOrphans(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		const cmdline = "sleep\x001234.5\x00"
		res := s.fence("-c", "sleep 1234.5 & echo started")
		if res.code != 0 || res.stdout != "started\n" || res.err != nil {
			t.Errorf("want exit 0 and \"started\": %v", res)
		}
		// The kernel tears the PID namespace down when PID 1 exits; give
		// it the generous run timeout, not a timing assertion.
		var left []int
		if !waitUntil(runTimeout, func() bool { left = processesWithCmdline(cmdline); return len(left) == 0 }) {
			t.Errorf("processes left after fence returned: %v (sleep 1234.5)", left)
			for _, pid := range left {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	})
}

// When fence itself is killed (SIGKILL: no chance to clean up), the
// sandbox dies with it: the init stage has fence's death signal, and the
// kernel kills the rest of the PID namespace with it.
func TestSandboxDiesWithFence(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		const cmdline = "sleep\x001234.6\x00"
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		r := s.startReady(ctx, false, "echo ready; sleep 1234.6")
		if err := r.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = r.cmd.Wait()
		var left []int
		if !waitUntil(runTimeout, func() bool { left = processesWithCmdline(cmdline); return len(left) == 0 }) {
			t.Errorf("sandboxed processes left after fence was killed: %v (sleep 1234.6)", left)
			for _, pid := range left {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	})
}

// processesWithCmdline lists the host pids whose cmdline is exactly cmdline.
func processesWithCmdline(cmdline string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && string(b) == cmdline {
			pids = append(pids, pid)
		}
	}
	return pids
}

// FENCE_SANDBOX=1 is set inside, even if the caller set it to something
// else.
func TestEnvFenceSandbox(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.fenceWith(opts{env: []string{"FENCE_SANDBOX=0"}}, "--", "printenv", "FENCE_SANDBOX")
		if res.code != 0 || res.stdout != "1\n" {
			t.Errorf("FENCE_SANDBOX inside: want 1: %v", res)
		}
		// Other variables pass through.
		res = s.fenceWith(opts{env: []string{"FENCE_E2E_VAR=kept value"}}, "--", "printenv", "FENCE_E2E_VAR")
		if res.stdout != "kept value\n" {
			t.Errorf("ordinary variable not passed through: %v", res)
		}
	})
}

// LD_* and DYLD_* set outside are absent inside.
func TestEnvLoaderVarsStripped(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.fenceWith(opts{env: []string{
			"LD_PRELOAD=/nonexistent/ldmarker-preload.so",
			"LD_LIBRARY_PATH=/nonexistent/ldmarker-lib",
			"LD_AUDIT=/nonexistent/ldmarker-audit.so",
			"DYLD_INSERT_LIBRARIES=/nonexistent/ldmarker.dylib",
		}}, "--", "env")
		if res.code != 0 {
			t.Fatalf("env: %v", res)
		}
		for _, l := range lines(res.stdout) {
			if strings.HasPrefix(l, "LD_") || strings.HasPrefix(l, "DYLD_") {
				t.Errorf("%s is set inside", l)
			}
		}
		if strings.Contains(res.stdout+res.stderr, "ldmarker") {
			t.Errorf("a loader variable's value leaked inside: %v", res)
		}
	})
}

// Nothing of the policy reaches the sandbox through the environment or
// argv: a unique marker in a denyRead path appears in neither env, the
// command's argv, nor PID 1's cmdline or environ.
func TestEnvPolicyNotLeaked(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		marker := unique("fencee2emarker")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyRead":["`+s.path(marker)+`","/`+marker+`-abs"]}}`)
		res := s.fence("-s", cfg, "--", "sh", "-c",
			`env; echo ---; tr '\0' ' ' < /proc/self/cmdline; echo; echo ---; tr '\0' ' ' < /proc/1/cmdline; echo; echo ---; tr '\0' '\n' < /proc/1/environ; echo ---; tr '\0' ' ' < /proc/$$/cmdline`)
		if res.code != 0 && !strings.Contains(res.stderr, "/proc/1/") {
			t.Errorf("probe failed: %v", res)
		}
		if !strings.Contains(res.stdout, "FENCE_SANDBOX=1") {
			t.Errorf("env output incomplete: %v", res)
		}
		if strings.Contains(res.stdout+res.stderr, marker) {
			t.Errorf("the policy marker %s is visible inside: %v", marker, res)
		}
		for _, l := range lines(res.stdout) {
			if strings.HasPrefix(l, "FENCE_CONFIG") || strings.HasPrefix(l, "FENCE_POLICY") {
				t.Errorf("policy variable inside: %s", l)
			}
		}
	})
}

// fence --linux-features reports the kernel, the namespaces, seccomp and
// Landlock, and exits 0.
func TestLinuxFeatures(t *testing.T) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	// The kernel's Landlock ABI (0: none), asked directly.
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */)
	if errno != 0 {
		abi = 0
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// Several runs: the probes start processes, and a report that
		// depends on scheduling is wrong too.
		for i := 0; i < 10 && !t.Failed(); i++ {
			checkLinuxFeatures(t, s, release, abi)
		}
	})
}

// checkLinuxFeatures runs fence --linux-features once and checks its report.
func checkLinuxFeatures(t *testing.T, s *sandbox, release string, abi uintptr) {
	t.Helper()
	res := s.fence("--linux-features")
	if res.code != 0 {
		t.Fatalf("want exit 0: %v", res)
	}
	out := res.stdout
	if !strings.Contains(out, "Kernel: "+release) {
		t.Errorf("no \"Kernel: %s\" line: %q", release, out)
	}
	for _, ns := range []string{"user", "mount", "pid", "net"} {
		if !regexp.MustCompile(`(?m)^\s*` + ns + ` namespace: true\s*$`).MatchString(out) {
			t.Errorf("no %q line: %q", ns+" namespace: true", out)
		}
	}
	if !regexp.MustCompile(`(?m)^\s*Seccomp: true\s*$`).MatchString(out) {
		t.Errorf("no \"Seccomp: true\" line: %q", out)
	}
	if abi > 0 {
		m := regexp.MustCompile(`(?m)^\s*Landlock: true \(ABI v(\d+)\)\s*$`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("kernel has Landlock ABI %d, but no \"Landlock: true (ABI vN)\" line: %q", abi, out)
		} else if n, _ := strconv.Atoi(m[1]); n < 1 || n > int(abi) {
			t.Errorf("reported Landlock ABI v%d, kernel has %d", n, abi)
		}
	} else if !strings.Contains(out, "Landlock: false") {
		t.Errorf("kernel has no Landlock, want \"Landlock: false\": %q", out)
	}
}

// fence gives the Go runtime's sysmon thread of the supervisor and of PID 1
// a 1 ms timer slack (spawn.CoarsenSysmon); the command, and every other
// thread of fence that sysmon did not start, keeps the caller's slack.
func TestTimerSlack(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("reading another process's timer slack needs CAP_SYS_NICE: run as root")
	}
	want, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		const cmdline = "sleep\x001234.7\x00"
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		r := s.startReady(ctx, false, "echo ready; exec sleep 1234.7")
		defer func() {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}()
		slack := func(tid int) string {
			t.Helper()
			b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/timerslack_ns")
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
		// process checks a Go process of fence: its main thread keeps the
		// caller's slack, its first other thread (sysmon) has 1 ms.
		process := func(name string, pid int) {
			t.Helper()
			tids := threads(t, pid)
			if len(tids) < 2 || tids[0] != pid {
				t.Fatalf("%s (%d): threads %v", name, pid, tids)
			}
			if got := slack(pid); got != strconv.Itoa(want) {
				t.Errorf("%s's main thread has timer slack %s ns, want the caller's %d", name, got, want)
			}
			if got := slack(tids[1]); got != "1000000" {
				t.Errorf("%s's sysmon thread %d has timer slack %s ns, want 1000000", name, tids[1], got)
			}
		}
		process("the supervisor", r.cmd.Process.Pid)
		pid1 := children(t, r.cmd.Process.Pid)
		if len(pid1) != 1 {
			t.Fatalf("the supervisor's children: %v, want PID 1 alone", pid1)
		}
		process("PID 1", pid1[0])
		cmds := processesWithCmdline(cmdline)
		if len(cmds) != 1 {
			t.Fatalf("processes running %q: %v", cmdline, cmds)
		}
		if got := slack(cmds[0]); got != strconv.Itoa(want) {
			t.Errorf("the command has timer slack %s ns, want the caller's %d", got, want)
		}
	})
}

// threads lists a process's thread ids, in increasing order.
func threads(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	var tids []int
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	slices.Sort(tids)
	return tids
}

// children lists the child processes of pid (of all its threads).
func children(t *testing.T, pid int) []int {
	t.Helper()
	var out []int
	for _, tid := range threads(t, pid) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/children")
		if err != nil {
			continue // the thread ended
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

package rtoverlay

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// patchRuntime returns this toolchain's runtime source file name and what
// patch makes of it, which must be no error.
func patchRuntime(t *testing.T, name string, patch func([]byte) ([]byte, error)) (src, got []byte) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "runtime", name))
	if err != nil {
		t.Fatal(err)
	}
	got, err = patch(src)
	if err != nil {
		t.Fatalf("this toolchain's runtime (%s), %s: %v", runtime.Version(), name, err)
	}
	return src, got
}

// replaced returns the toolchain's runtime source file name, src, with
// each of lines replaced, which must be there once: what the patch that
// replaces them must make of it, before what it appends.
func replaced(t *testing.T, name string, src []byte, lines [][2]string) string {
	t.Helper()
	want := string(src)
	for _, r := range lines {
		if n := strings.Count(want, r[0]); n != 1 {
			t.Fatalf("the toolchain's %s has %d of %q", name, n, r[0])
		}
		want = strings.Replace(want, r[0], r[1], 1)
	}
	return want
}

// refuses checks that patch refuses each of the runtime sources in cases
// (named by what is wrong with them).
func refuses(t *testing.T, patch func([]byte) ([]byte, error), cases map[string][]byte) {
	t.Helper()
	for name, in := range cases {
		if _, err := patch(in); !errors.Is(err, errRuntimeShape) {
			t.Errorf("%s: %v, want errRuntimeShape", name, err)
		}
	}
}

// lingerSysmon puts sysmon's deep sleep off in fence's init stage in this
// toolchain's runtime, and refuses a runtime where a line it extends, or
// one its schedule rests on, is missing or there twice, or that has the
// linger already. The init stage is told by the argv[0] fence starts it
// with.
func TestLingerSysmon(t *testing.T) {
	src, got := patchRuntime(t, "proc.go", lingerSysmon)
	if string(got) != replaced(t, "proc.go", src, sysmonLines)+sysmonBlock {
		t.Error("the patched runtime is not the toolchain's with sysmon's deep sleep put off in the init stage")
	}
	if !strings.Contains(sysmonBlock, `argslice[0] == `+strconv.Quote(spawn.InitArg0)) {
		t.Errorf("sysmonLingers does not look for the init stage's argv[0], %q", spawn.InitArg0)
	}
	refuses(t, lingerSysmon, map[string][]byte{
		"patched already":   got,
		"no deep sleep":     bytes.Replace(src, []byte(sysmonDeepSleep), nil, 1),
		"two deep sleeps":   bytes.Replace(src, []byte(sysmonDeepSleep), []byte(sysmonDeepSleep+sysmonDeepSleep), 1),
		"no locked recheck": bytes.Replace(src, []byte(sysmonDeepSleepLocked), nil, 1),
		"no idle count":     bytes.Replace(src, []byte(sysmonIdle), nil, 1),
		"two idle counts":   bytes.Replace(src, []byte(sysmonIdle), []byte(sysmonIdle+sysmonIdle), 1),
		"no doubling":       bytes.Replace(src, []byte(sysmonDoubling), nil, 1),
		"no 10 ms cap":      bytes.Replace(src, []byte(sysmonCap), nil, 1),
	})
}

// skipCgroup skips schedinit's cgroup lookup where GOMAXPROCS is set in
// this toolchain's runtime, and refuses a runtime without the lookup, with
// two, without the read of GOMAXPROCS after it, or patched already.
func TestSkipCgroup(t *testing.T) {
	src, got := patchRuntime(t, "proc.go", skipCgroup)
	if string(got) != replaced(t, "proc.go", src, [][2]string{{procsInit, procsInitNew}}) {
		t.Error("the patched runtime is not the toolchain's with the cgroup lookup skipped where GOMAXPROCS is set")
	}
	refuses(t, skipCgroup, map[string][]byte{
		"patched already":  got,
		"no lookup":        bytes.Replace(src, []byte(procsInit), nil, 1),
		"two lookups":      bytes.Replace(src, []byte(procsInit), []byte(procsInit+procsInit), 1),
		"no GOMAXPROCS":    bytes.Replace(src, []byte(procsRead), nil, 1),
		"GOMAXPROCS first": bytes.Replace(bytes.Replace(src, []byte(procsInit), nil, 1), []byte(procsRead), []byte(procsRead+procsInit), 1),
	})
	if _, err := patchProc(src); err != nil {
		t.Errorf("proc.go's whole patch: %v", err)
	}
}

// TestRuntimeOverlaySkipsCgroup: built with the overlay, a program started
// with GOMAXPROCS set holds no descriptor of a cgroup file (the runtime
// looked for no CPU limit), as the init stage starts; without GOMAXPROCS
// it holds what the toolchain's runtime opens, as the supervisor does.
func TestRuntimeOverlaySkipsCgroup(t *testing.T) {
	with, without := buildBoth(t, "./testdata/cgroupfds")
	fds := func(bin string, env ...string) int {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "GOMAXPROCS=") }), env...)
		out, err := cmd.Output()
		n, aerr := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil || aerr != nil {
			t.Fatalf("%s: %v %q", bin, err, out)
		}
		return n
	}
	base := fds(without, "GOMAXPROCS=2")
	if base == 0 {
		t.Skip("the Go runtime opens no cgroup file here (no CPU controller in /proc/self/cgroup and /proc/self/mountinfo): nothing to skip")
	}
	if n := fds(with, "GOMAXPROCS=2"); n != 0 {
		t.Errorf("built with the overlay, started with GOMAXPROCS=2: %d descriptors of cgroup files, want 0 (the toolchain's runtime holds %d)", n, base)
	}
	if n := fds(with); n != base {
		t.Errorf("built with the overlay, without GOMAXPROCS: %d descriptors of cgroup files, want the toolchain's %d", n, base)
	}
}

// TestWriteRefusesOtherReleases: Write refuses a toolchain whose VERSION is
// not of the Go release the added lines were written against, even where
// the lines they replace are there, and writes the overlay for one that is.
func TestWriteRefusesOtherReleases(t *testing.T) {
	goroot := t.TempDir()
	rt := filepath.Join(goroot, "src", "runtime")
	if err := os.MkdirAll(rt, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"proc.go", "runtime.go"} {
		b, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "runtime", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rt, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		version string
		ok      bool
	}{
		{"", false},
		{"go1.25.3\ntime 2025-09-02T18:00:00Z\n", false},
		{"go1.260\n", false},
		{release + ".8\ntime 2026-11-01T00:00:00Z\n", true},
	} {
		os.Remove(filepath.Join(goroot, "VERSION"))
		if tc.version != "" {
			if err := os.WriteFile(filepath.Join(goroot, "VERSION"), []byte(tc.version), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Write(goroot, t.TempDir())
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, errRuntimeShape) {
			t.Errorf("VERSION %q: %v", tc.version, err)
		}
	}
}

// buildBoth builds the test program pkg with the overlay (Flags, as the
// test builds get it) and without it, and returns both binaries.
func buildBoth(t *testing.T, pkg string) (with, without string) {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	flags := Flags(gobin, t.TempDir())
	if len(flags) != 1 {
		t.Fatalf("no overlay for this toolchain (%s): %q", runtime.Version(), flags)
	}
	p, ok := strings.CutPrefix(flags[0], "-overlay=")
	if !ok {
		t.Fatalf("flag %q", flags[0])
	}
	var ov struct{ Replace map[string]string }
	if b, err := os.ReadFile(p); err != nil || json.Unmarshal(b, &ov) != nil || len(ov.Replace) != 1 {
		t.Fatalf("overlay %s: %v %v", p, err, ov)
	}
	dir := t.TempDir()
	build := func(name string, flags ...string) string {
		t.Helper()
		bin := filepath.Join(dir, name)
		cmd := exec.Command(gobin, append(append([]string{"build"}, flags...), "-o", bin, pkg)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
		return bin
	}
	return build("with", flags...), build("without")
}

// TestMakefileBuildsWithOverlay: make build writes the overlay with
// mkoverlay for its target and compiles fence with it if it was written;
// mkoverlay writes one for Linux, of this toolchain's runtime, and removes
// an old one for another system.
func TestMakefileBuildsWithOverlay(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed: the Makefile's build lines cannot be printed")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(mk, "-n", "-s", "build", "GO="+gobin)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	var gen, build string
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.Contains(l, "./internal/rtoverlay/mkoverlay"):
			gen = l
		case strings.Contains(l, " build ") && strings.Contains(l, "./cmd/fence"):
			build = l
		}
	}
	if !strings.Contains(gen, "-goos "+runtime.GOOS) || !strings.Contains(gen, "-o .build/overlay") {
		t.Errorf("make build does not write the overlay for %s with mkoverlay:\n%s", runtime.GOOS, out)
	}
	if !strings.Contains(build, "$(test -f .build/overlay/overlay.json && echo -overlay=.build/overlay/overlay.json)") {
		t.Errorf("make build does not compile fence with the overlay mkoverlay wrote:\n%s", out)
	}
	goroot := runtime.GOROOT()
	dir := t.TempDir()
	for _, goos := range []string{"linux", "darwin"} {
		cmd := exec.Command(gobin, "run", "./mkoverlay", "-goroot", goroot, "-goos", goos, "-o", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mkoverlay -goos %s: %v\n%s", goos, err, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, File))
		if goos != "linux" {
			if err == nil {
				t.Errorf("mkoverlay -goos %s left an overlay", goos)
			}
			continue
		}
		var ov struct{ Replace map[string]string }
		if err != nil || json.Unmarshal(b, &ov) != nil {
			t.Fatalf("mkoverlay's overlay: %v", err)
		}
		_, proc := ov.Replace[filepath.Join(goroot, "src", "runtime", "proc.go")]
		if !proc || len(ov.Replace) != 1 {
			t.Errorf("mkoverlay's overlay replaces %v, want the runtime's proc.go", ov.Replace)
		}
	}
}

// The overlay's effect on sysmon, in a program blocked in read(2) but when
// the test writes it a byte (its P idle once sysmon has taken it back).
// Built with the overlay and started as fence's init stage (argv[0]
// spawn.InitArg0), sysmon still polls 0.3 s after the program's start (a
// thread in nanosleep), polls no more than ~5 times per byte plus every
// 10 ms while bytes come 50 ms apart (its 20 µs polls are for busy Ps: a
// first version kept them up beside idle Ps, ~50 per byte), and sleeps
// deeply 2.5 s after the last byte (no thread in nanosleep: sysmon waits
// on a futex, as idle threads do). Started under another name, or built
// without the overlay, sysmon sleeps deeply at once. The threads are
// watched from outside (/proc/PID/task), which the program does not
// notice: a system call of its own would wake sysmon.
func TestRuntimeOverlayLingersSysmon(t *testing.T) {
	with, without := buildBoth(t, "./testdata/idle")
	// polling reports in how many of 20 looks, 5 ms apart, one of the
	// program's threads was in nanosleep, and the last such thread:
	// sysmon between polls, which it spends nearly all its time in.
	polling := func(pid int) (n, tid int) {
		t.Helper()
		for range 20 {
			tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range tasks {
				b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/syscall")
				if err != nil {
					if task.Name() == strconv.Itoa(pid) {
						t.Skipf("the test cannot see what the program's threads wait in: %v", err)
					}
					continue // the thread exited
				}
				if f := strings.Fields(string(b)); len(f) > 0 && f[0] == strconv.Itoa(unix.SYS_NANOSLEEP) {
					n++
					tid, _ = strconv.Atoi(task.Name())
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		return n, tid
	}
	// sleeps is how many times thread tid of pid has slept.
	sleeps := func(pid, tid int) int {
		t.Helper()
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatalf("no voluntary_ctxt_switches in %s", b)
		return 0
	}
	start := func(bin, arg0 string) (*exec.Cmd, io.WriteCloser) {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Args[0] = arg0
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			in.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("%s: %v", bin, err)
			}
		})
		return cmd, in
	}

	for _, tc := range []struct{ what, bin, arg0 string }{
		{"built without the overlay", without, spawn.InitArg0},
		{"built with the overlay, started as another program", with, "idle"},
	} {
		cmd, _ := start(tc.bin, tc.arg0)
		time.Sleep(300 * time.Millisecond)
		if n, _ := polling(cmd.Process.Pid); n != 0 {
			t.Errorf("%s, sysmon was found polling in %d of 20 looks after 0.3 s idle, want none: it sleeps deeply at once", tc.what, n)
		}
	}

	cmd, in := start(with, spawn.InitArg0)
	pid := cmd.Process.Pid
	time.Sleep(300 * time.Millisecond)
	early, sysmon := polling(pid)
	if early < 15 {
		t.Fatalf("built with the overlay, started as the init stage, sysmon was found polling in %d of 20 looks after 0.3 s idle, want most: it lingers ~1 s", early)
	}
	before := sleeps(pid, sysmon)
	const bytes = 20
	for range bytes {
		if _, err := in.Write([]byte{0}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	polls := sleeps(pid, sysmon) - before
	time.Sleep(2500 * time.Millisecond)
	later, _ := polling(pid)
	t.Logf("built with the overlay, started as the init stage: sysmon polling in %d of 20 looks after 0.3 s, %d polls for %d bytes 50 ms apart, polling in %d of 20 looks 2.5 s after", early, polls, bytes, later)
	if polls > 5*bytes+100 {
		t.Errorf("sysmon slept %d times while %d bytes came 50 ms apart, want at most %d: it polls fast beside idle Ps", polls, bytes, 5*bytes+100)
	}
	if later != 0 {
		t.Errorf("sysmon was found polling in %d of 20 looks 2.5 s after the last byte, want none: it sleeps deeply after ~1 s idle", later)
	}
}

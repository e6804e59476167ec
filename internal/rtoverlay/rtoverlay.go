// Package rtoverlay writes the build overlay (go build -overlay) that
// fence is compiled with: a few lines added to the Go runtime, which keep
// sysmon polling for about a second after work in the init stage before it
// sleeps deeply, and skip the runtime's cgroup lookup where GOMAXPROCS is
// set (the init stage's). make build applies it (through its command,
// mkoverlay), and so do the test builds of fence (e2e, perf), which must
// measure and test the binary users run.
//
// Why a package of its own: it is build tooling. Package nsexec/spawn, where
// fence's other build settings live (LDFlags, GoExperiment), is initialised
// in both of fence's processes before anything else, and must not pull in
// encoding/json or os/exec (deps_test.go checks).
//
// What it no longer does: advise the heap, and carve the runtime's
// bookkeeping, MADV_HUGEPAGE. Measured in tight loops, where each run gets
// the huge pages the last one freed, that saved ~0.3 ms a start. But a
// huge page the kernel has not handed out lately can cost far more than
// the 512 small faults it replaces: on a VM whose host backs the guest's
// memory on first touch (and takes back what the guest reports free), a
// fresh 2 MB page took ~3.5 ms, and `fence -- true` run after a pause of
// a second took 16 ms against 6 ms in small pages (docs/benchmarking.md,
// "Huge pages after a pause").
//
// sysmon, the runtime's monitor thread, sleeps deeply (on a futex, until
// the next timer) the moment no P runs a goroutine, and the next goroutine
// to make a system call wakes it first. In PID 1 each request to the write
// guard after a pause (git's index.lock, a file a build creates) began
// with that wake-up, an interrupt to the other CPU here: a guarded call
// took ~160–290 µs, ~80–140 µs with sysmon awake. In fence's init stage
// alone, sysmon, with every P idle, now polls every 10 ms until it has had
// ~100 idle cycles in a row (~1 s) before it sleeps deeply: `git status`
// in a running sandbox ~1.2 ms sooner (docs/benchmarking.md, "sysmon awake
// for a second"). What it costs: ~100 wake-ups of sysmon a second while
// the sandbox has been busy within the last second; a P held in a system
// call taken back up to ~20 ms late (two polls) where the runtime's own
// sysmon takes ~0.1 ms, which delays the init stage's control messages
// (signals, connections for -p) while both of its Ps are held. The
// supervisor, which serves the proxies, keeps the runtime's sysmon.
//
// The package must not be imported by fence itself.
package rtoverlay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sysmon (runtime/proc.go, Go 1.26) counts in idle its cycles in a row
// in which it took no P back from a system call (retake's count; a wake-up
// from its deep sleep by a system call resets it too); it sleeps 20 µs
// between cycles, doubling after 50 of them up to 10 ms (sysmonDoubling,
// sysmonCap). sysmonDeepSleep and sysmonDeepSleepLocked test, before and
// under sched.lock, for the deep sleep (every P idle, or a stop of the
// world). In fence's init stage, Write's lines make sysmon poll every 10 ms
// instead while idle is at most sysmonLinger (sysmonDeepSleepNew,
// sysmonDeepSleepLockedNew; sysmonIdleNew sets linger once, from
// sysmonLingers in sysmonBlock, appended). A stop of the world still sends
// it to sleep at once.
const (
	sysmonIdle     = "\tidle := 0 // how many cycles in succession we had not wokeup somebody\n"
	sysmonIdleNew  = sysmonIdle + "\tlinger := sysmonLingers() // fence's build (internal/rtoverlay)\n"
	sysmonDoubling = "\t\t} else if idle > 50 { // start doubling the sleep after 1ms...\n"
	sysmonCap      = "\t\tif delay > 10*1000 { // up to 10ms\n"

	sysmonDeepSleep    = "\t\tif debug.schedtrace <= 0 && (sched.gcwaiting.Load() || sched.npidle.Load() == gomaxprocs) {\n"
	sysmonDeepSleepNew = "\t\tif linger && sched.npidle.Load() == gomaxprocs && !sched.gcwaiting.Load() && idle <= sysmonLinger { // fence's build (internal/rtoverlay)\n" +
		"\t\t\tdelay = 10 * 1000\n" +
		"\t\t}\n" +
		"\t\tif debug.schedtrace <= 0 && (sched.gcwaiting.Load() || sched.npidle.Load() == gomaxprocs && (!linger || idle > sysmonLinger)) { // fence's build (internal/rtoverlay)\n"
	sysmonDeepSleepLocked    = "\t\t\tif sched.gcwaiting.Load() || sched.npidle.Load() == gomaxprocs {\n"
	sysmonDeepSleepLockedNew = "\t\t\tif sched.gcwaiting.Load() || sched.npidle.Load() == gomaxprocs && (!linger || idle > sysmonLinger) { // fence's build (internal/rtoverlay)\n"

	sysmonBlock = `
// fence's build (internal/rtoverlay): in fence's init stage (the sandbox's
// PID 1), sysmon, with every P idle, polls every 10 ms until it has had
// this many idle cycles in a row (~1 s) before it sleeps deeply, to be
// woken by the next system call, instead of sleeping deeply at once: the
// write guard's requests, a system call each now and then, do not pay for
// that wake-up each time. Its 20 µs polls are for when a P is busy or held
// in a system call and it took one back recently, as before. What the init
// stage gives up: a P held in a system call is taken back at the next
// 10 ms poll, not at once.
const sysmonLinger = 100

// sysmonLingers reports whether this process is fence's init stage, which
// fence starts with argv[0] InitArg0 (package nsexec/spawn).
func sysmonLingers() bool {
	return len(argslice) > 0 && argslice[0] == "fence-init"
}
`
)

// schedinit (runtime/proc.go, Go 1.26) looks for the process's CPU cgroup
// (defaultGOMAXPROCSInit: /proc/self/cgroup and /proc/self/mountinfo read
// and parsed, the cgroup's limit files opened and kept open) before it
// reads GOMAXPROCS from the environment, which, when set, makes the cgroup
// irrelevant: the runtime then neither takes its default from the cgroup
// nor updates it later (until runtime.SetDefaultGOMAXPROCS, which, with
// the lookup skipped, then ignores the cgroup's limit: fence calls it
// nowhere). fence starts its init stage with GOMAXPROCS=2
// (package nsexec/spawn), where the lookup cost ~0.1 ms of each start
// (fence -- true 0.19 ms sooner without it, docs/benchmarking.md), and it
// left PID 1 holding two descriptors of the host's cgroup files for the
// sandbox's life. Write's line skips the lookup where GOMAXPROCS is a
// positive number, as schedinit reads it just after; the supervisor, whose
// environment is the caller's, does it unless the caller set GOMAXPROCS.
const (
	procsInit    = "\tdefaultGOMAXPROCSInit()\n"
	procsInitNew = "\tif n, err := strconv.ParseInt(gogetenv(\"GOMAXPROCS\"), 10, 32); err != nil || n <= 0 { // fence's build (internal/rtoverlay)\n" +
		"\t\tdefaultGOMAXPROCSInit()\n" +
		"\t}\n"
	procsRead = "\tif n, err := strconv.ParseInt(gogetenv(\"GOMAXPROCS\"), 10, 32); err == nil && n > 0 {\n"
)

// uses are what the added lines need from the rest of the runtime: the
// file each is declared in, and its declaration; and the Go release whose
// runtime they were written against (its VERSION file starts so).
var uses = [][2]string{
	{"runtime.go", "var argslice []string"},
}

const release = "go1.26"

// File is the name Write gives the overlay file in its directory.
const File = "overlay.json"

// Write writes, in dir, the runtime's proc.go of the toolchain at goroot
// with the added lines (sysmon's linger, the cgroup lookup skipped where
// GOMAXPROCS is set), and the overlay file (File) that puts it in place of
// the toolchain's for go build -overlay, whose path it returns. It refuses
// a toolchain of another Go release, and a runtime that does not run
// sysmon or read GOMAXPROCS where and as it expects: fence is then built
// without it, a little slower, no less safe.
func Write(goroot, dir string) (string, error) {
	rt := filepath.Join(goroot, "src", "runtime")
	patched := map[string][]byte{}
	for name, patch := range map[string]func([]byte) ([]byte, error){"proc.go": patchProc} {
		src := filepath.Join(rt, name)
		b, err := os.ReadFile(src)
		if err != nil {
			return "", fmt.Errorf("read the Go runtime's %s: %w", name, err)
		}
		if patched[name], err = patch(b); err != nil {
			return "", fmt.Errorf("%s: %w", src, err)
		}
	}
	if v, err := os.ReadFile(filepath.Join(goroot, "VERSION")); err != nil || !bytes.HasPrefix(v, []byte(release+".")) && !bytes.HasPrefix(v, []byte(release+"\n")) {
		return "", fmt.Errorf("the toolchain at %s is not %s: %w", goroot, release, errRuntimeShape)
	}
	for _, u := range uses {
		name, decl := u[0], u[1]
		p := filepath.Join(rt, name)
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read the Go runtime's %s: %w", name, err)
		}
		if !bytes.Contains(b, []byte(decl)) {
			return "", fmt.Errorf("%s has no %q: %w", p, decl, errRuntimeShape)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the runtime overlay's directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("locate the runtime overlay's directory: %w", err)
	}
	replace := map[string]string{}
	for name, b := range patched {
		file := filepath.Join(abs, name)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return "", fmt.Errorf("write the runtime overlay's %s: %w", name, err)
		}
		replace[filepath.Join(rt, name)] = file
	}
	j, err := json.Marshal(struct{ Replace map[string]string }{replace})
	if err != nil {
		return "", fmt.Errorf("encode the runtime overlay: %w", err)
	}
	overlay := filepath.Join(abs, File)
	if err := os.WriteFile(overlay, j, 0o644); err != nil {
		return "", fmt.Errorf("write the runtime overlay: %w", err)
	}
	return overlay, nil
}

// errRuntimeShape is the error for a runtime the overlay does not fit.
var errRuntimeShape = errors.New("the runtime does not run sysmon or read GOMAXPROCS as fence's build overlay expects (sysmon's idle count and deep sleep, schedinit's cgroup lookup before its read of GOMAXPROCS, as in Go 1.26)")

// lingerSysmon returns the runtime source proc with sysmon's deep sleep
// put off in fence's init stage (sysmonIdleNew, sysmonDeepSleepNew,
// sysmonDeepSleepLockedNew in place of the lines they extend, each there
// once, as the two lines its schedule rests on must be) and sysmonBlock
// appended; it refuses a runtime that has them already.
func lingerSysmon(proc []byte) ([]byte, error) {
	if bytes.Contains(proc, []byte("sysmonLinger")) || bytes.Count(proc, []byte(sysmonDoubling)) != 1 || bytes.Count(proc, []byte(sysmonCap)) != 1 {
		return nil, errRuntimeShape
	}
	return replaceEach(proc, sysmonLines, sysmonBlock)
}

// skipCgroup returns the runtime source proc with schedinit's cgroup
// lookup skipped where GOMAXPROCS is set (procsInitNew in place of
// procsInit): the lookup must be there once, followed by schedinit's read
// of GOMAXPROCS, whose test procsInitNew negates.
func skipCgroup(proc []byte) ([]byte, error) {
	i := bytes.Index(proc, []byte(procsInit))
	if i < 0 || bytes.Count(proc, []byte(procsInit)) != 1 || !bytes.Contains(proc[i:], []byte(procsRead)) || bytes.Contains(proc, []byte(procsInitNew)) {
		return nil, errRuntimeShape
	}
	return replaceEach(proc, [][2]string{{procsInit, procsInitNew}}, "")
}

// patchProc is proc.go's patch: lingerSysmon, then skipCgroup.
func patchProc(proc []byte) ([]byte, error) {
	b, err := lingerSysmon(proc)
	if err != nil {
		return nil, err
	}
	return skipCgroup(b)
}

// sysmonLines are the lines lingerSysmon replaces, and with what.
var sysmonLines = [][2]string{{sysmonIdle, sysmonIdleNew}, {sysmonDeepSleep, sysmonDeepSleepNew}, {sysmonDeepSleepLocked, sysmonDeepSleepLockedNew}}

// replaceEach returns src with the first string of each of lines, which
// must be there once, replaced by the second, and tail appended.
func replaceEach(src []byte, lines [][2]string, tail string) ([]byte, error) {
	out := src
	for _, r := range lines {
		if bytes.Count(out, []byte(r[0])) != 1 {
			return nil, errRuntimeShape
		}
		out = bytes.Replace(out, []byte(r[0]), []byte(r[1]), 1)
	}
	return append(out, tail...), nil
}

// Flags returns the go build flags that compile fence with the overlay as
// make build does, for the toolchain gobin targeting Linux, writing the
// overlay under dir; none where it does not fit that toolchain's runtime
// (make build then goes without it too).
func Flags(gobin, dir string) []string {
	out, err := exec.Command(gobin, "env", "GOROOT").Output()
	if err != nil {
		return nil
	}
	p, err := Write(strings.TrimSpace(string(out)), dir)
	if err != nil {
		return nil
	}
	return []string{"-overlay=" + p}
}

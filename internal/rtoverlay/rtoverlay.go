// Package rtoverlay writes the build overlay (go build -overlay) that
// fence is compiled with: a few lines added to the Go runtime, which advise
// the kernel to back the runtime's heap with huge pages as the runtime maps
// it, carve the runtime's own bookkeeping (persistentalloc: spans, span
// sets, itabs, ...) out of one huge page, keep sysmon polling for about a
// second after work in the init stage before it sleeps deeply, and skip the
// runtime's cgroup lookup where GOMAXPROCS is set (the init stage's). make build
// applies it (through its command, mkoverlay), and so do the test builds of
// fence (e2e, perf), which must measure and test the binary users run.
//
// Why a package of its own: it is build tooling. Package nsexec/spawn, where
// fence's other build settings live (LDFlags, GoExperiment), is initialised
// in both of fence's processes before anything else, and must not pull in
// encoding/json or os/exec (deps_test.go checks).
//
// Why fence patches its runtime at all: the runtime maps its heap 4 MB at
// a time and leaves the kernel to back it with small pages, one page fault
// per 4 kB at its first touch, and each fault costs a hypervisor exit on
// the paravirtualised VMs fence is measured on (~15 µs). Each of fence's
// two Go processes touched ~80 heap pages that way before any package of
// fence's was initialised, where nothing of fence's can run first
// (internal/prefault's collapse comes after them). Advised MADV_HUGEPAGE as
// the runtime maps it, each 2 MB block of the heap faults in once, as one
// huge page: `fence -- true` ~2.5 ms sooner, ~4.7 ms less CPU
// (docs/benchmarking.md, "The heap in huge pages from its first page").
// The runtime's bookkeeping beside the heap (persistentalloc) took ~40 more
// faults in the supervisor, ~20 in PID 1, each in 256 kB chunks mapped one
// by one: from one 2 MB block advised MADV_HUGEPAGE, one fault (~80 µs
// here, the cost of ~7 small ones) maps them all, and the runtime goes on
// with chunks of its own once the block is used up (docs/benchmarking.md,
// "The runtime's bookkeeping in one huge page").
// Go 1.21.0 did the same for every Go program and went back on it (a heap
// that grows and shrinks kept huge pages resident); fence's processes have
// small heaps that live as long as the command. GODEBUG=disablethp=1 (in
// the supervisor, whose environment is the caller's) and the
// administrator's transparent huge page setting (never) are obeyed: the
// added lines do nothing under the first, the kernel ignores the advice
// under the second.
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

// heapMapped is the line of the runtime's (*mheap).grow (runtime/mheap.go,
// Go 1.26) that maps the next part of the heap's arena, and heapAdvice what
// Write puts after it: sysHugePageOS rounds the range inward to whole huge
// pages and madvises them MADV_HUGEPAGE.
const (
	heapMapped = "\tsysMap(unsafe.Pointer(v), nBase-v, &gcController.heapReleased, \"heap\")\n"
	heapAdvice = "\tif debug.disablethp == 0 {\n" +
		"\t\tsysHugePageOS(unsafe.Pointer(v), nBase-v) // fence's build (internal/rtoverlay)\n" +
		"\t}\n"
)

// The runtime's persistentalloc (runtime/malloc.go, Go 1.26) maps a 256 kB
// chunk (persistentChunk) whenever the one it carves from is used up, and
// maps what is too large for a chunk (persistentLarge) on its own: Write
// has both take from one block that mallocinit reserves first thing
// (persistentInit) and advises MADV_HUGEPAGE, while it lasts
// (persistentBlock, appended to the file).
const (
	persistentChunk    = "\t\tpersistent.base = (*notInHeap)(sysAlloc(persistentChunkSize, &memstats.other_sys, \"immortal metadata\"))\n"
	persistentChunkNew = "\t\tpersistent.base = (*notInHeap)(persistentHugeAlloc(persistentChunkSize)) // fence's build (internal/rtoverlay)\n" +
		"\t\tif persistent.base == nil {\n" +
		"\t\t\tpersistent.base = (*notInHeap)(sysAlloc(persistentChunkSize, &memstats.other_sys, \"immortal metadata\"))\n" +
		"\t\t}\n"
	persistentLarge    = "\t\treturn (*notInHeap)(sysAlloc(size, sysStat, \"immortal metadata\"))\n"
	persistentLargeNew = "\t\tif p := persistentHugeAlloc(alignUp(size, physPageSize)); p != nil { // fence's build (internal/rtoverlay)\n" +
		"\t\t\treturn (*notInHeap)(p)\n" +
		"\t\t}\n" + persistentLarge
	persistentInit    = "\t\tfor 1<<physHugePageShift != physHugePageSize {\n\t\t\tphysHugePageShift++\n\t\t}\n\t}\n"
	persistentInitNew = persistentInit + "\tpersistentHugeInit() // fence's build (internal/rtoverlay)\n"
	persistentBlock   = `
// fence's build (internal/rtoverlay): persistentalloc's chunks, and what it
// maps on its own, are carved out of one block of a huge page's size,
// advised MADV_HUGEPAGE, while it lasts: one page fault for the runtime's
// bookkeeping instead of one per 4 kB page of it. Never freed, as the
// chunks were not. Accounted as other_sys.
var persistentHuge struct {
	base, size uintptr
	used       atomic.Uintptr
}

// persistentHugeInit maps the block, once mallocinit has checked the huge
// page size, before anything asks persistentalloc for memory, unless
// GODEBUG turns huge pages off (parsed before mallocinit) or the system has
// none. It maps twice the block's size, for its alignment, and gives back
// what is around the aligned block.
func persistentHugeInit() {
	n := physHugePageSize
	if debug.disablethp != 0 || n == 0 || n > 4<<20 || n%persistentChunkSize != 0 {
		return
	}
	p := uintptr(sysAlloc(2*n, &memstats.other_sys, "immortal metadata"))
	if p == 0 {
		return
	}
	base := alignUp(p, n)
	if base > p {
		sysFree(unsafe.Pointer(p), base-p, &memstats.other_sys)
	}
	if end := p + 2*n; end > base+n {
		sysFree(unsafe.Pointer(base+n), end-(base+n), &memstats.other_sys)
	}
	sysHugePageOS(unsafe.Pointer(base), n)
	persistentHuge.base, persistentHuge.size = base, n
}

// persistentHugeAlloc returns n zeroed bytes of the block, page-aligned, or
// nil where it has no n bytes left. Safe for concurrent use: persistentalloc
// takes chunks for each P without a lock. A request that does not fit
// takes nothing, so that smaller ones still may.
func persistentHugeAlloc(n uintptr) unsafe.Pointer {
	if persistentHuge.base == 0 {
		return nil
	}
	for {
		used := persistentHuge.used.Load()
		if n > persistentHuge.size-used {
			return nil
		}
		if persistentHuge.used.CompareAndSwap(used, used+n) {
			return unsafe.Pointer(persistentHuge.base + used)
		}
	}
}
`
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
// nor updates it later. fence starts its init stage with GOMAXPROCS=2
// (package nsexec/spawn), where the lookup cost ~0.1 ms of each start
// (fence -- true 0.19 ms sooner without it, docs/benchmarking.md), and it
// left PID 1 holding two descriptors of the host's cgroup files for the
// sandbox's life. Write's line skips the lookup where GOMAXPROCS is a
// positive number, as schedinit reads it just after; the supervisor, whose
// environment is the caller's, does it as before.
const (
	procsInit    = "\tdefaultGOMAXPROCSInit()\n"
	procsInitNew = "\tif n, err := strconv.ParseInt(gogetenv(\"GOMAXPROCS\"), 10, 32); err != nil || n <= 0 { // fence's build (internal/rtoverlay)\n" +
		"\t\tdefaultGOMAXPROCSInit()\n" +
		"\t}\n"
	procsRead = "\tif n, err := strconv.ParseInt(gogetenv(\"GOMAXPROCS\"), 10, 32); err == nil && n > 0 {\n"
)

// uses are what the added lines need from the rest of the runtime: the
// file each is declared in, and its declaration; and the Go release whose
// runtime they were written against (its VERSION file starts so), where
// what they use beside these (physHugePageSize, alignUp, malloc.go's
// atomic.Uintptr) is as they expect.
var uses = [][2]string{
	{"runtime1.go", "disablethp"},
	{"runtime.go", "var argslice []string"},
	{"mem_linux.go", "func sysHugePageOS(v unsafe.Pointer, n uintptr)"},
	{"mem.go", "func sysAlloc(n uintptr, sysStat *sysMemStat, vmaName string) unsafe.Pointer"},
	{"mem.go", "func sysFree(v unsafe.Pointer, n uintptr, sysStat *sysMemStat)"},
}

const release = "go1.26"

// File is the name Write gives the overlay file in its directory.
const File = "overlay.json"

// Write writes, in dir, the runtime's mheap.go, malloc.go and proc.go of
// the toolchain at goroot with the added lines (heapAdvice after the heap's
// mapping, persistentalloc's chunks from a huge page, sysmon's linger, the
// cgroup lookup skipped where GOMAXPROCS is set), and
// the overlay file (File) that puts them in place of the toolchain's for go
// build -overlay, whose path it returns. It refuses a toolchain of another
// Go release, and a runtime that does not map its memory or run sysmon
// where and as it expects: fence is then built without it, as fast as
// before the overlay, no less safe.
func Write(goroot, dir string) (string, error) {
	rt := filepath.Join(goroot, "src", "runtime")
	patched := map[string][]byte{}
	for name, patch := range map[string]func([]byte) ([]byte, error){"mheap.go": adviseHeap, "malloc.go": carvePersistent, "proc.go": patchProc} {
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
var errRuntimeShape = errors.New("the runtime does not map its memory or run sysmon as fence's build overlay expects (one sysMap of the heap in (*mheap).grow, persistentalloc's chunks and large blocks from sysAlloc, mallocinit's huge page checks, debug.disablethp, sysFree and sysHugePageOS, sysmon's idle count and deep sleep, schedinit's cgroup lookup before its read of GOMAXPROCS, as in Go 1.26)")

// adviseHeap returns the runtime source mheap with heapAdvice after its one
// heapMapped line.
func adviseHeap(mheap []byte) ([]byte, error) {
	if bytes.Count(mheap, []byte(heapMapped)) != 1 || bytes.Contains(mheap, []byte("sysHugePageOS(unsafe.Pointer(v), nBase-v)")) {
		return nil, errRuntimeShape
	}
	return bytes.Replace(mheap, []byte(heapMapped), []byte(heapMapped+heapAdvice), 1), nil
}

// carvePersistent returns the runtime source malloc with persistentalloc's
// chunks and large blocks taken from the huge page block first, which
// mallocinit maps, and persistentBlock appended: each line it replaces
// must be there once, and the block not yet.
func carvePersistent(malloc []byte) ([]byte, error) {
	if bytes.Contains(malloc, []byte("persistentHuge")) {
		return nil, errRuntimeShape
	}
	return replaceEach(malloc, persistentLines, persistentBlock)
}

// persistentLines are the lines carvePersistent replaces, and with what.
var persistentLines = [][2]string{{persistentChunk, persistentChunkNew}, {persistentLarge, persistentLargeNew}, {persistentInit, persistentInitNew}}

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

// Package rtoverlay writes the build overlay (go build -overlay) that
// fence is compiled with: one line added to the Go runtime, which advises
// the kernel to back the runtime's heap with huge pages as the runtime maps
// it. make build applies it (through its command, mkoverlay), and so do the
// test builds of fence (e2e, perf), which must measure and test the binary
// users run.
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
// Go 1.21.0 did the same for every Go program and went back on it (a heap
// that grows and shrinks kept huge pages resident); fence's processes have
// small heaps that live as long as the command. GODEBUG=disablethp=1 (in
// the supervisor, whose environment is the caller's) and the
// administrator's transparent huge page setting (never) are obeyed: the
// added line does nothing under the first, the kernel ignores the advice
// under the second.
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

// uses are what heapAdvice needs from the rest of the runtime: the file
// each is declared in, and its declaration.
var uses = map[string]string{
	"runtime1.go":  "disablethp",
	"mem_linux.go": "func sysHugePageOS(v unsafe.Pointer, n uintptr)",
}

// File is the name Write gives the overlay file in its directory.
const File = "overlay.json"

// Write writes, in dir, the runtime's mheap.go of the toolchain at goroot
// with heapAdvice after the heap's mapping, and the overlay file (File)
// that puts it in place of the toolchain's for go build -overlay, whose
// path it returns. It refuses a runtime that does not map the heap where
// and as it expects (another Go version's): fence is then built without
// it, as fast as before the overlay, no less safe.
func Write(goroot, dir string) (string, error) {
	src := filepath.Join(goroot, "src", "runtime", "mheap.go")
	b, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("read the Go runtime's mheap.go: %w", err)
	}
	patched, err := adviseHeap(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	for name, decl := range uses {
		p := filepath.Join(goroot, "src", "runtime", name)
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read the Go runtime's %s: %w", name, err)
		}
		if !bytes.Contains(b, []byte(decl)) {
			return "", fmt.Errorf("%s has no %q: %w", p, decl, errHeapMapping)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the runtime overlay's directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("locate the runtime overlay's directory: %w", err)
	}
	file := filepath.Join(abs, "mheap.go")
	if err := os.WriteFile(file, patched, 0o644); err != nil {
		return "", fmt.Errorf("write the runtime overlay's mheap.go: %w", err)
	}
	j, err := json.Marshal(struct{ Replace map[string]string }{map[string]string{src: file}})
	if err != nil {
		return "", fmt.Errorf("encode the runtime overlay: %w", err)
	}
	overlay := filepath.Join(abs, File)
	if err := os.WriteFile(overlay, j, 0o644); err != nil {
		return "", fmt.Errorf("write the runtime overlay: %w", err)
	}
	return overlay, nil
}

// errHeapMapping is the error for a runtime the overlay does not fit.
var errHeapMapping = errors.New("the runtime does not map its heap as fence's build overlay expects (one sysMap of the heap in (*mheap).grow, debug.disablethp and sysHugePageOS as in Go 1.26)")

// adviseHeap returns the runtime source mheap with heapAdvice after its one
// heapMapped line.
func adviseHeap(mheap []byte) ([]byte, error) {
	if bytes.Count(mheap, []byte(heapMapped)) != 1 || bytes.Contains(mheap, []byte("sysHugePageOS(unsafe.Pointer(v), nBase-v)")) {
		return nil, errHeapMapping
	}
	i := bytes.Index(mheap, []byte(heapMapped)) + len(heapMapped)
	out := make([]byte, 0, len(mheap)+len(heapAdvice))
	out = append(out, mheap[:i]...)
	out = append(out, heapAdvice...)
	return append(out, mheap[i:]...), nil
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

package spawn

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

// Why fence's builds patch one line of the Go runtime (make build, and the
// test builds, through RuntimeOverlay and go build -overlay): the runtime
// maps its heap 4 MB at a time and leaves the kernel to back it with small
// pages, one page fault per 4 kB at its first touch, and each fault costs
// a hypervisor exit on the paravirtualised VMs fence is measured on (~15
// µs). Each of fence's two Go processes touched ~80 heap pages that way
// before any package of fence's was initialised, where nothing of fence's
// can run first (internal/prefault's collapse comes after them). Advised
// MADV_HUGEPAGE as the runtime maps it, each 2 MB block of the heap faults
// in once, as one huge page: `fence -- true` 2.7 ms sooner, 4.7 ms less CPU
// (docs/benchmarking.md, "The heap in huge pages from its first page").
// Go 1.21.0 did the same for every heap and went back on it (a heap that
// grows and shrinks kept huge pages resident); fence's processes have
// small heaps that live as long as the command. GODEBUG=disablethp=1 and
// the administrator's transparent huge page setting (never) are obeyed: the
// patched line does nothing under the first, the kernel ignores the advice
// under the second.

// heapMapped is the line of the runtime's (*mheap).grow (runtime/mheap.go,
// Go 1.26) that maps the next part of the heap's arena, and heapAdvice what
// RuntimeOverlay puts after it: sysHugePageOS rounds the range inward to
// whole huge pages and madvises them MADV_HUGEPAGE.
const (
	heapMapped = "\tsysMap(unsafe.Pointer(v), nBase-v, &gcController.heapReleased, \"heap\")\n"
	heapAdvice = "\tif debug.disablethp == 0 {\n" +
		"\t\tsysHugePageOS(unsafe.Pointer(v), nBase-v) // fence's build (nsexec/spawn.RuntimeOverlay)\n" +
		"\t}\n"
)

// RuntimeOverlay writes, in dir, the runtime's mheap.go of the toolchain
// at goroot with heapAdvice after the heap's mapping, and the overlay file
// that puts it in place of the toolchain's for go build -overlay, whose
// path it returns. It refuses a runtime that does not map the heap where
// and as it expects (another Go version's): fence then builds without it,
// as fast as before the overlay, no less safe.
func RuntimeOverlay(goroot, dir string) (string, error) {
	src := filepath.Join(goroot, "src", "runtime", "mheap.go")
	b, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("read the Go runtime's heap: %w", err)
	}
	patched, err := adviseHeap(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	// What the added lines use, where they must be.
	for name, want := range map[string]string{"runtime1.go": "disablethp", "mem_linux.go": "func sysHugePageOS(v unsafe.Pointer, n uintptr)"} {
		b, err := os.ReadFile(filepath.Join(goroot, "src", "runtime", name))
		if err != nil || !bytes.Contains(b, []byte(want)) {
			return "", fmt.Errorf("%s: %w", filepath.Join(goroot, "src", "runtime", name), errHeapMapping)
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
		return "", fmt.Errorf("write the runtime overlay: %w", err)
	}
	j, err := json.Marshal(struct{ Replace map[string]string }{map[string]string{src: file}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(abs, "overlay.json")
	if err := os.WriteFile(overlay, j, 0o644); err != nil {
		return "", fmt.Errorf("write the runtime overlay: %w", err)
	}
	return overlay, nil
}

// errHeapMapping is adviseHeap's error for a runtime it does not know.
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

// OverlayFlags returns the go build flags that compile fence with the
// runtime overlay as make build does, for the toolchain gobin targeting
// Linux, writing the overlay under dir; none where it does not fit that
// toolchain's runtime (make build then goes without it too). For the test
// builds, which must measure and test the binary users run.
func OverlayFlags(gobin, dir string) []string {
	out, err := exec.Command(gobin, "env", "GOROOT").Output()
	if err != nil {
		return nil
	}
	p, err := RuntimeOverlay(strings.TrimSpace(string(out)), dir)
	if err != nil {
		return nil
	}
	return []string{"-overlay=" + p}
}

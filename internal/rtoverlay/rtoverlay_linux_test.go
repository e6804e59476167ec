package rtoverlay

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
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

// adviseHeap adds the advice once, after the heap's mapping in this
// toolchain's runtime, and refuses a runtime that maps the heap elsewhere,
// more than once, or that has the advice already.
func TestAdviseHeap(t *testing.T) {
	src, got := patchRuntime(t, "mheap.go", adviseHeap)
	if want := strings.Replace(string(src), heapMapped, heapMapped+heapAdvice, 1); string(got) != want || want == string(src) {
		t.Error("the patched runtime is not the toolchain's with the advice after the heap's mapping")
	}
	for name, in := range map[string][]byte{
		"patched already": got,
		"no mapping":      bytes.Replace(src, []byte(heapMapped), nil, 1),
		"two mappings":    bytes.Replace(src, []byte(heapMapped), []byte(heapMapped+heapMapped), 1),
	} {
		if _, err := adviseHeap(in); !errors.Is(err, errRuntimeMemory) {
			t.Errorf("%s: %v, want errRuntimeMemory", name, err)
		}
	}
}

// carvePersistent takes persistentalloc's chunks and large blocks from the
// huge page block, which mallocinit maps first, in this toolchain's runtime,
// and refuses a runtime where a line it replaces is missing or there twice,
// or that has the block already.
func TestCarvePersistent(t *testing.T) {
	src, got := patchRuntime(t, "malloc.go", carvePersistent)
	want := string(src)
	for _, r := range [][2]string{{persistentChunk, persistentChunkNew}, {persistentLarge, persistentLargeNew}, {persistentInit, persistentInitNew}} {
		if strings.Count(want, r[0]) != 1 {
			t.Fatalf("the toolchain's malloc.go has %d of %q", strings.Count(want, r[0]), r[0])
		}
		want = strings.Replace(want, r[0], r[1], 1)
	}
	if string(got) != want+persistentBlock {
		t.Error("the patched runtime is not the toolchain's with persistentalloc's chunks and large blocks from the huge page block")
	}
	for name, in := range map[string][]byte{
		"patched already":     got,
		"no chunk":            bytes.Replace(src, []byte(persistentChunk), nil, 1),
		"two large":           bytes.Replace(src, []byte(persistentLarge), []byte(persistentLarge+persistentLarge), 1),
		"no huge page checks": bytes.Replace(src, []byte(persistentInit), nil, 1),
	} {
		if _, err := carvePersistent(in); !errors.Is(err, errRuntimeMemory) {
			t.Errorf("%s: %v, want errRuntimeMemory", name, err)
		}
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
	for _, name := range []string{"mheap.go", "malloc.go", "runtime1.go", "mem_linux.go", "mem.go"} {
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
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, errRuntimeMemory) {
			t.Errorf("VERSION %q: %v", tc.version, err)
		}
	}
}

// The overlay's effect: a program built with it (Flags, as the test
// builds get it) has its heap in a mapping advised MADV_HUGEPAGE ("hg" in
// /proc/self/smaps), and another such mapping of no file, resident, the
// block of the runtime's bookkeeping; one built without it has neither,
// and GODEBUG=disablethp (any value but 0) still turns both off.
func TestRuntimeOverlayAdvisesHeap(t *testing.T) {
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
	if b, err := os.ReadFile(p); err != nil || json.Unmarshal(b, &ov) != nil || len(ov.Replace) != 2 {
		t.Fatalf("overlay %s: %v %v", p, err, ov)
	}
	dir := t.TempDir()
	build := func(name string, flags ...string) string {
		t.Helper()
		bin := filepath.Join(dir, name)
		cmd := exec.Command(gobin, append(append([]string{"build"}, flags...), "-o", bin, "./testdata/heapadvice")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
		return bin
	}
	// advice returns whether the heap's mapping is advised, and how many
	// other anonymous mappings are.
	advice := func(bin string, env ...string) (bool, int) {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", bin, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 {
			t.Fatalf("%s printed %q", bin, out)
		}
		n, err := strconv.Atoi(lines[1])
		if err != nil {
			t.Fatalf("%s printed %q", bin, out)
		}
		return slices.Contains(strings.Fields(lines[0]), "hg"), n
	}
	with, without := build("with", flags...), build("without")
	if heap, others := advice(with); !heap || others != 1 {
		t.Errorf("built with the overlay: heap advised %v, %d other advised mappings; want the heap and the bookkeeping's block (MADV_HUGEPAGE)", heap, others)
	}
	if heap, others := advice(without); heap || others != 0 {
		t.Errorf("built without the overlay: heap advised %v, %d other advised mappings: the test program cannot tell", heap, others)
	}
	for _, godebug := range []string{"GODEBUG=disablethp=1", "GODEBUG=disablethp=2"} {
		if heap, others := advice(with, godebug); heap || others != 0 {
			t.Errorf("with %s: heap advised %v, %d other advised mappings; want none", godebug, heap, others)
		}
	}
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
		_, heap := ov.Replace[filepath.Join(goroot, "src", "runtime", "mheap.go")]
		_, malloc := ov.Replace[filepath.Join(goroot, "src", "runtime", "malloc.go")]
		if !heap || !malloc || len(ov.Replace) != 2 {
			t.Errorf("mkoverlay's overlay replaces %v, want the runtime's mheap.go and malloc.go", ov.Replace)
		}
	}
}

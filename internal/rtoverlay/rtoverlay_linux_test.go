package rtoverlay

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// adviseHeap adds the advice once, after the heap's mapping in this
// toolchain's runtime, and refuses a runtime that maps the heap elsewhere,
// more than once, or that has the advice already.
func TestAdviseHeap(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "runtime", "mheap.go"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := adviseHeap(src)
	if err != nil {
		t.Fatalf("this toolchain's runtime (%s): %v", runtime.Version(), err)
	}
	if want := bytes.Replace(src, []byte(heapMapped), []byte(heapMapped+heapAdvice), 1); !bytes.Equal(got, want) {
		t.Error("the patched runtime is not the toolchain's with the advice after the heap's mapping")
	}
	for name, in := range map[string][]byte{
		"patched already": got,
		"no mapping":      bytes.Replace(src, []byte(heapMapped), nil, 1),
		"two mappings":    bytes.Replace(src, []byte(heapMapped), []byte(heapMapped+heapMapped), 1),
	} {
		if _, err := adviseHeap(in); !errors.Is(err, errHeapMapping) {
			t.Errorf("%s: %v, want errHeapMapping", name, err)
		}
	}
}

// The overlay's effect: a program built with it (Flags, as the test
// builds get it) has its heap in a mapping advised MADV_HUGEPAGE ("hg" in
// /proc/self/smaps), one built without it does not, and GODEBUG=disablethp=1
// still turns huge pages off (the kernel's "nh").
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
	if b, err := os.ReadFile(p); err != nil || json.Unmarshal(b, &ov) != nil || len(ov.Replace) != 1 {
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
	vmFlags := func(bin string, env ...string) []string {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", bin, err, out)
		}
		return strings.Fields(string(out))
	}
	has := func(fl []string, f string) bool {
		for _, x := range fl {
			if x == f {
				return true
			}
		}
		return false
	}
	with, without := build("with", flags...), build("without")
	if fl := vmFlags(with); !has(fl, "hg") {
		t.Errorf("built with the overlay, the heap's mapping has flags %q, want hg (MADV_HUGEPAGE)", fl)
	}
	if fl := vmFlags(without); has(fl, "hg") {
		t.Errorf("built without the overlay, the heap's mapping has flags %q: the test program cannot tell", fl)
	}
	if fl := vmFlags(with, "GODEBUG=disablethp=1"); has(fl, "hg") {
		t.Errorf("with GODEBUG=disablethp=1 the heap's mapping has flags %q, want no hg", fl)
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
		if _, ok := ov.Replace[filepath.Join(goroot, "src", "runtime", "mheap.go")]; !ok || len(ov.Replace) != 1 {
			t.Errorf("mkoverlay's overlay replaces %v, want the runtime's mheap.go alone", ov.Replace)
		}
	}
}

//go:build linux && cgo

package gen

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestEmbeddedFiltersInSync fails when the BPF programs embedded in the fence
// binary differ from what libseccomp builds from the policy in gen.go. Run
// `make seccomp` to regenerate them.
func TestEmbeddedFiltersInSync(t *testing.T) {
	// Every embedded program is one this test regenerates: one that
	// Programs no longer lists would never be compared.
	embedded, err := filepath.Glob(filepath.Join("..", "*.bpf"))
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for arch := range Arches {
		for name := range Programs() {
			checked[filepath.Join("..", name+"_"+arch+".bpf")] = true
		}
	}
	if len(embedded) == 0 {
		t.Fatal("no embedded .bpf program found next to the package")
	}
	for _, f := range embedded {
		if !checked[f] {
			t.Errorf("%s is embedded, but no program of Programs() x Arches builds it", f)
		}
	}
	for arch := range Arches {
		for name, build := range Programs() {
			got, err := build(arch)
			if err != nil {
				t.Fatalf("build %s %s: %v", name, arch, err)
			}
			want, err := os.ReadFile(filepath.Join("..", name+"_"+arch+".bpf"))
			if err != nil {
				t.Fatalf("read embedded program: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s_%s.bpf is stale (%d bytes embedded, %d generated): run make seccomp", name, arch, len(want), len(got))
			}
		}
	}
}

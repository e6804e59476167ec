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

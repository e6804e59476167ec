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
		got, err := Build(arch)
		if err != nil {
			t.Fatalf("build %s: %v", arch, err)
		}
		want, err := os.ReadFile(filepath.Join("..", "filter_"+arch+".bpf"))
		if err != nil {
			t.Fatalf("read embedded filter: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("filter_%s.bpf is stale (%d bytes embedded, %d generated): run make seccomp", arch, len(want), len(got))
		}
	}
}

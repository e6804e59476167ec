//go:build linux && cgo

// Command genbpf writes the seccomp programs that the fence binary embeds
// (nsexec/seccomp/filter_<arch>.bpf). Run it through `make seccomp`.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/nsfence/fence/nsexec/seccomp/gen"
)

func programs() map[string]func(string) ([]byte, error) { return gen.Programs() }

func main() {
	dir := "nsexec/seccomp"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	arches := make([]string, 0, len(gen.Arches))
	for a := range gen.Arches {
		arches = append(arches, a)
	}
	sort.Strings(arches)
	for _, a := range arches {
		for name, build := range programs() {
			b, err := build(a)
			if err != nil {
				fmt.Fprintln(os.Stderr, "genbpf:", err)
				os.Exit(1)
			}
			p := filepath.Join(dir, name+"_"+a+".bpf")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "genbpf:", err)
				os.Exit(1)
			}
			fmt.Printf("wrote %s (%d instructions)\n", p, len(b)/8)
		}
	}
}

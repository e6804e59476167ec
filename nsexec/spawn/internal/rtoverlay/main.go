// Command rtoverlay writes the Go runtime overlay that make build compiles
// fence with (nsexec/spawn.RuntimeOverlay) and prints the go build flag
// that applies it. It prints nothing where there is none to apply: a
// target other than Linux (the overlay advises the Linux kernel), or a
// toolchain whose runtime the overlay does not fit, which a note on stderr
// names; the build goes on without it, slower to start, no less safe.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nsfence/fence/nsexec/spawn"
)

func main() {
	goroot := flag.String("goroot", "", "the GOROOT of the toolchain that builds fence (go env GOROOT)")
	goos := flag.String("goos", "", "the target system (go env GOOS)")
	dir := flag.String("o", "", "the directory to write the overlay in")
	flag.Parse()
	if *goroot == "" || *dir == "" || *goos == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: rtoverlay -goroot DIR -goos GOOS -o DIR")
		os.Exit(2)
	}
	if *goos != "linux" {
		return
	}
	p, err := spawn.RuntimeOverlay(*goroot, *dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fence: building without the runtime overlay (~3 ms slower starts): %v\n", err)
		return
	}
	fmt.Println("-overlay=" + p)
}

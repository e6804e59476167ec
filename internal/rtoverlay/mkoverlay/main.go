// Command mkoverlay writes the Go runtime overlay that make build compiles
// fence with (package rtoverlay) as overlay.json in its -o directory, and
// removes an old one where there is none to write: for a target other than
// Linux (the overlay advises the Linux kernel), or for a toolchain whose
// runtime the overlay does not fit, which a note on stderr names. The build
// then goes on without it: fence starts slower, and is no less safe.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nsfence/fence/internal/rtoverlay"
)

func main() {
	goroot := flag.String("goroot", "", "the GOROOT of the toolchain that builds fence (go env GOROOT)")
	goos := flag.String("goos", "", "the target system (go env GOOS)")
	dir := flag.String("o", "", "the directory to write the overlay in")
	flag.Parse()
	if *goroot == "" || *dir == "" || *goos == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mkoverlay -goroot DIR -goos GOOS -o DIR")
		os.Exit(2)
	}
	// An overlay left from an earlier build must not apply to this one.
	if err := os.Remove(filepath.Join(*dir, rtoverlay.File)); err != nil && !os.IsNotExist(err) {
		fmt.Fprintf(os.Stderr, "mkoverlay: remove the old runtime overlay: %v\n", err)
		os.Exit(1)
	}
	if *goos != "linux" {
		return
	}
	if _, err := rtoverlay.Write(*goroot, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "fence: building without the runtime overlay (starts ~3.5 ms slower): %v\n", err)
	}
}

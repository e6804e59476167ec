// Command fenceperf is fence's benchmark harness (`make perf`): it runs each
// workload unsandboxed and through fence, interleaved, and prints the
// overhead-factor table (Benchmark | Unsandboxed | Sandboxed | Overhead)
// with attribution (perf stat, strace, the stage timeline) and scaling
// (policy size, concurrency, leaks, RSS). It writes perf.json, perf.txt,
// perf.md and perf.svg to the output directory.
//
// It needs nothing but Go and the fence binary; perf, strace, bwrap, rg,
// node, git and curl add sections, columns or rows when they are installed.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nsfence/fence/perf"
)

func main() {
	if err := perf.InheritNothing(); err != nil {
		fmt.Fprintln(os.Stderr, "fenceperf:", err)
		os.Exit(1)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fenceperf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o                 perf.Options
		sections, check   string
		quiet, noProgress bool
	)
	def := defaultOut()
	for _, n := range []string{"b", "binary"} {
		fs.StringVar(&o.Fence, n, "./fence", "fence binary to measure")
	}
	for _, n := range []string{"o", "output"} {
		fs.StringVar(&o.Out, n, def, "output directory")
	}
	for _, n := range []string{"n", "runs"} {
		fs.IntVar(&o.Runs, n, 0, "timed runs per column (default 30, 10 with -q)")
	}
	for _, n := range []string{"q", "quick"} {
		fs.BoolVar(&quiet, n, false, "quick mode: fewer runs, repeats and rounds")
	}
	fs.BoolVar(&o.Network, "network", false, "include curl through fence's proxy to a local server")
	fs.StringVar(&o.Compare, "compare", "", "another binary with Fence's CLI (e.g. upstream fence) to measure as an extra column")
	fs.BoolVar(&o.NoBwrap, "no-bwrap", false, "leave out the bwrap baseline column")
	fs.StringVar(&sections, "sections", strings.Join(perf.AllSections, ","), "comma-separated sections to run: "+strings.Join(perf.AllSections, ", "))
	fs.BoolVar(&noProgress, "no-progress", false, "do not print progress on stderr")
	fs.StringVar(&check, "check", "", "only check that this perf.json parses and has every row, then exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: fenceperf [flags]\n\nMeasures what fence costs on this machine. Flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fenceperf: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if check != "" {
		r, err := perf.ReadReport(check)
		if err != nil {
			fmt.Fprintln(stderr, "fenceperf:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: valid %s report, %d rows, %d warm rows\n", check, r.Schema, len(r.Rows), len(r.Warm))
		return 0
	}
	o.Quick = quiet
	o.Sections = nil
	for _, s := range strings.Split(sections, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Sections = append(o.Sections, s)
		}
	}
	if !noProgress {
		o.Log = stderr
	}
	r, err := perf.Run(o)
	if err != nil {
		fmt.Fprintln(stderr, "fenceperf:", err)
		return 1
	}
	fmt.Fprintln(stdout)
	r.WriteText(stdout)
	abs, _ := filepath.Abs(o.Out)
	fmt.Fprintf(stdout, "wrote %s/perf.{json,txt,md,svg}\n", abs)
	return 0
}

// defaultOut is where results go by default: the user cache directory, so
// that neither the repository nor /tmp (which some sandboxes replace) holds
// the workspace.
func defaultOut() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "fenceperf")
	}
	return "fenceperf-results"
}

package perf

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

var fenceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fence-perf-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fenceBin = filepath.Join(dir, "fence")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", fenceBin, "../cmd/fence")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fence: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func truePath(tb testing.TB) string {
	p, err := exec.LookPath("true")
	if err != nil {
		tb.Skip("true not in PATH")
	}
	return p
}

func runOnce(tb testing.TB, args ...string) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// TestColdSandboxRuns keeps the benchmark's command honest under `go test`:
// `fence -- true` must succeed here for the numbers to mean anything.
func TestColdSandboxRuns(t *testing.T) {
	runOnce(t, fenceBin, "--", truePath(t))
}

func BenchmarkBaseline_True(b *testing.B) {
	t := truePath(b)
	for b.Loop() {
		runOnce(b, t)
	}
}

func BenchmarkColdSandbox_True(b *testing.B) {
	t := truePath(b)
	for b.Loop() {
		runOnce(b, fenceBin, "--", t)
	}
}

// BenchmarkOverhead alternates unsandboxed and sandboxed runs of `true`, so
// machine noise hits both alike, and reports the median of each and their
// ratio (x-overhead).
func BenchmarkOverhead(b *testing.B) {
	t := truePath(b)
	var base, sand []time.Duration
	for b.Loop() {
		s := time.Now()
		runOnce(b, t)
		base = append(base, time.Since(s))
		s = time.Now()
		runOnce(b, fenceBin, "--", t)
		sand = append(sand, time.Since(s))
	}
	mb, ms := median(base), median(sand)
	b.ReportMetric(float64(mb.Microseconds())/1000, "base-ms")
	b.ReportMetric(float64(ms.Microseconds())/1000, "fence-ms")
	b.ReportMetric(float64(ms)/float64(mb), "x-overhead")
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

package perf

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsfence/fence"
	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/internal/rtoverlay"
	"github.com/nsfence/fence/nsexec/spawn"
	"github.com/nsfence/fence/proxy"
)

var (
	fenceBin string
	// ws is the workspace of the benchmarks (a git repository with a
	// generated tree, and a config allowing writes under it).
	ws *Workspace
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fence-perf-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Built to one name and copied to another, as make build does: the
	// linker's mmap-written output starts slower (see copyBinary).
	linked := filepath.Join(dir, "link", "fence")
	// And linked as make build links it (nsexec/spawn's entry).
	// And with make build's runtime overlay.
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w " + spawn.LDFlags(runtime.GOOS, runtime.GOARCH)}, rtoverlay.Flags("go", filepath.Join(dir, "overlay"))...)
	build := exec.Command("go", append(args, "-o", linked, "../cmd/fence")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	// And with make build's GOEXPERIMENT (spawn.GoExperiment), where the
	// toolchain accepts it (go env refuses a setting it does not know).
	exp := exec.Command("go", "env", "GOEXPERIMENT")
	exp.Env = append(os.Environ(), "GOEXPERIMENT="+spawn.WithGoExperiment(os.Getenv("GOEXPERIMENT")))
	if out, err := exp.Output(); err == nil {
		build.Env = append(build.Env, "GOEXPERIMENT="+strings.TrimSpace(string(out)))
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fence: %v\n%s", err, out)
		os.Exit(1)
	}
	if fenceBin, err = copyBinary(linked, filepath.Join(dir, "bin")); err != nil {
		fmt.Fprintln(os.Stderr, "copy fence:", err)
		os.Exit(1)
	}
	if ws, err = NewWorkspace(dir); err != nil {
		fmt.Fprintln(os.Stderr, "workspace:", err)
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
	runIn(tb, os.TempDir(), args...)
}

func runIn(tb testing.TB, dir string, args ...string) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// TestColdSandboxRuns keeps the benchmark's command honest under `go test`:
// `fence -- true` must succeed here for the numbers to mean anything.
func TestColdSandboxRuns(t *testing.T) {
	runOnce(t, fenceBin, "--", truePath(t))
}

// Workload argv for the baseline and sandbox benchmarks; each skips with
// the reason when its tool is missing.

func echoArgv(tb testing.TB) []string {
	p, err := exec.LookPath("echo")
	if err != nil {
		tb.Skip("echo not in PATH")
	}
	return []string{p, "hello"}
}

func pythonArgv(tb testing.TB) []string {
	p, _, err := FindPython()
	if err != nil {
		tb.Skip(err.Error())
	}
	return []string{p, "-c", "pass"}
}

func nodeArgv(tb testing.TB) []string {
	p, err := exec.LookPath("node")
	if err != nil {
		tb.Skip("node not found in PATH")
	}
	return []string{p, "-e", ""}
}

func gitArgv(tb testing.TB) []string {
	if ws.GitSkip != "" {
		tb.Skip(ws.GitSkip)
	}
	p, err := exec.LookPath("git")
	if err != nil {
		tb.Skip("git not found in PATH")
	}
	return []string{p, "status", "--porcelain"}
}

func baseline(b *testing.B, argv []string) {
	for b.Loop() {
		runIn(b, ws.Repo, argv...)
	}
}

func BenchmarkBaseline_True(b *testing.B)      { baseline(b, []string{truePath(b)}) }
func BenchmarkBaseline_Echo(b *testing.B)      { baseline(b, echoArgv(b)) }
func BenchmarkBaseline_Python(b *testing.B)    { baseline(b, pythonArgv(b)) }
func BenchmarkBaseline_Node(b *testing.B)      { baseline(b, nodeArgv(b)) }
func BenchmarkBaseline_GitStatus(b *testing.B) { baseline(b, gitArgv(b)) }

// codeConfig resolves the built-in "code" template, the policy of a coding
// agent: many allowed domains, writes to the working directory.
func codeConfig(tb testing.TB) *config.Config {
	home, _ := os.UserHomeDir()
	cfg, _, err := config.Resolve(config.LoadOptions{Template: "code", Home: home, Cwd: ws.Repo, NoProject: true})
	if err != nil {
		tb.Fatalf("resolve template code: %v", err)
	}
	return cfg
}

// BenchmarkManagerInitialize is the supervisor's set-up for one command, in
// the library: the policy plan (path expansion, protected paths, preflight)
// and the HTTP and SOCKS5 proxies started on loopback listeners and closed.
// Upstream's Manager.Initialize (proxies and socat bridges) is the same
// step.
func BenchmarkManagerInitialize(b *testing.B) {
	cfg := codeConfig(b)
	t := truePath(b)
	home, _ := os.UserHomeDir()
	env := os.Environ()
	for b.Loop() {
		s := fence.Spec{Config: cfg, Args: []string{t}, Cwd: ws.Repo, Home: home, Env: env}
		if _, err := s.Plan(); err != nil {
			b.Fatal(err)
		}
		rules, err := proxy.NewRules(cfg.Network.AllowedDomains, cfg.Network.DeniedDomains)
		if err != nil {
			b.Fatal(err)
		}
		srv := proxy.New(proxy.Options{Rules: rules})
		var wg sync.WaitGroup
		for _, serve := range []func(net.Listener) error{srv.ServeHTTP, srv.ServeSOCKS} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := serve(ln); err != nil {
					b.Error(err)
				}
			}()
		}
		if err := srv.Close(); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
	}
}

// BenchmarkWrapCommand is policy resolution and preflight: loading the
// "code" template (fence -t code) and planning a command under it, without
// starting anything.
func BenchmarkWrapCommand(b *testing.B) {
	home, _ := os.UserHomeDir()
	env := os.Environ()
	for b.Loop() {
		cfg, _, err := config.Resolve(config.LoadOptions{Template: "code", Home: home, Cwd: ws.Repo, NoProject: true})
		if err != nil {
			b.Fatal(err)
		}
		s := &fence.Spec{Config: cfg, Command: "git status && npm test", Cwd: ws.Repo, Home: home, Env: env}
		if _, err := s.Plan(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkColdSandbox_True(b *testing.B) {
	t := truePath(b)
	for b.Loop() {
		runOnce(b, fenceBin, "--", t)
	}
}

// warmLoops starts the same command loop (LoopScript) twice, unsandboxed
// (bash) and in one sandbox (fence -c), in the workspace's repository.
func warmLoops(tb testing.TB) (bare, sandboxed *Loop) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		tb.Skip("bash not in PATH")
	}
	bare, err = StartLoop([]string{bash, "-c", LoopScript}, ws.Repo, os.Environ())
	if err != nil {
		tb.Fatal(err)
	}
	sandboxed, err = StartLoop([]string{fenceBin, "-s", ws.Config, "-c", LoopScript}, ws.Repo, os.Environ())
	if err != nil {
		bare.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		bare.Close()
		sandboxed.Close()
	})
	return bare, sandboxed
}

// warm times one command line inside an already running sandbox: each
// iteration is one round trip through the sandboxed loop, interleaved with
// one through an unsandboxed bash running the same loop. ns/op is the
// sandboxed round trip; unsandboxed-ns/op the bare one; x-overhead the
// ratio of their medians.
func warm(b *testing.B, argv []string, pre func()) {
	warmLine(b, shJoin(argv), pre)
}

// warmLine is warm for a shell command line.
func warmLine(b *testing.B, line string, pre func()) {
	bare, sb := warmLoops(b)
	for _, l := range []*Loop{bare, sb} {
		if pre != nil {
			pre()
		}
		if _, err := l.Do(line); err != nil {
			b.Fatal(err)
		}
	}
	var base, sand []time.Duration
	for b.Loop() {
		for _, side := range []struct {
			l *Loop
			d *[]time.Duration
		}{{sb, &sand}, {bare, &base}} {
			if pre != nil {
				pre()
			}
			d, err := side.l.Do(line)
			if err != nil {
				b.Fatal(err)
			}
			*side.d = append(*side.d, d)
		}
	}
	reportPair(b, base, sand)
}

// reportPair reports sandboxed timings as ns/op (the mean, like any
// benchmark), the unsandboxed mean, and the ratio of medians.
func reportPair(b *testing.B, base, sand []time.Duration) {
	mean := func(d []time.Duration) float64 {
		var s time.Duration
		for _, v := range d {
			s += v
		}
		return float64(s) / float64(len(d))
	}
	if len(sand) == 0 || len(base) == 0 {
		return
	}
	b.ReportMetric(mean(sand), "ns/op")
	b.ReportMetric(mean(base), "unsandboxed-ns/op")
	if mb := Median(base); mb > 0 {
		b.ReportMetric(float64(Median(sand))/float64(mb), "x-overhead")
	}
}

func BenchmarkWarmSandbox_True(b *testing.B)   { warm(b, []string{truePath(b)}, nil) }
func BenchmarkWarmSandbox_Echo(b *testing.B)   { warm(b, echoArgv(b), nil) }
func BenchmarkWarmSandbox_Python(b *testing.B) { warm(b, pythonArgv(b), nil) }

// BenchmarkWarmSandbox_Redirect is true with its output redirected by the
// shell: the open(O_CREAT) of /dev/null goes through fence's creation
// guard (seccomp user notification served by the init stage).
func BenchmarkWarmSandbox_Redirect(b *testing.B) {
	warmLine(b, shq(truePath(b))+" >/dev/null", nil)
}
func BenchmarkWarmSandbox_GitStatus(b *testing.B) { warm(b, gitArgv(b), nil) }

// BenchmarkWarmSandbox_FileWrite copies the workspace's tree (400 files)
// into a fresh directory; the previous copy is removed untimed.
func BenchmarkWarmSandbox_FileWrite(b *testing.B) {
	cp, err := exec.LookPath("cp")
	if err != nil {
		b.Skip("cp not in PATH")
	}
	dst := filepath.Join(ws.OutDir, "bench-copy")
	warm(b, []string{cp, "-rT", "src", dst}, func() { os.RemoveAll(dst) })
}

// BenchmarkWarmSandbox_FileCreate makes perf.CreateFiles empty files on
// /dev/shm: what the creation guard costs per created file, with no disk in
// the way.
func BenchmarkWarmSandbox_FileCreate(b *testing.B) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		b.Skip("bash not in PATH")
	}
	warm(b, []string{bash, "-c", CreateScript()}, nil)
}

// BenchmarkOverhead alternates unsandboxed and sandboxed runs of the same
// workload, so machine noise hits both alike, and reports the median of
// each and their ratio (x-overhead). The cold cases start one sandbox per
// command; warm_true runs `true` inside one running sandbox.
func BenchmarkOverhead(b *testing.B) {
	cold := func(argv func(testing.TB) []string) func(*testing.B) {
		return func(b *testing.B) {
			a := argv(b)
			sandboxed := append([]string{fenceBin, "-s", ws.Config, "--"}, a...)
			var base, sand []time.Duration
			for b.Loop() {
				s := time.Now()
				runIn(b, ws.Repo, a...)
				base = append(base, time.Since(s))
				s = time.Now()
				runIn(b, ws.Repo, sandboxed...)
				sand = append(sand, time.Since(s))
			}
			mb, msd := Median(base), Median(sand)
			b.ReportMetric(float64(mb.Microseconds())/1000, "base-ms")
			b.ReportMetric(float64(msd.Microseconds())/1000, "fence-ms")
			if mb > 0 {
				b.ReportMetric(float64(msd)/float64(mb), "x-overhead")
			}
		}
	}
	b.Run("cold_true", cold(func(tb testing.TB) []string { return []string{truePath(tb)} }))
	b.Run("cold_python", cold(pythonArgv))
	b.Run("cold_git_status", cold(gitArgv))
	b.Run("warm_true", func(b *testing.B) { warm(b, []string{truePath(b)}, nil) })
}

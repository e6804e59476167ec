package perf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Options configures Run.
type Options struct {
	// Fence is the fence binary to measure.
	Fence string
	// Out is the output directory (created): perf.json, perf.txt, perf.md,
	// perf.svg. The scratch workspace is created in it and removed.
	Out string
	// Runs is the number of timed runs per column (0: 30, or 10 in quick
	// mode). Warm-up runs come on top.
	Runs int
	// Quick shortens everything: fewer runs, repeats and rounds.
	Quick bool
	// Network adds the curl-through-the-proxy workload.
	Network bool
	// Compare is another binary with Fence's CLI (an upstream Fence, an
	// older fence), measured as an extra column.
	Compare string
	// NoBwrap drops the bwrap column even when bwrap is installed.
	NoBwrap bool
	// Sections selects what runs; nil means AllSections.
	Sections []string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// AllSections are the parts of a full run, in order.
var AllSections = []string{"table", "warm", "profile", "scaling"}

// BwrapPrefix is the bwrap column: the least any bwrap-based sandbox does
// (every namespace, the host root read-only, a fresh /dev and /proc).
var BwrapPrefix = []string{"bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"}

type harness struct {
	o       Options
	fence   string // the copy that runs (see copyBinary)
	compare string // the copy that runs, "" without the column
	// compareSrc is the --compare binary as given, for the report.
	compareSrc string
	bwrap      string // bwrap path, "" without the column
	ws         *Workspace
	env        []string
	runs       int
	warmup     int
	devnull    *os.File
	rep        *Report
	tools      map[string]string // name → absolute path of the tools found
}

// Run measures the fence binary of o and writes the report files to o.Out.
// It returns the report it wrote.
func Run(o Options) (*Report, error) {
	if o.Fence == "" {
		return nil, errors.New("no fence binary given")
	}
	fence, err := binaryPath(o.Fence)
	if err != nil {
		return nil, fmt.Errorf("fence binary: %w (build it with `make build`, or pass -b)", err)
	}
	h := &harness{o: o, fence: fence, tools: map[string]string{}}
	if o.Compare != "" {
		if h.compare, err = binaryPath(o.Compare); err != nil {
			return nil, fmt.Errorf("--compare: %w", err)
		}
		h.compareSrc = h.compare
	}
	if !o.NoBwrap {
		h.bwrap, _ = exec.LookPath("bwrap")
	}
	if o.Log == nil {
		h.o.Log = io.Discard
	}
	if o.Sections == nil {
		h.o.Sections = AllSections
	}
	for _, s := range h.o.Sections {
		if !contains(AllSections, s) {
			return nil, fmt.Errorf("unknown section %q (have %s)", s, strings.Join(AllSections, ", "))
		}
	}
	h.runs, h.warmup = 30, 3
	if o.Quick {
		h.runs, h.warmup = 10, 1
	}
	if o.Runs > 0 {
		h.runs = o.Runs
	}
	if o.Out == "" {
		return nil, errors.New("no output directory given")
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	if h.devnull, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	defer h.devnull.Close()
	for _, t := range []string{"true", "echo", "cat", "cp", "sleep", "bash"} {
		p, err := exec.LookPath(t)
		if err != nil {
			return nil, fmt.Errorf("%s not found in PATH", t)
		}
		h.tools[t] = p
	}
	h.env = benchEnv()
	// Every sandbox binary runs from a fresh copy, written the same way:
	// the page cache of an executable keeps the shape of the writes that
	// filled it, and the same fence binary written by the Go linker (through
	// mmap) started ~1 ms slower (of ~13) than a copy of it written with
	// write(2), which would tilt fence against a --compare binary installed
	// by cp. Where the output directory does not allow exec, the binaries
	// run where they are.
	binDir, err := os.MkdirTemp(o.Out, "fenceperf-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	if noExec(binDir) {
		h.logf("note: %s is mounted noexec: measuring the binaries where they are, not fresh copies (see docs/benchmarking.md, Caveats)", o.Out)
	} else {
		if h.fence, err = copyBinary(fence, filepath.Join(binDir, "fence")); err != nil {
			return nil, fmt.Errorf("copy the fence binary: %w", err)
		}
		if h.compare != "" {
			if h.compare, err = copyBinary(h.compare, filepath.Join(binDir, "compare")); err != nil {
				return nil, fmt.Errorf("copy the --compare binary: %w", err)
			}
		}
	}
	if h.ws, err = NewWorkspace(o.Out); err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	defer h.ws.Remove()

	h.rep = &Report{
		Schema:       Schema,
		Date:         time.Now().UTC().Format(time.RFC3339),
		Machine:      machine(),
		Fence:        fence,
		FenceVersion: binaryVersion(fence),
		Options: RunInfo{Runs: h.runs, Warmup: h.warmup, Quick: o.Quick, Network: o.Network,
			Compare: h.compareSrc, Sections: h.o.Sections},
		Columns: h.columns(),
		Rows:    []Row{},
		Warm:    []Row{},
	}
	if contains(h.o.Sections, "table") {
		h.table()
	}
	if contains(h.o.Sections, "warm") {
		h.warm()
	}
	h.rep.checkTargets()
	if contains(h.o.Sections, "profile") {
		h.rep.Profile = h.profile()
	}
	if contains(h.o.Sections, "scaling") {
		h.rep.Scaling = h.scaling()
	}
	return h.rep, h.write()
}

// copyBinary copies the executable src into the new directory dir, under
// its own name, with one write(2) of the whole file, and returns the copy's
// path. Not io.Copy: between two files it is copy_file_range, whose page
// cache (written a page at a time by the kernel's splice) started fence
// 0.2-0.4 ms slower than one written at once (docs/benchmarking.md, "The
// binary's page cache").
func copyBinary(src, dir string) (string, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := out.Write(data); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}

func binaryPath(p string) (string, error) {
	if !strings.ContainsRune(p, '/') {
		lp, err := exec.LookPath(p)
		if err != nil {
			return "", err
		}
		p = lp
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", abs)
	}
	return abs, nil
}

// benchEnv is the environment of every measured command: the harness's own,
// without the variables that change what fence or curl do.
func benchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "FENCE_TIMELINE", "FENCE_TIMELINE_LAUNCH", "FENCE_SANDBOX", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func binaryVersion(bin string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return strings.TrimSpace(string(out))
}

func (h *harness) logf(format string, a ...any) {
	fmt.Fprintf(h.o.Log, format+"\n", a...)
}

func (h *harness) columns() []Column {
	cols := []Column{
		{ID: ColUnsandboxed, Label: "Unsandboxed", Prefix: ""},
		{ID: ColFence, Label: "fence", Prefix: "fence -s fence.json --"},
	}
	if h.compare != "" {
		cols = append(cols, Column{ID: ColCompare, Label: filepath.Base(h.compareSrc) + " (compare)", Prefix: h.compareSrc + " -s fence.json --"})
	}
	if h.bwrap != "" {
		cols = append(cols, Column{ID: ColBwrap, Label: "bwrap", Prefix: strings.Join(BwrapPrefix, " ")})
	}
	return cols
}

// proc is one command to start: argv[0] is absolute.
type proc struct {
	argv []string
	dir  string
	env  []string
}

// start runs p with stdio on /dev/null and returns its wall time (start to
// reaped) and ru_maxrss in KiB.
func (h *harness) start(p proc) (time.Duration, int64, error) {
	t0 := time.Now()
	pr, err := os.StartProcess(p.argv[0], p.argv, &os.ProcAttr{
		Dir: p.dir, Env: p.env, Files: []*os.File{h.devnull, h.devnull, h.devnull},
	})
	if err != nil {
		return 0, 0, err
	}
	st, err := pr.Wait()
	d := time.Since(t0)
	if err != nil {
		return d, 0, err
	}
	if !st.Success() {
		return d, 0, fmt.Errorf("%s: %v", filepath.Base(p.argv[0]), st)
	}
	return d, maxRSSKiB(st), nil
}

// check runs p once with its output captured, and fails with the output's
// tail when it does not exit 0.
func (h *harness) check(p proc) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	c.Dir, c.Env = p.dir, p.env
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v%s", err, tail(out))
	}
	return nil
}

func tail(out []byte) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return ""
	}
	if i := strings.LastIndexByte(s, '\n'); i >= 0 && len(s)-i < 300 {
		// Keep the last two lines: the error is usually at the end.
		if j := strings.LastIndexByte(s[:i], '\n'); j >= 0 {
			s = s[j+1:]
		}
	}
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return ": " + strings.ReplaceAll(s, "\n", " | ")
}

// col is one column of one row: how to run the workload once, and how to
// check once, with output, that it works at all.
type col struct {
	id    string
	skip  string
	run   func() (time.Duration, int64, error)
	check func() error
	// pre, if set, runs before each check and run, untimed.
	pre func()
}

func (h *harness) procCol(id string, p proc) col {
	return col{id: id,
		run:   func() (time.Duration, int64, error) { return h.start(p) },
		check: func() error { return h.check(p) }}
}

// measure checks every column, then runs the working ones warmup+runs
// times, interleaved: round i starts at column i mod n, so that slow drift
// of the machine hits every column alike. Factors are over the column
// ColUnsandboxed (or base, if given).
func (h *harness) measure(cols []col, runs, warmup int, base string) map[string]*Result {
	res := map[string]*Result{}
	var active []col
	for _, c := range cols {
		if c.skip != "" {
			res[c.id] = &Result{Skipped: c.skip}
			continue
		}
		if c.pre != nil {
			c.pre()
		}
		if err := c.check(); err != nil {
			res[c.id] = &Result{Skipped: "does not run: " + err.Error()}
			continue
		}
		active = append(active, c)
	}
	samples := map[string][]time.Duration{}
	rss := map[string][]int64{}
	failures := map[string]int{}
	firstErr := map[string]string{}
	for it := 0; it < warmup+runs && len(active) > 0; it++ {
		for k := range active {
			c := active[(it+k)%len(active)]
			if res[c.id] != nil {
				continue
			}
			if c.pre != nil {
				c.pre()
			}
			d, kib, err := c.run()
			if err != nil {
				// A failed run is not a sample. The column goes on (the
				// failure count and the first error are reported) unless
				// it fails every time.
				failures[c.id]++
				if firstErr[c.id] == "" {
					firstErr[c.id] = err.Error()
				}
				if failures[c.id] >= 3 && failures[c.id] > len(samples[c.id]) {
					res[c.id] = &Result{Skipped: "failed during measurement: " + firstErr[c.id], Failures: failures[c.id], FirstError: firstErr[c.id]}
				}
				continue
			}
			if it >= warmup {
				samples[c.id] = append(samples[c.id], d)
				if kib > 0 {
					rss[c.id] = append(rss[c.id], kib)
				}
			}
		}
	}
	for _, c := range active {
		if res[c.id] != nil {
			continue
		}
		if len(samples[c.id]) == 0 {
			res[c.id] = &Result{Skipped: "failed during measurement: " + firstErr[c.id], Failures: failures[c.id], FirstError: firstErr[c.id]}
			continue
		}
		res[c.id] = &Result{Stats: summarize(samples[c.id], true), MaxRSSKiB: medianInt64(rss[c.id]),
			Failures: failures[c.id], FirstError: firstErr[c.id]}
	}
	if base == "" {
		base = ColUnsandboxed
	}
	if b := res[base]; b != nil && b.Skipped == "" && b.MedianMs > 0 {
		for id, r := range res {
			if r.Skipped == "" && r.N > 0 {
				r.Factor = round2(r.MedianMs / b.MedianMs)
			}
			_ = id
		}
	}
	return res
}

// workload is one cold-start row.
type workload struct {
	id, name string
	argv     []string // argv[0] absolute
	skip     string
	// fenceFlags go before -s (e.g. -m).
	fenceFlags []string
	// cfg overrides the workspace config.
	cfg string
	// bwrapArgs go after BwrapPrefix; bwrapSkip drops the bwrap column.
	bwrapArgs []string
	bwrapSkip string
	// pre runs before every run of every column, untimed.
	pre func()
}

func (h *harness) row(w workload) Row {
	row := Row{ID: w.id, Name: w.name, Results: map[string]*Result{}}
	if len(w.argv) > 0 {
		row.Command = displayCommand(w.argv)
	}
	if w.skip != "" {
		row.Skipped = w.skip
		h.logf("  %-14s skipped: %s", w.id, w.skip)
		return row
	}
	cfg := w.cfg
	if cfg == "" {
		cfg = h.ws.Config
	}
	dir := h.ws.Repo
	sandbox := func(bin string) proc {
		argv := append([]string{bin}, w.fenceFlags...)
		argv = append(append(argv, "-s", cfg, "--"), w.argv...)
		return proc{argv: argv, dir: dir, env: h.env}
	}
	cols := []col{h.procCol(ColUnsandboxed, proc{argv: w.argv, dir: dir, env: h.env})}
	cols = append(cols, h.procCol(ColFence, sandbox(h.fence)))
	if h.compare != "" {
		cols = append(cols, h.procCol(ColCompare, sandbox(h.compare)))
	}
	if h.bwrap != "" {
		if w.bwrapSkip != "" {
			cols = append(cols, col{id: ColBwrap, skip: w.bwrapSkip})
		} else {
			argv := append(append(append([]string{h.bwrap}, BwrapPrefix[1:]...), w.bwrapArgs...), w.argv...)
			cols = append(cols, h.procCol(ColBwrap, proc{argv: argv, dir: dir, env: h.env}))
		}
	}
	for i := range cols {
		cols[i].pre = w.pre
	}
	row.Results = h.measure(cols, h.runs, h.warmup, "")
	if b := row.Results[ColUnsandboxed]; b.Skipped != "" {
		row.Skipped = "unsandboxed run fails: " + b.Skipped
		row.Results = map[string]*Result{}
	}
	h.logRow(row)
	return row
}

func (h *harness) logRow(row Row) {
	if row.Skipped != "" {
		h.logf("  %-14s skipped: %s", row.ID, row.Skipped)
		return
	}
	var parts []string
	for _, c := range h.rep.Columns {
		r := row.Results[c.ID]
		switch {
		case r == nil:
		case r.Skipped != "":
			parts = append(parts, c.ID+" skipped")
		case c.ID == ColUnsandboxed:
			parts = append(parts, fmt.Sprintf("%s %s", c.ID, fmtMs(r.MedianMs)))
		default:
			parts = append(parts, fmt.Sprintf("%s %s %s", c.ID, fmtMs(r.MedianMs), fmtFactor(r.Factor)))
		}
	}
	h.logf("  %-14s %s", row.ID, strings.Join(parts, ", "))
}

// displayCommand shortens argv for the report: program base names, and
// long argument lists elided.
func displayCommand(argv []string) string {
	a := append([]string{filepath.Base(argv[0])}, argv[1:]...)
	if len(a) > 8 {
		a = append(a[:4:4], fmt.Sprintf("… (%d arguments)", len(argv)-1))
	}
	return shJoin(a)
}

// table measures the cold-start rows.
func (h *harness) table() {
	h.logf("cold start: %d runs per column (+%d warm-up), columns: %s", h.runs, h.warmup, columnIDs(h.rep.Columns))
	t := h.tools
	ws := h.ws
	var ws2 []workload
	// The ≤ 7× target is for `fence -- true` as the issue words it: the
	// default policy, nothing writable (an empty config, so that no user
	// config of the machine's counts). The other rows run with the
	// workspace writable, which adds the planning of its protections.
	empty, err := ws.WriteConfig("empty.json", struct{}{})
	defaultTrue := workload{id: "true-default", name: "true, no config (fence -- true)", argv: []string{t["true"]}, cfg: empty}
	if err != nil {
		defaultTrue.skip = fmt.Sprintf("write an empty config: %v", err)
	}
	pausedTrue := defaultTrue
	pausedTrue.id, pausedTrue.name = "true-paused", fmt.Sprintf("true, after a %v pause", Pause)
	pausedTrue.pre = func() { time.Sleep(Pause) }
	ws2 = append(ws2,
		defaultTrue,
		pausedTrue,
		workload{id: "true", name: "true", argv: []string{t["true"]}},
		workload{id: "echo", name: "echo", argv: []string{t["echo"], "hello"}},
	)
	py := workload{id: "python", name: "python3 -c 'pass'"}
	if p, note, err := FindPython(); err != nil {
		py.skip = err.Error()
	} else {
		py.argv = []string{p, "-c", "pass"}
		if note != "" {
			h.rep.Notes = append(h.rep.Notes, note)
		}
	}
	node := workload{id: "node", name: "node -e ''"}
	if p, err := exec.LookPath("node"); err != nil {
		node.skip = "node not found in PATH"
	} else {
		node.argv = []string{p, "-e", ""}
	}
	git := workload{id: "git-status", name: "git status"}
	if ws.GitSkip != "" {
		git.skip = ws.GitSkip
	} else {
		p, _ := exec.LookPath("git")
		git.argv = []string{p, "status", "--porcelain"}
	}
	search := workload{id: "rg"}
	if p, err := exec.LookPath("rg"); err == nil {
		search.name = "rg"
		search.argv = []string{p, "-n", Needle, "."}
	} else if p, err := exec.LookPath("grep"); err == nil {
		search.name = "grep -r (no rg)"
		search.argv = []string{p, "-rn", "--exclude-dir=.git", Needle, "."}
	} else {
		search.name = "rg"
		search.skip = "neither rg nor grep found in PATH"
	}
	// cp creates the copy afresh each time: the previous one is removed
	// before the run, untimed (overwriting would time ext4's flush of
	// truncated files instead).
	copyDir := filepath.Join(ws.OutDir, "copy")
	write := workload{id: "file-write", name: fmt.Sprintf("file write (cp %d files)", len(ws.Files)),
		argv:      []string{t["cp"], "-rT", "src", copyDir},
		bwrapArgs: []string{"--bind", ws.Dir, ws.Dir},
		pre:       func() { os.RemoveAll(copyDir) }}
	read := workload{id: "file-read", name: fmt.Sprintf("file read (cat %d files)", len(ws.Files)),
		argv: append([]string{t["cat"]}, ws.Files...)}
	create := workload{id: "file-create", name: fmt.Sprintf("file create (%d files, tmpfs)", CreateFiles),
		argv:      []string{t["bash"], "-c", CreateScript()},
		bwrapArgs: []string{"--bind", "/dev/shm", "/dev/shm"}}
	ws2 = append(ws2, py, node, git, search, write, read, create, h.networkWorkload())
	ws2 = append(ws2, workload{id: "monitor", name: "true, fence -m", argv: []string{t["true"]},
		fenceFlags: []string{"-m"}, bwrapSkip: "bwrap has no monitor mode"})
	for _, w := range ws2 {
		h.rep.Rows = append(h.rep.Rows, h.row(w))
	}
}

func columnIDs(cols []Column) string {
	var s []string
	for _, c := range cols {
		s = append(s, c.ID)
	}
	return strings.Join(s, ", ")
}

// networkWorkload is curl through fence's proxy to a local HTTP server
// started here. The server runs until the process exits (it is tiny). The
// row is skipped when fence cannot reach it: the proxies may be missing.
func (h *harness) networkWorkload() workload {
	w := workload{id: "network-curl", name: "curl via proxy (local server)",
		bwrapSkip: "bwrap --unshare-all has no network"}
	if !h.o.Network {
		w.skip = "network workload not requested (run with --network)"
		return w
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		w.skip = "curl not found in PATH"
		return w
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.skip = "cannot listen on 127.0.0.1: " + err.Error()
		return w
	}
	body := bytes.Repeat([]byte("fenceperf\n"), 100)
	handler := http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain")
		rw.Write(body)
	})
	go http.Serve(ln, handler)
	port := ln.Addr().(*net.TCPAddr).Port
	// An allowedDomains entry without a port allows only ports 80 and 443
	// through the proxy, and config patterns cannot carry a port: serve on
	// 127.0.0.1:80 too when it is free and we may bind it (root).
	port80 := false
	if ln80, err := net.Listen("tcp", "127.0.0.1:80"); err == nil {
		go http.Serve(ln80, handler)
		port80 = true
	}
	type candidate struct {
		name, url, noproxy string
		network            map[string]any
	}
	hp := fmt.Sprintf("127.0.0.1:%d", port)
	// --noproxy '' makes curl use the proxy that fence announces even for
	// a local address (NO_PROXY would otherwise exempt it).
	cands := []candidate{
		{"curl via proxy (local server)", "http://" + hp + "/", "", map[string]any{"allowedDomains": []string{hp}}},
	}
	if port80 {
		cands = append(cands, candidate{"curl via proxy (local server)", "http://127.0.0.1/", "", map[string]any{"allowedDomains": []string{"127.0.0.1"}}})
	}
	// Without a proxy path (not root), the sandbox's relay to host
	// loopback ports (allowLocalOutboundPorts) is the next best thing.
	cands = append(cands, candidate{"curl via localhost relay (local server)", "http://" + hp + "/", "*",
		map[string]any{"allowedDomains": []string{"127.0.0.1"}, "allowLocalOutbound": true, "allowLocalOutboundPorts": []int{port}}})
	var reasons []string
	for i, c := range cands {
		// --noproxy '' makes curl use the proxy that fence announces even
		// for a local name (NO_PROXY would otherwise exempt it).
		argv := []string{curl, "-sS", "--noproxy", c.noproxy, "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", c.url}
		probe := exec.Command(curl, argv[1:]...)
		probe.Env = h.env
		if out, err := probe.Output(); err != nil || string(out) != "200" {
			continue // nothing listens there (port 80 taken or not ours)
		}
		cfg, err := h.ws.WriteConfig(fmt.Sprintf("fence-net-%d.json", i), map[string]any{
			"network":    c.network,
			"filesystem": map[string]any{"allowWrite": []string{h.ws.Dir}},
		})
		if err != nil {
			w.skip = err.Error()
			return w
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, h.fence, append([]string{"-s", cfg, "--"}, argv...)...)
		cmd.Dir, cmd.Env = h.ws.Repo, h.env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err == nil && strings.TrimSpace(string(out)) == "200" {
			w.argv, w.cfg, w.name = argv, cfg, c.name
			return w
		}
		reasons = append(reasons, fmt.Sprintf("%s with %v: %v%s", c.url, c.network, err, tail(stderr.Bytes())))
	}
	w.skip = "fence cannot reach the local server (network proxies not built in?): " + strings.Join(reasons, "; ")
	return w
}

// warm measures commands spawned inside an already running sandbox: one
// LoopScript per column, started once, fed one command per round trip.
func (h *harness) warm() {
	h.logf("inside a running sandbox: %d round trips per column (+%d warm-up)", h.runs, h.warmup)
	ws, t := h.ws, h.tools
	dir := ws.Repo
	loops := map[string]*Loop{}
	startErr := map[string]string{}
	starts := map[string][]string{
		ColUnsandboxed: {t["bash"], "-c", LoopScript},
		ColFence:       {h.fence, "-s", ws.Config, "-c", LoopScript},
	}
	if h.compare != "" {
		starts[ColCompare] = []string{h.compare, "-s", ws.Config, "-c", LoopScript}
	}
	if h.bwrap != "" {
		starts[ColBwrap] = append(append([]string{h.bwrap}, BwrapPrefix[1:]...), "--bind", ws.Dir, ws.Dir,
			"--bind", "/dev/shm", "/dev/shm", t["bash"], "-c", LoopScript)
	}
	for id, argv := range starts {
		l, err := StartLoop(argv, dir, h.env)
		if err == nil {
			if _, err = l.Do(shq(t["true"])); err != nil {
				l.Close()
			}
		}
		if err != nil {
			startErr[id] = "loop does not start: " + err.Error()
			continue
		}
		loops[id] = l
	}
	defer func() {
		for _, l := range loops {
			l.Close()
		}
	}()
	type wl struct {
		id, name, line, skip string
		pre                  func()
	}
	var wls []wl
	wls = append(wls, wl{id: "true", name: "true", line: shq(t["true"])})
	wls = append(wls, wl{id: "echo", name: "echo", line: shJoin([]string{t["echo"], "hello"})})
	wls = append(wls, wl{id: "redirect", name: "true >/dev/null (shell redirect)", line: shq(t["true"]) + " >/dev/null"})
	if p, _, err := FindPython(); err != nil {
		wls = append(wls, wl{id: "python", name: "python3 -c 'pass'", skip: err.Error()})
	} else {
		wls = append(wls, wl{id: "python", name: "python3 -c 'pass'", line: shJoin([]string{p, "-c", "pass"})})
	}
	if ws.GitSkip != "" {
		wls = append(wls, wl{id: "git-status", name: "git status", skip: ws.GitSkip})
	} else {
		p, _ := exec.LookPath("git")
		wls = append(wls, wl{id: "git-status", name: "git status", line: shJoin([]string{p, "status", "--porcelain"})})
	}
	warmCopy := filepath.Join(ws.OutDir, "warm-copy")
	wls = append(wls, wl{id: "file-write", name: fmt.Sprintf("file write (cp %d files)", len(ws.Files)),
		line: shJoin([]string{t["cp"], "-rT", "src", warmCopy}),
		pre:  func() { os.RemoveAll(warmCopy) }})
	wls = append(wls, wl{id: "file-create", name: fmt.Sprintf("file create (%d files, tmpfs)", CreateFiles),
		line: shJoin([]string{t["bash"], "-c", CreateScript()})})
	for _, w := range wls {
		row := Row{ID: w.id, Name: w.name, Command: w.line, Results: map[string]*Result{}}
		if w.skip != "" {
			row.Skipped = w.skip
			h.rep.Warm = append(h.rep.Warm, row)
			h.logRow(row)
			continue
		}
		line := w.line
		var cols []col
		for _, c := range h.rep.Columns {
			l := loops[c.ID]
			if l == nil {
				cols = append(cols, col{id: c.ID, skip: startErr[c.ID]})
				continue
			}
			cols = append(cols, col{id: c.ID, pre: w.pre,
				run: func() (time.Duration, int64, error) {
					d, err := l.Do(line)
					return d, 0, err
				},
				check: func() error { _, err := l.Do(line); return err }})
		}
		row.Results = h.measure(cols, h.runs, h.warmup, "")
		if b := row.Results[ColUnsandboxed]; b.Skipped != "" {
			row.Skipped = "unsandboxed loop fails: " + b.Skipped
			row.Results = map[string]*Result{}
		}
		h.rep.Warm = append(h.rep.Warm, row)
		h.logRow(row)
	}
}

// write writes the report files and checks that the JSON reads back.
func (h *harness) write() error {
	r := h.rep
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		return err
	}
	jp := filepath.Join(h.o.Out, "perf.json")
	if err := os.WriteFile(jp, js.Bytes(), 0o644); err != nil {
		return err
	}
	if _, err := ReadReport(jp); err != nil {
		return fmt.Errorf("report does not read back: %w", err)
	}
	var txt, md, svg bytes.Buffer
	r.WriteText(&txt)
	r.WriteMarkdown(&md)
	if err := r.WriteSVG(&svg); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"perf.txt": txt.Bytes(), "perf.md": md.Bytes(), "perf.svg": svg.Bytes()} {
		if err := os.WriteFile(filepath.Join(h.o.Out, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// machine describes the host.
func machine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	m.Kernel, m.CPU, m.LoadAvg = sysInfo()
	return m
}

package perf

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// profiled is one command of the attribution section.
type profiled struct {
	label string
	argv  []string
}

func (h *harness) profiled() []profiled {
	t := h.tools["true"]
	ps := []profiled{
		{"true", []string{t}},
		{"fence -- true", []string{h.fence, "-s", h.ws.Config, "--", t}},
	}
	if h.compare != "" {
		ps = append(ps, profiled{filepath.Base(h.compare) + " -- true", []string{h.compare, "-s", h.ws.Config, "--", t}})
	}
	if h.bwrap != "" {
		ps = append(ps, profiled{"bwrap true", append(append([]string{h.bwrap}, BwrapPrefix[1:]...), t)})
	}
	return ps
}

// profile attributes the cost of `fence -- true`: perf stat counters,
// strace syscall counts and process count, and fence's own stage timeline.
func (h *harness) profile() *Profile {
	h.logf("attribution: perf stat, strace, stage timeline")
	p := &Profile{}
	p.PerfStat, p.PerfStatSkipped = h.perfStat()
	p.Strace, p.StraceSkipped = h.strace()
	p.Timeline, p.TimelineSkipped = h.timeline()
	p.CPU, p.CPURuns, p.CPUSkipped = h.cpuBreakdown()
	return p
}

// cpuBreakdown samples `fence -- true`, run n times by a shell loop, with
// `perf record -g`, and sorts each sample by process (supervisor, init
// stage, command) and by what the stack shows: the system call it is in,
// a page fault, an interrupt, other kernel work, or user space.
func (h *harness) cpuBreakdown() ([]CPUShare, int, string) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return nil, 0, "perf not found in PATH"
	}
	n := 50
	if h.o.Quick {
		n = 10
	}
	if h.o.Runs > 0 && h.o.Runs < n {
		n = h.o.Runs
	}
	const freq = 4999
	data := filepath.Join(h.ws.Dir, "perf.data")
	script := fmt.Sprintf("i=0; while [ $i -lt %d ]; do %s || exit 1; i=$((i+1)); done", n,
		shJoin([]string{h.fence, "-s", h.ws.Config, "--", h.tools["true"]}))
	if out, err := h.runCapture(5*time.Minute, h.env, perf, "record", "-q", "-F", strconv.Itoa(freq), "-g", "-o", data, "--", h.tools["bash"], "-c", script); err != nil {
		return nil, 0, fmt.Sprintf("perf record: %v%s", err, tail(out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, perf, "script", "-i", data, "-F", "comm,ip,sym").Output()
	if err != nil {
		return nil, 0, fmt.Sprintf("perf script: %v", err)
	}
	comm := filepath.Base(h.fence)
	if len(comm) > 15 {
		comm = comm[:15] // TASK_COMM_LEN
	}
	counts := parsePerfScript(out, comm)
	if len(counts) == 0 {
		return nil, 0, "perf recorded no samples of fence"
	}
	perSample := 1000.0 / freq / float64(n) // ms of CPU per sample, per run
	var shares []CPUShare
	for k, v := range counts {
		shares = append(shares, CPUShare{Process: k[0], Category: k[1], MsPerRun: roundMs(float64(v) * perSample)})
	}
	sort.Slice(shares, func(i, j int) bool {
		if shares[i].MsPerRun != shares[j].MsPerRun {
			return shares[i].MsPerRun > shares[j].MsPerRun
		}
		return shares[i].Process+shares[i].Category < shares[j].Process+shares[j].Category
	})
	return shares, n, ""
}

// parsePerfScript counts `perf script -F comm,ip,sym` samples by
// [process, category]. Samples of the loop's shell are dropped; the fence
// binary's comm is supervisor, the re-executed init stage ("exe", it runs
// as /proc/self/exe) is the init stage, anything else is the command.
func parsePerfScript(b []byte, fenceComm string) map[[2]string]int {
	counts := map[[2]string]int{}
	var proc string
	var frames []string
	flush := func() {
		if proc != "" {
			counts[[2]string{proc, sampleCategory(frames)}]++
		}
		proc, frames = "", nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			flush()
			switch c := strings.TrimSpace(l); c {
			case "bash", "sh", "seq", "perf":
				proc = ""
			case fenceComm:
				proc = "supervisor"
			case "exe", "fence-init":
				proc = "init stage"
			default:
				proc = "command"
			}
			continue
		}
		if f := strings.Fields(l); len(f) >= 2 {
			frames = append(frames, f[1])
		}
	}
	flush()
	return counts
}

// sampleCategory names what a stack (leaf first) was doing.
func sampleCategory(frames []string) string {
	kernel := false
	for _, f := range frames {
		switch {
		case strings.HasPrefix(f, "__x64_sys_"):
			return "syscall " + strings.TrimPrefix(f, "__x64_sys_")
		case strings.HasPrefix(f, "__arm64_sys_"):
			return "syscall " + strings.TrimPrefix(f, "__arm64_sys_")
		case strings.HasPrefix(f, "__do_sys_"):
			return "syscall " + strings.TrimPrefix(f, "__do_sys_")
		case f == "exc_page_fault" || f == "asm_exc_page_fault" || f == "do_page_fault" || f == "do_mem_abort":
			return "page faults"
		case strings.HasPrefix(f, "sysvec_") || strings.HasPrefix(f, "asm_sysvec_") || strings.HasPrefix(f, "irqentry_"):
			return "interrupts"
		case f == "ret_from_fork" || f == "ret_from_fork_asm":
			return "new task start (kernel)"
		case f == "entry_SYSCALL_64_after_hwframe" || f == "do_syscall_64" || f == "el0_svc":
			kernel = true
		}
	}
	if kernel {
		return "kernel (other)"
	}
	if len(frames) > 0 && !strings.HasPrefix(frames[0], "[unknown]") && looksKernel(frames[0]) {
		return "kernel (other)"
	}
	return "user space"
}

// looksKernel guesses from a leaf symbol alone: Go symbols have a dot.
func looksKernel(sym string) bool {
	return !strings.Contains(sym, ".") || strings.Contains(sym, ".isra.") || strings.Contains(sym, ".constprop.") || strings.Contains(sym, ".part.")
}

func (h *harness) runCapture(timeout time.Duration, env []string, argv ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Dir, c.Env = h.ws.Repo, env
	return c.CombinedOutput()
}

func (h *harness) perfStat() ([]PerfStatRun, string) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return nil, "perf not found in PATH"
	}
	if out, err := h.runCapture(time.Minute, h.env, perf, "stat", "-e", "task-clock", h.tools["true"]); err != nil {
		return nil, fmt.Sprintf("`perf stat -e task-clock true` does not work here: %v%s", err, tail(out))
	}
	repeats := 30
	if h.o.Quick {
		repeats = 5
	}
	if h.o.Runs > 0 && h.o.Runs < repeats {
		repeats = h.o.Runs
	}
	var runs []PerfStatRun
	for i, pc := range h.profiled() {
		of := filepath.Join(h.ws.Dir, fmt.Sprintf("perfstat-%d.csv", i))
		argv := append([]string{perf, "stat", "-x", ",", "-r", strconv.Itoa(repeats),
			"-e", "task-clock,context-switches,page-faults", "-o", of, "--"}, pc.argv...)
		if out, err := h.runCapture(5*time.Minute, h.env, argv...); err != nil {
			return runs, fmt.Sprintf("perf stat %s: %v%s", pc.label, err, tail(out))
		}
		b, err := os.ReadFile(of)
		if err != nil {
			return runs, err.Error()
		}
		runs = append(runs, PerfStatRun{Label: pc.label, Command: pc.label, Repeats: repeats, Counters: parsePerfStat(b)})
	}
	return runs, ""
}

// parsePerfStat reads `perf stat -x,` output: value,unit,event,...
func parsePerfStat(b []byte) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue // <not counted>, <not supported>
		}
		ev, _, _ := strings.Cut(f[2], ":")
		if f[1] == "msec" || ev == "task-clock" {
			v = roundMs(v)
		}
		m[ev] = v
	}
	return m
}

func (h *harness) strace() ([]StraceRun, string) {
	st, err := exec.LookPath("strace")
	if err != nil {
		return nil, "strace not found in PATH"
	}
	var runs []StraceRun
	for i, pc := range h.profiled() {
		sum := filepath.Join(h.ws.Dir, fmt.Sprintf("strace-c-%d.txt", i))
		tr := filepath.Join(h.ws.Dir, fmt.Sprintf("strace-p-%d.txt", i))
		if out, err := h.runCapture(2*time.Minute, h.env, append([]string{st, "-f", "-c", "-S", "calls", "-o", sum, "--"}, pc.argv...)...); err != nil {
			return runs, fmt.Sprintf("strace -f -c %s: %v%s", pc.label, err, tail(out))
		}
		if out, err := h.runCapture(2*time.Minute, h.env, append([]string{st, "-f", "-qq", "-e", "trace=process", "-o", tr, "--"}, pc.argv...)...); err != nil {
			return runs, fmt.Sprintf("strace -f -e trace=process %s: %v%s", pc.label, err, tail(out))
		}
		sb, err := os.ReadFile(sum)
		if err != nil {
			return runs, err.Error()
		}
		tb, err := os.ReadFile(tr)
		if err != nil {
			return runs, err.Error()
		}
		r := StraceRun{Label: pc.label, Command: pc.label}
		r.Top, r.TotalCalls = parseStraceSummary(sb)
		if len(r.Top) > 12 {
			r.Top = r.Top[:12]
		}
		r.Processes, r.Threads, r.Execs = parseStraceProcesses(tb)
		runs = append(runs, r)
	}
	return runs, ""
}

// parseStraceSummary reads the table of strace -c, sorted by calls.
func parseStraceSummary(b []byte) ([]SyscallCount, int) {
	var out []SyscallCount
	total := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || strings.HasPrefix(f[0], "%") || strings.HasPrefix(f[0], "-") {
			continue
		}
		var c SyscallCount
		c.Name = f[len(f)-1]
		c.Seconds, _ = strconv.ParseFloat(f[1], 64)
		c.Calls, _ = strconv.Atoi(f[3])
		if len(f) >= 6 {
			c.Errors, _ = strconv.Atoi(f[4])
		}
		if c.Name == "total" {
			total = c.Calls
			continue
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Calls > out[j].Calls })
	return out, total
}

// parseStraceProcesses counts, in an `strace -f -e trace=process` log, the
// processes (the first, and every fork, vfork or clone without
// CLONE_THREAD), the threads, and the successful execve calls.
func parseStraceProcesses(b []byte) (procs, threads, execs int) {
	procs = 1
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		// Drop the pid prefix.
		if i := strings.IndexByte(l, ' '); i > 0 {
			if _, err := strconv.Atoi(l[:i]); err == nil {
				l = strings.TrimSpace(l[i+1:])
			}
		}
		switch {
		case strings.HasPrefix(l, "clone(") || strings.HasPrefix(l, "clone3("):
			if strings.Contains(l, "CLONE_THREAD") {
				threads++
			} else if !strings.HasSuffix(l, "= -1") && !strings.Contains(l, "= -1 E") {
				procs++
			}
		case strings.HasPrefix(l, "fork(") || strings.HasPrefix(l, "vfork("):
			procs++
		case strings.HasPrefix(l, "execve(") || strings.HasPrefix(l, "execveat("):
			if strings.HasSuffix(l, "= 0") {
				execs++
			}
		case strings.HasPrefix(l, "<... execve resumed>") || strings.HasPrefix(l, "<... execveat resumed>"):
			if strings.HasSuffix(l, "= 0") {
				execs++
			}
		}
	}
	return procs, threads, execs
}

// launch starts argv with env plus FENCE_TIMELINE_LAUNCH (now), its stderr
// in errFile, and waits. It returns what it wrote there and how long after
// the launch time the wait returned, in ms (0 without a monotonic clock).
func (h *harness) launch(env []string, errFile *os.File, argv ...string) ([]byte, float64, error) {
	if err := errFile.Truncate(0); err != nil {
		return nil, 0, err
	}
	if _, err := errFile.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Dir, c.Stderr = h.ws.Repo, errFile
	t0 := monoNow()
	c.Env = env
	if t0 != 0 {
		c.Env = append(env[:len(env):len(env)], "FENCE_TIMELINE_LAUNCH="+strconv.FormatInt(t0, 10))
	}
	err := c.Run()
	t1 := monoNow()
	if _, serr := errFile.Seek(0, io.SeekStart); serr != nil && err == nil {
		err = serr
	}
	out, rerr := io.ReadAll(errFile)
	if rerr != nil && err == nil {
		err = rerr
	}
	if t0 == 0 || t1 == 0 {
		return out, 0, err
	}
	return out, float64(t1-t0) / 1e6, err
}

var timelineRE = regexp.MustCompile(`^\[fence:timeline\]\s+(\S+)\s+\+\s*([0-9.]+)\s*ms`)

// ParseTimeline reads the FENCE_TIMELINE=1 lines of one invocation's stderr:
// stage names in order, and their offsets.
func ParseTimeline(b []byte) (names []string, at map[string]float64) {
	at = map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		m := timelineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		if _, dup := at[m[1]]; !dup {
			names = append(names, m[1])
		}
		at[m[1]] = v
	}
	return names, at
}

// timeline runs `FENCE_TIMELINE=1 fence -- true` several times and returns
// the median offset of each stage, in order of those medians. Each run is
// given FENCE_TIMELINE_LAUNCH, the time just before it is started, so the
// timeline begins at "launch" and shows the process's own start before
// fence-start; "reaped" is when the harness's wait returned, after the
// supervisor's exit. Bare `true`, started and waited for the same way in
// the same rounds, gives the launcher's own share (BareTrueMs).
func (h *harness) timeline() (*Timeline, string) {
	n := 21
	if h.o.Quick {
		n = 5
	}
	if h.o.Runs > 0 && h.o.Runs < n {
		n = h.o.Runs
	}
	env := append(append([]string(nil), h.env...), "FENCE_TIMELINE=1")
	// A file, not a pipe: the wait then ends with fence's exit, not with
	// the last holder of the pipe (PID 1 finishes its exit after fence).
	errFile, err := os.CreateTemp(h.ws.Dir, "timeline-stderr-")
	if err != nil {
		return nil, fmt.Sprintf("timeline: %v", err)
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	per := map[string][]float64{}
	var bare []float64
	var names []string
	for i := 0; i < n+1; i++ {
		stderr, reaped, err := h.launch(env, errFile, h.fence, "-s", h.ws.Config, "--", h.tools["true"])
		if err != nil {
			return nil, fmt.Sprintf("fence -- true: %v%s", err, tail(stderr))
		}
		_, bareMs, err := h.launch(env, errFile, h.tools["true"])
		if err != nil {
			return nil, fmt.Sprintf("true: %v", err)
		}
		if i == 0 {
			continue // warm-up
		}
		stages, at := ParseTimeline(stderr)
		if len(stages) == 0 {
			return nil, "fence printed no [fence:timeline] lines with FENCE_TIMELINE=1"
		}
		if _, ok := at["launch"]; ok && reaped > 0 {
			stages, at["reaped"] = append(stages, "reaped"), reaped
		}
		for _, s := range stages {
			if _, ok := per[s]; !ok {
				names = append(names, s)
			}
			per[s] = append(per[s], at[s])
		}
		if bareMs > 0 {
			bare = append(bare, bareMs)
		}
	}
	t := &Timeline{Runs: n}
	if len(bare) > 0 {
		t.BareTrueMs = roundMs(medianFloat(bare))
	}
	for _, s := range names {
		t.Stages = append(t.Stages, Stage{Name: s, AtMs: roundMs(medianFloat(per[s]))})
	}
	sort.SliceStable(t.Stages, func(i, j int) bool { return t.Stages[i].AtMs < t.Stages[j].AtMs })
	for i := range t.Stages {
		if i > 0 {
			t.Stages[i].DeltaMs = roundMs(t.Stages[i].AtMs - t.Stages[i-1].AtMs)
		}
	}
	return t, ""
}

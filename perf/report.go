package perf

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Schema names the JSON layout written by Run; bump it when fields change
// meaning.
const Schema = "fenceperf/1"

// Column ids. Every row has a result (possibly skipped) for each column of
// the report.
const (
	ColUnsandboxed = "unsandboxed"
	ColFence       = "fence"
	ColCompare     = "compare"
	ColBwrap       = "bwrap"
)

// RowIDs are the cold-start rows of the main table, in order. Each is always
// present in a report; a workload that cannot run here carries a skip reason.
// "true-paused" is true-default with a pause (Pause) before each run, as a
// command typed or run by a script between other work starts: the rows
// without one run back to back, and each start then reuses memory the last
// one freed.
var RowIDs = []string{"true-default", "true-paused", "true", "echo", "python", "node", "git-status", "rg", "file-write", "file-read", "file-create", "network-curl", "monitor"}

// WarmRowIDs are the rows of the "inside a running sandbox" table.
// "redirect" is true with a shell redirection: an open(O_CREAT) of
// /dev/null by the shell, which fence's creation guard intercepts.
var WarmRowIDs = []string{"true", "echo", "redirect", "python", "git-status", "file-write", "file-create"}

// Pause is how long the true-paused workload waits, untimed, before each
// run: long enough for the kernel, or a VM's host, to take back what the
// last run freed (a VM that backs memory on first touch did so within a
// second, docs/benchmarking.md, "Huge pages after a pause").
const Pause = time.Second

// CreateFiles is how many empty files the file-create workload makes.
const CreateFiles = 1000

// CreateScript returns the bash script of the file-create workload: it makes
// CreateFiles empty files in a fresh directory on /dev/shm (a tmpfs outside
// the sandbox and inside it), one open(O_CREAT) each, and removes them. On
// tmpfs the disk does not drown what fence adds per created file: its
// creation guard handles every one of those opens.
func CreateScript() string {
	// One line: the warm rows send it to a shell loop line by line.
	return fmt.Sprintf(`d=$(mktemp -d /dev/shm/fenceperf.XXXXXX) || exit 1; `+
		`for ((i = 0; i < %d; i++)); do : >"$d/f$i" || exit 1; done; rm -rf "$d"`, CreateFiles)
}

// Report is everything one run of the harness measured. It is written as
// JSON (perf.json) next to a text table, a Markdown table and an SVG chart.
type Report struct {
	Schema       string   `json:"schema"`
	Date         string   `json:"date"`
	Machine      Machine  `json:"machine"`
	Fence        string   `json:"fence"`
	FenceVersion string   `json:"fence_version"`
	Options      RunInfo  `json:"options"`
	Columns      []Column `json:"columns"`
	// Rows are cold starts: one sandbox per command.
	Rows []Row `json:"rows"`
	// Warm rows time one command spawned inside an already running sandbox
	// (a shell loop fed over a pipe) against the same loop unsandboxed.
	Warm []Row `json:"warm"`
	// Targets are the benchmarking issue's goals against this run.
	Targets []Target `json:"targets,omitempty"`
	Profile *Profile `json:"profile,omitempty"`
	Scaling *Scaling `json:"scaling,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// Machine identifies where the numbers were taken.
type Machine struct {
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Kernel    string `json:"kernel"`
	CPU       string `json:"cpu"`
	CPUs      int    `json:"cpus"`
	LoadAvg   string `json:"loadavg"`
	GoVersion string `json:"go_version"`
}

// RunInfo records the options of the run.
type RunInfo struct {
	Runs     int      `json:"runs"`
	Warmup   int      `json:"warmup"`
	Quick    bool     `json:"quick"`
	Network  bool     `json:"network"`
	Compare  string   `json:"compare,omitempty"`
	Sections []string `json:"sections"`
}

// Column is one way of running a workload.
type Column struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	// Prefix is what precedes the workload's argv in this column.
	Prefix string `json:"prefix"`
}

// Row is one workload measured in every column.
type Row struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Command string `json:"command"`
	// Skipped says why the workload did not run at all.
	Skipped string `json:"skipped,omitempty"`
	// Results maps a column id to its measurement.
	Results map[string]*Result `json:"results"`
}

// Result is one workload in one column.
type Result struct {
	Stats
	// Factor is this column's median over the unsandboxed median.
	Factor float64 `json:"factor,omitempty"`
	// MaxRSSKiB is the median over the runs of ru_maxrss from wait4: the
	// largest resident set among the process and the children it reaped.
	MaxRSSKiB int64 `json:"max_rss_kib,omitempty"`
	// Skipped says why this column did not run.
	Skipped string `json:"skipped,omitempty"`
	// Failures counts runs that failed (they are not samples); FirstError
	// is the first failure's error.
	Failures   int    `json:"failures,omitempty"`
	FirstError string `json:"first_error,omitempty"`
}

// Profile is the attribution section.
type Profile struct {
	PerfStat        []PerfStatRun `json:"perf_stat,omitempty"`
	PerfStatSkipped string        `json:"perf_stat_skipped,omitempty"`
	Strace          []StraceRun   `json:"strace,omitempty"`
	StraceSkipped   string        `json:"strace_skipped,omitempty"`
	Timeline        *Timeline     `json:"timeline,omitempty"`
	TimelineSkipped string        `json:"timeline_skipped,omitempty"`
	// CPU is where the CPU time of `fence -- true` goes, from `perf record`
	// samples (cpu-clock) over CPURuns invocations.
	CPU        []CPUShare `json:"cpu,omitempty"`
	CPURuns    int        `json:"cpu_runs,omitempty"`
	CPUSkipped string     `json:"cpu_skipped,omitempty"`
}

// CPUShare is the CPU time per invocation that one process of the sandbox
// (supervisor, init stage, command) spends in one category: user space,
// page faults, a given system call, interrupts, other kernel work.
type CPUShare struct {
	Process  string  `json:"process"`
	Category string  `json:"category"`
	MsPerRun float64 `json:"ms_per_run"`
}

// PerfStatRun is `perf stat -r N` of one command.
type PerfStatRun struct {
	Label   string `json:"label"`
	Command string `json:"command"`
	Repeats int    `json:"repeats"`
	// Counters maps an event name to its mean per run (task-clock in ms).
	Counters map[string]float64 `json:"counters"`
}

// StraceRun is `strace -f -c` (and a process trace) of one command.
type StraceRun struct {
	Label   string `json:"label"`
	Command string `json:"command"`
	// Processes counts the processes of one invocation, the first included
	// (clones without CLONE_THREAD, plus one); Threads the thread clones;
	// Execs the successful execve calls.
	Processes  int            `json:"processes"`
	Threads    int            `json:"threads"`
	Execs      int            `json:"execs"`
	TotalCalls int            `json:"total_calls"`
	Top        []SyscallCount `json:"top"`
}

// SyscallCount is one line of strace -c.
type SyscallCount struct {
	Name    string  `json:"name"`
	Calls   int     `json:"calls"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"`
}

// Timeline is the per-stage start-up timeline of `fence -- true`
// (FENCE_TIMELINE=1), as medians over Runs invocations.
type Timeline struct {
	Runs   int     `json:"runs"`
	Stages []Stage `json:"stages"`
	// BareTrueMs is bare `true` from launch to reaped, started and waited
	// for as fence was: the launcher's and the process's own share.
	BareTrueMs float64 `json:"bare_true_ms,omitempty"`
}

// Stage is one timeline stage: its median offset from the first stage
// (launch, or fence-start when the launch time is unknown) and the time
// since the previous stage.
type Stage struct {
	Name    string  `json:"name"`
	AtMs    float64 `json:"at_ms"`
	DeltaMs float64 `json:"delta_ms"`
}

// Scaling is how start-up grows with policy size and concurrency.
type Scaling struct {
	Entries        []EntriesPoint `json:"entries,omitempty"`
	EntriesSkipped string         `json:"entries_skipped,omitempty"`
	Concurrency    []ConcPoint    `json:"concurrency,omitempty"`
	Leaks          *LeakCheck     `json:"leaks,omitempty"`
	RSS            *RSS           `json:"rss,omitempty"`
}

// EntriesPoint is `fence -- true` with K allowWrite and K denyRead entries.
type EntriesPoint struct {
	Entries int   `json:"entries"`
	Stats   Stats `json:"stats"`
	// Factor is over bare `true`, measured alongside.
	Factor float64 `json:"factor"`
}

// ConcPoint is N sandboxes (`fence -- true`) started at once, Rounds times.
type ConcPoint struct {
	N        int `json:"n"`
	Rounds   int `json:"rounds"`
	Failures int `json:"failures"`
	// ThroughputPerS is sandboxes completed per second of wall time.
	ThroughputPerS float64 `json:"throughput_per_s"`
	// Latency is spawn → exit of each `fence -- true`.
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
	WallMs  float64 `json:"wall_ms"`
	Skipped string  `json:"skipped,omitempty"`
}

// LeakCheck compares the harness's view of the system before and after the
// concurrency runs.
type LeakCheck struct {
	Before Snapshot `json:"before"`
	After  Snapshot `json:"after"`
	// Leaked lists what grew and was attributable to fence.
	Leaked []string `json:"leaked"`
	Notes  []string `json:"notes,omitempty"`
}

// Snapshot counts what a leaking sandbox would leave behind.
type Snapshot struct {
	MountinfoLines int `json:"mountinfo_lines"`
	HarnessFDs     int `json:"harness_fds"`
	// Descendants are processes under the harness (a child subreaper, so
	// orphans of a sandbox are counted too).
	Descendants int `json:"descendants"`
	// NetNamespaces is the number of distinct /proc/*/ns/net system-wide.
	NetNamespaces int `json:"net_namespaces"`
}

// RSS is the memory of the supervisor (the fence process) and of the init
// stage, read from /proc while a sandbox runs `sleep`, and ru_maxrss of
// `fence -- true` from wait4.
type RSS struct {
	WaitMaxRSSKiB     int64  `json:"wait_max_rss_kib"`
	SupervisorHWMKiB  int64  `json:"supervisor_hwm_kib"`
	SupervisorRSSKiB  int64  `json:"supervisor_rss_kib"`
	InitHWMKiB        int64  `json:"init_hwm_kib"`
	InitRSSKiB        int64  `json:"init_rss_kib"`
	SupervisorThreads int    `json:"supervisor_threads"`
	Skipped           string `json:"skipped,omitempty"`
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadReport parses a perf.json and checks that it is complete: the schema
// matches and, for the sections that ran, every row of RowIDs and
// WarmRowIDs is present with either a result in each column or a skip
// reason.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, r.Schema, Schema)
	}
	if contains(r.Options.Sections, "table") {
		if err := checkRows("rows", r.Rows, RowIDs, r.Columns); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if contains(r.Options.Sections, "warm") {
		if err := checkRows("warm", r.Warm, WarmRowIDs, r.Columns); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return &r, nil
}

func checkRows(section string, rows []Row, ids []string, cols []Column) error {
	byID := map[string]Row{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, id := range ids {
		r, ok := byID[id]
		if !ok {
			return fmt.Errorf("%s: row %q missing", section, id)
		}
		if r.Skipped != "" {
			continue
		}
		for _, c := range cols {
			res := r.Results[c.ID]
			if res == nil {
				return fmt.Errorf("%s: row %q has no %q result", section, id, c.ID)
			}
			if res.Skipped == "" && res.N == 0 {
				return fmt.Errorf("%s: row %q column %q has neither samples nor a skip reason", section, id, c.ID)
			}
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// fmtMs formats a duration in milliseconds with about three significant
// digits.
func fmtMs(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func fmtRange(s Stats) string {
	return fmt.Sprintf("%s (%s–%s)", fmtMs(s.MedianMs), trimUnit(fmtMs(s.MinMs)), trimUnit(fmtMs(s.MaxMs)))
}

func trimUnit(s string) string { return strings.TrimSuffix(s, " ms") }

func fmtFactor(f float64) string {
	if f == 0 {
		return "–"
	}
	if f < 10 {
		return fmt.Sprintf("%.2fx", f)
	}
	return fmt.Sprintf("%.1fx", f)
}

// cell renders one column of one row: "median (min–max)" and the factor.
func cell(r *Result, base bool) (string, string) {
	switch {
	case r == nil:
		return "–", ""
	case r.Skipped != "":
		return "skipped", ""
	}
	v := fmtRange(r.Stats)
	if r.Failures > 0 {
		v += fmt.Sprintf(" [%d failed]", r.Failures)
	}
	if base {
		return v, ""
	}
	return v, fmtFactor(r.Factor)
}

// table renders rows as the seed's table: Benchmark | Unsandboxed |
// Sandboxed | Overhead, then a value and an overhead column for each further
// column (--compare, bwrap).
func (r *Report) table(rows []Row) [][]string {
	head := []string{"Benchmark"}
	for _, c := range r.Columns {
		switch c.ID {
		case ColUnsandboxed:
			head = append(head, "Unsandboxed")
		case ColFence:
			head = append(head, "Sandboxed", "Overhead")
		default:
			head = append(head, c.Label, "Overhead")
		}
	}
	out := [][]string{head}
	for _, row := range rows {
		line := []string{row.Name}
		if row.Skipped != "" {
			line = append(line, "skipped (see notes)")
			for len(line) < len(head) {
				line = append(line, "")
			}
			out = append(out, line)
			continue
		}
		for _, c := range r.Columns {
			v, f := cell(row.Results[c.ID], c.ID == ColUnsandboxed)
			line = append(line, v)
			if c.ID != ColUnsandboxed {
				line = append(line, f)
			}
		}
		out = append(out, line)
	}
	return out
}

// WriteText prints the human-readable report: the tables, the attribution
// and the scaling sections that were run.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "fence %s (%s) on %s, %d CPUs, %s %s, load %s\n", r.FenceVersion, r.Fence, r.Machine.CPU, r.Machine.CPUs, r.Machine.OS, r.Machine.Kernel, r.Machine.LoadAvg)
	fmt.Fprintf(w, "%s; %d runs per column, alternating; median (min–max); overhead = sandboxed median / unsandboxed median\n\n", r.Date, r.Options.Runs)
	if len(r.Rows) > 0 {
		fmt.Fprintln(w, "Cold start (one sandbox per command):")
		writeTab(w, r.table(r.Rows))
		fmt.Fprintln(w)
	}
	if len(r.Warm) > 0 {
		fmt.Fprintln(w, "Inside a running sandbox (one shell loop per column, a command per round trip):")
		writeTab(w, r.table(r.Warm))
		fmt.Fprintln(w)
	}
	r.writeTargetsText(w)
	for _, rows := range [][]Row{r.Rows, r.Warm} {
		for _, row := range rows {
			if row.Skipped != "" {
				fmt.Fprintf(w, "  note: %s skipped: %s\n", row.Name, row.Skipped)
			}
			for _, c := range r.Columns {
				res := row.Results[c.ID]
				switch {
				case res == nil || row.Skipped != "":
				case res.Skipped != "":
					fmt.Fprintf(w, "  note: %s / %s skipped: %s\n", row.Name, c.Label, res.Skipped)
				case res.Failures > 0:
					fmt.Fprintf(w, "  note: %s / %s: %d runs failed (not counted), first: %s\n", row.Name, c.Label, res.Failures, res.FirstError)
				}
			}
		}
	}
	if p := r.Profile; p != nil {
		r.writeProfile(w, p)
	}
	if s := r.Scaling; s != nil {
		writeScaling(w, s)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func writeTab(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range rows {
		fmt.Fprintln(tw, strings.Join(l, "\t")+"\t")
	}
	tw.Flush()
}

func (r *Report) writeProfile(w io.Writer, p *Profile) {
	fmt.Fprintln(w, "Attribution:")
	if p.PerfStatSkipped != "" {
		fmt.Fprintln(w, "  perf stat: skipped:", p.PerfStatSkipped)
	} else if len(p.PerfStat) > 0 {
		t := [][]string{{"  perf stat (mean per run)", "task-clock", "context-switches", "page-faults"}}
		for _, ps := range p.PerfStat {
			t = append(t, []string{"  " + ps.Command,
				fmt.Sprintf("%.2f ms", ps.Counters["task-clock"]),
				fmt.Sprintf("%.0f", ps.Counters["context-switches"]),
				fmt.Sprintf("%.0f", ps.Counters["page-faults"])})
		}
		writeTab(w, t)
	}
	if p.StraceSkipped != "" {
		fmt.Fprintln(w, "  strace: skipped:", p.StraceSkipped)
	}
	for _, s := range p.Strace {
		fmt.Fprintf(w, "  strace -f %s: %d processes, %d threads, %d execve, %d syscalls; top by calls:", s.Command, s.Processes, s.Threads, s.Execs, s.TotalCalls)
		for i, c := range s.Top {
			if i == 8 {
				break
			}
			fmt.Fprintf(w, " %s %d", c.Name, c.Calls)
		}
		fmt.Fprintln(w)
	}
	if p.TimelineSkipped != "" {
		fmt.Fprintln(w, "  timeline: skipped:", p.TimelineSkipped)
	} else if p.Timeline != nil {
		fmt.Fprintf(w, "  stage timeline of `fence -- true` (FENCE_TIMELINE=1, median of %d runs):\n", p.Timeline.Runs)
		t := [][]string{{"    stage", "at", "since previous"}}
		for _, s := range p.Timeline.Stages {
			t = append(t, []string{"    " + s.Name, fmt.Sprintf("+%.3f ms", s.AtMs), fmt.Sprintf("%.3f ms", s.DeltaMs)})
		}
		writeTab(w, t)
		if p.Timeline.BareTrueMs > 0 {
			fmt.Fprintf(w, "    bare `true`, launched and reaped the same way: %.3f ms\n", p.Timeline.BareTrueMs)
		}
	}
	if p.CPUSkipped != "" {
		fmt.Fprintln(w, "  CPU breakdown: skipped:", p.CPUSkipped)
	} else if len(p.CPU) > 0 {
		var total float64
		per := map[string]float64{}
		var procs []string
		for _, c := range p.CPU {
			total += c.MsPerRun
			if _, ok := per[c.Process]; !ok {
				procs = append(procs, c.Process)
			}
			per[c.Process] += c.MsPerRun
		}
		var parts []string
		for _, pr := range procs {
			parts = append(parts, fmt.Sprintf("%s %.2f ms", pr, per[pr]))
		}
		fmt.Fprintf(w, "  where the CPU time of `fence -- true` goes (perf record, %d runs): %.2f ms CPU per run (%s); top entries:\n",
			p.CPURuns, total, strings.Join(parts, ", "))
		t := [][]string{{"    process", "category", "CPU per run"}}
		for i, c := range p.CPU {
			if i == 16 {
				break
			}
			t = append(t, []string{"    " + c.Process, c.Category, fmt.Sprintf("%.3f ms", c.MsPerRun)})
		}
		writeTab(w, t)
	}
	fmt.Fprintln(w)
}

func writeScaling(w io.Writer, s *Scaling) {
	fmt.Fprintln(w, "Scaling:")
	if s.EntriesSkipped != "" {
		fmt.Fprintln(w, "  policy entries: skipped:", s.EntriesSkipped)
	}
	if len(s.Entries) > 0 {
		t := [][]string{{"  allowWrite + denyRead entries", "fence -- true", "vs bare true"}}
		for _, e := range s.Entries {
			t = append(t, []string{fmt.Sprintf("  %d + %d", e.Entries, e.Entries), fmtRange(e.Stats), fmtFactor(e.Factor)})
		}
		writeTab(w, t)
	}
	if len(s.Concurrency) > 0 {
		t := [][]string{{"  concurrent sandboxes", "rounds", "throughput", "p50", "p99", "max", "failures"}}
		for _, c := range s.Concurrency {
			if c.Skipped != "" {
				t = append(t, []string{fmt.Sprintf("  %d", c.N), "skipped: " + c.Skipped})
				continue
			}
			t = append(t, []string{fmt.Sprintf("  %d", c.N), fmt.Sprint(c.Rounds), fmt.Sprintf("%.0f/s", c.ThroughputPerS),
				fmtMs(c.P50Ms), fmtMs(c.P99Ms), fmtMs(c.MaxMs), fmt.Sprint(c.Failures)})
		}
		writeTab(w, t)
	}
	if l := s.Leaks; l != nil {
		fmt.Fprintf(w, "  leaks: mountinfo %d→%d, harness fds %d→%d, descendants %d→%d, net namespaces %d→%d: ",
			l.Before.MountinfoLines, l.After.MountinfoLines, l.Before.HarnessFDs, l.After.HarnessFDs,
			l.Before.Descendants, l.After.Descendants, l.Before.NetNamespaces, l.After.NetNamespaces)
		if len(l.Leaked) == 0 {
			fmt.Fprintln(w, "none")
		} else {
			fmt.Fprintln(w, "LEAKED", strings.Join(l.Leaked, ", "))
		}
		for _, n := range l.Notes {
			fmt.Fprintln(w, "    note:", n)
		}
	}
	if r := s.RSS; r != nil {
		if r.Skipped != "" {
			fmt.Fprintln(w, "  RSS: skipped:", r.Skipped)
		} else {
			fmt.Fprintf(w, "  RSS: supervisor %d KiB (peak %d KiB, %d threads), init stage %d KiB (peak %d KiB); wait4 ru_maxrss of `fence -- true` %d KiB\n",
				r.SupervisorRSSKiB, r.SupervisorHWMKiB, r.SupervisorThreads, r.InitRSSKiB, r.InitHWMKiB, r.WaitMaxRSSKiB)
		}
	}
	fmt.Fprintln(w)
}

// WriteMarkdown writes the tables as Markdown, for docs/benchmarking.md.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Measured %s on %s (%d CPUs), %s %s, fence %s; %d runs per column, alternating; median (min–max).\n\n",
		r.Date, r.Machine.CPU, r.Machine.CPUs, r.Machine.OS, r.Machine.Kernel, r.FenceVersion, r.Options.Runs)
	for _, sec := range []struct {
		title string
		rows  []Row
	}{{"Cold start (one sandbox per command)", r.Rows}, {"Inside a running sandbox", r.Warm}} {
		if len(sec.rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:\n\n", sec.title)
		t := r.table(sec.rows)
		for i, l := range t {
			for len(l) < len(t[0]) {
				l = append(l, "")
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(l, " | "))
			if i == 0 {
				fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(l)))
			}
		}
		fmt.Fprintln(w)
		for _, row := range sec.rows {
			if row.Skipped != "" {
				fmt.Fprintf(w, "- %s skipped: %s\n", row.Name, row.Skipped)
				continue
			}
			for _, c := range r.Columns {
				res := row.Results[c.ID]
				switch {
				case res == nil:
				case res.Skipped != "":
					fmt.Fprintf(w, "- %s, %s skipped: %s\n", row.Name, c.Label, res.Skipped)
				case res.Failures > 0:
					fmt.Fprintf(w, "- %s, %s: %d runs failed (not counted), first: %s\n", row.Name, c.Label, res.Failures, res.FirstError)
				}
			}
		}
		fmt.Fprintln(w)
	}
	r.writeTargetsMarkdown(w)
}

// svgColors are the bar colours of the sandbox columns.
var svgColors = map[string]string{ColFence: "#1f77b4", ColCompare: "#d62728", ColBwrap: "#7f7f7f"}

// WriteSVG draws the overhead factors as horizontal bars on a log scale,
// one group per workload and one bar per sandbox column.
func (r *Report) WriteSVG(w io.Writer) error {
	type bar struct {
		col    string
		factor float64
	}
	type group struct {
		label string
		bars  []bar
	}
	var groups []group
	maxF, minF := 2.0, 1.0
	for _, sec := range []struct {
		suffix string
		rows   []Row
	}{{"", r.Rows}, {" (warm)", r.Warm}} {
		for _, row := range sec.rows {
			if row.Skipped != "" {
				continue
			}
			g := group{label: row.Name + sec.suffix}
			for _, c := range r.Columns {
				res := row.Results[c.ID]
				if c.ID == ColUnsandboxed || res == nil || res.Skipped != "" || res.Factor <= 0 {
					continue
				}
				g.bars = append(g.bars, bar{c.ID, res.Factor})
				maxF = math.Max(maxF, res.Factor)
				minF = math.Min(minF, res.Factor)
			}
			if len(g.bars) > 0 {
				groups = append(groups, g)
			}
		}
	}
	// Axis: 1-2-5 steps from below the smallest factor (at most 1x) to
	// above the largest.
	lo := 1.0
	for _, v := range []float64{0.5, 0.2, 0.1} {
		if minF < lo*0.999 {
			lo = v
		}
	}
	var ticks []float64
	for e := math.Floor(math.Log10(lo)); ; e++ {
		done := false
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo*0.999 {
				continue
			}
			ticks = append(ticks, v)
			if v >= maxF {
				done = true
				break
			}
		}
		if done {
			break
		}
	}
	axisMax := ticks[len(ticks)-1]
	const (
		left, right, top = 230.0, 50.0, 60.0
		barH, gap        = 12.0, 10.0
		plotW            = 520.0
	)
	height := top + 40
	for _, g := range groups {
		height += float64(len(g.bars))*barH + gap
	}
	width := left + plotW + right
	x := func(f float64) float64 {
		f = math.Max(lo, math.Min(f, axisMax))
		return left + plotW*math.Log10(f/lo)/math.Log10(axisMax/lo)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14" font-weight="bold">Sandbox overhead factor (median sandboxed / unsandboxed, log scale)</text>`+"\n", 10.0)
	fmt.Fprintf(&b, `<text x="%.0f" y="34" fill="#555">%s</text>`+"\n", 10.0, html.EscapeString(fmt.Sprintf("%s · %s · %d CPUs · %s", r.Date, r.Machine.CPU, r.Machine.CPUs, r.Machine.Kernel)))
	// Legend.
	lx := left
	for _, c := range r.Columns {
		if c.ID == ColUnsandboxed {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="42" width="10" height="10" fill="%s"/><text x="%.0f" y="51">%s</text>`+"\n", lx, svgColors[c.ID], lx+14, html.EscapeString(c.Label))
		lx += 24 + 7*float64(len(c.Label))
	}
	for _, t := range ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/><text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%gx</text>`+"\n",
			x(t), top, x(t), height-30, x(t), height-16, t)
	}
	// Bars grow from the 1x line: right for overhead, left for speed-up.
	x1 := x(1)
	y := top
	for _, g := range groups {
		gh := float64(len(g.bars)) * barH
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-8, y+gh/2, html.EscapeString(g.label))
		for i, bb := range g.bars {
			by := y + float64(i)*barH
			xf := x(bb.factor)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/><text x="%.1f" y="%.1f" dominant-baseline="middle" font-size="10">%s</text>`+"\n",
				math.Min(x1, xf), by+1, math.Max(1, math.Abs(xf-x1)), barH-2, svgColors[bb.col], math.Max(x1, xf)+3, by+barH/2, fmtFactor(bb.factor))
		}
		y += gh + gap
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#333"/>`+"\n", x1, top, x1, height-30)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

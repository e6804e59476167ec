package perf

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHarnessQuick runs the whole `make perf` harness in quick mode with a
// single run per column, and checks its output: the JSON parses and holds
// every row (measured or skipped with a reason), every section is present,
// and the SVG is well-formed XML. It asserts no timings.
func TestHarnessQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark harness (about a minute on a busy machine)")
	}
	out := t.TempDir()
	var log bytes.Buffer
	rep, err := Run(Options{Fence: fenceBin, Out: out, Runs: 1, Quick: true, Network: true, Log: &log})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	t.Log("\n" + log.String())

	r, err := ReadReport(filepath.Join(out, "perf.json"))
	if err != nil {
		t.Fatal(err)
	}
	// A generic decode too: the file is plain JSON, not just ours.
	b, _ := os.ReadFile(filepath.Join(out, "perf.json"))
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatalf("perf.json: %v", err)
	}
	for _, k := range []string{"rows", "warm", "profile", "scaling", "machine", "columns"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("perf.json has no %q", k)
		}
	}
	if len(r.Rows) != len(RowIDs) || len(r.Warm) != len(WarmRowIDs) {
		t.Errorf("rows: %d cold, %d warm; want %d and %d", len(r.Rows), len(r.Warm), len(RowIDs), len(WarmRowIDs))
	}
	byID := map[string]Row{}
	for _, row := range r.Rows {
		byID[row.ID] = row
	}
	// true and echo are measured without a shell: they are never dropped.
	for _, id := range []string{"true-default", "true-paused", "true", "echo", "file-write", "file-read", "file-create", "monitor"} {
		row := byID[id]
		if row.Skipped != "" {
			t.Errorf("row %s skipped: %s", id, row.Skipped)
			continue
		}
		for _, c := range []string{ColUnsandboxed, ColFence} {
			if res := row.Results[c]; res == nil || res.Skipped != "" || res.N != 1 || res.MedianMs <= 0 {
				t.Errorf("row %s column %s: %+v", id, c, res)
			}
		}
	}
	if f := byID["true"].Results[ColFence]; f != nil && f.Factor <= 0 {
		t.Errorf("true: no overhead factor: %+v", f)
	}
	if len(r.Targets) != len(targets) {
		t.Errorf("targets: %+v", r.Targets)
	}
	for _, tg := range r.Targets {
		if tg.Factor <= 0 || tg.Met != (tg.Factor <= tg.Max) {
			t.Errorf("target %q not evaluated: %+v", tg.Name, tg)
		}
	}
	if p := r.Profile; p == nil {
		t.Error("no profile section")
	} else if p.Timeline == nil {
		t.Errorf("no stage timeline: %s", p.TimelineSkipped)
	} else {
		names := map[string]bool{}
		for _, s := range p.Timeline.Stages {
			names[s.Name] = true
		}
		for _, s := range []string{"launch", "fence-start", "config-loaded", "planned", "policy-received", "exec", "exited", "reaped"} {
			if !names[s] {
				t.Errorf("timeline has no stage %q: %+v", s, p.Timeline.Stages)
			}
		}
		// The launch comes first and the reaping last: what the
		// process's own start and exit cost is in the timeline.
		st := p.Timeline.Stages
		if len(st) > 0 && (st[0].Name != "launch" || st[0].AtMs != 0 || st[len(st)-1].Name != "reaped" || st[len(st)-1].AtMs <= st[0].AtMs) {
			t.Errorf("timeline does not run from launch to reaped: %+v", st)
		}
		if p.Timeline.BareTrueMs <= 0 {
			t.Errorf("no bare true launched the same way: %+v", p.Timeline)
		}
	}
	s := r.Scaling
	if s == nil {
		t.Fatal("no scaling section")
	}
	if len(s.Entries) != len(EntryCounts) {
		t.Errorf("entries: %+v (%s)", s.Entries, s.EntriesSkipped)
	}
	if len(s.Concurrency) != len(ConcurrencyLevels) {
		t.Errorf("concurrency: %+v", s.Concurrency)
	}
	for _, c := range s.Concurrency {
		if c.Failures > 0 || c.Skipped != "" {
			t.Errorf("%d concurrent sandboxes: %d failures %s", c.N, c.Failures, c.Skipped)
		}
	}
	if s.Leaks == nil {
		t.Error("no leak check")
	} else {
		// Processes and the harness's fds are ours alone; mounts and
		// network namespaces are system-wide and only logged.
		for _, l := range s.Leaks.Leaked {
			if strings.HasPrefix(l, "processes") || strings.Contains(l, "file descriptors") {
				t.Errorf("leak: %s", l)
			} else {
				t.Logf("possible leak (system-wide count): %s", l)
			}
		}
	}
	if s.RSS == nil || (s.RSS.Skipped == "" && s.RSS.SupervisorRSSKiB == 0) {
		t.Errorf("RSS: %+v", s.RSS)
	}
	for _, name := range []string{"perf.txt", "perf.md"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The binaries ran from copies (copyBinary), which are gone, and the
	// report names the binary that was given.
	if left, _ := filepath.Glob(filepath.Join(out, "fenceperf-*")); len(left) != 0 {
		t.Errorf("left behind in the output directory: %v", left)
	}
	if r.Fence != fenceBin {
		t.Errorf("report names fence %q, want %q", r.Fence, fenceBin)
	}
	svg, err := os.ReadFile(filepath.Join(out, "perf.svg"))
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("perf.svg is not well-formed: %v", err)
		}
	}
	var txt bytes.Buffer
	rep.WriteText(&txt)
	for _, want := range []string{"Benchmark", "Unsandboxed", "Sandboxed", "Overhead"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report has no %q", want)
		}
	}
}

func TestParseStraceSummary(t *testing.T) {
	in := `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ------------------------
 65.97    0.138724         222       624       147 futex
  6.87    0.014450           9      1556       285 newfstatat
  0.21    0.000441           1       349           rt_sigaction
------ ----------- ----------- --------- --------- ------------------------
100.00    0.210288          47      2529       432 total
`
	top, total := parseStraceSummary([]byte(in))
	if total != 2529 || len(top) != 3 || top[0].Name != "newfstatat" || top[0].Errors != 285 || top[2].Calls != 349 || top[2].Errors != 0 {
		t.Errorf("got %+v total %d", top, total)
	}
}

func TestParseStraceProcesses(t *testing.T) {
	in := `100 execve("/work/fence", ["fence", "--", "true"], 0x7ffe /* 35 vars */) = 0
100 clone(child_stack=0x1, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS, tls=0x2) = 101
101 clone(child_stack=NULL, flags=CLONE_VM|CLONE_PIDFD|CLONE_VFORK <unfinished ...>
102 exit_group(0)                     = ?
101 <... clone resumed>, parent_tid=[8]) = 102
101 clone(child_stack=NULL, flags=CLONE_PIDFD|CLONE_NEWUSER|CLONE_NEWPID|SIGCHLD, parent_tid=[12]) = 103
103 execve("/proc/self/exe", ["fence-init"], 0x2 /* 1 var */ <unfinished ...>
103 <... execve resumed>)             = 0
104 execve("/usr/local/bin/true", ["true"], 0x3 /* 3 vars */) = -1 ENOENT (No such file or directory)
104 execve("/usr/bin/true", ["true"], 0x3 /* 3 vars */) = 0
`
	p, th, ex := parseStraceProcesses([]byte(in))
	if p != 3 || th != 1 || ex != 3 {
		t.Errorf("processes %d threads %d execs %d; want 3 1 3", p, th, ex)
	}
}

func TestParsePerfStat(t *testing.T) {
	in := `# started on Wed Nov 25 22:36:30 2026

29.50,msec,task-clock,3.19%,29497447,100.00,0.568,CPUs utilized
827,,context-switches,5.16%,29497447,100.00,30.164,K/sec
<not counted>,,page-faults,0,100.00,,
`
	m := parsePerfStat([]byte(in))
	if m["task-clock"] != 29.5 || m["context-switches"] != 827 || len(m) != 2 {
		t.Errorf("got %v", m)
	}
}

func TestParseTimeline(t *testing.T) {
	in := "noise\n[fence:timeline] fence-start       +   0.000 ms\n[fence:timeline] spawned          +   1.250 ms\n[fence:timeline] exited           +  4.500 ms\n"
	names, at := ParseTimeline([]byte(in))
	if strings.Join(names, ",") != "fence-start,spawned,exited" || at["spawned"] != 1.25 || at["exited"] != 4.5 {
		t.Errorf("got %v %v", names, at)
	}
}

func TestParsePerfScript(t *testing.T) {
	in := "fence \n\tffffffff816b501d __x64_sys_newfstatat\n\tffffffff821ecc51 do_syscall_64\n\n" +
		"exe \n\tffffffff81234 clear_page_erms\n\tffffffff81235 exc_page_fault\n\n" +
		"exe \n\t4567 runtime.futex\n\n" +
		"bash \n\tffffffff816b501d __x64_sys_read\n\n" +
		"true \n\tffffffff81000 finish_task_switch.isra.0\n"
	got := parsePerfScript([]byte(in), "fence")
	want := map[[2]string]int{
		{"supervisor", "syscall newfstatat"}: 1,
		{"init stage", "page faults"}:        1,
		{"init stage", "user space"}:         1,
		{"command", "kernel (other)"}:        1,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%v: %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// InheritNothing leaves no descriptor above 2 for the measured commands to
// inherit: one the harness was started with becomes close-on-exec.
func TestInheritNothing(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := unix.FcntlInt(r.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	if err := InheritNothing(); err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(r.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("an inherited descriptor after InheritNothing: flags %#x, %v; want close-on-exec", flags, err)
	}
}

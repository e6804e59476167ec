package perf

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// EntryCounts are the policy sizes of the scaling section.
var EntryCounts = []int{1, 10, 100}

// ConcurrencyLevels are the numbers of sandboxes started at once.
var ConcurrencyLevels = []int{1, 10, 50}

func (h *harness) scaling() *Scaling {
	s := &Scaling{}
	s.Entries, s.EntriesSkipped = h.entries()
	s.Concurrency, s.Leaks = h.concurrency()
	s.RSS = h.rss()
	return s
}

// entries measures `fence -- true` with 1, 10 and 100 allowWrite and as many
// denyRead entries (distinct existing directories), alternating with bare
// true.
func (h *harness) entries() ([]EntriesPoint, string) {
	max := EntryCounts[len(EntryCounts)-1]
	h.logf("scaling: policy with %v allowWrite + denyRead entries", EntryCounts)
	base := filepath.Join(h.ws.Dir, "scale")
	var ws, rs []string
	for i := 0; i < max; i++ {
		w := filepath.Join(base, fmt.Sprintf("w%03d", i))
		r := filepath.Join(base, fmt.Sprintf("r%03d", i))
		for _, d := range []string{w, r} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err.Error()
			}
		}
		ws, rs = append(ws, w), append(rs, r)
	}
	cols := []col{h.procCol("true", proc{argv: []string{h.tools["true"]}, dir: base, env: h.env})}
	for _, k := range EntryCounts {
		cfg, err := h.ws.WriteConfig(fmt.Sprintf("fence-entries-%d.json", k), map[string]any{
			"filesystem": map[string]any{"allowWrite": ws[:k], "denyRead": rs[:k]},
		})
		if err != nil {
			return nil, err.Error()
		}
		cols = append(cols, h.procCol(strconv.Itoa(k), proc{argv: []string{h.fence, "-s", cfg, "--", h.tools["true"]}, dir: base, env: h.env}))
	}
	res := h.measure(cols, h.runs, h.warmup, "true")
	if r := res["true"]; r.Skipped != "" {
		return nil, "bare true fails: " + r.Skipped
	}
	var out []EntriesPoint
	for _, k := range EntryCounts {
		r := res[strconv.Itoa(k)]
		if r.Skipped != "" {
			return out, fmt.Sprintf("%d entries: %s", k, r.Skipped)
		}
		out = append(out, EntriesPoint{Entries: k, Stats: r.Stats, Factor: r.Factor})
		h.logf("  %3d entries  %s  %s", k, fmtRange(r.Stats), fmtFactor(r.Factor))
	}
	return out, ""
}

// rounds is how many times n sandboxes are started at once.
func (h *harness) rounds(n int) int {
	total := 150 // sandboxes per level, about
	if h.o.Quick {
		total = 20
	}
	r := total / n
	if n == 1 && r > h.runs {
		r = h.runs
	}
	if r < 1 {
		r = 1
	}
	return r
}

// concurrency starts 1, 10 and 50 sandboxes at once and measures each one's
// latency (spawn → exit of `fence -- true`) and the throughput; then it
// checks that nothing outlived them.
func (h *harness) concurrency() ([]ConcPoint, *LeakCheck) {
	h.logf("scaling: %v concurrent sandboxes", ConcurrencyLevels)
	lk := &LeakCheck{Leaked: []string{}}
	if err := setSubreaper(); err != nil {
		lk.Notes = append(lk.Notes, "not a child subreaper: "+err.Error())
	}
	defer endSubreaper()
	before, snapErr := takeSnapshot()
	p := proc{argv: []string{h.fence, "-s", h.ws.Config, "--", h.tools["true"]}, dir: h.ws.Repo, env: h.env}
	var out []ConcPoint
	for _, n := range ConcurrencyLevels {
		cp := ConcPoint{N: n, Rounds: h.rounds(n)}
		var lat []time.Duration
		var wall time.Duration
		for r := 0; r < cp.Rounds; r++ {
			d := make([]time.Duration, n)
			fail := make([]bool, n)
			var ready, done sync.WaitGroup
			gate := make(chan struct{})
			ready.Add(n)
			done.Add(n)
			for i := 0; i < n; i++ {
				go func(i int) {
					defer done.Done()
					ready.Done()
					<-gate
					var err error
					d[i], _, err = h.start(p)
					fail[i] = err != nil
				}(i)
			}
			ready.Wait()
			t0 := time.Now()
			close(gate)
			done.Wait()
			wall += time.Since(t0)
			for i := range d {
				if fail[i] {
					cp.Failures++
				} else {
					lat = append(lat, d[i])
				}
			}
		}
		if len(lat) == 0 {
			cp.Skipped = "every sandbox failed"
			out = append(out, cp)
			continue
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		cp.P50Ms = ms(percentileSorted(lat, 50))
		cp.P99Ms = ms(percentileSorted(lat, 99))
		cp.MaxMs = ms(lat[len(lat)-1])
		cp.WallMs = ms(wall)
		cp.ThroughputPerS = round2(float64(len(lat)) / wall.Seconds())
		h.logf("  %2d at once: %d rounds, %.0f sandboxes/s, p50 %s, p99 %s, %d failures", n, cp.Rounds, cp.ThroughputPerS, fmtMs(cp.P50Ms), fmtMs(cp.P99Ms), cp.Failures)
		out = append(out, cp)
	}
	if snapErr != nil {
		lk.Notes = append(lk.Notes, "leak check skipped: "+snapErr.Error())
		return out, lk
	}
	// What a sandbox leaves must be gone once its fence has exited: no
	// settling time is needed, but allow a little for unrelated noise.
	var after sysSnapshot
	for i := 0; i < 10; i++ {
		after, _ = takeSnapshot()
		if l, _ := leaks(before, after, h.fence); len(l) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	lk.Before, lk.After = before.Snapshot, after.Snapshot
	l, notes := leaks(before, after, h.fence)
	lk.Leaked = append(lk.Leaked, l...)
	lk.Notes = append(lk.Notes, notes...)
	if len(lk.Leaked) == 0 {
		h.logf("  leak check: nothing left behind")
	} else {
		h.logf("  leak check: LEAKED %v", lk.Leaked)
	}
	return out, lk
}

// rss measures the supervisor's and the init stage's memory while a sandbox
// runs `sleep`, from /proc, and ru_maxrss of `fence -- true` from wait4.
func (h *harness) rss() *RSS {
	r := &RSS{}
	for _, row := range h.rep.Rows {
		if res := row.Results[ColFence]; row.ID == "true" && res != nil && res.Skipped == "" {
			r.WaitMaxRSSKiB = res.MaxRSSKiB
		}
	}
	if r.WaitMaxRSSKiB == 0 {
		var v []int64
		p := proc{argv: []string{h.fence, "-s", h.ws.Config, "--", h.tools["true"]}, dir: h.ws.Repo, env: h.env}
		for i := 0; i < 5; i++ {
			if _, kib, err := h.start(p); err == nil {
				v = append(v, kib)
			}
		}
		r.WaitMaxRSSKiB = medianInt64(v)
	}
	if !haveProc {
		r.Skipped = "needs /proc"
		return r
	}
	c := exec.Command(h.fence, "-s", h.ws.Config, "--", h.tools["sleep"], "30")
	c.Dir, c.Env = h.ws.Repo, h.env
	if err := c.Start(); err != nil {
		r.Skipped = err.Error()
		return r
	}
	defer func() {
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, init := range children(c.Process.Pid) {
			for _, cmd := range children(init.pid) {
				if cmd.comm != "sleep" {
					continue
				}
				sup, err1 := procStatus(c.Process.Pid)
				in, err2 := procStatus(init.pid)
				if err1 != nil || err2 != nil {
					r.Skipped = fmt.Sprintf("read /proc status: %v %v", err1, err2)
					return r
				}
				r.SupervisorRSSKiB, r.SupervisorHWMKiB = sup["VmRSS"], sup["VmHWM"]
				r.SupervisorThreads = int(sup["Threads"])
				r.InitRSSKiB, r.InitHWMKiB = in["VmRSS"], in["VmHWM"]
				h.logf("  RSS: supervisor %d KiB (peak %d), init stage %d KiB (peak %d)", r.SupervisorRSSKiB, r.SupervisorHWMKiB, r.InitRSSKiB, r.InitHWMKiB)
				return r
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.Skipped = "the sandboxed sleep did not show up under fence within 10 s"
	return r
}

package perf

import (
	"fmt"
	"io"
	"strings"
)

// Target is a goal of the benchmarking issue (docs/benchmarking.md), checked
// against one run: the fence column's overhead factor for a row. Targets
// are recorded, never asserted: a shared or virtualised machine can miss
// them for reasons of its own.
type Target struct {
	Name string `json:"name"`
	Row  string `json:"row"`
	// Warm selects the "inside a running sandbox" table.
	Warm bool    `json:"warm,omitempty"`
	Max  float64 `json:"max_factor"`
	// Factor is what this run measured; 0 when the row or the fence
	// column did not run.
	Factor float64 `json:"factor,omitempty"`
	Met    bool    `json:"met"`
}

// targets are the goals, in report order.
var targets = []Target{
	{Name: "fence -- true, cold", Row: "true-default", Max: 7},
	{Name: "python3 -c pass, cold", Row: "python", Max: 1.5},
	{Name: "git status, cold", Row: "git-status", Max: 3},
	{Name: "true inside a running sandbox", Row: "true", Warm: true, Max: 1.05},
}

// checkTargets fills r.Targets from the rows that ran.
func (r *Report) checkTargets() {
	r.Targets = nil
	for _, t := range targets {
		rows := r.Rows
		if t.Warm {
			rows = r.Warm
		}
		for _, row := range rows {
			if row.ID != t.Row || row.Skipped != "" {
				continue
			}
			if res := row.Results[ColFence]; res != nil && res.Skipped == "" && res.Factor > 0 {
				t.Factor = res.Factor
				t.Met = res.Factor <= t.Max
			}
		}
		r.Targets = append(r.Targets, t)
	}
}

// targetLines renders the targets, one line each.
func (r *Report) targetLines() [][]string {
	out := [][]string{{"Target", "Measured", "Goal", ""}}
	for _, t := range r.Targets {
		got, verdict := "not measured", ""
		if t.Factor > 0 {
			got = fmt.Sprintf("%.2fx", t.Factor)
			verdict = "not met"
			if t.Met {
				verdict = "met"
			}
		}
		out = append(out, []string{t.Name, got, fmt.Sprintf("≤ %gx", t.Max), verdict})
	}
	return out
}

func (r *Report) writeTargetsText(w io.Writer) {
	if len(r.Targets) == 0 {
		return
	}
	fmt.Fprintln(w, "Targets (fence column; recorded, not asserted):")
	lines := r.targetLines()
	for i := range lines {
		lines[i][0] = "  " + lines[i][0]
	}
	writeTab(w, lines)
	fmt.Fprintln(w)
}

func (r *Report) writeTargetsMarkdown(w io.Writer) {
	if len(r.Targets) == 0 {
		return
	}
	fmt.Fprint(w, "Targets (fence column; recorded, not asserted):\n\n")
	for i, l := range r.targetLines() {
		fmt.Fprintf(w, "| %s |\n", strings.Join(l, " | "))
		if i == 0 {
			fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(l)))
		}
	}
	fmt.Fprintln(w)
}

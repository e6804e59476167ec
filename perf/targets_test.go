package perf

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckTargets(t *testing.T) {
	res := func(f float64) map[string]*Result {
		return map[string]*Result{ColFence: {Factor: f}, ColUnsandboxed: {}}
	}
	r := &Report{
		Rows: []Row{
			{ID: "true-default", Results: res(14.7)},
			{ID: "true", Results: res(16.2)}, // the workspace writable: no target
			{ID: "python", Results: res(1.25)},
			{ID: "git-status", Skipped: "git is not installed"},
		},
		Warm: []Row{{ID: "true", Results: res(1.01)}},
	}
	r.checkTargets()
	want := []struct {
		factor float64
		met    bool
	}{{14.7, false}, {1.25, true}, {0, false}, {1.01, true}}
	if len(r.Targets) != len(want) {
		t.Fatalf("targets %+v, want %d", r.Targets, len(want))
	}
	for i, w := range want {
		if got := r.Targets[i]; got.Factor != w.factor || got.Met != w.met {
			t.Errorf("target %q: factor %v met %v, want %v %v", got.Name, got.Factor, got.Met, w.factor, w.met)
		}
	}
	var text, md bytes.Buffer
	r.WriteText(&text)
	r.WriteMarkdown(&md)
	for _, out := range []string{text.String(), md.String()} {
		for _, s := range []string{"fence -- true, cold", "14.70x", "≤ 7x", "not met", "not measured", "1.01x"} {
			if !strings.Contains(out, s) {
				t.Errorf("report lacks %q:\n%s", s, out)
			}
		}
	}
}

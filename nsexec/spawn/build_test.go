package spawn

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMakefileBuildsWithGoExperiment: make build compiles fence with
// GoExperiment added to the environment's GOEXPERIMENT where the toolchain
// accepts it, and passes the environment's setting through untouched where
// it does not (a toolchain that dropped the setting must still build).
func TestMakefileBuildsWithGoExperiment(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed: the Makefile's build line cannot be printed")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	// What make build prints (-n: nothing is built), for a toolchain that
	// accepts the setting (this one) and one that refuses every setting.
	refusing := filepath.Join(t.TempDir(), "go")
	script := "#!/bin/sh\nif [ \"$1\" = env ]; then echo 'go: unknown GOEXPERIMENT' >&2; exit 2; fi\nexec " + gobin + " \"$@\"\n"
	if err := os.WriteFile(refusing, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	buildLine := func(goCmd, env string) string {
		t.Helper()
		cmd := exec.Command(mk, "-n", "-s", "build", "GO="+goCmd)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "GOEXPERIMENT="+env)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n build: %v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, " build ") && strings.Contains(l, "./cmd/fence") {
				return l
			}
		}
		t.Fatalf("make -n build printed no go build of ./cmd/fence:\n%s", out)
		return ""
	}
	if l := buildLine(gobin, ""); !strings.HasPrefix(l, "GOEXPERIMENT="+GoExperiment+" ") {
		t.Errorf("make build does not build with GOEXPERIMENT=%s:\n%s", GoExperiment, l)
	}
	if l := buildLine(gobin, "jsonv2"); !strings.HasPrefix(l, "GOEXPERIMENT=jsonv2,"+GoExperiment+" ") {
		t.Errorf("make build drops the environment's GOEXPERIMENT=jsonv2 or does not add %s:\n%s", GoExperiment, l)
	}
	if l := buildLine(refusing, ""); strings.Contains(l, "GOEXPERIMENT") {
		t.Errorf("make build sets GOEXPERIMENT with a toolchain that refuses %s:\n%s", GoExperiment, l)
	}
}

// TestWithGoExperiment: the setting is added to the environment's, as the
// Makefile adds it.
func TestWithGoExperiment(t *testing.T) {
	for current, want := range map[string]string{"": GoExperiment, "jsonv2": "jsonv2," + GoExperiment} {
		if got := WithGoExperiment(current); got != want {
			t.Errorf("WithGoExperiment(%q) = %q, want %q", current, got, want)
		}
	}
}

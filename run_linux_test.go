package fence_test

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/nsfence/fence"
	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/nsexec"
)

func TestMain(m *testing.M) {
	// Run re-executes this test binary as the sandbox's init stage.
	if nsexec.IsInit() {
		nsexec.Init()
	}
	os.Exit(m.Run())
}

// TestRunLibrary uses fence as a library: resolve a config, run a command
// under it with its output captured, read the exit code.
func TestRunLibrary(t *testing.T) {
	ws := t.TempDir()
	cfg, err := config.Parse([]byte(`{"filesystem": {"allowWrite": ["` + ws + `"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	code, err := fence.Run(&fence.Spec{
		Config: cfg, Cwd: ws,
		Command: `echo "sandboxed:$FENCE_SANDBOX" > out.txt; cat out.txt; touch /etc/fence-lib-test 2>/dev/null || echo ro; exit 3`,
		Stdout:  w,
	})
	w.Close()
	out, _ := io.ReadAll(r)
	if err != nil || code != 3 {
		t.Fatalf("Run = %d, %v; output %q", code, err, out)
	}
	if string(out) != "sandboxed:1\nro\n" {
		t.Fatalf("output %q", out)
	}
	if b, _ := os.ReadFile(ws + "/out.txt"); string(b) != "sandboxed:1\n" {
		t.Fatalf("write did not reach the host: %q", b)
	}
}

// TestRunBlockedByPolicy: a denied command is an error of a type callers can
// inspect, and nothing runs.
func TestRunBlockedByPolicy(t *testing.T) {
	ws := t.TempDir()
	cfg, err := config.Parse([]byte(`{"filesystem": {"allowWrite": ["` + ws + `"]}, "command": {"deny": ["git push"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fence.Run(&fence.Spec{Config: cfg, Cwd: ws, Command: "touch ran && env git push origin main"})
	var blocked *config.CommandBlockedError
	if !errors.As(err, &blocked) || !strings.Contains(err.Error(), `matches "git push"`) {
		t.Fatalf("Run error = %v, want a CommandBlockedError", err)
	}
	if _, err := os.Stat(ws + "/ran"); err == nil {
		t.Fatal("the blocked command line ran")
	}
}

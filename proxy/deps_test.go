package proxy

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDependencies keeps proxy pure Go and free of the sandbox runtime
// (STYLE rule 12).
func TestDependencies(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		// Not a skip: the toolchain running this test has a go command.
		t.Fatalf("go list -deps .: %v", err)
	}
	bad := map[string]string{
		"github.com/nsfence/fence/nsexec":   "proxy runs in the supervisor and knows nothing of namespaces",
		"github.com/nsfence/fence/netns":    "the caller hands proxy its listeners",
		"github.com/nsfence/fence/seatbelt": "proxy is platform-neutral",
		"github.com/nsfence/fence/config":   "the caller turns config into Options",
		"github.com/nsfence/fence/perf":     "nothing imports perf",
		"golang.org/x/sys/unix":             "proxy is pure Go",
		"github.com/vishvananda/netlink":    "only netns talks netlink",
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != "github.com/nsfence/fence/proxy" {
		t.Fatalf("go list -deps . did not list proxy itself last: %q", deps)
	}
	for _, dep := range deps {
		for pkg, why := range bad {
			if dep == pkg || strings.HasPrefix(dep, pkg+"/") {
				t.Errorf("proxy depends on %s: %s", dep, why)
			}
		}
	}
}

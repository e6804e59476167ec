package fence

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goTool is the go command of the toolchain running the tests: "go" in
// PATH may be missing (go test run by its full path) or another version.
func goTool() string {
	if root := runtime.GOROOT(); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// TestDependencyDirection enforces the layering of DESIGN §2: mechanism
// packages do not know the config schema, the policy model imports no
// platform code, the proxy knows nothing of namespaces, and nothing imports
// the CLI or the benchmark harness.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/nsfence/fence"
	const stageEarly = "the init stage must not wait for the supervisor's package initialisation (see cmd/fence/internal/stage)"
	const noHTTP = "net/http costs every fence command ~1.8 ms of start-up, twice (docs/benchmarking.md); the HTTP proxy has its own HTTP/1.1 (proxy/wire.go)"
	banned := map[string]map[string]string{ // package => dependency => why
		mod + "/config": {
			mod + "/nsexec": "config is the policy model; no platform code", mod + "/netns": "no platform code",
			mod + "/proxy": "no mechanism code", "golang.org/x/sys/unix": "pure Go", mod + "/seatbelt": "no macOS code",
		},
		mod + "/seatbelt": {
			mod + "/config": "seatbelt receives Options, not the schema", mod + "/nsexec": "no Linux code",
			mod + "/netns": "no Linux code", mod + "/proxy": "the proxies live in package fence's Run",
			"golang.org/x/sys/unix": "the profile generator is pure Go",
		},
		mod + "/nsexec": {
			mod + "/config": "nsexec receives Options, not the schema", mod + "/proxy": "the proxies live in the supervisor",
			// Go initialises these late; cmd/fence/internal/stage runs the
			// init stage from nsexec before the supervisor's packages only
			// while nsexec does not wait for them.
			"net": stageEarly, "net/netip": stageEarly, "unique": stageEarly, "runtime/debug": stageEarly,
			"github.com/vishvananda/netlink/nl": stageEarly,
		},
		mod + "/netns": {mod + "/nsexec": "netns does not manage processes", mod + "/config": "no schema"},
		mod + "/proxy": {
			mod + "/nsexec": "the proxy knows nothing of namespaces", mod + "/netns": "no namespaces",
			mod + "/config": "rules come as plain lists", "github.com/vishvananda/netlink": "no netlink", "github.com/vishvananda/netlink/nl": "no netlink",
			"net/http": noHTTP,
		},
		mod + "/cmd/fence": {"net/http": noHTTP},
	}
	out, err := exec.Command(goTool(), "list", "-deps", "-test=false", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		// Not a skip: the toolchain running this test has a go command.
		t.Fatalf("go list -deps ./...: %v%s", err, stderrOf(err))
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ImportPath, mod) {
			continue
		}
		for _, d := range p.Deps {
			if why, ok := banned[p.ImportPath][d]; ok {
				t.Errorf("%s imports %s: %s", p.ImportPath, d, why)
			}
			if (strings.HasPrefix(d, mod+"/perf") || strings.HasPrefix(d, mod+"/cmd/")) && !strings.HasPrefix(p.ImportPath, mod+"/perf") &&
				!strings.HasPrefix(d, p.ImportPath+"/internal/") {
				t.Errorf("%s imports %s: nothing may import the CLI or the benchmark harness", p.ImportPath, d)
			}
			// Build tooling (make build, the test builds): not in fence.
			if strings.HasPrefix(d, mod+"/internal/rtoverlay") && !strings.HasPrefix(p.ImportPath, mod+"/internal/rtoverlay") {
				t.Errorf("%s imports %s: the runtime overlay is build tooling, which fence must not carry", p.ImportPath, d)
			}
		}
	}
}

// TestEarlyPackagesStayLight: the packages that start the init stage from a
// package init function (nsexec/spawn, cmd/fence/internal/early) save time
// only while Go can initialise them before the CLI's dependencies, which it
// does in import path order once a package's imports are ready. An import
// of, say, net would make every ready package that sorts before it
// (mvdan.cc/sh, crypto, mime...) initialise first, and the head start would
// be gone without any test failing. Their dependencies must stay within
// those of os, fmt, strings and golang.org/x/sys/unix.
func TestEarlyPackagesStayLight(t *testing.T) {
	deps := func(pkgs ...string) map[string]bool {
		t.Helper()
		out, err := exec.Command(goTool(), append([]string{"list", "-deps"}, pkgs...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v%s", pkgs, err, stderrOf(err))
		}
		m := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			m[l] = true
		}
		return m
	}
	allowed := deps("os", "fmt", "strings", "golang.org/x/sys/unix")
	for _, pkg := range []string{"./nsexec/spawn", "./cmd/fence/internal/early"} {
		for d := range deps(pkg) {
			own := strings.HasPrefix(d, "github.com/nsfence/fence/nsexec/spawn") ||
				strings.HasPrefix(d, "github.com/nsfence/fence/nsexec/internal/rawsig") ||
				strings.HasPrefix(d, "github.com/nsfence/fence/internal/cfgfile") ||
				d == "github.com/nsfence/fence/internal/prefault" ||
				strings.HasPrefix(d, "github.com/nsfence/fence/cmd/fence/internal/early")
			if !allowed[d] && !own {
				t.Errorf("%s depends on %s: keep it to os, fmt, strings and x/sys/unix (see the package doc)", pkg, d)
			}
		}
	}
	// nofile's init must run before syscall's (see its package doc);
	// prefault, which spawn's entry links in, stays a leaf.
	for pkg, why := range map[string]string{
		"nsexec/spawn/internal/nofile": "so that it reads the open-file limit before package syscall raises it",
		"internal/prefault":            "so that linking in the entry's populate costs the init stage nothing",
	} {
		path := "github.com/nsfence/fence/" + pkg
		for d := range deps("./" + pkg) {
			if d != path && d != "unsafe" {
				t.Errorf("%s depends on %s: it must import nothing, %s", path, d, why)
			}
		}
	}
}

// stderrOf returns the standard error an *exec.ExitError kept, on a line of
// its own, or "".
func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}

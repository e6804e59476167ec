package fence

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces the layering of DESIGN §2: mechanism
// packages do not know the config schema, the policy model imports no
// platform code, the proxy knows nothing of namespaces, and nothing imports
// the CLI or the benchmark harness.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/nsfence/fence"
	banned := map[string]map[string]string{ // package => dependency => why
		mod + "/config": {
			mod + "/nsexec": "config is the policy model; no platform code", mod + "/netns": "no platform code",
			mod + "/proxy": "no mechanism code", "golang.org/x/sys/unix": "pure Go",
		},
		mod + "/nsexec": {mod + "/config": "nsexec receives Options, not the schema", mod + "/proxy": "the proxies live in the supervisor"},
		mod + "/netns":  {mod + "/nsexec": "netns does not manage processes", mod + "/config": "no schema"},
		mod + "/proxy": {
			mod + "/nsexec": "the proxy knows nothing of namespaces", mod + "/netns": "no namespaces",
			mod + "/config": "rules come as plain lists", "github.com/vishvananda/netlink": "no netlink",
		},
	}
	out, err := exec.Command("go", "list", "-deps", "-test=false", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		t.Skipf("go list not available: %v", err)
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
			if (strings.HasPrefix(d, mod+"/perf") || strings.HasPrefix(d, mod+"/cmd/")) && !strings.HasPrefix(p.ImportPath, mod+"/perf") {
				t.Errorf("%s imports %s: nothing may import the CLI or the benchmark harness", p.ImportPath, d)
			}
		}
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkResolve measures what fence does per command before spawning:
// the code template (-t), a settings file (-s) on top and a project
// fence.json found two levels up in a repository. Every command is a new
// process, so the template cache is dropped each time: this is the cold
// cost. Budget: 0.3 ms/op.
func BenchmarkResolve(b *testing.B) {
	root := b.TempDir()
	repo := filepath.Join(root, "repo")
	cwd := filepath.Join(repo, "pkg", "sub")
	for _, d := range []string{filepath.Join(repo, ".git"), cwd, filepath.Join(root, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	settings := filepath.Join(root, "settings.json")
	if err := os.WriteFile(settings, []byte(`// team settings
{
  "network": {"allowedDomains": ["internal.example.com", "*.corp.example.com"]},
  "filesystem": {"allowWrite": ["~/.m2/**"], "denyRead": ["~/.vault-token"]},
  "command": {"deny": ["terraform apply", "kubectl delete"]},
}`), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "fence.json"), []byte(`{"command": {"allow": ["git push origin docs"]}, "network": {"allowLocalOutboundPorts": [5432]}}`), 0o644); err != nil {
		b.Fatal(err)
	}
	o := LoadOptions{Template: "code", SettingsPath: settings, Cwd: cwd, Home: filepath.Join(root, "home"), ConfigDir: filepath.Join(root, "home", ".config"),
		TrustStore: filepath.Join(root, "trusted.json")}
	// The project file loosens the policy (command.allow): trusted, as a
	// user would have it, so that the trust check is part of the cost.
	trust(b, o, filepath.Join(repo, "fence.json"))
	if _, sources, err := Resolve(o); err != nil || len(sources) != 3 {
		b.Fatalf("Resolve: %v %v", sources, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		dropTemplateCache()
		if _, _, err := Resolve(o); err != nil {
			b.Fatal(err)
		}
	}
}

func dropTemplateCache() {
	parsedTemplates.mu.Lock()
	parsedTemplates.docs = nil
	parsedTemplates.mu.Unlock()
}

// BenchmarkTemplateCold is the template part of BenchmarkResolve alone.
func BenchmarkTemplateCold(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		dropTemplateCache()
		if _, err := Template("code"); err != nil {
			b.Fatal(err)
		}
	}
}

// command1KB is a realistic 1 kB command line: a chain with pipes, quotes,
// substitutions, a subshell, a loop and a nested bash -c.
func command1KB() string {
	parts := []string{
		`cd "$(git rev-parse --show-toplevel)" && git status --porcelain | grep -v '^??' | wc -l`,
		`for f in $(git diff --name-only HEAD~1 -- '*.go'); do gofmt -l "$f"; done`,
		`(cd web && npm ci --no-audit && npm run build -- --mode production) > /tmp/build.log 2>&1`,
		`bash -lc 'go test ./... -run "TestParse|TestMerge" -count=1 2>&1 | tee /tmp/test.log'`,
		`find . -name '*.tmp' -mtime +7 -print0 | xargs -0 rm -f`,
		`env GOFLAGS=-mod=mod timeout 300 go build -o ./bin/app ./cmd/app`,
		`curl -fsSL https://proxy.golang.org/github.com/x/y/@v/list | sort -V | tail -n 1`,
		`echo "done: $(date +%s)" >> /tmp/log.txt; cat /tmp/log.txt | head -n 20`,
	}
	s := strings.Join(parts, " && ")
	for len(s) < 1024 {
		s += " && echo " + strings.Repeat("x", 20)
	}
	return s[:1024]
}

// BenchmarkCheckCommand1KB: preflight of a 1 kB command line against the
// code template's rules and the defaults. Budget: 0.1 ms/op.
func BenchmarkCheckCommand1KB(b *testing.B) {
	c, err := Template("code")
	if err != nil {
		b.Fatal(err)
	}
	cmd := command1KB()
	if err := CheckCommand(cmd, c); err != nil {
		b.Fatalf("benchmark command is blocked: %v", err)
	}
	b.SetBytes(int64(len(cmd)))
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckCommand(cmd, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckCommandShort: the common case, a short command.
func BenchmarkCheckCommandShort(b *testing.B) {
	c, err := Template("code")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckCommand("npm install && npm test", c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckCommandHostile: inputs built to make the checker's work
// blow up (deep and wide substitutions, nested groups, brace and read
// expansions, quadratic pattern matching), which command_test.go checks
// for their verdicts. Each took 4-100 ms on a 2-core AMD EPYC (and over a
// second under -race, where the timed checks these tests had failed); the
// tests only catch a hang (hangBound).
func BenchmarkCheckCommandHostile(b *testing.B) {
	c := policy([]string{"git push"}, nil)
	for name, cmd := range map[string]string{
		"substitutions-deep": "git " + strings.Repeat("$(echo ", 2000) + "push" + strings.Repeat(")", 2000),
		"substitutions-wide": "git" + strings.Repeat(" $(echo $(echo a b) $(printf '%s ' c d))", 2000),
		"groups-nested":      strings.Repeat("{ ", 20000) + "echo git push; ls;" + strings.Repeat(" }", 20000) + " | sh",
		"braces":             "echo " + strings.Repeat("{1..256}", 12000),
		"read-lines":         "while read -r x; do git $x; done <<EOF\n" + strings.Repeat("status\n", 20000) + "EOF",
		"shift":              "f(){ " + strings.Repeat("shift; ", 10000) + "git \"$@\"; }; f {1..2000}",
		"pattern-quadratic":  "X=" + strings.Repeat("a", 60000) + "; git ${X//*b/}",
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(cmd)))
			for b.Loop() {
				_ = CheckCommand(cmd, c)
			}
		})
	}
}

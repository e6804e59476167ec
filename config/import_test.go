package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestImportClaudeGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdata, "claude-settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, warnings, err := ImportClaude(data, "code")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Extends:    "code",
		Filesystem: FilesystemConfig{AllowWrite: []string{"src/**", "/tmp/out/**"}, DenyRead: []string{"~/.aws/**", "./secrets/**"}, DenyWrite: []string{".env", "**/*.pem", "package.json"}},
		Command:    CommandConfig{Allow: []string{"npm run test", "git status"}, Deny: []string{"git push", "rm -rf", "npm publish"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("ImportClaude =\n%+v\nwant\n%+v", c, want)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "claude-import.golden.json", out)
	golden(t, "claude-import-warnings.golden", []byte(strings.Join(warnings, "\n")+"\n"))
}

func TestImportClaudeRules(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		want     *Config
		warn     []string
	}{
		{"empty file", "", &Config{}, nil},
		{"no permissions", `{"model": "x"}`, &Config{}, nil},
		{"bash allow with :*", `{"permissions": {"allow": ["Bash(npm run test:*)"]}}`,
			&Config{Command: CommandConfig{Allow: []string{"npm run test"}}}, nil},
		{"bash deny", `{"permissions": {"deny": ["Bash(git push)"]}}`,
			&Config{Command: CommandConfig{Deny: []string{"git push"}}}, nil},
		{"bash ask", `{"permissions": {"ask": ["Bash(git push:*)"]}}`,
			&Config{Command: CommandConfig{Deny: []string{"git push"}}}, []string{`Ask rule "Bash(git push:*)" converted to deny`}},
		{"read deny", `{"permissions": {"deny": ["Read(~/.ssh/**)"]}}`,
			&Config{Filesystem: FilesystemConfig{DenyRead: []string{"~/.ssh/**"}}}, nil},
		{"read allow ignored", `{"permissions": {"allow": ["Read(./docs/**)"]}}`, &Config{}, nil},
		{"paths fence refuses", `{"permissions": {"deny": ["Edit(/x/$USER/.bashrc)", "Read(./[draft)", "Read(~root/.ssh)", "Read(.env)"]}}`,
			&Config{Filesystem: FilesystemConfig{DenyRead: []string{".env"}}},
			[]string{`"Edit(/x/$USER/.bashrc)" skipped: filesystem.denyWrite "/x/$USER/.bashrc": environment variables`, `"Read(./[draft)" skipped`, `"Read(~root/.ssh)" skipped`}},
		{"$HOME as ~", `{"permissions": {"deny": ["Read($HOME/.aws/**)", "Edit(${HOME}/.bashrc)"]}}`,
			&Config{Filesystem: FilesystemConfig{DenyRead: []string{"~/.aws/**"}, DenyWrite: []string{"~/.bashrc"}}}, nil},
		{"read deny at any depth", `{"permissions": {"deny": ["Read(**/.env)", "Read(src/**/key.pem)"]}}`,
			&Config{Filesystem: FilesystemConfig{DenyRead: []string{".env"}}},
			[]string{`"Read(**/.env)" imported as ".env": fence cannot hide files at any depth`, `"Read(src/**/key.pem)" skipped`}},
		{"write allow and deny", `{"permissions": {"allow": ["Write(out/**)"], "deny": ["Write(.env)"]}}`,
			&Config{Filesystem: FilesystemConfig{AllowWrite: []string{"out/**"}, DenyWrite: []string{".env"}}}, nil},
		{"edit ask", `{"permissions": {"ask": ["Edit(go.mod)"]}}`,
			&Config{Filesystem: FilesystemConfig{DenyWrite: []string{"go.mod"}}}, []string{`Ask rule "Edit(go.mod)" converted to deny`}},
		{"bare tool", `{"permissions": {"allow": ["Read"]}}`, &Config{}, []string{`Global tool permission "Read" skipped`}},
		{"other tool", `{"permissions": {"allow": ["WebFetch(domain:a.com)"]}}`, &Config{}, []string{`fence has no equivalent of the WebFetch tool`}},
		{"empty bash", `{"permissions": {"deny": ["Bash()", "Bash(:*)"]}}`, &Config{}, []string{`names no command`, `names no command`}},
		{"inner wildcard", `{"permissions": {"deny": ["Bash(git * --force)"]}}`,
			&Config{Command: CommandConfig{Deny: []string{"git * --force"}}}, []string{"taken literally"}},
		{"duplicates", `{"permissions": {"deny": ["Bash(ls)", "Bash(ls:*)"], "ask": ["Bash(ls)"]}}`,
			&Config{Command: CommandConfig{Deny: []string{"ls"}}}, []string{"converted to deny"}},
		{"garbage rule", `{"permissions": {"deny": ["(x)"]}}`, &Config{}, []string{`not a Tool(pattern) rule`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings, err := ImportClaude([]byte(tt.settings), "")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Errorf("config = %+v, want %+v", c, tt.want)
			}
			if len(warnings) != len(tt.warn) {
				t.Fatalf("warnings = %q, want %d", warnings, len(tt.warn))
			}
			for i, w := range tt.warn {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, warnings[i], w)
				}
			}
		})
	}
}

func TestImportClaudeExtendsAndErrors(t *testing.T) {
	c, _, err := ImportClaude([]byte(`{}`), "code-strict")
	if err != nil || c.Extends != "code-strict" {
		t.Errorf("extend code-strict: %+v %v", c, err)
	}
	c, _, err = ImportClaude([]byte(`{}`), "")
	if err != nil || c.Extends != "" {
		t.Errorf("no extend: %+v %v", c, err)
	}
	if _, _, err := ImportClaude([]byte(`{}`), "nope"); !errors.Is(err, ErrTemplateNotFound) {
		t.Errorf("unknown template: %v", err)
	}
	if _, _, err := ImportClaude([]byte(`{"permissions": `), ""); err == nil || !strings.Contains(err.Error(), "invalid JSON in Claude settings") {
		t.Errorf("bad JSON: %v", err)
	}
	if _, _, err := ImportClaude([]byte(`{"permissions": {"allow": [1]}}`), ""); err == nil || !strings.Contains(err.Error(), "invalid Claude settings") {
		t.Errorf("bad type: %v", err)
	}
	// The caller's buffer is not modified (hujson standardizes in place).
	src := []byte("{/* c */ \"permissions\": {}}")
	orig := slices.Clone(src)
	if _, _, err := ImportClaude(src, ""); err != nil || string(src) != string(orig) {
		t.Errorf("input modified: %q, %v", src, err)
	}
}

func TestMarshalClean(t *testing.T) {
	out, err := Marshal(&Config{})
	if err != nil || string(out) != "{}\n" {
		t.Errorf("Marshal(empty) = %q, %v", out, err)
	}
	out, _ = Marshal(nil)
	if string(out) != "{}\n" {
		t.Errorf("Marshal(nil) = %q", out)
	}
	c := &Config{
		SSH:      SSHConfig{AllowedHosts: []string{"h"}},
		Command:  CommandConfig{Deny: []string{"a && b <x>"}, UseDefaults: Bool(false)},
		Extends:  "code",
		AllowPty: true,
		Network:  NetworkConfig{AllowLocalOutbound: Bool(false)},
	}
	out, err = Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "extends": "code",
  "allowPty": true,
  "network": {
    "allowLocalOutbound": false
  },
  "command": {
    "deny": [
      "a && b <x>"
    ],
    "useDefaults": false
  },
  "ssh": {
    "allowedHosts": [
      "h"
    ]
  }
}
`
	if string(out) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", out, want)
	}
}

func TestInitConfig(t *testing.T) {
	tests := []struct {
		name   string
		opts   InitOptions
		golden string
	}{
		{"default", InitOptions{}, "init-default.golden.json"},
		{"template", InitOptions{Template: "code-strict"}, "init-code-strict.golden.json"},
		{"minimal", InitOptions{Minimal: true}, "init-minimal.golden.json"},
		{"scaffold", InitOptions{Scaffold: true}, "init-scaffold.golden.json"},
		{"minimal scaffold", InitOptions{Minimal: true, Scaffold: true}, "init-minimal-scaffold.golden.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := InitConfig(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, out)
			// What init writes is a valid config.
			if _, err := Parse(WithHeader(InitHeader(tt.opts), out)); err != nil {
				t.Errorf("init output does not parse: %v", err)
			}
		})
	}
	out, _ := InitConfig(InitOptions{})
	if string(out) != "{\n  \"extends\": \"code\"\n}\n" {
		t.Errorf("default init = %q", out)
	}
	if _, err := InitConfig(InitOptions{Template: "nope"}); err == nil || err.Error() != `template "nope" not found` {
		t.Errorf("unknown template: %v", err)
	}
	if _, err := InitConfig(InitOptions{Template: "code", Minimal: true}); err == nil {
		t.Error("minimal with template accepted")
	}
	h := InitHeader(InitOptions{})
	if h[0] != "// Starter config generated by `fence config init`; this file extends \"code\"." {
		t.Errorf("header = %q", h)
	}
	if !strings.Contains(InitHeader(InitOptions{Minimal: true})[0], "minimal") {
		t.Error("minimal header")
	}
	ih := ImportHeader("/h/.claude/settings.json", "code")
	if len(ih) != 3 || !strings.Contains(ih[0], "/h/.claude/settings.json") || !strings.Contains(ih[1], `"code"`) {
		t.Errorf("import header = %q", ih)
	}
}

func TestExpandPath(t *testing.T) {
	home, cwd := "/home/u", "/work/p"
	tests := map[string]string{
		"~":            "/home/u",
		"~/":           "/home/u",
		"~/.cache/**":  "/home/u/.cache/**",
		"~user/x":      "/work/p/~user/x",
		".":            "/work/p",
		"./src":        "/work/p/src",
		"../other":     "/work/other",
		"src/*.go":     "/work/p/src/*.go",
		"**/.env":      "/work/p/**/.env",
		"*.pem":        "/work/p/*.pem",
		"/tmp":         "/tmp",
		"/a/../b/[xy]": "/b/[xy]",
		"/a//b/":       "/a/b",
	}
	for in, want := range tests {
		if got := ExpandPath(in, home, cwd); got != want {
			t.Errorf("ExpandPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ExpandPath("~/x", "", cwd); got != "~/x" {
		t.Errorf("unknown home: %q", got)
	}
	if !HasGlob("a/**") || !HasGlob("a?") || !HasGlob("[ab]") || HasGlob("/plain/path") {
		t.Error("HasGlob")
	}
}

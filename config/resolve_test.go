package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// env is an isolated home, config dir and working directory.
type env struct {
	home, cfgDir, cwd string
}

func newEnv(t *testing.T) env {
	t.Helper()
	root := t.TempDir()
	e := env{home: filepath.Join(root, "home"), cfgDir: filepath.Join(root, "home", ".config"), cwd: filepath.Join(root, "work")}
	for _, d := range []string{e.home, e.cwd} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// newRepoEnv is newEnv with a repository at the working directory and
// its subdirectory a/b, returned.
func newRepoEnv(t *testing.T) (env, string) {
	t.Helper()
	e := newEnv(t)
	sub := filepath.Join(e.cwd, "a", "b")
	for _, d := range []string{filepath.Join(e.cwd, ".git"), sub} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e, sub
}

func (e env) opts() LoadOptions {
	return LoadOptions{Home: e.home, ConfigDir: e.cfgDir, Cwd: e.cwd, TrustStore: e.trustStore()}
}

func (e env) trustStore() string {
	return filepath.Join(e.home, ".local", "state", "fence", TrustFileName)
}

func (e env) userPath() string { return filepath.Join(e.cfgDir, "fence", "fence.json") }

func kinds(sources []Source) string {
	var s []string
	for _, src := range sources {
		s = append(s, src.Kind+":"+filepath.Base(src.Path))
	}
	return strings.Join(s, " ")
}

func TestResolveNothing(t *testing.T) {
	e := newEnv(t)
	c, sources, err := Resolve(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sources[0].Kind != SourceDefault || c.Command.UseDefaults != nil || len(c.Filesystem.AllowWrite) != 0 {
		t.Errorf("Resolve = %+v, %+v", c, sources)
	}
}

func TestResolveUserConfig(t *testing.T) {
	e := newEnv(t)
	write(t, e.userPath(), `{"extends": "code", "network": {"allowedDomains": ["example.org"]}}`)
	c, sources, err := Resolve(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(sources); got != "template:code user:fence.json" {
		t.Errorf("sources = %s", got)
	}
	if sources[0].ExtendedBy != e.userPath() {
		t.Errorf("template source ExtendedBy = %q", sources[0].ExtendedBy)
	}
	if !slices.Contains(c.Network.AllowedDomains, "example.org") || !slices.Contains(c.Network.AllowedDomains, "github.com") {
		t.Error("user config not merged over code")
	}
	if c.Extends != "" {
		t.Error("extends not cleared")
	}
}

func TestResolveLegacyUserConfig(t *testing.T) {
	e := newEnv(t)
	write(t, filepath.Join(e.home, ".fence.json"), `{"command": {"deny": ["legacy"]}}`)
	c, sources, err := Resolve(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(sources); got != "user:.fence.json" || !slices.Contains(c.Command.Deny, "legacy") {
		t.Errorf("sources = %s, deny = %q", got, c.Command.Deny)
	}
	// Once the XDG directory exists, it wins (even without the file).
	if err := os.MkdirAll(filepath.Dir(e.userPath()), 0o755); err != nil {
		t.Fatal(err)
	}
	_, sources, _ = Resolve(e.opts())
	if sources[0].Kind != SourceDefault {
		t.Errorf("with an empty XDG dir: sources = %s", kinds(sources))
	}
}

func TestDefaultPath(t *testing.T) {
	e := newEnv(t)
	if got := defaultPath(e.cfgDir, e.home); got != e.userPath() {
		t.Errorf("defaultPath = %q, want %q", got, e.userPath())
	}
	if got := defaultPath("", ""); got != "" {
		t.Errorf("defaultPath with nothing known = %q", got)
	}
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(e.home, "xdg"))
	want := filepath.Join(e.home, "xdg", "fence", "fence.json")
	if runtime.GOOS == "darwin" {
		want = filepath.Join(e.home, "Library", "Application Support", "fence", "fence.json")
	}
	if got := DefaultPath(e.home); got != want {
		t.Errorf("DefaultPath = %q, want %q", got, want)
	}
}

func TestResolveTemplateAndSettings(t *testing.T) {
	e := newEnv(t)
	write(t, e.userPath(), `{"command": {"deny": ["from-user"]}}`)
	write(t, filepath.Join(e.cwd, "extra.json"), `{"command": {"deny": ["from-settings"]}, "network": {"allowedDomains": ["extra.org"]}}`)
	o := e.opts()
	o.Template = "code"
	o.SettingsPath = "extra.json" // relative to Cwd
	c, sources, err := Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(sources); got != "template:code settings:extra.json" {
		t.Errorf("sources = %s", got)
	}
	if !slices.Contains(c.Command.Deny, "from-settings") || !slices.Contains(c.Command.Deny, "git push") {
		t.Error("-t and -s not both applied")
	}
	if slices.Contains(c.Command.Deny, "from-user") {
		t.Error("user config applied although -t/-s were given")
	}
	// -t alone: the template only, like upstream.
	o.SettingsPath = ""
	_, sources, _ = Resolve(o)
	if got := kinds(sources); got != "template:code" {
		t.Errorf("-t alone: sources = %s", got)
	}
}

func TestResolveErrors(t *testing.T) {
	e := newEnv(t)
	o := e.opts()
	o.SettingsPath = "missing.json"
	_, _, err := Resolve(o)
	want := fmt.Sprintf("settings file %s does not exist; create it with `fence config init -o missing.json` or fix the --settings path", filepath.Join(e.cwd, "missing.json"))
	if err == nil || err.Error() != want {
		t.Errorf("missing -s: %v\nwant %s", err, want)
	}
	// The fixes a missing path names for what the shell left as it was:
	// "~" after "=" (config init -o ~/x.json then wrote $HOME/x.json, and
	// the same -s failed again), and "-" (a file named "-").
	for sp, want := range map[string]string{
		"~/x.json": `the shell did not expand "~" (it does not after "="); write --settings ~/x.json (with a space) or --settings=$HOME/x.json`,
		"-":        "to read the config from standard input, give --settings /dev/stdin",
	} {
		o := e.opts()
		o.SettingsPath = sp
		if _, _, err := Resolve(o); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "config init") {
			t.Errorf("missing -s %s: %v\nwant %s", sp, err, want)
		}
	}
	o = e.opts()
	o.Template = "npm-install"
	_, _, err = Resolve(o)
	// Upstream's words ("failed to load template: %w\nUse --list-templates
	// to see available templates"), on one line.
	if err == nil || err.Error() != `failed to load template: template "npm-install" not found. Use --list-templates to see available templates` {
		t.Errorf("unknown -t: %v", err)
	}
	if !errors.Is(err, ErrTemplateNotFound) {
		t.Errorf("unknown -t: %v does not match ErrTemplateNotFound", err)
	}
	write(t, e.userPath(), `{"filesytem": {}}`)
	_, _, err = Resolve(e.opts())
	if err == nil || !strings.Contains(err.Error(), e.userPath()) || !strings.Contains(err.Error(), `unknown field "filesytem" at line 1`) {
		t.Errorf("bad user config: %v", err)
	}
}

func TestExtendsChains(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.cwd, "cfg")
	// top.json -> sub/mid.json -> ../base.json (relative to mid's dir) -> template git-readonly
	write(t, filepath.Join(dir, "top.json"), `{"extends": "./sub/mid.json", "command": {"deny": ["top"]}}`)
	write(t, filepath.Join(dir, "sub", "mid.json"), `{"extends": "../base.json", "command": {"deny": ["mid"]}, "allowPty": true}`)
	write(t, filepath.Join(dir, "base.json"), `{"extends": "git-readonly", "command": {"deny": ["base"], "useDefaults": false}}`)
	o := e.opts()
	o.SettingsPath = filepath.Join(dir, "top.json")
	c, sources, err := Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(sources); got != "template:git-readonly extends:base.json extends:mid.json settings:top.json" {
		t.Errorf("sources = %s", got)
	}
	if sources[1].ExtendedBy != filepath.Join(dir, "sub", "mid.json") {
		t.Errorf("base.json ExtendedBy = %q", sources[1].ExtendedBy)
	}
	wantDeny := []string{"git push", "git reset", "git clean", "git checkout --", "git rebase", "git merge", "base", "mid", "top"}
	if !slices.Equal(c.Command.Deny, wantDeny) {
		t.Errorf("deny = %q, want %q", c.Command.Deny, wantDeny)
	}
	if !c.AllowPty || c.Command.UseDefaults == nil || *c.Command.UseDefaults {
		t.Error("booleans not inherited")
	}
	// An absolute extends path works too, and LoadFile resolves chains.
	write(t, filepath.Join(dir, "abs.json"), fmt.Sprintf(`{"extends": %q}`, filepath.Join(dir, "base.json")))
	c, err = LoadFile(filepath.Join(dir, "abs.json"))
	if err != nil || !slices.Contains(c.Command.Deny, "base") {
		t.Errorf("absolute extends: %v %+v", err, c)
	}
	// ~/ in extends is the home directory.
	write(t, filepath.Join(e.home, "shared.json"), `{"command": {"deny": ["shared"]}}`)
	write(t, filepath.Join(dir, "home.json"), `{"extends": "~/shared.json"}`)
	o.SettingsPath = filepath.Join(dir, "home.json")
	c, _, err = Resolve(o)
	if err != nil || !slices.Contains(c.Command.Deny, "shared") {
		t.Errorf("~/ extends: %v %+v", err, c)
	}
}

func TestExtendsErrors(t *testing.T) {
	e := newEnv(t)
	d := e.cwd
	write(t, filepath.Join(d, "a.json"), `{"extends": "./b.json"}`)
	write(t, filepath.Join(d, "b.json"), `{"extends": "./a.json"}`)
	write(t, filepath.Join(d, "self.json"), `{"extends": "./self.json"}`)
	write(t, filepath.Join(d, "missing.json"), "{\n\"extends\": \"./nope.json\"}")
	write(t, filepath.Join(d, "empty-base.json"), `{"extends": "./empty.json"}`)
	write(t, filepath.Join(d, "empty.json"), "")
	write(t, filepath.Join(d, "badjson-base.json"), `{"extends": "./bad.json"}`)
	write(t, filepath.Join(d, "bad.json"), `{"network": }`)
	write(t, filepath.Join(d, "invalid-base.json"), `{"extends": "./invalid.json"}`)
	write(t, filepath.Join(d, "invalid.json"), `{"filesystem": {"allowWrite": [""]}}`)
	write(t, filepath.Join(d, "tmpl.json"), "{\n\n\"extends\": \"no-such-template\"}")
	write(t, filepath.Join(d, "num.json"), `{"extends": 3}`)
	write(t, filepath.Join(d, "file-as-template.json"), `{"extends": "base.jsonc"}`)
	tests := map[string][]string{
		"a.json":                {"circular extends detected", filepath.Join(d, "a.json") + " -> " + filepath.Join(d, "b.json") + " -> " + filepath.Join(d, "a.json")},
		"self.json":             {"circular extends detected"},
		"missing.json":          {"config " + filepath.Join(d, "missing.json") + ": extends file not found: " + filepath.Join(d, "nope.json")},
		"empty-base.json":       {"extends file is empty: " + filepath.Join(d, "empty.json")},
		"badjson-base.json":     {"config " + filepath.Join(d, "bad.json") + " (extended by " + filepath.Join(d, "badjson-base.json") + "): invalid JSON in config file"},
		"invalid-base.json":     {"(extended by", "invalid configuration: filesystem.allowWrite contains empty path"},
		"tmpl.json":             {`extends (line 3): template "no-such-template" not found`},
		"file-as-template.json": {`template "base.jsonc" not found: fence --list-templates lists the templates; a file is named with a / or a leading dot ("./base.jsonc")`},
		"num.json":              {`field "extends" at line 1: expected a string, got a number`},
	}
	for name, wants := range tests {
		_, err := LoadFile(filepath.Join(d, name))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q\nwant it to contain %q", name, err, w)
			}
		}
	}
}

// A cycle through a symlink names the files as the chain named them and
// where the links lead, not the link twice.
func TestExtendsCycleThroughSymlink(t *testing.T) {
	d := t.TempDir()
	rd, err := filepath.EvalSymlinks(d)
	if err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(d, name) }
	r := func(name string) string { return filepath.Join(rd, name) }
	write(t, p("real.json"), `{"extends": "./lnk.json"}`)
	if err := os.Symlink("real.json", p("lnk.json")); err != nil {
		t.Fatal(err)
	}
	write(t, p("self.json"), `{"extends": "./to-self.json"}`)
	if err := os.Symlink("self.json", p("to-self.json")); err != nil {
		t.Fatal(err)
	}
	write(t, p("sub/x.json"), `{"extends": "./up/sub/x.json"}`)
	if err := os.Symlink("..", p("sub/up")); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"lnk.json":   p("lnk.json") + " (a symlink to " + r("real.json") + ") -> " + p("lnk.json"),
		"real.json":  p("real.json") + " -> " + p("lnk.json") + " (a symlink to " + r("real.json") + ")",
		"self.json":  p("self.json") + " -> " + p("to-self.json") + " (a symlink to " + r("self.json") + ")",
		"sub/x.json": p("sub/x.json") + " -> " + p("sub/up/sub/x.json") + " (which is " + r("sub/x.json") + ")",
	} {
		_, err := LoadFile(p(file))
		if err == nil || !strings.HasSuffix(err.Error(), "circular extends detected: "+want) {
			t.Errorf("%s: error %v\nwant it to end with circular extends detected: %s", file, err, want)
		}
	}
}

func TestExtendsDepthLimit(t *testing.T) {
	d := t.TempDir()
	// f0 extends f1 ... f(n-1) extends nothing: n-1 extends hops.
	chain := func(n int) string {
		for i := range n {
			content := "{}"
			if i < n-1 {
				content = fmt.Sprintf(`{"extends": "./f%d.json", "command": {"deny": ["c%d"]}}`, i+1, i)
			}
			write(t, filepath.Join(d, fmt.Sprintf("f%d.json", i)), content)
		}
		return filepath.Join(d, "f0.json")
	}
	if _, err := LoadFile(chain(maxExtendsDepth + 1)); err != nil {
		t.Errorf("%d hops: %v", maxExtendsDepth, err)
	}
	_, err := LoadFile(chain(maxExtendsDepth + 2))
	if err == nil || !strings.Contains(err.Error(), "extends chain too deep (max 10)") {
		t.Errorf("%d hops: err = %v", maxExtendsDepth+1, err)
	}
}

func TestIsExtendsPath(t *testing.T) {
	for v, want := range map[string]bool{
		"code": false, "./base.json": true, "../x.json": true, "/etc/fence.json": true,
		`C:\fence.json`: true, ".hidden": true, "sub/x.json": true, "code-strict": false,
	} {
		if got := IsExtendsPath(v); got != want {
			t.Errorf("IsExtendsPath(%q) = %v, want %v", v, got, want)
		}
	}
}

// Project config discovery, from the working directory up to the repository
// root.
func TestFindProjectConfig(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	deep := filepath.Join(repo, "a", "b")
	if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	check := func(cwd, want string) {
		t.Helper()
		got, err := FindProjectConfig(cwd)
		if err != nil || got != want {
			t.Errorf("FindProjectConfig(%s) = %q, %v; want %q", cwd, got, err, want)
		}
	}
	check(deep, "")
	// Above the repository root: ignored.
	write(t, filepath.Join(root, "fence.json"), "{}")
	check(deep, "")
	// At the root: found from anywhere inside.
	write(t, filepath.Join(repo, "fence.json"), "{}")
	check(deep, filepath.Join(repo, "fence.json"))
	check(repo, filepath.Join(repo, "fence.json"))
	// A nearer one wins.
	write(t, filepath.Join(repo, "a", "fence.json"), "{}")
	check(deep, filepath.Join(repo, "a", "fence.json"))
	// A directory named fence.json where the nearest config would be is
	// an error, not a reason to use the next one up.
	if err := os.MkdirAll(filepath.Join(deep, "fence.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := FindProjectConfig(deep); err == nil || !strings.Contains(err.Error(), filepath.Join(deep, "fence.json")+" is a directory") {
		t.Errorf("FindProjectConfig with a directory named fence.json = %q, %v; want an error naming it", p, err)
	}
	if err := os.Remove(filepath.Join(deep, "fence.json")); err != nil {
		t.Fatal(err)
	}
	// Worktrees and submodules have a .git file.
	wt := filepath.Join(root, "wt")
	write(t, filepath.Join(wt, ".git"), "gitdir: elsewhere")
	write(t, filepath.Join(wt, "fence.json"), "{}")
	write(t, filepath.Join(wt, "sub", "x"), "")
	check(filepath.Join(wt, "sub"), filepath.Join(wt, "fence.json"))
	// Outside any repository only cwd counts.
	plain := filepath.Join(root, "plain", "inner")
	if err := os.MkdirAll(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "plain", "fence.json"), "{}")
	check(plain, "")
	check(filepath.Join(root, "plain"), filepath.Join(root, "plain", "fence.json"))
	// A fence.json that is a symlink leading nowhere (a moved shared
	// config) is an error, not a quiet "no config".
	broken := filepath.Join(root, "broken")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../shared/fence.json", filepath.Join(broken, "fence.json")); err != nil {
		t.Fatal(err)
	}
	if p, err := FindProjectConfig(broken); err == nil || !strings.Contains(err.Error(), "leads nowhere") {
		t.Errorf("FindProjectConfig with a dangling fence.json = %q, %v; want an error", p, err)
	}
	// One in a parent that would not count (outside a repository only the
	// working directory's does) stops nothing.
	below := filepath.Join(broken, "below")
	if err := os.MkdirAll(below, 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := FindProjectConfig(below); p != "" || err != nil {
		t.Errorf("FindProjectConfig under a stray dangling fence.json = %q, %v; want none", p, err)
	}
}

// TestResolveDanglingUserConfig: a user config that is a dangling symlink
// stops the run instead of leaving the defaults in its place.
func TestResolveDanglingUserConfig(t *testing.T) {
	e := newEnv(t)
	p := filepath.Join(e.home, ".config", "fence", "fence.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(e.home, "dotfiles", "fence.json"), p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resolve(e.opts()); err == nil || !strings.Contains(err.Error(), "user config "+p+" is a symlink that leads nowhere") {
		t.Errorf("Resolve with a dangling user config: %v", err)
	}
}

func TestResolveProjectConfig(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(filepath.Join(e.cwd, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(e.cwd, "pkg")
	write(t, e.userPath(), `{"extends": "code", "command": {"deny": ["user-rule"]}}`)
	write(t, filepath.Join(e.cwd, "fence.json"), `{"extends": "./shared/base.json", "command": {"deny": ["project-rule"]}}`)
	write(t, filepath.Join(e.cwd, "shared", "base.json"), `{"network": {"allowedDomains": ["internal.example.com"]}}`)
	o := e.opts()
	o.Cwd = sub
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// It adds a domain: applied only once trusted.
	_, _, err := Resolve(o)
	var ue *UntrustedProjectError
	if !errors.As(err, &ue) || !slices.Equal(ue.Loosens, []string{`network.allowedDomains "internal.example.com"`}) {
		t.Fatalf("untrusted project config that adds a domain: got %v, want an UntrustedProjectError", err)
	}
	trust(t, o, filepath.Join(e.cwd, "fence.json"))
	c, sources, err := Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(sources); got != "template:code user:fence.json extends:base.json project:fence.json" {
		t.Errorf("sources = %s", got)
	}
	if sources[3].Path != filepath.Join(e.cwd, "fence.json") {
		t.Errorf("project source = %q", sources[3].Path)
	}
	n := len(c.Command.Deny)
	if n < 2 || c.Command.Deny[n-2] != "user-rule" || c.Command.Deny[n-1] != "project-rule" {
		t.Errorf("deny order = %q", c.Command.Deny)
	}
	if !slices.Contains(c.Network.AllowedDomains, "internal.example.com") {
		t.Error("project extends not applied")
	}
	// -s naming the project file itself applies it once.
	o.SettingsPath = filepath.Join(e.cwd, "fence.json")
	_, sources, err = Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(sources); got != "extends:base.json settings:fence.json" {
		t.Errorf("-s project file: sources = %s", got)
	}
	// NoProject skips it.
	o.SettingsPath = ""
	o.NoProject = true
	_, sources, _ = Resolve(o)
	if got := kinds(sources); got != "template:code user:fence.json" {
		t.Errorf("NoProject: sources = %s", got)
	}
	// A broken project file is an error naming it.
	write(t, filepath.Join(e.cwd, "fence.json"), `{"comand": {}}`)
	o.NoProject = false
	_, _, err = Resolve(o)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(e.cwd, "fence.json")) || !strings.Contains(err.Error(), `did you mean "command"?`) {
		t.Errorf("broken project file: %v", err)
	}
	// It names the way to run without it, as the lookup errors do: a
	// checkout whose fence.json fence now refuses (a path padded with
	// whitespace, invalid UTF-8) is not always the user's to fix.
	for _, content := range []string{`{"comand": {}}`, `{"filesystem": {"denyRead": ["secrets "]}}`} {
		write(t, filepath.Join(e.cwd, "fence.json"), content)
		if _, _, err = Resolve(o); err == nil || !strings.HasSuffix(err.Error(), ", or run fence with --no-project") {
			t.Errorf("broken project file %s: %v; want it to name --no-project", content, err)
		}
	}
}

func TestPolicyFiles(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "")
	e, sub := newRepoEnv(t)
	write(t, filepath.Join(e.home, "base.json"), "{}")
	write(t, e.userPath(), `{"extends": "~/base.json"}`)
	o := e.opts()
	o.Cwd = sub
	_, sources, err := Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := PolicyFiles(o, sources)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(e.home, "base.json"),
		e.userPath(),
		filepath.Dir(e.userPath()),
		filepath.Join(e.home, ".fence.json"),
		e.trustStore(),
		filepath.Join(sub, "fence.json"),
		filepath.Join(e.cwd, "a", "fence.json"),
		filepath.Join(e.cwd, "fence.json"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("PolicyFiles =\n%q\nwant\n%q", got, want)
	}
	// With XDG_STATE_HOME, its trust store and the default one.
	xdg := filepath.Join(e.home, "state")
	t.Setenv("XDG_STATE_HOME", xdg)
	got, err = PolicyFiles(LoadOptions{Home: e.home, ConfigDir: e.cfgDir, Cwd: sub}, sources)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, filepath.Join(xdg, "fence", TrustFileName)) || !slices.Contains(got, e.trustStore()) {
		t.Errorf("with XDG_STATE_HOME: PolicyFiles = %q, want both trust stores", got)
	}
	// Outside a repository only the working directory's fence.json.
	o = e.opts()
	o.Cwd = filepath.Join(e.home, "plain")
	got, err = PolicyFiles(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(o.Cwd, "fence.json"); !slices.Contains(got, want) || slices.Contains(got, filepath.Join(e.home, "fence.json")) {
		t.Errorf("PolicyFiles outside a repository = %q, want it to hold %s, not the parents' fence.json", got, want)
	}
}

// The files that the configs a run does not load extend are policy files
// too: the user config's chain under -t or -s (a plain run applies it
// without asking; -t code makes ~/.config writable), and the project
// config's under --no-project, as far as the chain can be followed, a
// missing file of it included (created, it would decide the rest).
func TestPolicyFilesUnloadedChains(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "")
	e, sub := newRepoEnv(t)
	shared := filepath.Join(e.cfgDir, "shared.json")
	missing := filepath.Join(e.home, "dotfiles", "missing.json")
	write(t, e.userPath(), `{"extends": "../shared.json"}`)
	write(t, shared, `{"extends": "~/dotfiles/missing.json"}`)
	base := filepath.Join(e.cwd, "conf", "base.json")
	write(t, filepath.Join(e.cwd, "fence.json"), `{"extends": "./conf/base.json"}`)
	write(t, base, `// tightens
{"extends": "code", "filesystem": {"denyRead": ["secret"]}}`)
	o := e.opts()
	o.Cwd = sub
	o.Template = "code"
	o.NoProject = true
	_, sources, err := Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := PolicyFiles(o, sources)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{shared, missing, base} {
		if !slices.Contains(got, p) {
			t.Errorf("PolicyFiles with -t code --no-project = %q, want it to hold %s", got, p)
		}
	}
	// A cycle, or a chain that cannot be parsed, ends the walk quietly:
	// the run does not load it.
	write(t, shared, `{"extends": "./fence/fence.json"}`)
	write(t, base, `{"comand": {}}`)
	if got, err = PolicyFiles(o, sources); err != nil || !slices.Contains(got, shared) || !slices.Contains(got, base) {
		t.Errorf("PolicyFiles with a cycle and a broken file = %q, %v", got, err)
	}
}

// The .git entries that end the search for a project fence.json: from the
// working directory up to the repository's root (its .git included), or,
// outside a repository, in every parent of the working directory.
func TestPolicyMarkers(t *testing.T) {
	e, sub := newRepoEnv(t)
	o := e.opts()
	o.Cwd = sub
	got, err := PolicyMarkers(o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(sub, ".git"), filepath.Join(e.cwd, "a", ".git"), filepath.Join(e.cwd, ".git")}
	if !slices.Equal(got, want) {
		t.Errorf("PolicyMarkers in a subdirectory =\n%q\nwant\n%q", got, want)
	}
	o.Cwd = e.cwd
	if got, _ := PolicyMarkers(o); !slices.Equal(got, []string{filepath.Join(e.cwd, ".git")}) {
		t.Errorf("PolicyMarkers at the root = %q, want its .git alone", got)
	}
	// Outside a repository: every parent's .git, not the working
	// directory's own (git init there changes nothing).
	o.Cwd = e.home + "/"
	got, _ = PolicyMarkers(o)
	if len(got) == 0 || got[0] != filepath.Join(filepath.Dir(e.home), ".git") || got[len(got)-1] != "/.git" {
		t.Errorf("PolicyMarkers outside a repository = %q", got)
	}
}

func TestSourceString(t *testing.T) {
	tests := map[string]Source{
		`template "code"`: {Kind: SourceTemplate, Path: "code"},
		`template "code" (extended by /p/fence.json)`: {Kind: SourceTemplate, Path: "code", ExtendedBy: "/p/fence.json"},
		"user config /h/.config/fence/fence.json":     {Kind: SourceUser, Path: "/h/.config/fence/fence.json"},
		"project config /r/fence.json":                {Kind: SourceProject, Path: "/r/fence.json"},
		"settings file /x.json":                       {Kind: SourceSettings, Path: "/x.json"},
		"file /b.json (extended by /a.json)":          {Kind: SourceExtends, Path: "/b.json", ExtendedBy: "/a.json"},
		"built-in defaults (no config file found)":    {Kind: SourceDefault},
	}
	for want, s := range tests {
		if got := s.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// A config file found on its own (the project's fence.json, the user's)
// or named by extends must be a regular file: a FIFO in a checkout would
// otherwise stall fence in open for good. The -s file is the user's own
// choice and may be a pipe (-s <(...)).
func TestConfigFilesMustBeRegular(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs on windows")
	}
	e := newEnv(t)
	fifo := filepath.Join(e.cwd, "fence.json")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("cannot create a FIFO here: %v", err)
	}
	resolve := func(o LoadOptions) error {
		done := make(chan error, 1)
		go func() { _, _, err := Resolve(o); done <- err }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Resolve blocked on a FIFO")
			return nil
		}
	}
	err := resolve(e.opts())
	if err == nil || !strings.Contains(err.Error(), "is a FIFO") || !strings.Contains(err.Error(), fifo) {
		t.Errorf("project fence.json a FIFO: %v", err)
	}
	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(e.cwd, "base.json")
	if err := mkfifo(target); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(e.cwd, "fence.json"), `{"extends": "./base.json"}`)
	if err := resolve(e.opts()); err == nil || !strings.Contains(err.Error(), "is a FIFO") {
		t.Errorf("extends naming a FIFO: %v", err)
	}
	if err := os.Remove(filepath.Join(e.cwd, "fence.json")); err != nil {
		t.Fatal(err)
	}
	// -s naming a pipe with a writer, as a shell's process substitution.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		_, _ = w.WriteString(`{"network": {"allowedDomains": ["example.org"]}}`)
		w.Close()
	}()
	o := e.opts()
	o.SettingsPath = fmt.Sprintf("/proc/self/fd/%d", r.Fd())
	done := make(chan error, 1)
	var c *Config
	go func() { var err error; c, _, err = Resolve(o); done <- err }()
	select {
	case err := <-done:
		if err != nil || !slices.Contains(c.Network.AllowedDomains, "example.org") {
			t.Errorf("-s from a pipe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve blocked on -s from a pipe")
	}
}

// A relative extends in a config read from a pipe (-s <(...)), which is
// in no directory, is relative to the working directory. It used to be
// looked for under /proc/self/fd.
func TestPipeConfigExtendsFromWorkingDirectory(t *testing.T) {
	e := newEnv(t)
	t.Chdir(e.cwd)
	write(t, filepath.Join(e.cwd, "base.json"), `{"network": {"allowedDomains": ["base.example"]}}`)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		_, _ = w.WriteString(`{"extends": "./base.json", "network": {"allowedDomains": ["pipe.example"]}}`)
		w.Close()
	}()
	o := e.opts()
	o.SettingsPath = fmt.Sprintf("/proc/self/fd/%d", r.Fd())
	c, _, err := Resolve(o)
	if err != nil {
		t.Fatalf("-s from a pipe with a relative extends: %v", err)
	}
	for _, d := range []string{"base.example", "pipe.example"} {
		if !slices.Contains(c.Network.AllowedDomains, d) {
			t.Errorf("allowedDomains %q lacks %s", c.Network.AllowedDomains, d)
		}
	}
}

func TestFDDir(t *testing.T) {
	for dir, want := range map[string]bool{
		"/dev/fd": true, "/proc/self/fd": true, "/proc/1234/fd": true, "/proc/thread-self/fd": true,
		"/proc/1234/fdinfo": false, "/proc/x1/fd": false, "/proc//fd": false, "/home/u": false, "/dev": false,
	} {
		if got := fdDir(dir); got != want {
			t.Errorf("fdDir(%q) = %v, want %v", dir, got, want)
		}
	}
}

// failLookups makes lstat fail with errno for the paths in fail, as it
// does for another user (EACCES under a directory it may not search) or on
// a failing disk (EIO), which root cannot reproduce with mode bits.
func failLookups(t *testing.T, fail map[string]syscall.Errno) {
	t.Helper()
	t.Cleanup(func() { lstat = os.Lstat })
	lstat = func(p string) (fs.FileInfo, error) {
		if e, ok := fail[p]; ok {
			return nil, &fs.PathError{Op: "lstat", Path: p, Err: e}
		}
		return os.Lstat(p)
	}
}

// TestConfigLookupFailures: only a config file that is not there means "no
// config". One that cannot be looked up (EACCES, EIO), or a directory in
// its place, stops Resolve with an error naming it, instead of leaving the
// defaults (or the legacy file) in its place.
func TestConfigLookupFailures(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EACCES, syscall.EIO} {
		t.Run(errno.Error(), func(t *testing.T) {
			e := newEnv(t)
			user := e.userPath()
			write(t, user, `{"filesystem": {"denyRead": ["~/secret"]}}`)
			write(t, filepath.Join(e.home, ".fence.json"), `{}`)
			for _, p := range []string{user, filepath.Dir(user), e.cfgDir, filepath.Join(e.home, ".fence.json")} {
				fail := map[string]syscall.Errno{p: errno}
				if p == e.cfgDir {
					// An unsearchable $XDG_CONFIG_HOME: its fence
					// directory cannot be looked up.
					fail[filepath.Dir(user)] = errno
				}
				failLookups(t, fail)
				if p == filepath.Join(e.home, ".fence.json") {
					// The legacy file, read when there is no XDG
					// directory.
					if err := os.RemoveAll(filepath.Dir(user)); err != nil {
						t.Fatal(err)
					}
				}
				_, sources, err := Resolve(e.opts())
				if err == nil || !strings.HasPrefix(err.Error(), "user config ") || !strings.Contains(err.Error(), errno.Error()) {
					t.Errorf("lookup of %s fails (%v): Resolve = %s, %v; want an error naming it", p, errno, kinds(sources), err)
				} else if want := filepath.Dir(user); p != user && p != filepath.Join(e.home, ".fence.json") && !strings.Contains(err.Error(), want) {
					t.Errorf("lookup of %s fails: %v; want it to name %s", p, err, want)
				} else if (p == user || p == filepath.Join(e.home, ".fence.json")) && !strings.Contains(err.Error(), p) {
					t.Errorf("lookup of %s fails: %v; want it to name the file", p, err)
				}
			}
		})
	}

	// The project config: the nearest fence.json, and a .git on the way
	// (which decides whether the ones above apply).
	for _, errno := range []syscall.Errno{syscall.EACCES, syscall.EIO} {
		e, sub := newRepoEnv(t)
		o := e.opts()
		o.Cwd = sub
		write(t, filepath.Join(e.cwd, "fence.json"), `{"filesystem": {"denyRead": ["secret"]}}`)
		for _, p := range []string{filepath.Join(sub, "fence.json"), filepath.Join(e.cwd, "a", ".git")} {
			failLookups(t, map[string]syscall.Errno{p: errno})
			_, sources, err := Resolve(o)
			if err == nil || !strings.HasPrefix(err.Error(), "project config") || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), errno.Error()) {
				t.Errorf("lookup of %s fails (%v): Resolve = %s, %v; want an error naming it", p, errno, kinds(sources), err)
			}
		}
		// A parent's that would not apply (outside a repository only the
		// working directory's does) stops nothing.
		failLookups(t, map[string]syscall.Errno{filepath.Join(filepath.Dir(e.cwd), "fence.json"): errno})
		o.Cwd = e.home
		if _, _, err := Resolve(o); err != nil {
			t.Errorf("a stray parent fence.json that cannot be looked up (%v): %v", errno, err)
		}
	}
}

// TestConfigPathShapes: a directory where a config file should be is an
// error; a path under a file (ENOTDIR, as with HOME=/dev/null) is none.
func TestConfigPathShapes(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(e.userPath(), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resolve(e.opts()); err == nil || !strings.Contains(err.Error(), "user config "+e.userPath()+" is a directory") {
		t.Errorf("a directory as the user config: %v", err)
	}
	if err := os.RemoveAll(filepath.Dir(e.userPath())); err != nil {
		t.Fatal(err)
	}
	// A file where the user config directory should be.
	write(t, filepath.Dir(e.userPath()), "")
	if _, _, err := Resolve(e.opts()); err == nil || !strings.Contains(err.Error(), filepath.Dir(e.userPath())+" is not a directory") {
		t.Errorf("a file as the user config directory: %v", err)
	}
	// A directory as the legacy file.
	e = newEnv(t)
	legacy := filepath.Join(e.home, ".fence.json")
	if err := os.MkdirAll(legacy, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resolve(e.opts()); err == nil || !strings.Contains(err.Error(), legacy+" is a directory") {
		t.Errorf("a directory as the legacy user config: %v", err)
	}
	// A home and config directory that are files: nothing is below them.
	e = newEnv(t)
	write(t, filepath.Join(e.home, "file"), "")
	o := e.opts()
	o.Home, o.ConfigDir = filepath.Join(e.home, "file"), filepath.Join(e.home, "file", ".config")
	if _, sources, err := Resolve(o); err != nil || sources[0].Kind != SourceDefault {
		t.Errorf("home a file: Resolve = %s, %v; want the defaults", kinds(sources), err)
	}
	// A directory as the project config, in the working directory.
	e = newEnv(t)
	if err := os.MkdirAll(filepath.Join(e.cwd, "fence.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resolve(e.opts()); err == nil || !strings.Contains(err.Error(), "project config "+filepath.Join(e.cwd, "fence.json")+" is a directory") {
		t.Errorf("a directory as the project config: %v", err)
	}
}

package config

import (
	"errors"
	"slices"
	"testing"
)

func TestTemplatesListed(t *testing.T) {
	var names []string
	for _, ti := range Templates() {
		names = append(names, ti.Name)
		if ti.Description == "" {
			t.Errorf("template %q has no description", ti.Name)
		}
	}
	want := []string{"code", "code-relaxed", "code-strict", "disable-telemetry", "git-readonly", "local-dev-server"}
	if !slices.Equal(names, want) {
		t.Errorf("Templates() = %q, want %q", names, want)
	}
	// Only real templates are described (upstream describes missing ones).
	for _, name := range []string{"default-deny", "workspace-write", "npm-install", "pip-install", "ai-coding-agents"} {
		if templateDescription(name) != "" || TemplateExists(name) {
			t.Errorf("stale template %q is described or present", name)
		}
	}
}

func TestTemplateLookup(t *testing.T) {
	for _, name := range []string{"code", "code.json", "git-readonly"} {
		if !TemplateExists(name) {
			t.Errorf("TemplateExists(%q) = false", name)
		}
	}
	for _, name := range []string{"", "nope", "ai-coding-agents", "npm-install", "../templates/code", "./code", ".code", "templates/code"} {
		if TemplateExists(name) {
			t.Errorf("TemplateExists(%q) = true", name)
		}
		_, err := Template(name)
		if !errors.Is(err, ErrTemplateNotFound) {
			t.Errorf("Template(%q) error = %v, want ErrTemplateNotFound", name, err)
		}
	}
	if _, err := Template("nope"); err == nil || err.Error() != `template "nope" not found` {
		t.Errorf("message = %v", err)
	}
}

// Every template parses, validates and keeps the contents of reference §2.9.
func TestTemplateContents(t *testing.T) {
	code, err := Template("code")
	if err != nil {
		t.Fatal(err)
	}
	if !code.AllowPty || !code.Network.AllowLocalBinding || !code.Network.LocalOutbound() {
		t.Error("code: pty/local binding/outbound not set")
	}
	if n := len(code.Network.AllowedDomains); n != 33 {
		t.Errorf("code: %d allowed domains, want 33", n)
	}
	for _, want := range []struct {
		list []string
		v    string
	}{
		{code.Network.AllowedDomains, "*.anthropic.com"},
		{code.Network.AllowedDomains, "models.dev"},
		{code.Network.DeniedDomains, "169.254.169.254"},
		{code.Network.DeniedDomains, "statsig.anthropic.com"},
		{code.Filesystem.AllowWrite, "~/.config/**"},
		{code.Filesystem.DenyWrite, "**/*.pfx"},
		{code.Filesystem.DenyRead, "~/.config/gh/**"},
		{code.Command.Deny, "git checkout --"},
		{code.Command.Deny, "gh variable delete"},
		{code.Command.Deny, "sudo"},
	} {
		if !slices.Contains(want.list, want.v) {
			t.Errorf("code lacks %q", want.v)
		}
	}
	// Upstream's 20 and ~/.npm/_logs, which upstream makes writable in
	// every sandbox (a default write path; its Landlock then refuses it).
	if !slices.Contains(code.Filesystem.AllowWrite, "~/.npm/_logs") {
		t.Error("code lacks ~/.npm/_logs in allowWrite")
	}
	// aider crashed at start (an uncaught PermissionError from its version
	// check in ~/.aider/caches): its caches and run records are writable,
	// not ~/.aider whole, where oauth-keys.env is a credential it loads as
	// its environment.
	for _, w := range []string{"~/.aider/caches/**", "~/.aider/analytics.json", "~/.aider/installs.json"} {
		if !slices.Contains(code.Filesystem.AllowWrite, w) {
			t.Errorf("code lacks %q in allowWrite", w)
		}
	}
	for _, w := range code.Filesystem.AllowWrite {
		if w == "~/.aider" || w == "~/.aider/**" || w == "~/.aider*" {
			t.Errorf("code makes %q writable: its oauth-keys.env with it", w)
		}
	}
	// Upstream's 14 credentials and 13 shell and REPL histories (not
	// upstream's: commands typed with tokens in them).
	for _, h := range []string{"~/.bash_history", "~/.zsh_history", "~/.local/share/fish/fish_history", "~/.python_history"} {
		if !slices.Contains(code.Filesystem.DenyRead, h) {
			t.Errorf("code lacks %q in denyRead", h)
		}
	}
	if len(code.Filesystem.AllowWrite) != 24 || len(code.Filesystem.DenyWrite) != 12 || len(code.Filesystem.DenyRead) != 27 {
		t.Errorf("code: allowWrite %d, denyWrite %d, denyRead %d; want 24, 12, 27",
			len(code.Filesystem.AllowWrite), len(code.Filesystem.DenyWrite), len(code.Filesystem.DenyRead))
	}
	if code.Command.UseDefaults == nil || !*code.Command.UseDefaults {
		t.Error("code: useDefaults not true")
	}

	relaxed, err := Template("code-relaxed")
	if err != nil {
		t.Fatal(err)
	}
	if !relaxed.Network.AllowsAllDomains() || !slices.Contains(relaxed.Command.Deny, "git push") {
		t.Error("code-relaxed: want code plus *")
	}

	strict, err := Template("code-strict")
	if err != nil {
		t.Fatal(err)
	}
	if !strict.Filesystem.DefaultDenyRead || len(strict.Filesystem.AllowRead) != 11 || !slices.Contains(strict.Filesystem.AllowRead, "~/.claude.json") {
		t.Errorf("code-strict: defaultDenyRead %v, allowRead %q", strict.Filesystem.DefaultDenyRead, strict.Filesystem.AllowRead)
	}
	if len(strict.Network.AllowedDomains) != 33 {
		t.Error("code-strict does not inherit code's domains")
	}

	tele, err := Template("disable-telemetry")
	if err != nil {
		t.Fatal(err)
	}
	if !tele.Network.AllowsAllDomains() || len(tele.Network.DeniedDomains) != 45 {
		t.Errorf("disable-telemetry: * %v, %d denied", tele.Network.AllowsAllDomains(), len(tele.Network.DeniedDomains))
	}
	for _, d := range []string{"statsig.anthropic.com", "*.datadoghq.com", "*.nr-data.net", "*.sentry.io", "*.crashlytics.com"} {
		if !slices.Contains(tele.Network.DeniedDomains, d) {
			t.Errorf("disable-telemetry lacks %q", d)
		}
	}
	for _, w := range tele.Filesystem.AllowWrite {
		if w == "~/.cursor/**" || w == "~/.gemini/**" || w == "~/.factory/**" {
			t.Errorf("disable-telemetry writes %q", w)
		}
	}

	ro, err := Template("git-readonly")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ro.Filesystem.AllowWrite, []string{"."}) || !slices.Equal(ro.Filesystem.DenyWrite, []string{".git"}) || len(ro.Command.Deny) != 6 {
		t.Errorf("git-readonly = %+v", ro)
	}

	dev, err := Template("local-dev-server")
	if err != nil {
		t.Fatal(err)
	}
	if !dev.Network.AllowLocalBinding || !dev.Network.LocalOutbound() || !slices.Equal(dev.Filesystem.AllowWrite, []string{".", "/tmp"}) {
		t.Errorf("local-dev-server = %+v", dev)
	}
}

// The resolved templates are golden files, so a change shows up in review.
func TestTemplatesGolden(t *testing.T) {
	for _, ti := range Templates() {
		c, err := Template(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("template %s: %v", ti.Name, err)
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "template-"+ti.Name+".golden.json", out)
	}
}

func TestTemplateIsolation(t *testing.T) {
	a, _ := Template("code")
	a.Command.Deny[0] = "changed"
	b, _ := Template("code")
	if b.Command.Deny[0] != "git push" {
		t.Error("Template returns shared state")
	}
}

// The cheap host-network check agrees with the resolved template for every
// built-in template, and knows the relaxed ones.
func TestTemplateSharesHostNetwork(t *testing.T) {
	for _, ti := range Templates() {
		c, err := Template(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := TemplateSharesHostNetwork(ti.Name), c.Network.AllowsAllDomains(); got != want {
			t.Errorf("TemplateSharesHostNetwork(%q) = %v, resolved template says %v", ti.Name, got, want)
		}
	}
	if !TemplateSharesHostNetwork("code-relaxed") || TemplateSharesHostNetwork("code") || TemplateSharesHostNetwork("no-such") {
		t.Error("code-relaxed shares the host network, code and unknown names do not")
	}
}

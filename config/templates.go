package config

import (
	"bytes"
	"embed"
	"io/fs"
	"sort"
	"strings"
	"sync"
)

// templateFS holds the built-in templates. Embedding costs nothing at start:
// the bytes are in the binary's read-only data and are parsed on first use.
//
//go:embed templates/*.json
var templateFS embed.FS

// TemplateInfo describes one built-in template.
type TemplateInfo struct {
	// Name is what -t and "extends" accept.
	Name string
	// Description is a one-line summary for --list-templates.
	Description string
}

// templateDescription is the --list-templates line for a template. It is a
// switch rather than a map so nothing is built at package initialisation;
// TestTemplatesListed fails if an embedded file has no description.
func templateDescription(name string) string {
	switch name {
	case "code":
		return "AI coding agents: model APIs, git hosting and package registries; writes in the workspace and tool caches; credentials unreadable; history-rewriting git, publishing and gh write commands blocked"
	case "code-relaxed":
		return `"code" with unrestricted network access (allowedDomains "*": no network isolation)`
	case "code-strict":
		return `"code" with reads denied by default: only system paths, the workspace and agent config directories are readable`
	case "disable-telemetry":
		return "Any domain except known telemetry, analytics and crash-reporting services; writes in the workspace and tool caches"
	case "git-readonly":
		return "Workspace writable except .git; git push, reset, clean, checkout --, rebase and merge blocked"
	case "local-dev-server":
		return "Dev servers: listen on and connect to localhost; writes in the workspace and /tmp"
	}
	return ""
}

// Templates lists the built-in templates, sorted by name.
func Templates() []TemplateInfo {
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		return nil // cannot happen: the directory is embedded
	}
	out := make([]TemplateInfo, 0, len(entries))
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		out = append(out, TemplateInfo{Name: name, Description: templateDescription(name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TemplateExists reports whether name (with or without ".json") is a
// built-in template.
func TemplateExists(name string) bool {
	_, err := templateSource(name)
	return err == nil
}

// Template returns the built-in template name with its extends chain
// resolved. The result is a fresh copy the caller may modify.
func Template(name string) (*Config, error) {
	c, _, err := loadTemplate(name, nil, 0)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// TemplateSharesHostNetwork reports whether the built-in template name, with
// its extends chain, allows every domain ("*"), which runs the sandbox on
// the host network. It is cheap for the templates that do not: only those
// that mention "*" or extend another are parsed.
func TemplateSharesHostNetwork(name string) bool {
	src, err := templateSource(name)
	if err != nil {
		return false
	}
	if !bytes.Contains(src, []byte(`"*"`)) && !bytes.Contains(src, []byte(`"extends"`)) {
		return false
	}
	c, err := Template(name)
	return err == nil && c.Network.AllowsAllDomains()
}

// templateSource returns the JSONC text of a template.
func templateSource(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".json")
	// A name never walks out of the templates directory.
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, &templateNotFoundError{name}
	}
	b, err := templateFS.ReadFile("templates/" + name + ".json")
	if err != nil {
		return nil, &templateNotFoundError{name}
	}
	return b, nil
}

// parsedTemplates caches each template's own document (not merged with what
// it extends), so repeated resolution parses each template once per process.
var parsedTemplates struct {
	mu   sync.Mutex
	docs map[string]*Config
}

// templateDoc returns a template's own config, parsed once and cloned.
func templateDoc(name string) (*Config, error) {
	name = strings.TrimSuffix(name, ".json")
	parsedTemplates.mu.Lock()
	c, ok := parsedTemplates.docs[name]
	parsedTemplates.mu.Unlock()
	if ok {
		return c.Clone(), nil
	}
	src, err := templateSource(name)
	if err != nil {
		return nil, err
	}
	doc, err := decode(src, false)
	if err != nil {
		return nil, bug("template %q: %v", name, err)
	}
	if err := doc.cfg.Validate(); err != nil {
		return nil, bug("template %q: %v", name, err)
	}
	parsedTemplates.mu.Lock()
	if parsedTemplates.docs == nil {
		parsedTemplates.docs = make(map[string]*Config)
	}
	parsedTemplates.docs[name] = doc.cfg
	parsedTemplates.mu.Unlock()
	return doc.cfg.Clone(), nil
}

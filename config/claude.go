package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tailscale/hujson"
)

// claudeSettings is the part of Claude Code's settings.json that maps to
// fence. Everything else in the file is ignored.
type claudeSettings struct {
	Permissions struct {
		Allow []string `json:"allow"`
		Deny  []string `json:"deny"`
		Ask   []string `json:"ask"`
	} `json:"permissions"`
}

// splitClaudeRule splits "Tool(pattern)" into its tool and pattern.
func splitClaudeRule(rule string) (tool, arg string, ok bool) {
	i := strings.IndexByte(rule, '(')
	if i < 0 || !strings.HasSuffix(rule, ")") || !isClaudeToolName(rule[:i]) {
		return "", "", false
	}
	return rule[:i], rule[i+1 : len(rule)-1], true
}

// isClaudeToolName reports whether s looks like a tool name ("Read",
// "WebFetch", "mcp__server__tool").
func isClaudeToolName(s string) bool {
	if s == "" || !isASCIILetter(s[0]) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isASCIILetter(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// ImportClaude converts Claude Code permission rules (the JSON or JSONC of a
// settings.json) into a fence config that extends the template extend ("" for
// none). The mapping is upstream's (reference §1.3):
//
//   - Bash(cmd): allow → command.allow; deny and ask → command.deny. A
//     trailing ":*" (or " *") is dropped: Bash(npm run test:*) becomes
//     "npm run test", which fence matches as a prefix anyway.
//   - Read(path): deny and ask → filesystem.denyRead. Read allow rules are
//     dropped: reads are allowed by default.
//   - Write(path) and Edit(path): allow → filesystem.allowWrite; deny and
//     ask → filesystem.denyWrite.
//   - An ask rule becomes a deny rule, with a warning: fence cannot prompt.
//   - Bare tool names ("Read") and other tools are skipped with a warning.
//
// Warnings are plain sentences without a "Warning:" prefix; repeated rules
// appear once in the result.
func ImportClaude(settingsJSON []byte, extend string) (*Config, []string, error) {
	c := &Config{Extends: extend}
	if extend != "" && !IsExtendsPath(extend) && !TemplateExists(extend) {
		return nil, nil, &templateNotFoundError{extend}
	}
	if len(bytes.TrimSpace(settingsJSON)) == 0 {
		return c, nil, nil
	}
	std, err := hujson.Standardize(bytes.Clone(settingsJSON))
	if err != nil {
		if std2, err2 := hujson.Standardize(bytes.Clone(endLine(settingsJSON))); err2 == nil {
			std, err = std2, nil
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("invalid JSON in Claude settings: %s", syntaxError(settingsJSON, err))
	}
	var s claudeSettings
	if err := json.Unmarshal(std, &s); err != nil {
		return nil, nil, fmt.Errorf("invalid Claude settings: %w", err)
	}
	var warnings []string
	for _, group := range []struct {
		mode  string
		rules []string
	}{{"allow", s.Permissions.Allow}, {"deny", s.Permissions.Deny}, {"ask", s.Permissions.Ask}} {
		for _, rule := range group.rules {
			warnings = append(warnings, convertClaudeRule(c, group.mode, strings.TrimSpace(rule))...)
		}
	}
	// Normalise: de-duplicate every list, keep first occurrences.
	c = mergeKeepExtends(c)
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("converted Claude settings are not a valid fence config: %w", err)
	}
	return c, warnings, nil
}

// convertClaudeRule adds one rule to c and returns its warnings.
func convertClaudeRule(c *Config, mode, rule string) []string {
	var warnings []string
	tool, arg, ok := splitClaudeRule(rule)
	if !ok {
		if isClaudeToolName(rule) {
			return []string{fmt.Sprintf("Global tool permission %q skipped: fence rules need a pattern, e.g. %s(...)", rule, rule)}
		}
		return []string{fmt.Sprintf("Rule %q skipped: not a Tool(pattern) rule", rule)}
	}
	arg = strings.TrimSpace(arg)
	if mode == "ask" {
		warnings = append(warnings, fmt.Sprintf("Ask rule %q converted to deny: fence cannot ask for permission", rule))
	}
	deny := mode != "allow"
	switch tool {
	case "Bash":
		cmd := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(arg, ":*"), " *"))
		if cmd == "" || cmd == "*" {
			return append(warnings, fmt.Sprintf("Rule %q skipped: it names no command", rule))
		}
		if strings.ContainsAny(cmd, "*") {
			warnings = append(warnings, fmt.Sprintf("Rule %q: fence matches command prefixes, so the * inside %q is taken literally", rule, cmd))
		}
		if deny {
			c.Command.Deny = append(c.Command.Deny, cmd)
		} else {
			c.Command.Allow = append(c.Command.Allow, cmd)
		}
	case "Read":
		if !deny {
			return warnings // reads are allowed by default
		}
		if arg == "" {
			return append(warnings, fmt.Sprintf("Rule %q skipped: it names no path", rule))
		}
		if strings.Contains(strings.TrimSuffix(arg, "/**"), "**") {
			// fence refuses these for reads (no tree walk at start):
			// a config with one would not load.
			rest, ok := strings.CutPrefix(arg, "**/")
			if !ok || strings.Contains(strings.TrimSuffix(rest, "/**"), "**") {
				return append(warnings, fmt.Sprintf("Rule %q skipped: fence cannot hide a \"**\" pattern from reads; list the paths it should hide in filesystem.denyRead", rule))
			}
			warnings = append(warnings, fmt.Sprintf("Rule %q imported as %q: fence cannot hide files at any depth from reads, only the working directory's; list deeper ones in filesystem.denyRead", rule, rest))
			arg = rest
		}
		arg = homeVar(arg)
		if msg := pathProblem("filesystem.denyRead", arg); msg != "" {
			return append(warnings, fmt.Sprintf("Rule %q skipped: %s", rule, msg))
		}
		c.Filesystem.DenyRead = append(c.Filesystem.DenyRead, arg)
	case "Write", "Edit":
		if arg == "" {
			return append(warnings, fmt.Sprintf("Rule %q skipped: it names no path", rule))
		}
		arg = homeVar(arg)
		list := "filesystem.allowWrite"
		if deny {
			list = "filesystem.denyWrite"
		}
		if msg := pathProblem(list, arg); msg != "" {
			return append(warnings, fmt.Sprintf("Rule %q skipped: %s", rule, msg))
		}
		if deny {
			c.Filesystem.DenyWrite = append(c.Filesystem.DenyWrite, arg)
		} else {
			c.Filesystem.AllowWrite = append(c.Filesystem.AllowWrite, arg)
		}
	default:
		return append(warnings, fmt.Sprintf("Rule %q skipped: fence has no equivalent of the %s tool", rule, tool))
	}
	return warnings
}

// mergeKeepExtends de-duplicates c's lists while keeping its extends.
func mergeKeepExtends(c *Config) *Config {
	ext := c.Extends
	out := Merge(nil, c)
	out.Extends = ext
	return out
}

// homeVar writes a leading $HOME/ or ${HOME}/ as ~/, which fence expands
// (it expands no variables).
func homeVar(p string) string {
	for _, v := range []string{"$HOME/", "${HOME}/"} {
		if rest, ok := strings.CutPrefix(p, v); ok {
			return "~/" + rest
		}
	}
	return p
}

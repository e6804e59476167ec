package config

import "strings"

// runtimeDenyMeta are the characters that disqualify a deny entry from
// runtime enforcement (reference §2.4): a glob, a shell operator, an
// expansion or an assignment means the entry is not one program name.
const runtimeDenyMeta = "*?[]|&;()<>$`="

// RuntimeDenyTokens returns the command.deny entries, followed by the
// defaults when useDefaults is on, that name a single program: one token
// (after trimming) with none of the characters *?[]|&;()<>$`= (upstream's
// rule) nor quotes or backslashes, and not "." or "..". A token may be
// a bare name ("python3") or a path ("/usr/bin/python3"). Duplicates are
// dropped, order is kept.
//
// These are the entries the runtime also enforces when a program is
// executed inside the sandbox, e.g. by `env python3`. command.allow does not
// lift them: allow rules are argument prefixes, and the runtime sees only
// which program runs.
func RuntimeDenyTokens(c *Config) []string {
	if c == nil {
		c = Default()
	}
	var out []string
	add := func(rules []string) {
		for _, r := range rules {
			t := strings.TrimSpace(r)
			if t == "" || strings.ContainsAny(t, " \t\n\r\v\f\"'\\") || strings.ContainsAny(t, runtimeDenyMeta) {
				continue
			}
			if t == "." || t == ".." {
				// The shell's source builtin and the parent directory:
				// not programs. Joined to a PATH directory they would
				// name the directory itself, and its mask would stop
				// every program in it.
				continue
			}
			dup := false
			for _, o := range out {
				if o == t {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, t)
			}
		}
	}
	add(c.Command.Deny)
	if c.Command.DefaultsEnabled() {
		add(defaultDeniedCommands[:])
	}
	return out
}

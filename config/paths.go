package config

import (
	"path/filepath"
	"strings"
)

// globChars are the characters that make a path a glob pattern (reference
// §2.3): *, ?, [ and ].
const globChars = "*?[]"

// HasGlob reports whether p contains glob characters.
func HasGlob(p string) bool {
	return strings.ContainsAny(p, globChars)
}

// ExpandPath turns a config path into an absolute one without touching the
// filesystem:
//   - "~" is home and "~/x" is home/x;
//   - an absolute path is cleaned;
//   - anything else ("./x", "../x", "x", "*.pem", "**/.env") is joined to cwd.
//
// Glob characters are kept as they are ("~/.cache/**" stays a glob), and no
// symlink is resolved: matching globs and resolving links is the runtime's
// job, when and if it needs to. "~user" forms are not expanded; they are
// relative paths like any other. If home is "" a "~" path is returned
// unchanged, so a caller can tell it was not expanded.
func ExpandPath(p, home, cwd string) string {
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		if home == "" {
			return p
		}
		return filepath.Join(home, p[1:])
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	default:
		return filepath.Join(cwd, p)
	}
}

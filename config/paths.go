package config

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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

// HomeDir is the user's home directory: $HOME if it is absolute, else the
// user's entry in the password database, else "". A command started with
// env -i, by cron or by a service manager has no $HOME, and its home's
// credential paths and start-up files still need protecting.
func HomeDir() string {
	if h := os.Getenv("HOME"); filepath.IsAbs(h) {
		return h
	}
	if u, err := user.Current(); err == nil && filepath.IsAbs(u.HomeDir) {
		return u.HomeDir
	}
	return ""
}

// Shown is p as fence prints it: as it is, or quoted (strconv.Quote) when it
// holds what a terminal would not show as itself: control characters (an
// escape sequence in a file name a checkout brings could hide the rest of
// the output: "NOT TRUSTED", what `fence config trust` trusted), format
// characters such as a right-to-left override, or bytes that are not
// UTF-8.
func Shown(p string) string {
	if !utf8.ValidString(p) || strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(p)
	}
	return p
}

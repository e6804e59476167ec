// Package pathglob owns how a path is written inside fence's glob
// patterns (filepath.Match's syntax: "*", "?", "[...]", a backslash making
// the next character literal): escaping a path so that a pattern names it
// exactly, and reading the path back. The config layer's resolver, the
// write guard's patterns and the Seatbelt profile share it; it is a
// package of its own because package seatbelt must not import the config
// schema. It does no I/O.
package pathglob

import "strings"

// Literal escapes p's glob characters (and backslashes) with a
// backslash, so that a pattern built from it names p exactly: a working
// directory called "proj [old]" is not the glob "proj " followed by one
// of 'o', 'l', 'd'. filepath.Match, the write guard and Seatbelt's
// patterns all read the escapes.
func Literal(p string) string {
	if !strings.ContainsAny(p, `\*?[`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if strings.IndexByte(`\*?[`, p[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// Unescape drops the escaping backslashes of a pattern without glob
// characters (MetaIndex < 0), giving the path it names.
func Unescape(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			i++
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// MetaIndex returns the index of pattern p's first glob character
// that no backslash escapes, or -1.
func MetaIndex(p string) int {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return i
		}
	}
	return -1
}

// HasMeta reports whether pattern p has a glob character that no
// backslash escapes.
func HasMeta(p string) bool { return MetaIndex(p) >= 0 }

// Dir splits the absolute pattern p at its last '/' before the first
// glob character: the directory there, a path (unescaped, "/" at least),
// and the rest as written, from that '/' on. A pattern without globs is
// all directory.
func Dir(p string) (dir, rest string) {
	i := MetaIndex(p)
	if i < 0 {
		return Unescape(p), ""
	}
	j := strings.LastIndexByte(p[:i], '/')
	dir = Unescape(p[:j])
	if dir == "" {
		dir = "/"
	}
	return dir, p[j:]
}

package fence

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nsfence/fence/internal/cfgfile"
)

// gitEntry is one "key = value" of a git config file: section and key in
// lower case, the subsection as written (a dotted "[section.sub]" header's
// too), the value decoded.
type gitEntry struct {
	section, sub, key, value string
}

// parseGitConfig reads b the way git's own parser does (config.c): a
// UTF-8 byte order mark skipped; "[section]", "[section.sub]" and
// "[section "sub"]" headers, with any whitespace before the subsection and
// \" and \\ in it, followed by keys on the same line or the next; keys of
// letters, digits and "-"; values with quotes anywhere, the escapes \t \b
// \n \\ \", backslash-newline continuations, "#" and ";" comments outside
// quotes, and surrounding whitespace trimmed. A file git would refuse is an
// error naming the line: what it would include is unknown then, and fence
// does not guess (git refuses to run with such a file anyway).
func parseGitConfig(b []byte) ([]gitEntry, error) {
	p := &gitParser{b: bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), line: 1}
	var out []gitEntry
	section, sub := "", ""
	for {
		c, ok := p.next()
		switch {
		case !ok:
			return out, nil
		case c == '\n' || gitSpace(c):
		case c == '#' || c == ';':
			for c != '\n' && ok {
				c, ok = p.next()
			}
		case c == '[':
			var err error
			if section, sub, err = p.header(); err != nil {
				return nil, err
			}
		case gitAlpha(c): // outside any section too, as git reads it
			e, err := p.entry(c)
			if err != nil {
				return nil, err
			}
			e.section, e.sub = section, sub
			out = append(out, e)
		default:
			return nil, p.fail()
		}
	}
}

type gitParser struct {
	b    []byte
	i    int
	line int
}

// next returns the next byte, "\r\n" as "\n"; false at the end.
func (p *gitParser) next() (byte, bool) {
	if p.i >= len(p.b) {
		return 0, false
	}
	c := p.b[p.i]
	p.i++
	if c == '\r' && p.i < len(p.b) && p.b[p.i] == '\n' {
		c = '\n'
		p.i++
	}
	if c == '\n' {
		p.line++
	}
	return c, true
}

// nextOrNewline is next, with the end of the file read as a newline (as
// git reads it).
func (p *gitParser) nextOrNewline() byte {
	if c, ok := p.next(); ok {
		return c
	}
	return '\n'
}

func (p *gitParser) fail() error {
	line := p.line
	if p.i > 0 && p.b[p.i-1] == '\n' {
		line-- // the newline that ended the bad line was read
	}
	return fmt.Errorf("line %d is not valid git config syntax", line)
}

// header reads a section header after its "[".
func (p *gitParser) header() (section, sub string, err error) {
	var name []byte
	for {
		c, ok := p.next()
		switch {
		case !ok || c == '\n':
			return "", "", p.fail()
		case c == ']':
			s, sub, _ := strings.Cut(strings.ToLower(string(name)), ".")
			if s == "" {
				return "", "", p.fail()
			}
			if sub != "" {
				// "[section.Sub]": git lowers the whole name.
				return s, sub, nil
			}
			return s, "", nil
		case gitSpace(c):
			if len(name) == 0 || bytes.IndexByte(name, '.') >= 0 {
				return "", "", p.fail()
			}
			sub, err := p.subsection()
			return strings.ToLower(string(name)), sub, err
		case gitKeyChar(c) || c == '.':
			name = append(name, c)
		default:
			return "", "", p.fail()
		}
	}
}

// subsection reads ` "sub"]` after a section name and a blank.
func (p *gitParser) subsection() (string, error) {
	c := p.nextOrNewline()
	for gitSpace(c) {
		c = p.nextOrNewline()
	}
	if c != '"' {
		return "", p.fail()
	}
	var sub []byte
	for {
		c = p.nextOrNewline()
		switch c {
		case '\n':
			return "", p.fail()
		case '"':
			if p.nextOrNewline() != ']' {
				return "", p.fail()
			}
			return string(sub), nil
		case '\\':
			if c = p.nextOrNewline(); c == '\n' {
				return "", p.fail()
			}
		}
		sub = append(sub, c)
	}
}

// entry reads a key that starts with c, and its value.
func (p *gitParser) entry(c byte) (gitEntry, error) {
	key := []byte{c}
	for {
		c = p.nextOrNewline()
		if !gitKeyChar(c) {
			break
		}
		key = append(key, c)
	}
	for c == ' ' || c == '\t' {
		c = p.nextOrNewline()
	}
	e := gitEntry{key: strings.ToLower(string(key))}
	if c == '\n' {
		return e, nil // a boolean: no value
	}
	if c != '=' {
		return e, p.fail()
	}
	v, err := p.value()
	e.value = v
	return e, err
}

// value reads a value after its "=", up to the end of its line.
func (p *gitParser) value() (string, error) {
	var v []byte
	quote, comment, space := false, false, 0
	for {
		c := p.nextOrNewline()
		switch {
		case c == '\n':
			if quote {
				return "", p.fail()
			}
			return string(v), nil
		case comment:
			continue
		case gitSpace(c) && !quote:
			if len(v) > 0 {
				space++
			}
			continue
		case !quote && (c == '#' || c == ';'):
			comment = true
			continue
		}
		for ; space > 0; space-- {
			v = append(v, ' ')
		}
		switch c {
		case '\\':
			switch c = p.nextOrNewline(); c {
			case '\n':
				continue // a continuation
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'n':
				c = '\n'
			case '\\', '"':
			default:
				return "", p.fail()
			}
		case '"':
			quote = !quote
			continue
		}
		v = append(v, c)
	}
}

func gitSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

func gitAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func gitKeyChar(c byte) bool { return gitAlpha(c) || c >= '0' && c <= '9' || c == '-' }

// coreWorktree returns the work tree that core.worktree in the git config
// file names (its last value), made absolute against the file's directory
// (the git directory), as git takes it; "" if it names none or the file
// cannot be read or parsed (gitConfigWalk reports that).
func coreWorktree(file string) string {
	b, err := cfgfile.Read(file)
	if err != nil {
		return ""
	}
	es, err := parseGitConfig(b)
	if err != nil {
		return ""
	}
	wt := ""
	for _, e := range es {
		if e.section == "core" && e.sub == "" && e.key == "worktree" {
			wt = e.value
		}
	}
	if wt != "" && !filepath.IsAbs(wt) {
		wt = filepath.Join(filepath.Dir(file), wt)
	}
	return wt
}

// submodule is a [submodule "name"] section of .gitmodules.
type submodule struct{ name, path string }

// submodules returns the submodules .gitmodules names, with a relative
// path that stays in the repository, read as git reads the file
// (parseGitConfig). A .gitmodules that exists but cannot be read (a FIFO
// in a checkout, over 1 MiB) or parsed is an error: the submodules it
// names could not be protected. One that cannot be read for want of
// permission is an error only when it is the user's (unreadableOwn), as
// in gitConfigWalk: a directory on the way that may not be searched (a
// directory of the user's, mode 000, below the working directory, which
// childRepos takes for a repository) fails the protected paths' own
// lookups, with the fix, and only where the command could chmod it.
func submodules(file string) ([]submodule, error) {
	b, err := cfgfile.Read(file)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) && !unreadableOwn(file, err) {
		return nil, nil
	}
	var es []gitEntry
	if err == nil {
		es, err = parseGitConfig(b)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s to protect the submodules' git files: %w; fence will not run without it: %s, or use allowGitConfig", file, err, readFix(err))
	}
	clean := func(p string) (string, bool) {
		p = filepath.Clean(p)
		return p, p != "." && !filepath.IsAbs(p) && p != ".." && !strings.HasPrefix(p, "../")
	}
	var out []submodule
	for _, e := range es {
		if e.section != "submodule" || e.key != "path" {
			continue
		}
		name, ok := clean(e.sub)
		if !ok {
			continue
		}
		path, ok := clean(e.value)
		if !ok {
			continue
		}
		// The last path of a name is the one git uses.
		found := false
		for i := range out {
			if out[i].name == name {
				out[i].path, found = path, true
			}
		}
		if !found {
			out = append(out, submodule{name, path})
		}
	}
	return out, nil
}

// maxGitIncludeDepth is how deep git follows include.path (its own limit).
const maxGitIncludeDepth = 10

// gitIncludes returns the files that the git config files configs include
// ([include] and [includeIf "…"] path, whatever the condition), and the
// files those include in turn: git reads them as part of the config, so
// a protected config is only protected with them. The paths are formed as
// git forms them: "~/" and "~user/" expanded, a relative one appended to
// the including file's directory as given, ".." left for the kernel to
// resolve after the symlinks before it (the resolver does so). Missing
// files are returned too (one planted there would be read), and are not
// read. A file that exists but cannot be read safely (a FIFO, over 1 MiB)
// or parsed is an error: what it includes is unknown.
func (s *Spec) gitIncludes(configs []string) ([]string, error) {
	inc, _, err := s.gitConfigWalk(configs)
	return inc, err
}

// gitConfigWalk is gitIncludes, and also returns the core.hooksPath values
// of every file it read (configs and includes), "~/" and "~user/"
// expanded as git expands them; a relative one is the work tree's.
func (s *Spec) gitConfigWalk(configs []string) (includes, hooks []string, err error) {
	type file struct {
		path  string
		depth int
	}
	queue := make([]file, 0, len(configs))
	for _, c := range configs {
		queue = append(queue, file{c, 0})
	}
	seen := map[string]bool{}
	var out []string
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		// Known by where the path leads: "sub/../a.inc" is "a.inc" unless
		// sub is a symlink. (A loop makes git give up at its depth limit.)
		key := f.path
		if r, err := s.paths.evalMissing(f.path, nil); err == nil {
			key = r
		}
		if seen[key] || f.depth > maxGitIncludeDepth {
			continue
		}
		seen[key] = true
		if f.depth > 0 {
			out = append(out, f.path)
		}
		b, err := cfgfile.Read(f.path)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) && !unreadableOwn(f.path, err) || errors.Is(err, syscall.ENOTDIR) {
			continue // git cannot read it either
		}
		// One of the user's that cannot be read (unreadableOwn: a run
		// did chmod 000 proj/.git/config, the next found no
		// core.hooksPath there, made it readable again and planted
		// proj/.husky/_/pre-commit) stops fence below.
		var es []gitEntry
		if err == nil {
			es, err = parseGitConfig(b)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read git config %s to protect the files it includes: %w; fence will not run without it: %s", f.path, err, readFix(err))
		}
		for _, e := range es {
			if e.section == "core" && e.sub == "" && e.key == "hookspath" && e.value != "" {
				if p, ok := s.gitHomePath(e.value); ok {
					hooks = append(hooks, p)
				}
				continue
			}
			if e.key != "path" || e.value == "" || !(e.section == "include" && e.sub == "" || e.section == "includeif") {
				continue
			}
			p, ok := s.gitIncludePath(e.value, f.path)
			if ok {
				queue = append(queue, file{p, f.depth + 1})
			}
		}
	}
	return out, hooks, nil
}

// gitIncludePath is the file an include.path value v in the config file
// from names, as git forms it; false if git could not expand it.
func (s *Spec) gitIncludePath(v, from string) (string, bool) {
	p, ok := s.gitHomePath(v)
	if !ok || strings.HasPrefix(p, "/") {
		return p, ok
	}
	// Unclean on purpose: "dir/../x" is where the kernel takes it.
	return from[:strings.LastIndexByte(from, '/')+1] + p, true
}

// gitHomePath is a path value v of a git config with "~/" and "~user/"
// expanded as git expands them (interpolate_path); a relative one stays
// so. False if git could not expand it.
func (s *Spec) gitHomePath(v string) (string, bool) {
	if rest, ok := strings.CutPrefix(v, "~"); ok {
		name, tail, _ := strings.Cut(rest, "/")
		home := s.Home
		if name != "" {
			u, err := user.Lookup(name)
			if err != nil {
				return "", false // git stops there with an error
			}
			home = u.HomeDir
		}
		if home == "" {
			return "", false
		}
		return strings.TrimSuffix(home, "/") + "/" + tail, true
	}
	return v, true
}

// globalGitConfigs are the git config files git reads in every repository
// besides the repository's own: the user's ($GIT_CONFIG_GLOBAL instead of
// ~/.gitconfig and git/config in the XDG config directory, the
// environment's and the default), and the system's ($GIT_CONFIG_SYSTEM,
// else /etc/gitconfig), whose includes may lead into the user's files.
func (s *Spec) globalGitConfigs() []string {
	var out []string
	if g := s.envDir("GIT_CONFIG_GLOBAL"); g != "" {
		out = append(out, g)
	} else {
		if s.Home != "" {
			out = append(out, filepath.Join(s.Home, ".gitconfig"), filepath.Join(s.Home, ".config", "git", "config"))
		}
		if d := s.envDir("XDG_CONFIG_HOME"); d != "" {
			out = append(out, filepath.Join(d, "git", "config"))
		}
	}
	if g := s.envDir("GIT_CONFIG_SYSTEM"); g != "" {
		out = append(out, g)
	} else {
		out = append(out, "/etc/gitconfig")
	}
	return out
}

// readFix is the fix to name for a file of the user's that fence must read
// and could not: only one it may read by its permissions (unreadableOwn)
// gets this far with a permission error.
func readFix(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return "make it readable (chmod u+r)"
	}
	return "fix the file"
}

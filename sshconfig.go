package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nsfence/fence/internal/cfgfile"
	"github.com/nsfence/fence/internal/pathglob"
)

// maxSSHIncludeDepth is how deep ssh follows Include (its own limit).
const maxSSHIncludeDepth = 16

// sshIncludes returns what the user's ssh config (~/.ssh/config) includes
// (Include, in a Match or Host block too), and what those include in turn:
// ssh reads them as part of the config (ProxyCommand, LocalCommand run
// code). Paths are literal files, missing ones too; an argument with a glob
// in its last component is returned as a pattern (new matches must not be
// created), and its existing matches as paths. A glob further up is
// returned as its existing matches only. "~" is $HOME; a relative path is
// in ~/.ssh, as ssh takes it. A file that exists but cannot be read safely
// is an error.
func (s *Spec) sshIncludes() (paths, patterns []string, err error) {
	if s.Home == "" {
		return nil, nil, nil
	}
	dir := filepath.Join(s.Home, ".ssh")
	type file struct {
		path  string
		depth int
	}
	queue := []file{{filepath.Join(dir, "config"), 0}}
	seen := map[string]bool{}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if seen[f.path] || f.depth > maxSSHIncludeDepth {
			continue
		}
		seen[f.path] = true
		if f.depth > 0 {
			paths = append(paths, f.path)
		}
		if st, err := os.Stat(f.path); err == nil && !st.Mode().IsRegular() {
			continue // ssh reads a directory as empty (config.d/old/)
		}
		b, err := cfgfile.Read(f.path)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOTDIR) {
			continue // ssh cannot read it either
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read ssh config %s to protect the files it includes: %w; fence will not run without it: fix the file", f.path, err)
		}
		for _, arg := range sshIncludeArgs(b) {
			// ssh globs what is written; the home or ~/.ssh it is
			// relative to is a path, whatever its name holds.
			glob := strings.ContainsAny(arg, "*?[")
			base := ""
			switch {
			case arg == "~" || strings.HasPrefix(arg, "~/"):
				base, arg = s.Home, arg[1:]
			case !filepath.IsAbs(arg):
				base = dir
			}
			if !glob {
				queue = append(queue, file{filepath.Join(base, arg), f.depth + 1})
				continue
			}
			goArg, err := sshGlob(arg)
			if err != nil {
				return nil, nil, fmt.Errorf("ssh config %s: Include %s: %w; fence cannot tell which files it includes, to protect them", f.path, arg, err)
			}
			pat := filepath.Join(pathglob.Literal(base), goArg)
			if d := filepath.Dir(pat); !hasMeta(d) {
				patterns = append(patterns, filepath.Join(pathglob.Unescape(d), filepath.Base(pat)))
			}
			matches, _ := filepath.Glob(pat)
			for _, m := range matches {
				queue = append(queue, file{m, f.depth + 1})
			}
		}
	}
	return paths, patterns, nil
}

// sshIncludeArgs returns the arguments of the Include lines of the ssh
// config b: the keyword in any case, separated from its arguments by
// blanks or "=", arguments in double quotes or bare, "#" lines skipped.
func sshIncludeArgs(b []byte) []string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.IndexAny(line, " \t=")
		if i < 0 || !strings.EqualFold(line[:i], "include") {
			continue
		}
		rest := strings.TrimLeft(line[i:], " \t")
		rest = strings.TrimLeft(strings.TrimPrefix(rest, "="), " \t")
		for rest != "" {
			var arg string
			if rest[0] == '"' {
				end := strings.IndexByte(rest[1:], '"')
				if end < 0 {
					break // ssh refuses the line
				}
				arg, rest = rest[1:1+end], rest[2+end:]
			} else {
				j := strings.IndexAny(rest, " \t")
				if j < 0 {
					j = len(rest)
				}
				arg, rest = rest[:j], rest[j:]
			}
			if arg != "" && arg[0] != '#' {
				out = append(out, arg)
			} else if arg != "" {
				break // a comment after the arguments
			}
			rest = strings.TrimLeft(rest, " \t")
		}
	}
	return out
}

// sshGlob turns an ssh Include glob (glob(3): "[!...]" is negation, "^"
// is an ordinary character, "[:alpha:]" and the like name classes) into
// filepath.Match's syntax, which fence's globs use. A class name it does
// not know is an error.
func sshGlob(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			b.WriteString(p[i : i+2])
			i++
			continue
		case c != '[' || !strings.Contains(p[i+1:], "]"):
			b.WriteByte(c)
			continue
		}
		// A class: up to its "]" (which may come first, as itself).
		b.WriteByte('[')
		i++
		if i < len(p) && p[i] == '!' {
			b.WriteByte('^')
			i++
		} else if i < len(p) && p[i] == '^' {
			b.WriteString(`\^`)
			i++
		}
		for first := true; i < len(p); i, first = i+1, false {
			switch {
			case p[i] == ']' && !first:
				b.WriteByte(']')
			case p[i] == ']':
				b.WriteString(`\]`)
				continue
			case strings.HasPrefix(p[i:], "[:"):
				end := strings.Index(p[i:], ":]")
				if end < 0 {
					return "", fmt.Errorf("an unclosed class name in %q", p)
				}
				set, ok := posixClasses[p[i+2:i+end]]
				if !ok {
					return "", fmt.Errorf("the class [:%s:], which fence does not know", p[i+2:i+end])
				}
				b.WriteString(set)
				i += end + 1
				continue
			case p[i] == '\\' && i+1 < len(p):
				b.WriteString(p[i : i+2])
				i++
				continue
			default:
				b.WriteByte(p[i])
				continue
			}
			break
		}
	}
	return b.String(), nil
}

// posixClasses are glob(3)'s named classes of ASCII characters, as
// filepath.Match ranges.
var posixClasses = map[string]string{
	"alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "digit": "0-9", "lower": "a-z", "upper": "A-Z",
	"xdigit": "0-9a-fA-F", "blank": " \t", "space": " \t\n\r\f\v",
}

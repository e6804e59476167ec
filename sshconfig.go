package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/internal/cfgfile"
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
			switch {
			case arg == "~" || strings.HasPrefix(arg, "~/"):
				arg = filepath.Join(s.Home, arg[1:])
			case !filepath.IsAbs(arg):
				arg = filepath.Join(dir, arg)
			}
			if !config.HasGlob(arg) {
				queue = append(queue, file{arg, f.depth + 1})
				continue
			}
			if !config.HasGlob(filepath.Dir(arg)) {
				patterns = append(patterns, arg)
			}
			matches, _ := filepath.Glob(arg)
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

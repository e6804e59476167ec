package fence

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// resolver is filepath.EvalSymlinks for absolute paths, remembering every
// component it resolved. A policy resolves dozens of paths under the same
// few directories ($HOME, the working directory, the PATH entries), and
// EvalSymlinks would lstat every component of each of them again: about a
// millisecond of a sandbox's start went there.
//
// Results are those of EvalSymlinks on the filesystem as it was when first
// looked at, errors included (ENOENT, ENOTDIR, too many links); a resolver
// lives for one plan.
type resolver struct {
	// done maps "resolved parent/name" to what the name resolves to.
	done map[string]resolved
	// names maps a directory to its sorted entries (nil if unreadable),
	// for glob: the templates glob the same directories several times
	// (five patterns in the working directory, two in $HOME for -t code),
	// and each filepath.Glob read the whole directory again.
	names map[string][]string
}

type resolved struct {
	path  string
	dir   bool // path is a directory
	links int  // symlinks followed to resolve it, counted again on reuse
	err   error
}

// glob is filepath.Glob for an absolute pattern, errors ignored (no
// matches), reading each directory once per plan when only the last
// component of the pattern has wildcards; other patterns go to
// filepath.Glob.
func (r *resolver) glob(pattern string) []string {
	dir, file := filepath.Split(pattern)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "/"
	}
	if strings.ContainsAny(dir, `*?[\`) {
		m, _ := filepath.Glob(pattern)
		return m
	}
	if _, err := filepath.Match(file, ""); err != nil {
		return nil // a malformed pattern matches nothing, as in filepath.Glob
	}
	names, ok := r.names[dir]
	if !ok {
		if r.names == nil {
			r.names = map[string][]string{}
		}
		if f, err := os.Open(dir); err == nil {
			names, _ = f.Readdirnames(-1)
			f.Close()
			slices.Sort(names)
		}
		r.names[dir] = names
	}
	var out []string
	for _, n := range names {
		if ok, _ := filepath.Match(file, n); ok {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

// maxLinks matches filepath.EvalSymlinks: more symlinks than this in one
// resolution is an error.
const maxLinks = 255

var errTooManyLinks = errors.New("EvalSymlinks: too many links")

// eval resolves the absolute path p.
func (r *resolver) eval(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", &fs.PathError{Op: "resolve", Path: p, Err: fs.ErrInvalid}
	}
	if r.done == nil {
		r.done = map[string]resolved{}
	}
	links := 0
	res := r.walk("/", p, &links)
	return res.path, res.err
}

// walk resolves the components of rest starting at dir, which is resolved
// and a directory, and counts the symlinks it follows in links.
func (r *resolver) walk(dir, rest string, links *int) resolved {
	cur := resolved{path: dir, dir: true}
	for rest != "" {
		var c string
		var more bool
		c, rest, more = strings.Cut(rest, "/")
		switch c {
		case "", ".":
			continue
		case "..":
			// cur has no symlinks left, so its parent is lexical.
			if i := strings.LastIndexByte(cur.path, '/'); i > 0 {
				cur.path = cur.path[:i]
			} else {
				cur.path = "/"
			}
			continue
		}
		next := cur.path + "/" + c
		if cur.path == "/" {
			next = "/" + c
		}
		res, ok := r.done[next]
		if ok {
			*links += res.links
		} else {
			before := *links
			res = r.component(cur.path, next, links)
			res.links = *links - before
			if !errors.Is(res.err, errTooManyLinks) {
				// The link budget depends on the path that led
				// here, so running out of it is not the name's
				// own result.
				r.done[next] = res
			}
		}
		if res.err == nil && *links > maxLinks {
			res = resolved{err: errTooManyLinks}
		}
		if res.err != nil {
			return resolved{err: res.err}
		}
		if more && !res.dir {
			// "file/", "file/." and "file/.." fail as EvalSymlinks
			// fails them.
			return resolved{err: &fs.PathError{Op: "lstat", Path: res.path + "/", Err: syscall.ENOTDIR}}
		}
		cur = res
	}
	return cur
}

// component resolves next, a name in the resolved directory dir.
func (r *resolver) component(dir, next string, links *int) resolved {
	fi, err := os.Lstat(next)
	if err != nil {
		return resolved{err: err}
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return resolved{path: next, dir: fi.IsDir()}
	}
	if *links++; *links > maxLinks {
		return resolved{err: errTooManyLinks}
	}
	target, err := os.Readlink(next)
	if err != nil {
		return resolved{err: err}
	}
	if strings.HasPrefix(target, "/") {
		return r.walk("/", target, links)
	}
	return r.walk(dir, target, links)
}

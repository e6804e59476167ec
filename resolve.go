package fence

import (
	"errors"
	"io/fs"
	"os"
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
}

type resolved struct {
	path  string
	dir   bool // path is a directory
	links int  // symlinks followed to resolve it, counted again on reuse
	err   error
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

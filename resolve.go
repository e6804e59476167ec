package fence

import (
	"errors"
	"io/fs"
	"os"
	"strings"
)

// resolver is filepath.EvalSymlinks for absolute paths, remembering every
// component it resolved. A policy resolves dozens of paths under the same
// few directories ($HOME, the working directory, the PATH entries), and
// EvalSymlinks would lstat every component of each of them again: about a
// millisecond of a sandbox's start went there.
//
// Results are those of EvalSymlinks on the filesystem as it was when first
// looked at; a resolver lives for one plan.
type resolver struct {
	// done maps "resolved parent/name" to the name's resolved path, or to
	// the error resolving it gave.
	done map[string]resolved
}

type resolved struct {
	path string
	err  error
}

// errTooManyLinks matches the limit and wording of filepath.EvalSymlinks.
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
	return r.walk("/", p, &links)
}

// walk resolves the components of rest starting at dir, which is resolved.
func (r *resolver) walk(dir, rest string, links *int) (string, error) {
	for rest != "" {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		switch c {
		case "", ".":
			continue
		case "..":
			// dir has no symlinks left, so its parent is lexical.
			if i := strings.LastIndexByte(dir, '/'); i > 0 {
				dir = dir[:i]
			} else {
				dir = "/"
			}
			continue
		}
		next := dir + "/" + c
		if dir == "/" {
			next = "/" + c
		}
		res, ok := r.done[next]
		if !ok {
			res.path, res.err = r.component(dir, next, links)
			r.done[next] = res
		}
		if res.err != nil {
			return "", res.err
		}
		dir = res.path
	}
	return dir, nil
}

// component resolves next, a name in the resolved directory dir.
func (r *resolver) component(dir, next string, links *int) (string, error) {
	fi, err := os.Lstat(next)
	if err != nil {
		return "", err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return next, nil
	}
	if *links++; *links > 255 {
		return "", errTooManyLinks
	}
	target, err := os.Readlink(next)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(target, "/") {
		return r.walk("/", target, links)
	}
	return r.walk(dir, target, links)
}

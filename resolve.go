package fence

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
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

// glob is filepath.Glob for an absolute pattern with a wildcard, errors
// ignored (no matches), reading each directory once per plan when only the
// last component has wildcards; other patterns go to filepath.Glob.
func (r *resolver) glob(pattern string) []string {
	dir, file := filepath.Split(pattern)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "/"
	}
	const meta = `*?[\`
	if !strings.HasPrefix(pattern, "/") || strings.ContainsAny(dir, meta) || !strings.ContainsAny(file, meta) {
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
		names = readDirNames(dir)
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

// readDirNames returns the sorted names in directory dir, or nil. The open
// is O_DIRECTORY: a FIFO or a device where a directory was expected must
// fail, not block or act (filepath.Glob stats before it opens).
func readDirNames(dir string) []string {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	slices.Sort(names)
	return names
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
	// unix.Lstat into a stack buffer: os.Lstat allocates a FileInfo for
	// each of the plan's ~80 lookups.
	var st unix.Stat_t
	err := lstat(next, &st)
	for err == unix.EINTR { // as os.Lstat does: FUSE and CIFS return it on a signal
		err = lstat(next, &st)
	}
	if err != nil {
		return resolved{err: &fs.PathError{Op: "lstat", Path: next, Err: err}}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return resolved{path: next, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR}
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

// lstat is unix.Lstat; a variable so that tests can make it fail the ways
// slow file systems do.
var lstat = unix.Lstat

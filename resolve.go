package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/nsfence/fence/internal/pathglob"
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
	// names maps a directory to its sorted entries, or to why it could
	// not be listed, for glob: the templates glob the same directories
	// several times (five patterns in the working directory, two in $HOME
	// for -t code), and each filepath.Glob read the whole directory again.
	names map[string]listing
	// dirs maps a directory, as given, to its resolution (evalPartial).
	dirs map[string]dirResolved
	// listed maps a resolved directory to the names it held when listed
	// (listNames; nil: not listed), and searched counts the lookups in
	// it that found a name or its absence: once a few have shown that
	// the directory may be searched, a name missing from its listing is
	// answered without a lookup of its own. Most names a plan looks up
	// are missing: a -t code plan looked up ~116 names in $HOME, which
	// held 26, and ~90 in ~/.config, which held 2.
	listed   map[string]map[string]struct{}
	searched map[string]int
}

type listing struct {
	names []string
	err   error
}

type resolved struct {
	path  string
	dir   bool // path is a directory
	links int  // symlinks followed to resolve it, counted again on reuse
	err   error
}

// glob is filepath.Glob for an absolute pattern, reading each directory
// once per plan. Unlike filepath.Glob it reports what it could not read:
// matches is what it found, and err is the first lookup or listing error
// that keep returns (keep turns errors that do not matter into nil; a nil
// keep ignores them all). A caller hiding or protecting the matches must
// not go on without the ones it could not see; a caller granting access
// may. A literal last component under wildcard directories ("/home/*/.ssh")
// is looked up in each of them, not matched against a listing: the
// directories need not be readable, only searchable, as for the command.
func (r *resolver) glob(pattern string, keep func(error) error) (matches []string, err error) {
	if keep == nil {
		keep = func(error) error { return nil }
	}
	if !strings.HasPrefix(pattern, "/") {
		m, _ := filepath.Glob(pattern)
		return m, nil
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, nil // a malformed pattern matches nothing, as in filepath.Glob
	}
	if !pathglob.HasMeta(pattern) {
		pattern = pathglob.Unescape(pattern)
		if lerr := r.lookup(pattern); lerr != nil {
			return nil, keep(lerr)
		}
		return []string{pattern}, nil
	}
	dir, file := filepath.Split(pattern)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "/"
	}
	dirs := []string{pathglob.Unescape(dir)}
	if pathglob.HasMeta(dir) {
		if dirs, err = r.glob(dir, keep); dirs == nil {
			return nil, err
		}
	}
	for _, d := range dirs {
		if file != "" && !pathglob.HasMeta(file) {
			name := filepath.Join(d, pathglob.Unescape(file))
			if lerr := r.lookup(name); lerr == nil {
				matches = append(matches, name)
			} else if e := keep(lerr); e != nil && err == nil {
				err = e
			}
			continue
		}
		l := r.list(d)
		if l.err != nil && err == nil {
			err = keep(l.err)
		}
		for _, n := range l.names {
			if ok, _ := filepath.Match(file, n); ok {
				matches = append(matches, filepath.Join(d, n))
			}
		}
	}
	return matches, err
}

// lookup reports why the unresolved path p cannot be lstat'ed, if it
// cannot: a searchDenied for EACCES, else the *fs.PathError.
func (r *resolver) lookup(p string) error {
	// A name missing from its directory's listing, if the directory has
	// been listed (missing): the directory is a resolved path, so p names
	// a name in it.
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		if names := r.listed[p[:i]]; names != nil && printableASCII(p[i+1:]) {
			if _, found := names[p[i+1:]]; !found {
				return &fs.PathError{Op: "lstat", Path: p, Err: unix.ENOENT}
			}
		}
	}
	var st unix.Stat_t
	err := lstat(p, &st)
	for err == unix.EINTR {
		err = lstat(p, &st)
	}
	if err == nil {
		return nil
	}
	var e error = &fs.PathError{Op: "lstat", Path: p, Err: err}
	if err == unix.EACCES {
		e = r.deniedUnder(filepath.Dir(p), e)
	}
	return e
}

// list returns directory dir's sorted names, from the plan's cache.
func (r *resolver) list(dir string) listing {
	l, ok := r.names[dir]
	if !ok {
		if r.names == nil {
			r.names = map[string]listing{}
		}
		if names := r.listed[dir]; names != nil {
			// Listed already for lookups (unlisted), every name in it
			// (listNames gives all or none): ext4 hashes each entry of a
			// listing, and $HOME was read twice for each plan.
			l.names = slices.Sorted(maps.Keys(names))
		} else {
			l.names, l.err = readDirNames(dir)
			if errors.Is(l.err, unix.EACCES) {
				l.err = r.unreadable(dir, l.err)
			}
		}
		r.names[dir] = l
	}
	return l
}

// unreadable explains err, an EACCES from opening directory dir (which
// may hold symlinks) for listing: a directory the user may search but not
// read is a failure of its own (the command could still open names it
// guesses, id_rsa), else the search was refused on the way (deniedUnder).
func (r *resolver) unreadable(dir string, err error) error {
	switch xerr := searchable(dir); xerr {
	case nil:
		return &fs.PathError{Op: "list", Path: dir, Err: errUnlistable}
	case unix.EACCES:
		return r.deniedUnder(dir, err)
	default:
		return &fs.PathError{Op: "access", Path: dir, Err: xerr}
	}
}

// deniedUnder explains err, an EACCES from a lookup under dir or from
// opening dir: dir is resolved (the resolver finds a search refused on
// the way through symlinks, and says where), and the first directory of
// the result that may not be searched is the culprit (whySearchDenied).
func (r *resolver) deniedUnder(dir string, err error) error {
	rd, rerr := r.eval(dir)
	if rerr != nil {
		return rerr
	}
	return whySearchDenied(rd, err)
}

// readDirNames returns the sorted names in directory dir. The open is
// O_DIRECTORY: a FIFO or a device where a directory was expected must fail
// (ENOTDIR), not block or act (filepath.Glob stats before it opens). A
// listing cut short by an error returns the error with what it read.
func readDirNames(dir string) ([]string, error) {
	fd, err := openList(dir)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

// searchable is faccessat(path, X_OK) for the effective ids; a variable
// so that tests can refuse searches the kernel would grant root.
var searchable = func(path string) error {
	return unix.Faccessat(unix.AT_FDCWD, path, unix.X_OK, unix.AT_EACCESS)
}

// openList opens directory dir for readDirNames, retrying EINTR; a
// variable so that tests can make it fail the ways slow file systems do.
var openList = func(dir string) (int, error) {
	for {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// searchDenied is a lookup that stopped at a directory this user may not
// search (EACCES). The sandboxed command, the same user with fewer
// privileges, cannot reach anything under it either, unless it can make
// the directory searchable again: it owns the directory (chmod) and the
// directory is writable inside the sandbox (Landlock does not cover
// chmod). owned records the former; the policy knows the latter
// (failure).
type searchDenied struct {
	dir   string // the directory that refused the search, symlinks resolved
	owned bool   // owned by this process's effective uid
	err   error  // the lookup's error
}

func (e *searchDenied) Error() string {
	return fmt.Sprintf("%v; %s may not be searched, but it is yours and the command could chmod it", e.err, e.dir)
}
func (e *searchDenied) Unwrap() error { return e.err }

func isSearchDenied(err error) bool {
	var sd *searchDenied
	return errors.As(err, &sd)
}

// whySearchDenied wraps err, an EACCES from a lookup under directory dir
// (resolved, no symlinks) or from opening dir, with the first directory
// from the root down to dir that this user may not search, and who owns
// it. If no directory on the way refuses (a FUSE server or a security
// module said no, not the mode bits), dir itself is named. A failure to
// tell is returned as that failure.
func whySearchDenied(dir string, err error) error {
	d := "/"
	for _, c := range strings.Split(strings.TrimPrefix(filepath.Clean(dir), "/"), "/") {
		if c == "" {
			continue
		}
		d = filepath.Join(d, c)
		xerr := searchable(d)
		if xerr == unix.EACCES {
			break
		}
		if xerr != nil {
			return &fs.PathError{Op: "access", Path: d, Err: xerr}
		}
	}
	var st unix.Stat_t
	if serr := unix.Stat(d, &st); serr != nil {
		return &fs.PathError{Op: "stat", Path: d, Err: serr}
	}
	return &searchDenied{dir: d, owned: int(st.Uid) == os.Geteuid(), err: err}
}

// failure is err unless it only says that nothing is there for the
// sandbox (absent): a search refused at a directory the command could
// make searchable (owned, and at or under one of writable) is a failure.
func failure(err error, writable []string) error {
	sd, ok := err.(*searchDenied)
	if !ok {
		// The resolver's lookups fail with an *fs.PathError holding an
		// errno, which holds no searchDenied: errors.As (reflection)
		// only for the rest.
		if pe, isPE := err.(*fs.PathError); !isPE || !isErrno(pe.Err) {
			ok = errors.As(err, &sd)
		}
	}
	if ok {
		if sd.owned && underAny(sd.dir, writable) {
			return err
		}
		return nil
	}
	if absent(err) {
		return nil
	}
	return err
}

// absent reports whether err, from resolving or listing a path, means that
// nothing is there for the sandbox either: the name does not exist, a
// component is not a directory, this user may not search a directory on
// the way (the sandboxed command runs as the same user, with fewer
// privileges), the name is too long, or the symlinks loop. Any other
// failure (EIO, ESTALE, a FUSE mount whose server is gone) says nothing
// about what the command will find there later.
func absent(err error) bool {
	if errors.Is(err, errTooManyLinks) {
		return true
	}
	var e syscall.Errno
	// The resolver's own *fs.PathError first: errors.As goes through
	// reflection, and a plan asks this of ~100 missing names.
	if pe, ok := err.(*fs.PathError); ok {
		if e, ok = pe.Err.(syscall.Errno); !ok && !errors.As(err, &e) {
			return false
		}
	} else if !errors.As(err, &e) {
		return false
	}
	switch e {
	case unix.ENOENT, unix.ENOTDIR, unix.EACCES, unix.ELOOP, unix.ENAMETOOLONG:
		return true
	}
	return false
}

// maxLinks matches filepath.EvalSymlinks: more symlinks than this in one
// resolution is an error.
const maxLinks = 255

var errTooManyLinks = errors.New("EvalSymlinks: too many links")

var errUnlistable = errors.New("directory can be searched but not read")

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

// evalMissing resolves the absolute path p as far as it exists: symlinks
// are followed up to the first name that cannot be looked up, which is kept
// with the rest of p as it is. A dangling symlink on the way is followed
// too, its target resolved as far as it exists in turn: creating p creates
// what the link leads to. The result is the path a name created at p gets,
// which is what the creation guard sees (it compares paths the kernel
// resolved): a protected path that does not exist must be named that way.
//
// A lookup that fails for another reason than the name's absence for the
// sandbox (failure, given the paths writable in it) is an error: what the
// path leads to is unknown then, and a protection computed from the
// unresolved path would miss it.
func (r *resolver) evalMissing(p string, writable []string) (string, error) {
	res, _, err := r.evalPartial(p, writable)
	return res, err
}

// evalPartial is evalMissing, and reports whether all of p exists: then
// the result is eval's.
func (r *resolver) evalPartial(p string, writable []string) (string, bool, error) {
	if !strings.HasPrefix(p, "/") {
		return "", false, &fs.PathError{Op: "resolve", Path: p, Err: fs.ErrInvalid}
	}
	if r.done == nil {
		r.done = map[string]resolved{}
	}
	// A plain path's directory is resolved once for all the names in it:
	// a plan looks up ~150 protected names in a handful of directories,
	// and walking each from / again was most of the lookups' time. Only a
	// directory that resolved without any error is remembered: its
	// resolution does not depend on writable.
	if i := strings.LastIndexByte(p, '/'); i > 0 && plainPath(p) {
		dir := p[:i]
		d, ok := r.dirs[dir]
		if !ok {
			var exists bool
			var err error
			d.path, exists, d.links, err = r.evalFrom("/", dir, 0, writable)
			d.ok = exists && err == nil
			if r.dirs == nil {
				r.dirs = map[string]dirResolved{}
			}
			r.dirs[dir] = d
		}
		if d.ok {
			res, exists, _, err := r.evalFrom(d.path, p[i+1:], d.links, writable)
			return res, exists, err
		}
	}
	res, exists, _, err := r.evalFrom("/", p, 0, writable)
	return res, exists, err
}

// dirResolved is what evalPartial remembers of a directory.
type dirResolved struct {
	path  string
	links int  // symlinks followed to resolve it
	ok    bool // it exists and resolved without an error
}

// plainPath reports whether the absolute path p has no empty, "." or ".."
// component and no trailing slash.
func plainPath(p string) bool {
	for rest := p[1:]; ; {
		c, more, found := strings.Cut(rest, "/")
		if c == "" || c == "." || c == ".." {
			return false
		}
		if !found {
			return true
		}
		rest = more
	}
}

// evalFrom is evalPartial from cur, resolved, with the path rest still to
// go and links symlinks followed so far; it also returns the links count.
func (r *resolver) evalFrom(cur, rest string, links int, writable []string) (string, bool, int, error) {
	for rest != "" {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		switch c {
		case "", ".":
			continue
		case "..":
			// cur has no symlinks left, so its parent is lexical.
			cur = filepath.Dir(cur)
			continue
		}
		res := r.walk(cur, c, &links)
		if res.err == nil {
			cur = res.path
			continue
		}
		if err := failure(res.err, writable); err != nil {
			return "", false, links, err
		}
		next := cur + "/" + c // cur is resolved, c one name
		if cur == "/" {
			next = "/" + c
		}
		if missingName(res.err, next) {
			// The name itself is not there: no symlink to follow. (Most
			// protected paths are missing: a readlink each was ~100
			// failing syscalls of a -t code plan.)
			if rest == "" {
				return next, false, links, nil // next is clean already
			}
			return filepath.Join(next, rest), false, links, nil
		}
		target, err := os.Readlink(next)
		if err != nil || links >= maxLinks {
			// Missing, not a directory, or not to be searched: from
			// here on the path is the one given. (A loop ends here too,
			// once the link budget is spent.)
			return filepath.Join(next, rest), false, links, nil
		}
		// A symlink that leads where something is missing: resolve its
		// target, then what follows it.
		links++
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		rest = target + "/" + rest
	}
	return cur, true, links, nil
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
	if r.missing(dir, next) {
		return resolved{err: &fs.PathError{Op: "lstat", Path: next, Err: unix.ENOENT}}
	}
	// unix.Lstat into a stack buffer: os.Lstat allocates a FileInfo for
	// each of the plan's ~80 lookups.
	var st unix.Stat_t
	err := lstat(next, &st)
	for err == unix.EINTR { // as os.Lstat does: FUSE and CIFS return it on a signal
		err = lstat(next, &st)
	}
	if err == nil || err == unix.ENOENT {
		if r.searched == nil {
			r.searched = map[string]int{}
		}
		r.searched[dir]++
	}
	if err != nil {
		var e error = &fs.PathError{Op: "lstat", Path: next, Err: err}
		if err == unix.EACCES {
			e = whySearchDenied(dir, e)
		}
		return resolved{err: e}
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

// listAfter is how many lookups in a directory come before it is listed
// (missing): a listing costs a few system calls, worth it for a directory
// asked about many names.
const listAfter = 3

// missing reports whether the name next, in the resolved directory dir, is
// known to be absent without a lookup: dir was searched listAfter times
// without EACCES, and its listing (listNames, made once) lacks next, a
// name of printable ASCII. Anywhere a listing cannot stand for lookups
// (listNames), nothing is known.
func (r *resolver) missing(dir, next string) bool {
	if r.searched[dir] < listAfter {
		return false
	}
	return r.unlisted(dir, next[strings.LastIndexByte(next, '/')+1:])
}

// unlisted reports whether name, of printable ASCII, is missing from the
// listing of the resolved directory dir (listNames, made once). The caller
// must know that dir may be searched: a name of a directory that may not
// be is neither there nor absent, but out of reach (EACCES). Anywhere a
// listing cannot stand for lookups, nothing is known (false).
func (r *resolver) unlisted(dir, name string) bool {
	names, ok := r.listed[dir]
	if !ok {
		names = listNames(dir)
		if r.listed == nil {
			r.listed = map[string]map[string]struct{}{}
		}
		r.listed[dir] = names
	}
	if names == nil || !printableASCII(name) {
		return false
	}
	_, found := names[name]
	return !found
}

// printableASCII reports whether s is a non-empty name of printable ASCII
// characters.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// lookedUp returns every name that resolving the absolute path p looks up,
// each in its directory resolved (the path the write guard sees for it):
// p's own components, and those of each symlink's target met on the way
// (~/.codex -> l1, l1 -> dotfiles/codex: ~/.codex, ~/l1, ~/dotfiles,
// ~/dotfiles/codex). Past a name that cannot be looked up, the rest is
// taken as given, as evalPartial takes it.
func lookedUp(p string) []string { return lookedUpIn(p, nil) }

// lookups remembers what lookedUpIn's lstat and readlink calls answered,
// for several paths through the same directories (the links of one bin
// directory, which mostly lead to one file: rustup's proxies).
type lookups map[string]lookup

type lookup struct {
	st     unix.Stat_t
	err    error
	target string // a symlink's, read once
	terr   error
}

// dirOrMissing reports whether name, as memo has it (or lstat says, if
// memo lacks it), is a directory or missing.
func (memo lookups) dirOrMissing(name string) bool {
	l, ok := memo[name]
	if !ok {
		l.err = lstat(name, &l.st)
	}
	return l.err != nil || l.st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// lookedUpIn is lookedUp answering from (and filling) memo when memo is
// not nil.
func lookedUpIn(p string, memo lookups) []string {
	lst := func(name string) (lookup, bool) {
		if l, ok := memo[name]; ok {
			return l, true
		}
		var l lookup
		l.err = lstat(name, &l.st)
		return l, false
	}
	var out []string
	cur, rest, links := "/", p, 0
	for rest != "" {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		switch c {
		case "", ".":
			continue
		case "..":
			// cur has no symlinks left, so its parent is lexical.
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		out = append(out, next)
		l, cached := lst(next)
		if !cached && l.err == nil && l.st.Mode&unix.S_IFMT == unix.S_IFLNK {
			l.target, l.terr = os.Readlink(next)
		}
		if memo != nil && !cached {
			memo[next] = l
		}
		if l.err != nil {
			for d := filepath.Join(next, rest); d != next && d != "/"; d = filepath.Dir(d) {
				out = append(out, d)
			}
			return out
		}
		if l.st.Mode&unix.S_IFMT == unix.S_IFLNK && links < maxLinks {
			target, err := l.target, l.terr
			if err != nil {
				return out
			}
			links++
			if strings.HasPrefix(target, "/") {
				cur = "/"
			}
			rest = target + "/" + rest
			continue
		}
		cur = next
	}
	return out
}

// lstat is unix.Lstat; a variable so that tests can make it fail the ways
// slow file systems do.
var lstat = unix.Lstat

func isErrno(err error) bool {
	_, ok := err.(syscall.Errno)
	return ok
}

// missingName reports whether err, from walking to the name next, says
// that next itself does not exist (ENOENT from its own lstat), rather than
// something it leads to.
func missingName(err error, next string) bool {
	pe, ok := err.(*fs.PathError)
	return ok && pe.Op == "lstat" && pe.Path == next && pe.Err == unix.ENOENT
}

// literalPrefix returns what pattern p names before its first glob
// character, unescaped: /h/u[1]/.ssh/id_ for /h/u\[1]/.ssh/id_*.
func literalPrefix(p string) string {
	if i := pathglob.MetaIndex(p); i >= 0 {
		p = p[:i]
	}
	return pathglob.Unescape(p)
}

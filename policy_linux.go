package fence

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/nsfence/fence/nsexec"
	"golang.org/x/sys/unix"
)

// binDirs are searched for denied programs in addition to the command's PATH.
var binDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// unmaskedFix and unmaskedPathFix end the errors of runtimeDenied, for
// names searched in PATH and for denied programs given as paths.
const (
	unmaskedFix     = "fence will not run with a denied program it could not mask: fix the file system or remove the directory from PATH"
	unmaskedPathFix = "fence will not run with a denied program it could not mask: fix the file system or remove it from command.deny"
)

// runtimeDenied returns every path under which a denied program can be
// executed by name: each PATH directory's entry of that name, as it is (a
// symlink stays a symlink). Masking the name, not the symlink's target,
// keeps other programs that share the binary working: denying reboot leaves
// systemctl alone, denying one applet leaves a multi-call binary's others.
// A token that is a path is masked as given.
//
// A lookup that fails for another reason than the name's absence is an
// error: the program could be there, and unmasked.
//
// pathSet tells an empty PATH (the working directory, for sh and bash)
// from an unset one (bash's default, which ends with it).
func runtimeDenied(res *resolver, tokens []string, path string, pathSet bool, cwd string, writable []string) ([]string, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	dirs := filepath.SplitList(path)
	switch {
	case !pathSet:
		dirs = filepath.SplitList(nsexec.BashDefaultPath)
	case path == "":
		dirs = []string{""}
	}
	var out []string
	seen := map[string]bool{}
	// The names as C strings once, not once per directory: the lookups
	// are ~200 syscalls of the supervisor's planning.
	names := make([][]byte, len(tokens))
	for i, t := range tokens {
		if !strings.Contains(t, "/") && !strings.Contains(t, "\x00") {
			names[i] = append([]byte(t), 0)
		}
	}
	// Each directory is resolved (/bin is often a symlink to usr/bin) and
	// opened once; names are then looked up relative to it, without
	// resolving the final name: a symlink stays a symlink.
	for _, d := range append(dirs, binDirs...) {
		if !filepath.IsAbs(d) {
			// The shell searches a relative entry (an empty one is
			// ".") from its working directory: the one the command
			// starts in is the one fence can mask.
			if cwd == "" {
				continue
			}
			d = filepath.Join(cwd, d)
		}
		r, err := res.eval(d)
		if err != nil {
			if err = failure(err, writable); err == nil {
				continue
			}
			return nil, fmt.Errorf("look for denied programs in %s: %w; %s", d, err, unmaskedFix)
		}
		if seen[r] {
			continue
		}
		seen[r] = true
		fd, err := openDir(r)
		if err != nil {
			if err == unix.EACCES {
				err = whySearchDenied(filepath.Dir(r), err)
			}
			if err = failure(err, writable); err == nil {
				continue
			}
			return nil, fmt.Errorf("look for denied programs in %s: %w; %s", r, err, unmaskedFix)
		}
		// Each name is looked up in each directory: ~20 names in ~10
		// directories, ~0.5 µs a lookup where system calls are cheap
		// (~1.2 µs in a fresh process).
		// Their listings (resolver.unlisted, as protect takes them for
		// its hundreds of names in a few directories) cost more there,
		// the large ones (/usr/sbin, pyenv's shims: 130-175 names) most:
		// `fence -- true` 0.19 ms sooner without them, on PID 1's path,
		// which waits for these (docs/benchmarking.md, "The network
		// namespace on PID 1's main thread"). They paid on a VM whose
		// system calls took 10-50 µs.
		for i, t := range tokens {
			if names[i] == nil {
				continue
			}
			found, err := exists(fd, names[i])
			if err == unix.EACCES {
				// r itself may not be searched: no name in it runs,
				// unless the command can chmod r.
				if err = failure(whySearchDenied(r, err), writable); err == nil {
					break
				}
			}
			if err != nil {
				unix.Close(fd)
				return nil, fmt.Errorf("look for denied program %s in %s: %w; %s", t, r, err, unmaskedFix)
			}
			if found {
				out = append(out, filepath.Join(r, t))
			}
		}
		unix.Close(fd)
	}
	for _, t := range tokens {
		if filepath.IsAbs(t) {
			err := res.lookup(filepath.Clean(t))
			if err == nil {
				out = append(out, filepath.Clean(t))
			} else if err = failure(err, writable); err != nil {
				return nil, fmt.Errorf("look for denied program %s: %w; %s", t, err, unmaskedPathFix)
			}
		}
	}
	return out, nil
}

// exists reports whether name (NUL-terminated, converted once by the
// caller) is an entry of the directory fd, without following a final
// symlink. Not a raw syscall: on a slow PATH directory (FUSE, NFS) the
// runtime would take a long raw call for a goroutine hogging its thread,
// and its preemption signal would interrupt the lookup. EINTR (that, or
// any other signal) is retried, as os does; absence, a non-directory or a
// name too long to exist are "no", and so is a directory of that name
// (nothing to execute: a project's chroot/ or terraform/ in a working
// directory on the search path stays visible). EACCES (the directory may
// not be searched) is for the caller to judge.
func exists(fd int, name []byte) (bool, error) {
	for {
		var st unix.Stat_t
		e := lstatAt(fd, &name[0], &st)
		switch e {
		case 0:
			return st.Mode&unix.S_IFMT != unix.S_IFDIR, nil
		case unix.EINTR:
			continue
		case unix.ENOENT, unix.ENOTDIR, unix.ENAMETOOLONG:
			return false, nil
		}
		return false, e
	}
}

// openDir opens directory dir as an O_PATH descriptor for exists, retrying
// EINTR; a variable so that tests can make it fail the ways slow file
// systems do.
var openDir = func(dir string) (int, error) {
	for {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// lstatAt is fstatat(fd, name, AT_SYMLINK_NOFOLLOW) for exists; a variable
// so that tests can make it fail the ways slow file systems do.
var lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno {
	_, _, e := unix.Syscall6(sysFstatat, uintptr(fd), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	return e
}

// foreignProcs returns the mount points of the procfs mounts other than
// /proc (a chroot's, a build tool's, mounted on the host): the sandbox's
// own /proc shows only its processes, these show the host's (their
// command lines and environments). fsPolicy hides them like denyRead.
// It returns the mount table too, in which fsPolicy finds the other
// views of hidden paths (otherViews). If the mount table cannot be read,
// it fails: fence would not know what the sandbox could see.
func foreignProcs() (procsResult, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return procsResult{}, fmt.Errorf("read the mount table to hide other procfs mounts: %w", err)
	}
	return parseMountTable(string(b)), nil
}

// parseForeignProcs is foreignProcs on a mountinfo text.
func parseForeignProcs(mountinfo string) []string {
	return parseMountTable(mountinfo).paths
}

// kernelFS are the file systems through which a process changes the
// kernel's settings or state (sysfs, the cgroup hierarchies, tracing,
// the security modules', binfmt_misc's interpreters), or the host's
// devices and IPC (devtmpfs, mqueue), that must not come into the sandbox
// writable with a writable path that holds a mount of one (a chroot's
// rbind of /sys and /dev, a container tool's /host/sys). procfs is hidden
// there instead (foreignProcs).
var kernelFS = []string{"sysfs", "cgroup", "cgroup2", "devtmpfs", "tracefs", "debugfs", "securityfs", "bpf",
	"efivarfs", "configfs", "pstore", "binfmt_misc", "fusectl", "mqueue", "hugetlbfs", "selinuxfs", "smackfs",
	"rpc_pipefs", "nfsd"}

// parseMountTable returns the other procfs mounts (foreignProcs), the
// mounts of a mountinfo text, in its order, and its mounts of kernelFS.
func parseMountTable(mountinfo string) (r procsResult) {
	for line := range strings.SplitSeq(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		// ID, parent ID, major:minor, root, mount point, ...
		f := strings.SplitN(pre, " ", 6)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if !filepath.IsAbs(mp) {
			continue
		}
		mp = filepath.Clean(mp)
		r.mounts = append(r.mounts, mountEntry{dev: f[2], root: filepath.Clean(unescapeMount(f[3])), point: mp, layers: overlayLayers(post)})
		if strings.HasPrefix(post, "proc ") && mp != "/proc" && !strings.HasPrefix(mp, "/proc/") {
			r.paths = append(r.paths, mp)
		}
		if fstype, _, _ := strings.Cut(post, " "); slices.Contains(kernelFS, fstype) {
			r.kernel = append(r.kernel, kernelMount{point: mp, fstype: fstype, index: len(r.mounts) - 1})
		}
	}
	return r
}

// overlayLayers returns the upper and lower directories of an overlay
// mount, from the part of its mountinfo line after " - " (type, source,
// super options): lowerdir (colon-separated), lowerdir+ (one each) and
// upperdir, absolute paths only. Data-only layers (datadir+) show no
// names of their own. nil for other file systems.
func overlayLayers(post string) []string {
	f := strings.SplitN(post, " ", 3)
	if len(f) < 3 || f[0] != "overlay" {
		return nil
	}
	var out []string
	for _, o := range strings.Split(strings.TrimSpace(f[2]), ",") {
		k, v, _ := strings.Cut(o, "=")
		var names []string
		switch k {
		case "upperdir":
			names = overlayOption(v, true, false)
		case "lowerdir":
			names = overlayOption(v, true, true)
		case "lowerdir+":
			names = overlayOption(v, false, false)
		}
		for _, p := range names {
			if filepath.IsAbs(p) {
				out = append(out, filepath.Clean(p))
			}
		}
	}
	return out
}

// overlayOption decodes the value of an overlay layer option as mountinfo
// shows it: the option as given at mount time, with mountinfo's octal
// escapes (\134 for a backslash, \040 for a space, \054 for a comma).
// Where the kernel unescapes the option (esc: lowerdir and upperdir, not
// lowerdir+), a backslash takes the next character literally: a colon in
// a layer's name is given as "\:", shown as "\134:". With split (lowerdir)
// the value is a list, split on the other colons. A colon shown as \072
// is taken as part of a name too.
func overlayOption(v string, esc, split bool) []string {
	var out []string
	var cur strings.Builder
	escaped := false
	for i := 0; i < len(v); i++ {
		c, literal := v[i], false
		if c == '\\' && i+4 <= len(v) {
			if o, err := strconv.ParseUint(v[i+1:i+4], 8, 8); err == nil {
				c, literal = byte(o), byte(o) == ':'
				i += 3
			}
		}
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case esc && c == '\\':
			escaped = true
		case split && c == ':' && !literal:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// rootBlocked returns, when fence runs as root, the writable paths that
// root cannot write in the sandbox, with the first one's owner and mode.
// The sandbox keeps no capabilities, so root's writes there pass a file's
// permission bits like anyone's: a workspace owned by another user (a
// checkout mounted into a CI container, sudo fence in a user's project) is
// read-only in practice, and the command sees only EACCES. A path with a
// POSIX ACL is left out: its bits do not tell.
func rootBlocked(writable []string) (blocked []string, uid uint32, mode uint32) {
	if unix.Geteuid() != 0 {
		return nil, 0, 0
	}
	groups, _ := unix.Getgroups()
	groups = append(groups, unix.Getegid())
	for _, w := range writable {
		var st unix.Stat_t
		if unix.Stat(w, &st) != nil || dacWritable(&st, 0, groups) {
			continue
		}
		if n, err := unix.Getxattr(w, "system.posix_acl_access", nil); err == nil && n > 0 {
			continue
		}
		if len(blocked) == 0 {
			uid, mode = st.Uid, st.Mode&0o7777
		}
		blocked = append(blocked, w)
	}
	return blocked, uid, mode
}

// dacWritable reports whether a process of uid and groups, without
// capabilities, may write st by its permission bits: create and remove
// names in a directory (write and search), write to anything else.
func dacWritable(st *unix.Stat_t, uid int, groups []int) bool {
	want := uint32(0o2)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		want = 0o3
	}
	switch {
	case int(st.Uid) == uid:
		return (st.Mode>>6)&want == want
	case slices.Contains(groups, int(st.Gid)):
		return (st.Mode>>3)&want == want
	}
	return st.Mode&want == want
}

// dirID is the identity of the directory p leads to (through symlinks),
// or the zero fileID.
func dirID(p string) fileID {
	var st unix.Stat_t
	if unix.Stat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fileID{}
	}
	return fileID{uint64(st.Dev), st.Ino}
}

// passwdHome returns the home directory of the account uid in the
// password file at path, or "": what os/user reads in a binary built
// without cgo, as make builds fence, and by its rules (comments, blank
// lines and NIS "+"/"-" entries skipped, six colons at least, numeric
// ids). Read in one piece and scanned in place: through os/user it took
// ~0.15 ms of the plan, which the init stage waits for, most of it the
// first use of buffered readers and new heap pages.
func passwdHome(path string, uid int) string {
	b, err := readSmall(path, maxPasswdSize)
	if err != nil {
		return ""
	}
	want := strconv.Itoa(uid)
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' || bytes.Count(line, []byte{':'}) < 6 {
			continue
		}
		// name:password:uid:gid:gecos:home:shell
		var f [6][]byte // the home is f[5]
		n := 0
		for n < 6 {
			i := bytes.IndexByte(line, ':')
			if i < 0 {
				f[n] = line
				n++
				break
			}
			f[n], line = line[:i], line[i+1:]
			n++
		}
		if n == 6 && len(f[0]) > 0 && string(f[2]) == want {
			if _, err := strconv.Atoi(string(f[3])); err != nil {
				continue // a group id that is not a number
			}
			return string(f[5])
		}
	}
	return ""
}

// maxPasswdSize bounds the password file passwdHome reads: a larger one
// (a directory of thousands of accounts) is left to the account's $HOME.
const maxPasswdSize = 4 << 20

// readSmall reads the whole regular file at path, of at most limit bytes,
// with one open and as few reads as its size allows.
func readSmall(path string, limit int64) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size > limit {
		return nil, fmt.Errorf("read %s: not a regular file of at most %d bytes", path, limit)
	}
	b := make([]byte, st.Size+1) // +1: a file grown meanwhile reads on
	n := 0
	for {
		if n == len(b) {
			if int64(len(b)) > limit {
				return nil, fmt.Errorf("read %s: more than %d bytes", path, limit)
			}
			b = append(b, make([]byte, len(b))...)
		}
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return b[:n], nil
		}
		n += m
	}
}

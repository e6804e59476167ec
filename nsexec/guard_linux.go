package nsexec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/nsfence/fence/internal/pathglob"
	"golang.org/x/sys/unix"
)

// The creation guard keeps the command from creating protected names that do
// not exist yet (a new .bashrc, .mcp.json or .git/hooks in a writable
// directory). Read-only binds cannot cover a name that does not exist, and
// Landlock cannot deny one name inside a writable directory, so the syscalls
// that create directory entries are sent to PID 1 by a seccomp user
// notification filter (seccomp.LoadCommand). PID 1 reads the path once from the
// caller's memory, resolves its parent directory itself, refuses protected
// names with EACCES, and performs everything else on the caller's behalf
// (open's fd is injected with SECCOMP_IOCTL_NOTIF_ADDFD). It never answers
// "continue" to a syscall with a path: the kernel would read the path again,
// and another thread could have changed it in between. umask(2), whose
// argument is a plain value, is only noted (see umasks) and continued.
//
// PID 1's serving threads run with the command's uid, gid and groups, no
// capabilities, the same seccomp filter and the same mount tree, so an
// operation they perform succeeds or fails as it would for the command. They
// are not in the command's Landlock domain (a sibling domain could not read
// the command's memory); Landlock repeats the mount policy, which still
// applies to every operation they perform.

// Layout of the kernel's seccomp notification structures.
type seccompData struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

type seccompNotifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// Operations the guard emulates.
const (
	opOpen = iota
	opMkdir
	opMknod
	opSymlink
	opLink
	opRename
	opConnect
	opBind
	opTruncate
	opUnlink
	opUmask // only watched: see umasks
	opOwnFS // only watched: a thread with a filesystem context of its own
)

// creation is one decoded request.
type creation struct {
	op       int
	dirfd    int32   // directory of the new name
	path     uintptr // the new name
	oldDirfd int32   // link, rename: the existing name
	oldPath  uintptr
	target   uintptr // symlink: the link's content
	flags    int     // open flags; linkat/renameat2 flags
	mode     uint32
	dev      uint64
	length   uint64  // truncate
	sockfd   int32   // connect, bind: the caller's socket
	addr     uintptr // connect, bind: the sockaddr and its length
	addrLen  int
}

// guard is the policy the guards enforce.
type guard struct {
	names map[string]bool // exact protected paths
	// ancestors are proper ancestors of protected paths: no symlink, hard
	// link or rename may put an existing tree there.
	ancestors map[string]bool

	// patterns are paths that may not be written (DenyWritePatterns).
	patterns []glob
	// recordNames are the names of files recorded when the sandbox
	// creates them, though no pattern keeps them (RecordNames).
	recordNames []string
	// protected are paths that may be neither created nor written
	// (ProtectedPatterns): patterns without the exemption for files the
	// sandbox created (see kept). The literal ones are in protectedPaths
	// (PATH) and protectedTrees (PATH/**, what is below PATH), looked up
	// by a path and its directories instead of matched one by one: a
	// directory of a hundred repositories gives thousands of them (see
	// isProtected).
	protected      []glob
	protectedPaths map[string]bool
	protectedTrees map[string]bool
	// heldGlobs are the directories of protected patterns (without "**")
	// that are globs themselves: like held directories (see
	// removableAncestors), no name matching one may be a symlink or a
	// directory renamed there, which would lead the pattern's files where
	// the guard, matching resolved paths, does not see them.
	heldGlobs []glob
	// grants and grantGlobs are FSPolicy.Grants and GrantPatterns: held
	// like removableAncestors, except that a plain file may be renamed
	// there or away (see isGrant and plainFile).
	grants     map[string]bool
	grantGlobs []glob
	// removable are paths that may be removed, and nothing else
	// (FSPolicy.Removable); removableAncestors are their proper
	// ancestors and the held directories (FSPolicy.Held), which may be
	// removed or created but not renamed or replaced.
	removable, removableAncestors map[string]bool

	unix UnixPolicy
	// logf, if set, receives one line per refused operation (-m, -d).
	logf func(string)
	mu   sync.Mutex
	// bound are the unix sockets the sandbox bound itself, by identity:
	// connecting to them is always allowed.
	bound map[fileID]bool
	// created are the files matching a no-write pattern that the sandbox
	// created itself (see kept), by identity, with the path each had last:
	// a file of the user's moved to such a path (its directory renamed
	// there) is not the sandbox's.
	created map[fileID]string
	// loaded are FSPolicy.Created, which createdFiles leaves out while
	// created still has them as they were: the supervisor has them.
	loaded map[fileID]string
	// gitDirs and gitAllowConfig are FSPolicy's GitDirs and
	// AllowGitConfig (gitKept); startSec and startNsec are when the
	// guard was made, in real time, which birth times are read against;
	// madeDirs are the directories the guard made for the sandbox (with
	// GitDirs), by identity, until they are removed (madeInRun).
	gitDirs, gitAllowConfig bool
	startSec, startNsec     int64
	madeDirs                map[fileID]bool
	// movedUserDirs are directories of a user's work tree, there before
	// the run, that a rename has moved, and directories put where one of
	// those was, by identity; freedUserPaths are the paths such
	// directories left (dirMoveRefused), and freedUserTrees those of
	// the trees too large to list, all below which counts as the
	// user's (userish).
	movedUserDirs  map[fileID]bool
	freedUserPaths map[string]bool
	freedUserTrees map[string]bool
	// sandboxTops are the tops of repositories of the sandbox's whose
	// .git has been removed in this run (inSandboxRepo).
	sandboxTops map[fileID]bool
	// fresh are the files the guard created for the sandbox in this run
	// (an O_CREAT open of a free name, mknod, symlink), by identity,
	// until they are removed: what a rename or a hard link puts at a
	// name of RecordNames, or at .git, is recorded only if it is one of
	// these or already the sandbox's (madeHere). Bounded by maxFresh.
	fresh map[fileID]bool
	// procDev is the device of the sandbox's /proc (ownProc).
	procDev uint64
	umasks  umasks
	// writable are the places the command's own Landlock rules let it
	// write (landlockWritable, and /dev's nodes), as the kernel names them
	// (resolved): mayWrite.
	writable []string
	// mounts are the writable mounts mayWrite has found at their paths
	// in the sandbox, by unique mount id: the sandbox's own (mayWrite).
	mountsMu sync.Mutex
	mounts   map[uint64]bool
	// pidfds are the callers' thread pidfds (getfd).
	pidfds pidfds
	// nullFD is the sandbox's /dev/null, kept (openNull), or -1.
	nullOnce sync.Once
	nullFD   int
	// waiting counts the requests answered on goroutines of their own
	// (connects, opens that wait), each holding one of PID 1's threads
	// while it waits (see maxWaiting).
	waiting atomic.Int32
}

// maxWaiting bounds the requests that wait on goroutines of their own. Each
// holds an OS thread of PID 1 for as long as its syscall waits (an open of
// a FIFO without a writer, a connect to a listener whose backlog is full),
// and the Go runtime ends a process that reaches 10,000 threads ("fatal
// error: thread exhaustion"): 10,500 threads of the sandbox opening a FIFO
// crashed PID 1, which ended the run with exit status 2 and a stack dump
// of every goroutine. Past the bound the call fails at once (ENFILE for
// an open, EAGAIN for a connect, as for a listener's full backlog) and
// PID 1 goes on.
const maxWaiting = 4096

// wait takes one of the maxWaiting places for a request about to wait on
// a goroutine of its own, or reports false (and logs it) when all are
// taken; done gives it back.
func (g *guard) wait(pid int, op string) bool {
	if g.waiting.Add(1) <= maxWaiting {
		return true
	}
	g.waiting.Add(-1)
	if g.logf != nil {
		g.logf(fmt.Sprintf("[fence:guard] %s ✗ %s: %d calls wait already (pid %d)", time.Now().Format("15:04:05"), op, maxWaiting, pid))
	}
	return false
}

func (g *guard) done() { g.waiting.Add(-1) }

func newGuard(fs *FSPolicy, up UnixPolicy) *guard {
	g := &guard{names: map[string]bool{}, ancestors: map[string]bool{}, unix: up, bound: map[fileID]bool{}, created: map[fileID]string{}, madeDirs: map[fileID]bool{}, movedUserDirs: map[fileID]bool{}, freedUserPaths: map[string]bool{}, freedUserTrees: map[string]bool{}, sandboxTops: map[fileID]bool{}, fresh: map[fileID]bool{},
		removable: map[string]bool{}, removableAncestors: map[string]bool{}, protectedPaths: map[string]bool{}, protectedTrees: map[string]bool{}}
	paths, patterns, protected, created := fs.Guarded, fs.DenyWritePatterns, fs.ProtectedPatterns, fs.Created
	g.recordNames = fs.RecordNames
	for _, p := range patterns {
		g.patterns = append(g.patterns, compileGlob(p))
	}
	var st unix.Stat_t
	if unix.Stat("/proc", &st) == nil {
		g.procDev = uint64(st.Dev)
	}
	g.gitDirs, g.gitAllowConfig = fs.GitDirs, fs.AllowGitConfig
	if g.gitDirs {
		// The coarse clock, not the fine one: a file system stamps a
		// new inode with the coarse time or (multigrain timestamps,
		// Linux 6.13 on) a finer one, never earlier than the coarse
		// time then. So every directory made after this reads as born
		// after it. With the fine clock, one the sandbox made in the
		// first tick (up to 4 ms) read as older, and git init in a new
		// directory of a repository failed one run in two. One made in
		// the tick before reads as new too, but madeInRun asks for the
		// guard's own record of the mkdir as well, which only this run
		// makes. Without a clock, nothing counts as made in this run.
		var now unix.Timespec
		if unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &now) != nil {
			g.startSec = 1<<63 - 1
		} else {
			g.startSec, g.startNsec = int64(now.Sec), int64(now.Nsec) // int32 on 386 and arm
		}
	}
	for _, p := range protected {
		g.holdDirs(p, true)
		if !strings.ContainsAny(p, `*?[\`) {
			g.protectedPaths[p] = true
			continue
		}
		if dir, ok := strings.CutSuffix(p, "/**"); ok && dir != "" && !strings.ContainsAny(dir, `*?[\`) {
			g.protectedTrees[dir] = true
			continue
		}
		g.protected = append(g.protected, compileGlob(p))
	}
	// The directories of no-write patterns are held too: renamed away,
	// they would carry the matches (bound read-only when one level deep)
	// out of the pattern's reach and free their paths for new files of
	// the sandbox's, which the user then finds in place of theirs
	// (mv config x && mkdir config && echo evil > config/app.yml for
	// config/*.yml). Only the literal ones: a glob directory
	// (config/*/x.yml) matches names that renames in config/ must not
	// be refused (the documented exception, as for **).
	for _, p := range patterns {
		g.holdDirs(p, false)
	}
	g.loaded = make(map[fileID]string, len(created))
	for _, c := range created {
		if dev, ino, path, ok := ParseCreated(c); ok {
			g.created[fileID{dev, ino}] = path
			g.loaded[fileID{dev, ino}] = path
		}
	}
	for _, p := range paths {
		p = filepath.Clean(p)
		g.names[p] = true
		for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
			g.ancestors[d] = true
		}
	}
	for _, p := range fs.Removable {
		p = filepath.Clean(p)
		g.removable[p] = true
		for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
			g.removableAncestors[d] = true
		}
	}
	for _, p := range fs.Held {
		g.removableAncestors[filepath.Clean(p)] = true
	}
	g.grants = map[string]bool{}
	for _, p := range fs.Grants {
		g.grants[filepath.Clean(p)] = true
	}
	for _, p := range fs.GrantPatterns {
		g.grantGlobs = append(g.grantGlobs, compileGlob(p))
	}
	for _, p := range append([]string{"/dev", "/tmp"}, fs.Writable...) {
		if r, err := realPath(p); err == nil && !slices.Contains(g.writable, r) {
			g.writable = append(g.writable, r)
		}
	}
	return g
}

// holdDirs holds the directories of pattern p (see heldGlobs and
// removableAncestors): none may be renamed or replaced. Not for patterns
// with "**": any directory, and refusing renames there would stop
// ordinary work. globs: hold the directories that are globs themselves
// too (heldGlobs), not only the literal ones.
func (g *guard) holdDirs(p string, globs bool) {
	if strings.Contains(p, "**") {
		return
	}
	for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
		if pathglob.MetaIndex(d) >= 0 {
			if globs {
				g.heldGlobs = append(g.heldGlobs, compileGlob(d))
			}
		} else {
			g.removableAncestors[pathglob.Unescape(d)] = true
		}
	}
}

// isGrant reports whether full is a name a later run grants (see
// FSPolicy.Grants).
func (g *guard) isGrant(full string) bool {
	return g.grants[full] || g.matches(g.grantGlobs, full)
}

// plainFile reports whether base in parent is a regular file with one
// link: renamed to a name a later run grants, it grants that file and no
// other name of it.
func plainFile(parent int, base string) bool {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1
}

// grantTemps numbers renameToGrant's temporary names.
var grantTemps atomic.Uint64

// renameToGrant renames obase in oparent to base in parent, a name a later
// run grants, as renameat2 with flags (no RENAME_EXCHANGE) would, if what it
// moves is a plain file (plainFile), and then that very file. Renamed by
// name, it would be whatever is at obase when the kernel gets there: the
// guard answers one call at a time, but another sandbox writing the same
// directory (a second run in the same writable home) has a guard of its
// own, and its rename of a symlink over obase between the check and this
// one put the symlink at the granted name (in a few hundred tries). So the
// file is opened and checked, linked by its descriptor to a temporary name
// beside base (what the descriptor holds, whatever obase is by then), and
// that name is renamed to base, which replaces base atomically as the
// rename would have; obase goes last, if it is still that file (if not,
// it is no name of the file any more).
func renameToGrant(oparent int, obase string, parent int, base string, flags int) unix.Errno {
	fd, err := unix.Openat(oparent, obase, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return errnoOf(err)
	}
	defer unix.Close(fd)
	var st, at unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errnoOf(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		return unix.EACCES
	}
	if unix.Fstatat(parent, base, &at, unix.AT_SYMLINK_NOFOLLOW) == nil && at.Dev == st.Dev && at.Ino == st.Ino {
		// The file's only name is base already: rename(2) does
		// nothing then, and so does this (a link and a removal would
		// leave it nowhere but at the temporary name).
		return 0
	}
	self := "/proc/self/fd/" + strconv.Itoa(fd)
	var tmp string
	for try := 0; ; try++ {
		tmp = ".fence-grant-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatUint(grantTemps.Add(1), 36)
		err = unix.Linkat(unix.AT_FDCWD, self, parent, tmp, unix.AT_SYMLINK_FOLLOW)
		if !errors.Is(err, unix.EEXIST) || try == 3 {
			break
		}
	}
	if err != nil {
		return errnoOf(err)
	}
	if err := unix.Renameat2(parent, tmp, parent, base, uint(flags)); err != nil {
		_ = unix.Unlinkat(parent, tmp, 0)
		return errnoOf(err)
	}
	if unix.Fstatat(oparent, obase, &at, unix.AT_SYMLINK_NOFOLLOW) == nil && at.Dev == st.Dev && at.Ino == st.Ino {
		_ = unix.Unlinkat(oparent, obase, 0)
	}
	return 0
}

// realPath is p as the kernel names it once every symlink is followed.
func realPath(p string) (string, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	return fdPath(fd)
}

// mayWrite reports whether the command could write the file or directory
// fd (named path, as /proc/self/fd names it) by itself, under its Landlock
// rules: whether it is a writable place (g.writable) or below one, and is
// the file the sandbox sees at that path. PID 1's threads have no Landlock
// domain (the guard must read its callers' memory, which Landlock forbids
// across domains), and its mounts are not all the sandbox's: its /proc is
// writable, and a descriptor the command inherited or reached through
// /proc/PID/fd is on the host's mount, where nothing is read-only. Every
// change the guard makes for the command must pass here first, or the
// guard would write what the command itself cannot: a host sysctl
// (/proc/sys/kernel/core_pattern, as root), a read-only file or directory
// passed as stdin.
//
// Pipes and sockets reopened through /proc/PID/fd (/dev/stdout on a pipe)
// are on no path: Landlock lets them through, and so does this, as it
// does memfds.
//
// The path is opened again only on a mount not seen before. A writable
// mount that was found at its path is one of the sandbox's mount namespace,
// which PID 1 shares and nothing in it can change once the command runs
// (no mount, unmount or move: no capability), and its unique id is never
// another's. A descriptor on such a mount is named there as the sandbox
// sees it: the command reaches only the top of a stack of mounts (a
// lookup, ".." included, never lands on a covered name), and the
// descriptors it inherits from outside are on the host's mounts, other
// ids. So there the file at the path is fd's file, on a mount that was
// not read-only (were its file system made read-only since, by the host,
// whatever the guard then changes goes through this same mount, the
// directory fd, the name looked up in it or fd itself, and the kernel
// refuses it, as it would the command). Read-only mounts are not
// trusted: a change there is refused here, and logged, every time. One
// syscall instead of six per guarded change, the common case after each
// mount's first.
func (g *guard) mayWrite(fd int, path string) bool {
	var a unix.Statx_t
	if statxFD(fd, &a) != nil {
		return false
	}
	// (A name the kernel gave a removed file or directory is no path:
	// opened again, it is refused, unless a file has that very name.)
	if a.Mask&unix.STATX_MNT_ID_UNIQUE != 0 && !strings.HasSuffix(path, " (deleted)") && g.ownMount(a.Mnt_id) {
		return strings.HasPrefix(path, "/") && underAnyPath(path, g.writable)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return false
	}
	switch uint32(fs.Type) { // int32 on some architectures
	case unix.PIPEFS_MAGIC, unix.SOCKFS_MAGIC:
		return true
	case unix.TMPFS_MAGIC, unix.HUGETLBFS_MAGIC:
		if strings.HasPrefix(path, "/memfd:") && strings.HasSuffix(path, " (deleted)") {
			return true
		}
	}
	if !strings.HasPrefix(path, "/") || !underAnyPath(path, g.writable) {
		return false
	}
	// The same file at that path in the sandbox (a descriptor of the
	// host's /tmp/x, say, is not the sandbox's /tmp/x), on a mount there
	// that is not read-only (a directory below a writable one can be a
	// read-only bind: the workspace kept readable in the private /tmp).
	at, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(at)
	var b unix.Statx_t
	if statxFD(at, &b) != nil || a.Dev_major != b.Dev_major || a.Dev_minor != b.Dev_minor || a.Ino != b.Ino {
		return false
	}
	if specialFile(uint32(b.Mode)) {
		return true
	}
	var mnt unix.Statfs_t
	if unix.Fstatfs(at, &mnt) != nil || mnt.Flags&unix.ST_RDONLY != 0 {
		return false
	}
	if a.Mask&b.Mask&unix.STATX_MNT_ID_UNIQUE != 0 && a.Mnt_id == b.Mnt_id {
		g.addMount(b.Mnt_id) // found at its path, writable: the sandbox's
	}
	return true
}

// specialFile reports whether mode is a device node, FIFO or socket, which
// is written on a read-only mount too: the kernel checks a mount's
// read-only flag for changes to the file system, not for I/O on a special
// file. The nodes of /dev are read-only binds (cloneDevNodes) that the
// command writes itself.
func specialFile(mode uint32) bool {
	switch mode & unix.S_IFMT {
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		return true
	}
	return false
}

// statxFD is fstat with the mount's unique id (Linux 6.8; st.Mask has
// STATX_MNT_ID_UNIQUE when it is there). Not the older STATX_MNT_ID,
// which the kernel gives to another mount once one is gone: a mount of the
// sandbox's that the host detaches (its directory removed) would leave
// its id trusted for one of the host's.
func statxFD(fd int, st *unix.Statx_t) error {
	return unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT,
		unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_INO|unix.STATX_MNT_ID_UNIQUE, st)
}

// maxMounts bounds guard.mounts: a sandbox has tens of mounts, one per
// path of its policy; past the bound mayWrite only opens paths again.
const maxMounts = 4096

// ownMount reports whether mount id was found at its path in the sandbox.
func (g *guard) ownMount(id uint64) bool {
	g.mountsMu.Lock()
	defer g.mountsMu.Unlock()
	return g.mounts[id]
}

// addMount records that mount id was found at its path in the sandbox.
func (g *guard) addMount(id uint64) {
	g.mountsMu.Lock()
	defer g.mountsMu.Unlock()
	if g.mounts == nil {
		g.mounts = map[uint64]bool{}
	}
	if len(g.mounts) < maxMounts {
		g.mounts[id] = true
	}
}

// mayWriteIn is mayWrite for a change to the name base in the directory
// parent (full is its path, from named): a new name, or one removed or
// renamed, needs the directory writable; a write to the file itself (file:
// an open to write, a truncation) needs the file writable, as the command
// needs Landlock's write right on the file and, unless it is a special
// file (the nodes of /dev), a mount of it that is not read-only.
func (g *guard) mayWriteIn(parent int, base, full string, file bool) bool {
	if file && base != "." {
		fd, err := unix.Openat(parent, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return false
		}
		defer unix.Close(fd)
		return g.mayWrite(fd, full)
	}
	dir := full
	if base != "." {
		dir = filepath.Dir(full)
	}
	return g.mayWrite(parent, dir)
}

// underAnyPath reports whether path is one of dirs or below one.
func underAnyPath(path string, dirs []string) bool {
	for _, d := range dirs {
		if path == d || d == "/" || strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

// serveGuard answers notifications on fd until it is closed or fails.
//
// It waits in a blocking SECCOMP_IOCTL_NOTIF_RECV on its goroutine's
// thread, which the kernel wakes itself when a request comes: no epoll
// round, no hand-off to whichever thread polls (~20 µs a request on a
// 2-core VM against the runtime's poller, docs/benchmarking.md, "The
// creation guard, again"). PID 1 has two Ps (GOMAXPROCS=2, spawn's
// initEnv), and a goroutine blocked in a syscall keeps its P until sysmon
// takes it back (at its second look, its ticks 20 µs to 10 ms apart: at
// least 1 ms during the command's first 50 ms, see spawn.CoarsenSysmon,
// and 10 ms while it lingers idle, see internal/rtoverlay); the other P may
// be busy, so a goroutine this loop starts for a request that may block is
// run (runtime.Gosched) before it waits again.
// The control loop may wait one or two sysmon ticks (up to ~20 ms while
// sysmon lingers) when it wakes while the guard and the reaper (PID 1's
// main thread, in wait4) hold both Ps.
func serveGuard(fd int, g *guard) {
	// The command has its own umask now (fork copies it); PID 1 creates
	// files for it with modes that already have its umask applied. Not on
	// the main thread: umask(2) is guarded there (see umasks), and the
	// guard would wait for itself. The mask is per process, so any thread
	// sets it for all.
	g.umasks.start(uint32(unix.Umask(0)))
	// Synchronous wake-ups (Linux 6.6): the answer wakes the caller on
	// this thread's CPU, which then runs it at once, instead of waking it
	// on another CPU (an inter-processor interrupt, a VM exit under a
	// hypervisor). Measured here: a guarded mkdir takes half the time.
	// Older kernels refuse the flag; the guard works the same there, only
	// slower, so the error is ignored.
	_, _, _ = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	for {
		var req seccompNotif
		if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req)); err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOENT) {
				continue // interrupted, or the caller went away before we read it
			}
			return
		}
		// Inline: a goroutine per request costs a scheduler round trip.
		// Requests that can block (connect, opening a FIFO) go to
		// goroutines, which must start before the next RECV holds the P.
		if c, ok := decode(req.Data); ok && c.op == opConnect {
			if !g.wait(int(req.Pid), "connect") {
				g.respond(fd, req, -1, unix.EAGAIN)
				continue
			}
			go func() {
				defer g.done()
				g.handle(fd, req)
			}()
			runtime.Gosched()
		} else if g.handle(fd, req) {
			runtime.Gosched()
		}
	}
}

// addfdSend injects an fd into the caller and answers with it
// (SECCOMP_ADDFD_FLAG_SEND), with every signal blocked on this thread.
// The ioctl waits for the caller to take the fd; a signal that interrupts
// that wait withdraws the fd, but the request stays marked as answered, and
// the caller's syscall returns 0, a file descriptor it never opened (its
// stdin). Blocked, signals wait the few microseconds until the caller has
// the fd; a caller killed meanwhile ends the wait with ESRCH.
func addfdSend(fd int, add *seccompNotifAddfd) error {
	return signalsBlocked(func() error {
		return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_ADDFD, unsafe.Pointer(add))
	})
}

// signalsBlocked runs fn on this goroutine's thread, locked to it, with
// every signal blocked there (SIGKILL and SIGSTOP aside): a syscall that
// fn makes is not interrupted (EINTR) by a signal meant for PID 1 or by
// the runtime's own. If the mask cannot be set, fn does not run.
func signalsBlocked(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i] // the words are 32 or 64 bits wide
	}
	var old unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		return err
	}
	err := fn()
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return err
}

// notifIoctl makes SECCOMP_IOCTL_NOTIF_SEND or NOTIF_ID_VALID, again as
// long as it fails with EINTR. Both take the listener's lock
// interruptibly, so a signal to this thread (the runtime's, psx's) can
// fail them before they did anything. An answer not sent would leave the
// caller waiting for good (only a fatal signal ends the wait, see
// seccomp's loadListener), and an ID_VALID taken for "gone" would refuse a
// caller that is still there; the caller itself was never signalled.
func notifIoctl(fd int, req uint, arg unsafe.Pointer) error {
	for {
		if err := notifIoctlOnce(fd, req, arg); err != unix.EINTR {
			return err
		}
	}
}

// notifIoctlOnce is ioctlPtr; a variable so that tests can interrupt it.
var notifIoctlOnce = ioctlPtr

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// handle answers req, or hands it to a goroutine that will and reports so.
func (g *guard) handle(fd int, req seccompNotif) (async bool) {
	g.umasks.seen(int(req.Pid))
	if c, ok := decode(req.Data); ok && (c.op == opUmask || c.op == opOwnFS || c.op == opOpen && c.flags&unix.O_PATH != 0) {
		// An O_PATH open too: the kernel ignores its other flags (O_CREAT,
		// O_WRONLY, O_TRUNC, for which the filter sent it), so it writes
		// and makes nothing, and the flags the kernel goes on with are
		// these registers, not memory another thread could change. (Made
		// here, its descriptor could not be injected: SECCOMP_ADDFD takes
		// no O_PATH file, and the caller got EBADF.)
		// The syscalls the kernel performs itself after the guard: the
		// guard decides nothing from what they point to, so there is
		// nothing another thread could change in between.
		switch c.op {
		case opUmask:
			g.umasks.set(int(req.Pid))
		case opOwnFS:
			g.umasks.disable()
		}
		resp := seccompNotifResp{ID: req.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		_ = notifIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
		return false
	}
	fdOut, errno := g.perform(fd, req)
	if errno == errAsync {
		return true // answered by a goroutine of its own
	}
	g.respond(fd, req, fdOut, errno)
	return false
}

// stillAsking checks that request id is still pending: its caller has not
// died (and its pid cannot have gone to another process).
func stillAsking(nfd int, id uint64) unix.Errno {
	if notifIoctl(nfd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) != nil {
		return unix.ENOENT
	}
	return 0
}

// errAsync is perform's way of saying that the request is being answered
// elsewhere (an open that may block).
const errAsync = unix.Errno(0x7fff)

// errWait is openNoWait's answer for an open that would have waited.
const errWait = unix.Errno(0x7ffe)

// openNoWait is unix.Openat for the guard's own goroutine, which every
// other guarded syscall of the sandbox waits for: an open that would wait
// fails with errWait instead, to be made again where it may (perform's
// later). The name's type, looked up before, does not tell: another
// thread can swap a regular file behind /proc/self/fd/N for a FIFO in
// between (dup2), and a file the sandbox owns can hold a lease
// (F_SETLEASE), which an open to write waits to break for up to
// lease-break-time (45 s by default), again and again. So the open is
// made with O_NONBLOCK, which the kernel answers at once there
// (EWOULDBLOCK for a lease, ENXIO for a FIFO without a reader); a FIFO
// that did open to read is closed, as its open must wait for a writer (to
// write, or read and write, a FIFO opens at once either way); anything
// else gets the caller's blocking mode back. This adds one syscall (two
// for an open to read) to an open of an existing name, not a look-up of
// the flags; a name found free is created without it (perform, O_EXCL).
func openNoWait(dir int, name string, flags int, mode uint32) (int, error) {
	if flags&(unix.O_NONBLOCK|unix.O_PATH) != 0 {
		return unix.Openat(dir, name, flags, mode) // waits for nothing
	}
	fd, err := unix.Openat(dir, name, flags|unix.O_NONBLOCK, mode)
	if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, unix.ENXIO) {
		return -1, errWait
	}
	if err != nil {
		return -1, err
	}
	if flags&unix.O_ACCMODE == unix.O_RDONLY {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFIFO {
			unix.Close(fd)
			return -1, errWait
		}
	}
	// F_SETFL sets O_APPEND, O_DIRECT, O_NOATIME, O_NONBLOCK and O_ASYNC
	// from its argument and ignores the rest: the caller's flags, as its
	// own open set them, without O_NONBLOCK. (Open keeps an O_ASYNC bit
	// without turning signal-driven I/O on; given again, F_SETFL leaves
	// it so.)
	if _, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&^unix.O_NONBLOCK); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("clear O_NONBLOCK: %w", err)
	}
	return fd, nil
}

// respond answers req: with fdOut injected as the syscall's result, or with
// errno (0 for success).
func (g *guard) respond(fd int, req seccompNotif, fdOut int, errno unix.Errno) {
	if errno == 0 && fdOut >= 0 {
		flags := uint32(0)
		if c, ok := decode(req.Data); ok && c.flags&unix.O_CLOEXEC != 0 {
			flags = unix.O_CLOEXEC
		}
		add := seccompNotifAddfd{ID: req.ID, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(fdOut), NewfdFlags: flags}
		err := addfdSend(fd, &add)
		unix.Close(fdOut)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return // answered, or the caller is gone
		}
		errno = unix.EMFILE
		if e, ok := err.(unix.Errno); ok {
			errno = e
		}
	}
	resp := seccompNotifResp{ID: req.ID}
	if errno != 0 {
		resp.Error = -int32(errno)
	}
	_ = notifIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
}

// openNullDevice opens name, with the caller's flags, if it is the null
// device (1:3) itself, not a symlink: ok is false otherwise, and the
// request takes the generic path. The name is checked before it is opened
// with those flags: were /dev writable (fence's /dev is read-only, and
// the plan refuses allowWrite "/dev", which once bound the host's /dev
// there), the sandbox could make /dev/null a symlink to a file the guard
// protects, and PID 1's open with O_TRUNC (: >/dev/null) emptied it, or
// with O_CREAT made it, before the check and the generic path refused.
func openNullDevice(name string, flags int) (int, unix.Errno, bool) {
	p := nullDevice(name)
	if p < 0 {
		return -1, 0, false
	}
	defer unix.Close(p)
	fd, errno := reopenNull(p, flags)
	return fd, errno, true
}

// nullDevice returns an O_PATH descriptor of name if it is the null device
// itself, not a symlink, or -1.
func nullDevice(name string) int {
	p, err := unix.Open(name, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1
	}
	var st unix.Stat_t
	if unix.Fstat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		unix.Close(p)
		return -1
	}
	return p
}

// reopenNull opens the null device p (nullDevice) again through the
// descriptor: that very node, with the kernel's own answers to the flags
// (O_CREAT|O_EXCL: EEXIST; O_DIRECTORY: ENOTDIR; both: EINVAL).
func reopenNull(p, flags int) (int, unix.Errno) {
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(p), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return -1, errnoOf(err)
	}
	return fd, 0
}

// openNull is openNullDevice for the sandbox's /dev/null, through a
// descriptor of it kept from its first open where nothing can put anything
// else at that name: /dev is on a read-only mount (fence's own /dev, made
// read-only once built, mountDev), where no name can be made, removed or
// renamed, and no mount is made once the command runs. Each open is then
// one syscall instead of four. Not where /dev is writable after all (the
// check stays: allowWrite "/dev" once bound the host's /dev there).
func (g *guard) openNull(flags int) (int, unix.Errno, bool) {
	g.nullOnce.Do(func() {
		g.nullFD = -1
		var fs unix.Statfs_t
		if unix.Statfs("/dev", &fs) == nil && fs.Flags&unix.ST_RDONLY != 0 {
			g.nullFD = nullDevice("/dev/null")
		}
	})
	if g.nullFD < 0 {
		return openNullDevice("/dev/null", flags)
	}
	fd, errno := reopenNull(g.nullFD, flags)
	return fd, errno, true
}

// perform checks and carries out one request. It returns an fd to inject
// (opens) or -1, and the errno for the caller.
func (g *guard) perform(nfd int, req seccompNotif) (int, unix.Errno) {
	c, ok := decode(req.Data)
	if !ok {
		return -1, unix.ENOSYS
	}
	pid := int(req.Pid)
	if c.op == opConnect || c.op == opBind {
		return -1, g.socket(nfd, req.ID, pid, c)
	}
	path, e1 := readString(pid, c.path)
	var oldPath, target string
	var e2, e3 error
	if c.op == opLink || c.op == opRename {
		oldPath, e2 = readString(pid, c.oldPath)
	}
	if c.op == opSymlink {
		target, e3 = readString(pid, c.target)
	}
	if errors.Is(e1, unix.EPERM) {
		return -1, unix.EPERM // the caller's memory cannot be read
	}
	if e1 != nil || e2 != nil || e3 != nil {
		return -1, unix.EFAULT
	}
	if c.op == opOpen && path == "/dev/null" {
		// What shells open for every redirect to it (: >/dev/null,
		// 2>/dev/null, git's and make's children): the sandbox's own
		// node, a mount point of its /dev that nothing in the sandbox
		// can remove, rename or cover, at an absolute path, so nothing
		// of the caller's (directory, working directory) decides what it
		// is. Opened as the kernel would open it for the caller, without
		// the lookups and checks below (~30 µs of the ~60 of a guarded
		// open here). Not a path of the caller's memory read twice: this
		// copy decides, and PID 1 opens the name itself.
		// PID 1's own open answers as the kernel would for the caller
		// (O_CREAT|O_EXCL: EEXIST; O_DIRECTORY: ENOTDIR or EINVAL). Not
		// O_PATH, whose descriptor the generic path handles, and only
		// the null device: in a writable /dev (see openNullDevice) the
		// name could be a file of the sandbox's.
		if c.flags&unix.O_PATH == 0 {
			if fd, errno, ok := g.openNull(c.flags); ok {
				return fd, errno
			}
		}
	}
	umask := func() uint32 { return g.umasks.get(pid) }

	parent, base, full, errno := g.resolveParent(pid, c.dirfd, path)
	if errno != 0 {
		return -1, errno
	}
	// followFinal replaces parent (closing the old one): close whatever
	// it is at return, not the value it had here.
	defer func() { unix.Close(parent) }()
	// The pid must still be the thread that asked: checked after reading
	// its memory and opening its working directory or fd, so a recycled
	// pid cannot have supplied the path or the directory. (A live thread
	// keeps its pid.) Again below after each further step that goes
	// through /proc/PID.
	if errno := stillAsking(nfd, req.ID); errno != 0 {
		return -1, errno
	}

	switch c.op {
	case opOpen:
		// What the name is now (st serves the checks below): one lookup
		// for most opens, which meet a regular file or nothing. A /proc
		// magic link is opened through (below), so there what matters is
		// the file it reaches, a FIFO or a directory say.
		var st unix.Stat_t
		stat := func() error {
			if strings.HasPrefix(full, "/proc/") {
				return unix.Fstatat(parent, base, &st, 0)
			}
			return unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		}
		serr := stat()
		// Opening follows a final symlink unless O_NOFOLLOW (or O_CREAT with
		// O_EXCL): the name actually opened is the link's target, which is
		// checked too.
		// Links under /proc are magic (fd/N, cwd): the kernel follows them
		// to the caller's open file, which only openat can do.
		if c.flags&(unix.O_EXCL|unix.O_NOFOLLOW) == 0 && serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			// The links' own names count as well: a fence.json, or a
			// user's .env, that is a symlink protects what it leads to.
			if errno := followFinal(pid, &parent, &base, &full, g.kept); errno != 0 {
				if errno == unix.EACCES {
					return -1, g.deny(pid, "write", full)
				}
				return -1, errno
			}
			// followFinal may have gone through /proc/PID (a link into
			// /proc/self).
			if errno := stillAsking(nfd, req.ID); errno != 0 {
				return -1, errno
			}
			serr = stat() // of the link's target
		}
		if c.flags&unix.O_CREAT != 0 && (strings.HasSuffix(path, "/") ||
			c.flags&unix.O_EXCL == 0 && serr == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
			// As the kernel answers O_CREAT on a name with a trailing
			// slash, or on an existing directory (O_EXCL: EEXIST below).
			return -1, unix.EISDIR
		}
		if c.flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL && serr == nil {
			// Before the checks below, as the kernel answers it before
			// any write permission (see taken): nothing is opened.
			return -1, unix.EEXIST
		}
		if c.flags&unix.O_CREAT != 0 && g.refuse(parent, base, full) || g.kept(parent, base, full) || g.dotGitRefused(parent, base, putsFile) {
			return -1, g.deny(pid, "write", full)
		}
		// Before the open, which would truncate (O_TRUNC) before any
		// check of the fd: a file with other hard links (sharedFile).
		if serr == nil && openWrites(c.flags, true) && sharedFile(&st) && !g.freshFile(&st) {
			return -1, g.deny(pid, "write", full)
		}
		// Through /proc (a magic link, or a file of /proc itself) the
		// file opened is checked instead (openThrough, checkOpened).
		if openWrites(c.flags, serr == nil) && !strings.HasPrefix(full, "/proc/") && !g.mayWriteIn(parent, base, full, serr == nil) {
			return -1, g.deny(pid, "write", full)
		}
		// After the open: created or not, it is now ours or was free.
		// Made by it only if the name was free (serr, of the final name):
		// an O_CREAT open of a file of the user's (touch, >>) does not
		// make it the sandbox's. made is the file an O_EXCL open below
		// made, when it says so itself.
		fresh := errors.Is(serr, unix.ENOENT)
		var made *unix.Stat_t
		if c.flags&unix.O_CREAT != 0 {
			defer func() { g.madeAt(parent, base, full, fresh, made) }()
		}
		if full == "/dev/tty" && !hasTTY(pid) {
			// PID 1 has the terminal; a command without one must not get
			// it through us.
			return -1, unix.ENXIO
		}
		flags := c.flags | unix.O_CLOEXEC | unix.O_NOCTTY
		if !strings.HasPrefix(full, "/proc/") {
			// The final name was resolved above; a symlink that appears
			// there now must not redirect the open.
			flags |= unix.O_NOFOLLOW
		}
		// exists is false only when the name is known to be free: then an
		// O_CREAT open goes straight to creating it.
		exists := !errors.Is(serr, unix.ENOENT)
		if serr != nil {
			st.Mode = 0
		}
		if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL && exists {
			// Whatever the name is (the paths below would open a FIFO
			// or a magic link without O_CREAT).
			return -1, unix.EEXIST
		}
		// later answers the open from a goroutine of its own, where it
		// may wait: not on the guard's own goroutine, which every other
		// guarded syscall of the sandbox waits for.
		later := func() (int, unix.Errno) {
			if !g.wait(pid, "open "+full) {
				return -1, unix.ENFILE
			}
			p, err := unix.Dup(parent)
			if err != nil {
				g.done()
				return -1, errnoOf(err)
			}
			go func() {
				defer g.done()
				defer unix.Close(p)
				fd, errno := g.openThrough(p, base, flags, full, true)
				g.respond(nfd, req, fd, errno)
			}()
			return -1, errAsync
		}
		if flags&unix.O_NONBLOCK == 0 && st.Mode&unix.S_IFMT == unix.S_IFIFO {
			// Opening a FIFO waits for its other end. (Devices inside
			// are only the minimal /dev's, which open at once; host
			// device nodes are nodev.) What else would wait, the opens
			// below find out (openNoWait).
			return later()
		}
		if strings.HasPrefix(full, "/proc/") {
			fd, errno := g.openThrough(parent, base, flags, full, false)
			if errno == errWait {
				return later()
			}
			return fd, errno
		}
		if flags&unix.O_CREAT != 0 && !exists && flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) == 0 {
			// The name was free, the common case of a created file:
			// made with O_EXCL (O_NOFOLLOW is set), what opens is a new
			// regular file of this open's own, or nothing. It has no
			// other end to wait for and no lease (so no O_NONBLOCK and
			// F_SETFL, openNoWait), is on no procfs (which makes no
			// files) and has one link, its name here (so none of
			// checkOpened's checks): 4 syscalls fewer per created file.
			// (Without the O_NOFOLLOW added above, which O_EXCL makes
			// moot: the kernel keeps it in the file's flags, F_GETFL.)
			fd, err := unix.Openat(parent, base, flags&^unix.O_NOFOLLOW|c.flags&unix.O_NOFOLLOW|unix.O_EXCL, c.mode&^umask())
			if err == nil {
				var st unix.Stat_t
				if unix.Fstat(fd, &st) == nil {
					made = &st // no lookup of the name again (madeAt)
				}
				return fd, 0
			}
			if flags&unix.O_EXCL != 0 || !errors.Is(err, unix.EEXIST) {
				return -1, errnoOf(err)
			}
			// Made meanwhile, by another thread or sandbox: not this
			// open's. Opened as any existing name is, below.
			fresh, exists = false, true
		}
		if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT && exists {
			// Many O_CREAT opens hit an existing file (a redirection to
			// /dev/null, an overwrite): open it as is, and read the
			// caller's umask only when a file is really created.
			if fd, err := openNoWait(parent, base, flags&^unix.O_CREAT, 0); !errors.Is(err, unix.ENOENT) {
				if err == errWait {
					return later()
				}
				if err != nil {
					return -1, errnoOf(err)
				}
				return g.checkOpened(fd, full, openWrites(flags, true))
			}
		}
		fd, err := openNoWait(parent, base, flags, c.mode&^umask())
		if err == errWait {
			return later()
		}
		if err != nil {
			return -1, errnoOf(err)
		}
		return g.checkOpened(fd, full, openWrites(flags, true))
	case opMkdir:
		if taken(parent, base) {
			return -1, unix.EEXIST
		}
		if g.refuse(parent, base, full) || g.dotGitRefused(parent, base, putsDir) || !g.mayWriteIn(parent, base, full, false) {
			return -1, g.deny(pid, "mkdir", full)
		}
		err := unix.Mkdirat(parent, base, c.mode&^umask())
		if err == nil {
			g.madeDir(parent, base)
			if g.gitDirs {
				g.dirMadeAt(parent, base, full)
			}
			g.madeHere(parent, base, full, true)
		}
		return -1, errnoOf(err)
	case opMknod:
		// No device nodes: the command's Landlock rules grant neither
		// make_char nor make_block anywhere, and the kernel lets a caller
		// without CAP_MKNOD make one of them, the whiteout (0:0) that an
		// overlay layer reads as a deletion.
		if taken(parent, base) {
			return -1, unix.EEXIST
		}
		if t := c.mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK ||
			g.refuse(parent, base, full) || g.dotGitRefused(parent, base, putsFile) || !g.mayWriteIn(parent, base, full, false) {
			return -1, g.deny(pid, "mknod", full)
		}
		mode := c.mode&unix.S_IFMT | (c.mode&^unix.S_IFMT)&^umask()
		err := unix.Mknodat(parent, base, mode, int(c.dev))
		if err == nil {
			g.madeHere(parent, base, full, true)
		}
		return -1, errnoOf(err)
	case opSymlink:
		if taken(parent, base) {
			return -1, unix.EEXIST
		}
		if g.refuse(parent, base, full) || g.ancestors[full] || g.removableAncestors[full] || g.matches(g.heldGlobs, full) || g.isGrant(full) ||
			g.dotGitRefused(parent, base, putsFile) || !g.mayWriteIn(parent, base, full, false) || g.symlinkRefused(parent, full, target) {
			return -1, g.deny(pid, "symlink", full)
		}
		err := unix.Symlinkat(target, parent, base)
		if err == nil {
			g.madeHere(parent, base, full, true)
		}
		return -1, errnoOf(err)
	case opTruncate:
		if errno := followFinal(pid, &parent, &base, &full, g.kept); errno != 0 {
			if errno == unix.EACCES {
				return -1, g.deny(pid, "truncate", full)
			}
			return -1, errno
		}
		if errno := stillAsking(nfd, req.ID); errno != 0 {
			return -1, errno
		}
		if g.kept(parent, base, full) || g.dotGitRefused(parent, base, putsFile) || !strings.HasPrefix(full, "/proc/") && !g.mayWriteIn(parent, base, full, true) {
			return -1, g.deny(pid, "truncate", full)
		}
		// Through an fd, so that a magic link (/proc/PID/fd/N) is checked
		// for what it really names before anything is cut.
		fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
		if err != nil {
			return -1, errnoOf(err)
		}
		fd, errno := g.checkOpened(fd, full, true)
		if errno != 0 {
			return -1, errno
		}
		defer unix.Close(fd)
		return -1, errnoOf(unix.Ftruncate(fd, int64(c.length)))
	case opUnlink:
		// A protected name that exists is mostly a read-only bind,
		// which cannot be removed anyway; one that is not (a .git that
		// decides which fence.json applies) must stay. A removable one
		// goes, unless a pattern keeps it too; its directories are not
		// in ancestors. So does a linked worktree's .git file that the
		// policy made removable (git worktree remove), which
		// dotGitRefused would keep.
		if g.names[full] || g.ancestors[full] || (g.kept(parent, base, full) && !g.onlyRemovable(full)) ||
			g.dotGitRefused(parent, base, putsNothing) && !g.removable[full] || !g.mayWriteIn(parent, base, full, false) {
			// A name that is not there is reported so (rm -f of a
			// missing HEAD or .mcp.json goes on), as a read-only bind
			// would not: nothing is removed either way.
			var st unix.Stat_t
			if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
				return -1, unix.ENOENT
			}
			return -1, g.deny(pid, "unlink", full)
		}
		gone := g.lastLink(parent, base)
		if g.gitDirs && c.flags&unix.AT_REMOVEDIR != 0 {
			g.dirRemoved(parent, base, full)
		}
		err := unix.Unlinkat(parent, base, c.flags)
		if err == nil {
			g.forget(gone)
		}
		return -1, errnoOf(err)
	case opLink, opRename:
		if c.op == opRename && c.flags&unix.RENAME_WHITEOUT != 0 {
			// A whiteout left at the old name is the char device 0:0
			// that opMknod refuses: the command's Landlock rules grant
			// no make_char, and an overlay layer reads it as a deletion.
			return -1, g.deny(pid, "rename (whiteout)", full)
		}
		if c.op == opLink && taken(parent, base) {
			return -1, unix.EEXIST // see taken
		}
		if g.names[full] || g.ancestors[full] || g.removable[full] || g.removableAncestors[full] ||
			g.isProtected(full) || g.gitKept(parent, base, full) || g.matches(g.heldGlobs, full) || g.kept(parent, base, full) || !g.mayWriteIn(parent, base, full, false) {
			return -1, g.deny(pid, "link/rename to", full)
		}
		// A name a later run grants takes a plain file only (checked
		// below, once the old name is known): no hard link of a file of
		// the user's, no symlink or directory leading elsewhere.
		toGrant := g.isGrant(full)
		if toGrant && (c.op == opLink || c.flags&unix.RENAME_EXCHANGE != 0) {
			return -1, g.deny(pid, "link/rename to", full)
		}
		oparent, obase, ofull, errno := g.resolveParent(pid, c.oldDirfd, oldPath)
		if errno != 0 {
			return -1, errno
		}
		defer unix.Close(oparent)
		if errno := stillAsking(nfd, req.ID); errno != 0 {
			return -1, errno
		}
		if !g.mayWriteIn(oparent, obase, ofull, false) {
			// A rename takes the name away; a link across directories
			// needs Landlock's refer right on both (only writable
			// directories have it).
			return -1, g.deny(pid, "link/rename from", ofull)
		}
		if c.op == opRename && (g.names[ofull] || g.ancestors[ofull] || g.removableAncestors[ofull] || g.kept(oparent, obase, ofull)) {
			// Renaming a directory above a protected path would carry the
			// read-only binds away and free the protected names; one
			// above a removable path, the path's file, to be changed
			// elsewhere and renamed back with its directory. (A removable
			// path itself is kept.)
			return -1, g.deny(pid, "rename", ofull)
		}
		if c.op == opRename && c.flags&unix.RENAME_EXCHANGE != 0 && (g.isGrant(ofull) || g.matches(g.heldGlobs, ofull)) {
			// An exchange puts the new name's file at the old name too:
			// the old name is a "there" as well, and what is refused
			// at full by name is refused here. (The checks of the file
			// below see the old name's file only: a plain file at a
			// granted name swapped with a symlink left the symlink
			// there, and the next run granted where it leads.)
			return -1, g.deny(pid, "rename (exchange) to", ofull)
		}
		if (toGrant || c.op == opRename && g.isGrant(ofull)) && !plainFile(oparent, obase) {
			// What is there now; a rename to a granted name checks
			// again the file it moves (renameToGrant).
			return -1, g.deny(pid, "rename", ofull)
		}
		if g.gitDirs && g.dotGitMove(c, oparent, obase, ofull, parent, base, full) {
			return -1, g.deny(pid, "link/rename", full)
		}
		if c.op == opLink {
			errno = g.link(pid, oparent, obase, parent, base, c.flags)
		} else {
			// The file a rename replaces, gone with it.
			gone := g.lastLink(parent, base)
			if toGrant {
				errno = renameToGrant(oparent, obase, parent, base, c.flags)
			} else {
				errno = errnoOf(unix.Renameat2(oparent, obase, parent, base, uint(c.flags)))
			}
			if errno == 0 && c.flags&unix.RENAME_EXCHANGE == 0 && gone != (fileID{}) {
				// Unless the name was renamed to itself (or to another
				// name of the same file), which replaces nothing: it
				// would drop the file's records, its standing as a
				// directory of the user's among them.
				var st unix.Stat_t
				if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || idOf(&st) != gone {
					g.forget(gone)
				}
			}
		}
		if errno == 0 {
			// What it moved or linked there: a file of the sandbox's,
			// or of the user's.
			g.madeHere(parent, base, full, false)
		}
		return -1, errno
	}
	return -1, unix.ENOSYS
}

// link makes base in parent a hard link to obase in oparent, as linkat with
// flags would. With no-write patterns, the file to be linked is opened first
// (O_PATH: following a final symlink or /proc magic link only if flags has
// AT_SYMLINK_FOLLOW), refused if the patterns keep it (a second name would
// let it be written), and linked through that fd, so that the file checked
// is the file linked even if names change meanwhile.
func (g *guard) link(pid, oparent int, obase string, parent int, base string, flags int) unix.Errno {
	if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return unix.EINVAL
	}
	if len(g.patterns) == 0 && !g.hasProtected() && len(g.removable) == 0 && !g.gitDirs {
		return errnoOf(unix.Linkat(oparent, obase, parent, base, flags))
	}
	oflags := unix.O_PATH | unix.O_CLOEXEC
	if flags&unix.AT_SYMLINK_FOLLOW == 0 {
		oflags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat(oparent, obase, oflags, 0)
	if err != nil {
		return errnoOf(err)
	}
	defer unix.Close(fd)
	self := "/proc/self/fd/" + strconv.Itoa(fd)
	real, err := readlinkAt(unix.AT_FDCWD, self)
	if err != nil {
		return errnoOf(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errnoOf(err)
	}
	if g.keptPath(real, idOf(&st)) || g.gitFileLinked(real, &st) {
		return g.deny(pid, "link", real)
	}
	// Following the magic link reaches the file fd holds, a symlink
	// itself included.
	return errnoOf(unix.Linkat(unix.AT_FDCWD, self, parent, base, unix.AT_SYMLINK_FOLLOW))
}

// gitFileLinked reports whether linking the file st, opened as real, must
// be refused: a .git file (or symlink) that the sandbox did not make.
// dotGitMove sees only the names given, not a symlink to a .git file
// (ln -L n/lnk n/x, n/lnk -> ../repo/.git): a second name for the user's
// .git file would let it be written, and lead git in the user's checkout
// to a repository of the sandbox's.
func (g *guard) gitFileLinked(real string, st *unix.Stat_t) bool {
	if !g.gitDirs || filepath.Base(real) != ".git" || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.sandboxMade(idOf(st))
}

// sandboxMade reports whether the file id is one the sandbox made: in this
// run (fresh) or recorded as its own (created). The caller holds g.mu.
func (g *guard) sandboxMade(id fileID) bool {
	_, ours := g.created[id]
	return ours || g.fresh[id]
}

// freshFile reports whether st is a file the sandbox created in this run
// (fresh): one with other hard links (sharedFile) may be written in place
// then, as they are names the sandbox gave it, where it may write (tar -x
// of an archive with hard links, cp -al or ln of its own files). Not one
// recorded from an earlier run (created): a link outside may have been
// made since (a cp -al or git clone of the project).
func (g *guard) freshFile(st *unix.Stat_t) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fresh[idOf(st)]
}

// globRegexp compiles a glob: "**/" matches any run of directories (or
// none), "**" anything, "*" anything within one name, "?" one character of
// a name, "[...]" one character of a class ("[^...]" any other but "/"),
// as filepath.Match has them; a backslash makes the next character
// literal (a path's own "[" or "*", escaped by fence); everything else is
// literal, a "[" without its "]" too. The match is anchored. Go's regexp
// takes UTF-8 only, and reads each invalid byte of a path as U+FFFD: so
// does the glob here (a name that is not UTF-8, "caf\xe9", used to make
// the guard panic). It then matches any invalid byte there, never fewer
// paths than meant.
func globRegexp(glob string) *regexp.Regexp {
	if !utf8.ValidString(glob) {
		var v strings.Builder
		for i := 0; i < len(glob); {
			r, n := utf8.DecodeRuneInString(glob[i:])
			if r == utf8.RuneError && n == 1 {
				v.WriteRune(utf8.RuneError)
			} else {
				v.WriteString(glob[i : i+n])
			}
			i += n
		}
		glob = v.String()
	}
	var b strings.Builder
	// (?s): a name may hold a newline, which "." would not match (a
	// directory named "x\ny" would slip out of every "**").
	b.WriteString("(?s)^")
	for i := 0; i < len(glob); i++ {
		switch {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case glob[i] == '*':
			b.WriteString("[^/]*")
		case glob[i] == '?':
			b.WriteString("[^/]")
		case glob[i] == '\\' && i+1 < len(glob):
			i++
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		case glob[i] == '[':
			if class, n := globClass(glob[i:]); n > 0 {
				b.WriteString(class)
				i += n - 1
				continue
			}
			b.WriteString(`\[`)
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// classChar is r as a regexp class has it: "-" and the class's other
// special characters escaped.
func classChar(r rune) string {
	if strings.ContainsRune(`\]-[^`, r) {
		return `\` + string(r)
	}
	return regexp.QuoteMeta(string(r))
}

// globClass translates the class at the start of glob ("[a-c]", "[^x]",
// escapes inside) into a regexp class, and returns it and the glob bytes
// it took, or 0 if there is no well-formed class there. A range whose ends
// are reversed ("[z-a]", which filepath.Match takes) is empty, as there.
func globClass(glob string) (string, int) {
	// A character of the class at glob[i], unescaped, and its length.
	char := func(i int) (rune, int) {
		n := 0
		if glob[i] == '\\' && i+1 < len(glob) {
			i, n = i+1, 1
		}
		r, w := utf8.DecodeRuneInString(glob[i:])
		return r, n + w
	}
	var b strings.Builder
	b.WriteByte('[')
	i := 1
	if i < len(glob) && glob[i] == '^' {
		b.WriteString(`^/`) // a name's character: never a slash
		i++
	}
	items := 0
	for i < len(glob) {
		if glob[i] == ']' && items > 0 {
			if b.Len() == 1 {
				return `[^\x00-\x{10FFFF}]`, i + 1 // only empty ranges: nothing
			}
			b.WriteByte(']')
			return b.String(), i + 1
		}
		if glob[i] == '/' {
			return "", 0
		}
		lo, n := char(i)
		i += n
		hi := lo
		if i+1 < len(glob) && glob[i] == '-' && glob[i+1] != ']' {
			hi, n = char(i + 1)
			i += 1 + n
		}
		items++
		if lo > hi {
			continue
		}
		b.WriteString(classChar(lo))
		if hi != lo {
			b.WriteByte('-')
			b.WriteString(classChar(hi))
		}
	}
	return "", 0
}

// denied reports whether full matches a no-write pattern.
func (g *guard) denied(full string) bool {
	return g.matches(g.patterns, full)
}

// recordable reports whether base is one of the names recorded without a
// pattern (RecordNames).
func (g *guard) recordable(base string) bool {
	for _, n := range g.recordNames {
		if ok, _ := filepath.Match(n, base); ok {
			return true
		}
	}
	return false
}

// matches reports whether full matches one of globs.
// hasProtected reports whether there are protected patterns.
func (g *guard) hasProtected() bool {
	return len(g.protected) > 0 || len(g.protectedPaths) > 0 || len(g.protectedTrees) > 0
}

// isProtected reports whether full matches a protected pattern.
func (g *guard) isProtected(full string) bool {
	if g.protectedPaths[full] {
		return true
	}
	if len(g.protectedTrees) > 0 {
		for d := filepath.Dir(full); ; d = filepath.Dir(d) {
			if g.protectedTrees[d] {
				return true
			}
			if d == "/" || d == "." {
				break
			}
		}
	}
	return g.matches(g.protected, full)
}

func (g *guard) matches(globs []glob, full string) bool {
	for i := range globs {
		if globs[i].match(full) {
			return true
		}
	}
	return false
}

// glob is a compiled pattern (globRegexp). The forms fence writes most,
// PREFIX/**/NAME (fence.json in every writable path, **/.env, **/*.pem)
// and PREFIX/NAME (a git directory's modules/*, *.pem), are matched
// without a regexp (compileGlob): PID 1 compiles every pattern when the
// command starts, beside it.
type glob struct {
	prefix, name string // PREFIX/, and NAME or "" for PREFIX/*
	// deep: PREFIX/**/NAME (NAME at any depth below PREFIX); star: NAME
	// is a pattern whose only wildcard is "*" (*.pem, .env.*).
	deep, star bool
	re         *regexp.Regexp
}

// compileGlob matches the common forms without a regexp: PREFIX/**/NAME
// and PREFIX/NAME, where PREFIX is literal and NAME is literal or has
// "*" as its only wildcard. Every file the guard creates or changes is
// matched against each pattern: under -t code's *.pem, **/*.key, ...
// the regexps' backtracking was ~18% of PID 1's CPU creating files.
func compileGlob(p string) glob {
	// A pattern that is not UTF-8, or holds U+FFFD, stays a regexp:
	// globRegexp reads each invalid byte as U+FFFD, on both sides (a
	// literal one matched bytes only, where the regexp matched any
	// invalid byte).
	if !utf8.ValidString(p) || strings.ContainsRune(p, utf8.RuneError) {
		return glob{re: globRegexp(p)}
	}
	if prefix, name, ok := strings.Cut(p, "/**/"); ok && !strings.ContainsAny(prefix+name, `*?[\`) && !strings.Contains(name, "/") && name != "" {
		return glob{prefix: prefix + "/", name: name, deep: true}
	}
	if prefix, ok := strings.CutSuffix(p, "/*"); ok && !strings.ContainsAny(prefix, `*?[\`) {
		return glob{prefix: prefix + "/"}
	}
	if g, ok := starGlob(p); ok {
		return g
	}
	return glob{re: globRegexp(p)}
}

// starGlob compiles PREFIX/**/NAME and PREFIX/NAME where NAME has "*" as
// its only wildcard.
func starGlob(p string) (glob, bool) {
	prefix, name, deep := "", "", false
	if pre, n, ok := strings.Cut(p, "/**/"); ok {
		prefix, name, deep = pre, n, true
	} else if i := strings.LastIndexByte(p, '/'); i >= 0 {
		prefix, name = p[:i], p[i+1:]
	}
	if prefix == "" || name == "" || strings.ContainsAny(prefix, `*?[\`) || strings.ContainsAny(name, `/?[\`) || strings.Contains(name, "**") {
		return glob{}, false
	}
	return glob{prefix: prefix + "/", name: name, deep: deep, star: true}, true
}

func (g *glob) match(full string) bool {
	if g.re != nil {
		return g.re.MatchString(full)
	}
	rest, ok := strings.CutPrefix(full, g.prefix)
	if !ok {
		return false
	}
	if g.name == "" {
		return !strings.Contains(rest, "/")
	}
	if g.deep {
		rest = rest[strings.LastIndexByte(rest, '/')+1:]
	} else if strings.Contains(rest, "/") {
		return false
	}
	if g.star {
		return starMatch(g.name, rest)
	}
	return rest == g.name
}

// starMatch reports whether name matches pattern, whose only wildcard is
// "*" (any run of bytes; neither holds a "/").
func starMatch(pattern, name string) bool {
	// The usual linear scan: on a mismatch, let the last star take one
	// byte more.
	p, n, star, mark := 0, 0, -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p, mark = star+1, mark+1
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// kept reports whether full (base in parent) is a file the guard keeps as
// it is: it exists, and it is a removable path, or matches a protected
// pattern, or a no-write pattern and the sandbox did not create it. Files
// the sandbox creates itself (a certificate pip unpacks, a fixture npm
// installs) stay free for it to change: the no-write patterns protect the
// user's files, not names. The protected patterns and the removable paths
// protect names: nothing matching them is the sandbox's (refuse keeps it
// from creating one). A kept file cannot be removed, unless it is only
// removable (onlyRemovable). What gitKept keeps (hooks and configs of a
// git directory that existed before the run) is kept as protected names
// are.
func (g *guard) kept(parent int, base, full string) bool {
	git := g.gitKept(parent, base, full)
	if !git && !g.removable[full] && !g.denied(full) && !g.isProtected(full) {
		return false
	}
	var st unix.Stat_t
	if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	return git || g.keptFile(full, idOf(&st))
}

// keptPath is kept for full, the path of the existing file id, known by
// its path alone (no directory to look up its .git from): what a .git
// names is kept whoever made the .git (gitNamed).
func (g *guard) keptPath(full string, id fileID) bool {
	return g.gitDirs && gitNamed(full, g.gitAllowConfig) || g.keptFile(full, id)
}

// keptFile is kept without gitKept, for the existing file id at full.
func (g *guard) keptFile(full string, id fileID) bool {
	if g.removable[full] || g.isProtected(full) {
		return true
	}
	if !g.denied(full) {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ours := g.created[id]
	return !ours
}

// onlyRemovable reports whether full is a removable path that no pattern
// keeps as well: it may be removed.
func (g *guard) onlyRemovable(full string) bool {
	return g.removable[full] && !g.denied(full) && !g.isProtected(full)
}

// fileID is a file's identity: its device and inode.
type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)} } // 32-bit on mips

// FormatCreated and ParseCreated are the form of a created file in
// FSPolicy.Created and msgExit's Created: "DEV INO PATH".
func FormatCreated(dev, ino uint64, path string) string {
	return strconv.FormatUint(dev, 10) + " " + strconv.FormatUint(ino, 10) + " " + path
}

// ParseCreated reverses FormatCreated.
func ParseCreated(s string) (dev, ino uint64, path string, ok bool) {
	d, rest, ok1 := strings.Cut(s, " ")
	i, path, ok2 := strings.Cut(rest, " ")
	dev, err1 := strconv.ParseUint(d, 10, 64)
	ino, err2 := strconv.ParseUint(i, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || !strings.HasPrefix(path, "/") {
		return 0, 0, "", false
	}
	return dev, ino, path, true
}

// createdFiles returns the files the sandbox created that match a no-write
// pattern, in FormatCreated's form, for the supervisor's record: as many
// as fit in budget bytes of msgExit, the .git directories and files
// first. A run that made more (100,000 .pem files, ~5 MiB) sent a msgExit
// over maxMessage, which the supervisor refused whole: none was recorded.
// The record keeps far fewer anyway. What it was told the sandbox had
// (FSPolicy.Created), and still is so under the same name, is left out:
// a full record (10,000 files) cost every run's end ~8 ms to send back.
func (g *guard) createdFiles(budget int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.created))
	for _, git := range []bool{true, false} {
		for id, p := range g.created {
			if (filepath.Base(p) == ".git") != git {
				continue
			}
			if was, ok := g.loaded[id]; ok && was == p {
				continue
			}
			c := FormatCreated(id.dev, id.ino, p)
			if budget -= len(c) + binary.MaxVarintLen64; budget < 0 {
				return out
			}
			out = append(out, c)
		}
	}
	return out
}

// createdBudget is what msgExit gives createdFiles: all of maxMessage but
// room for its other fields.
const createdBudget = maxMessage - 64<<10

// lastLink returns the identity of base in parent if it is the last link
// of its file: removed, its inode number is free for the next file, which
// may be the user's (forget).
func (g *guard) lastLink(parent int, base string) (id fileID) {
	g.mu.Lock()
	none := len(g.created) == 0 && len(g.bound) == 0 && len(g.madeDirs) == 0 && len(g.fresh) == 0 && len(g.movedUserDirs) == 0 && len(g.sandboxTops) == 0
	g.mu.Unlock()
	if none {
		return fileID{}
	}
	var st unix.Stat_t
	if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		st.Nlink != 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fileID{}
	}
	return idOf(&st)
}

// forget drops id, gone, from the files the sandbox created, the
// directories it made, the directories that count as the user's
// (movedUserDirs) and the sockets it bound.
func (g *guard) forget(id fileID) {
	if id == (fileID{}) {
		return
	}
	g.mu.Lock()
	delete(g.created, id)
	delete(g.loaded, id)
	delete(g.bound, id)
	delete(g.madeDirs, id)
	// A directory's inode number is soon another's: a new directory
	// must not inherit a removed one's standing as the user's.
	delete(g.movedUserDirs, id)
	delete(g.sandboxTops, id)
	delete(g.fresh, id)
	g.mu.Unlock()
}

// madeHere records that the sandbox created full (base in parent), if a
// pattern or one of RecordNames matches it, or if it is a .git directory (GitDirs: one of the
// sandbox's, git init's or git clone's, which gitKept leaves to it) or a
// .git file (a linked worktree's or a submodule's checkout, which
// dotGitRefused leaves to it: made in a directory made in the same run,
// git worktree remove and rm -rf of the repository in a later run must
// be able to remove it), by the identity of the file there now. made says
// whether the call made that file (a new name, not a rename or link, nor
// an O_CREAT open of an existing file); if so, it is fresh.
//
// A name that no pattern keeps (one of RecordNames, or a .git file) is
// recorded only for a file the sandbox made: fresh, or the sandbox's
// already. Nothing kept the user's file there in this run, so an O_CREAT
// open of it (touch .env), a rename of it away and back, or a hard link
// to it under such a name (sub/.env.bak, n/.git) would otherwise make it
// the sandbox's in every later run, whose patterns keep it (-t code).
func (g *guard) madeHere(parent int, base, full string, made bool) {
	g.madeAt(parent, base, full, made, nil)
}

// madeAt is madeHere with what is at the name now, st, when the caller
// knows it (nil: looked up).
func (g *guard) madeAt(parent int, base, full string, made bool, st *unix.Stat_t) {
	dotGit := g.gitDirs && base == ".git"
	pattern := g.denied(full)
	named := pattern || g.recordable(base)
	if !dotGit && !named && !made {
		return
	}
	if st == nil {
		st = new(unix.Stat_t)
		if unix.Fstatat(parent, base, st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			return
		}
	}
	id := idOf(st)
	t := st.Mode & unix.S_IFMT
	g.mu.Lock()
	defer g.mu.Unlock()
	if made && t != unix.S_IFDIR && len(g.fresh) < maxFresh {
		g.fresh[id] = true
	}
	if !dotGit && !named {
		return
	}
	if !named && t != unix.S_IFDIR && t != unix.S_IFREG {
		return // a .git symlink: the record pins regular files and directories only
	}
	if !pattern && t != unix.S_IFDIR {
		if !g.sandboxMade(id) {
			return // a file of the user's, given this name
		}
	}
	if _, ok := g.created[id]; ok || len(g.created) < maxFresh {
		g.created[id] = full
	}
}

// maxFresh bounds guard.fresh, guard.created and guard.madeDirs, each
// entry ~70 bytes of PID 1's memory (1M .pem files made in one run took
// ~100 MB): past it, a file created is not recorded when renamed to a
// name of RecordNames or .git (it stays kept in later runs, as before
// RecordNames), one matching a pattern is kept as the user's would be
// (opened again for writing, it is refused), and a directory made is
// taken for one that was there before the run (no .git file may be made
// in it). Each is the stricter answer.
const maxFresh = 1 << 18

// refuse reports whether creating full (base in parent) must be refused: it
// is a protected name, or matches a protected pattern, and does not exist.
// An existing protected name is a read-only bind mount; the operation then
// fails or succeeds on its own (EEXIST, EROFS, or a read-only open), as it
// would without the guard. One that matches a protected pattern is kept.
func (g *guard) refuse(parent int, base, full string) bool {
	if !g.names[full] && !g.removable[full] && !g.isProtected(full) && !g.gitKept(parent, base, full) {
		return false
	}
	var st unix.Stat_t
	return unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil
}

// taken reports whether base in parent exists (a symlink, dangling too,
// counts as itself). Creating a name that exists fails with EEXIST, which
// the kernel answers before it checks the directory's write permission,
// the mount's read-only flag or Landlock, so mkdir, mknod and symlink give
// that answer for it here too, before the guard's own checks: nothing is
// made either way, and callers rely on it (Node's recursive mkdir, which
// npm runs on the project itself, fails on anything but EEXIST; the guard
// answered EACCES where the directory holding the name was not writable,
// the working directory's parent).
func taken(parent int, base string) bool {
	var st unix.Stat_t
	return unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// followFinal resolves a final symlink (base in parent) the way open and
// truncate follow it, so that the name checked is the one the operation
// reaches. On success parent, base and full name the final target; the old
// parent is closed. Links under /proc are magic (fd/N, cwd): the kernel
// follows them to the caller's open file, which only openat can do, so they
// are left alone.
func followFinal(pid int, parent *int, base, full *string, kept func(int, string, string) bool) unix.Errno {
	for hops := 0; !strings.HasPrefix(*full, "/proc/"); hops++ {
		link, err := readlinkAt(*parent, *base)
		if err != nil {
			return 0 // not a symlink (or gone): the name itself
		}
		if hops >= 40 {
			return unix.ELOOP
		}
		// Every link's own name counts (kept, for writes): a chain
		// x -> .env -> ../conf/vars writes what .env leads to.
		if kept != nil && kept(*parent, *base, *full) {
			return unix.EACCES
		}
		np, nb, nf, errno := resolveParentFrom(pid, *parent, link)
		if errno != 0 {
			return errno
		}
		unix.Close(*parent)
		*parent, *base, *full = np, nb, nf
	}
	return 0
}

// openThrough opens base in parent for the caller where the name says
// nothing of the file reached (a /proc magic link) or the open may wait (a
// FIFO): without O_TRUNC or O_CREAT, then checked (checkOpened), then
// truncated if asked and a regular file. The file another thread can put
// behind a magic link meanwhile is then checked before anything is cut.
// Nothing is created here. Unless wait, an open that would wait fails
// with errWait (openNoWait).
func (g *guard) openThrough(parent int, base string, flags int, full string, wait bool) (int, unix.Errno) {
	open := openNoWait
	if wait {
		open = unix.Openat
	}
	fd, err := open(parent, base, flags&^(unix.O_TRUNC|unix.O_CREAT), 0)
	if err != nil {
		return -1, errnoOf(err)
	}
	fd, errno := g.checkOpened(fd, full, openWrites(flags, true))
	if errno == 0 && flags&unix.O_TRUNC != 0 {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			if err := unix.Ftruncate(fd, 0); err != nil {
				unix.Close(fd)
				return -1, errnoOf(err)
			}
		}
	}
	return fd, errno
}

// checkOpened vets every fd opened for the caller. First, it must not be
// PID 1's own /proc entry, nor on a procfs other than the sandbox's (see
// ownProc). An fd opened to write through /proc (write) must be a file
// the command may write (mayWrite). Then, for one opened through a /proc magic link (/proc/PID/fd/N,
// /dev/stdout), where the path the caller gave says nothing about the file
// it reaches, the file's own path is checked against the no-write patterns.
// Other opens were checked before they happened.
func (g *guard) checkOpened(fd int, full string, write bool) (int, unix.Errno) {
	if errno := g.ownProc(fd); errno != 0 {
		unix.Close(fd)
		return -1, g.deny(0, "write", full)
	}
	if write {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || sharedFile(&st) && !g.freshFile(&st) {
			unix.Close(fd)
			return -1, g.deny(0, "write", full)
		}
	}
	if write && strings.HasPrefix(full, "/proc/") {
		// The name said nothing (perform checked nothing): the file
		// itself must be one the command may write.
		real, err := fdPath(fd)
		if err != nil || !g.mayWrite(fd, real) && !callerWrites(full, fd) {
			unix.Close(fd)
			if err == nil {
				full = real
			}
			return -1, g.deny(0, "write", full)
		}
	}
	if len(g.patterns) == 0 && !g.hasProtected() && len(g.removable) == 0 && !g.gitDirs || !strings.HasPrefix(full, "/proc/") {
		return fd, 0
	}
	real, err := fdPath(fd)
	var st unix.Stat_t
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if err != nil || strings.HasPrefix(real, "/") && (g.keptPath(real, idOf(&st)) || write && g.gitFileKept(real, &st)) {
		unix.Close(fd)
		return -1, g.deny(0, "write", real)
	}
	return fd, 0
}

// gitFileKept reports whether the file st, opened for writing through a
// /proc magic link (exec 3<repo/.git; echo ... > /proc/self/fd/3), is a
// .git file that dotGitRefused keeps: its name said nothing, and a .git
// file of the user's rewritten leads git to a repository of the
// sandbox's, hooks and all. One that is no longer at its path (renamed
// meanwhile) is kept too.
func (g *guard) gitFileKept(real string, st *unix.Stat_t) bool {
	if !g.gitDirs || filepath.Base(real) != ".git" || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return false
	}
	dir, err := unix.Open(filepath.Dir(real), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(dir)
	var now unix.Stat_t
	if unix.Fstatat(dir, ".git", &now, unix.AT_SYMLINK_NOFOLLOW) != nil || idOf(&now) != idOf(st) {
		return true
	}
	return g.dotGitRefused(dir, ".git", putsFile)
}

// ownProc refuses (EACCES) an fd PID 1 opened on a procfs that is not the
// sandbox's /proc (a host's, mounted elsewhere), or on an entry of PID 1
// itself or one of its threads. The kernel checks nothing between the
// threads of one process, and the path checks (named) can be passed with
// an O_PATH fd the caller reopens through /proc/self/fd.
func (g *guard) ownProc(fd int) unix.Errno {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return errnoOf(err)
	}
	if fs.Type != unix.PROC_SUPER_MAGIC {
		return 0
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errnoOf(err)
	}
	if uint64(st.Dev) != g.procDev {
		return unix.EACCES
	}
	real, err := fdPath(fd)
	if err != nil {
		return errnoOf(err)
	}
	if real == "/proc/1" || strings.HasPrefix(real, "/proc/1/") || pid1Task(real) {
		return unix.EACCES
	}
	return 0
}

// deny records a refusal and returns the errno the caller gets.
func (g *guard) deny(pid int, op, path string) unix.Errno {
	if g.logf != nil {
		who := ""
		if pid > 0 {
			if b, err := readProc("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil {
				who = fmt.Sprintf(" (%s:%d)", strings.TrimSpace(string(b)), pid)
			}
		}
		g.logf(fmt.Sprintf("[fence:guard] %s ✗ %s %s%s", time.Now().Format("15:04:05"), op, path, who))
	}
	return unix.EACCES
}

// hasTTY reports whether pid has a controlling terminal (tty_nr in
// /proc/PID/stat is not 0).
func hasTTY(pid int) bool {
	b, err := readProc("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The command name (field 2) may contain spaces; fields after ")" are
	// state, ppid, pgrp, session, tty_nr.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 4 && f[4] != "0"
}

// socket checks and performs connect or bind for the caller. Other address
// families pass unchanged; unix paths must be sockets the sandbox bound
// itself or listed in the policy; abstract names only if the policy says.
// The operation runs on a duplicate of the caller's socket (pidfd_getfd),
// with the address as read once, so it cannot change after the check.
func (g *guard) socket(nfd int, id uint64, pid int, c creation) unix.Errno {
	if c.addrLen < 2 || c.addrLen > 4096 {
		return unix.EINVAL
	}
	sa := make([]byte, c.addrLen)
	n, err := readCaller(pid, c.addr, sa)
	if errors.Is(err, unix.EPERM) {
		return unix.EPERM // the caller's memory cannot be read
	}
	if n != c.addrLen {
		return unix.EFAULT
	}
	if errno := stillAsking(nfd, id); errno != 0 {
		return errno
	}
	var full string
	bindDir := -1 // bind: the directory of the new socket, for its identity
	defer func() {
		if bindDir >= 0 {
			unix.Close(bindDir)
		}
	}()
	family := uint16(sa[0]) | uint16(sa[1])<<8
	if family == unix.AF_UNIX && len(sa) > unix.SizeofSockaddrUnix {
		// As the kernel answers a path longer than sun_path: one such
		// path was connected, resolved beyond the 108 bytes the kernel
		// would have read.
		return unix.EINVAL
	}
	if family == unix.AF_UNIX && len(sa) > 2 {
		path := sa[2:]
		if i := bytes.IndexByte(path, 0); i > 0 {
			path = path[:i]
		}
		switch {
		case path[0] == 0: // abstract
			if !g.unix.AllowAll && !g.unix.Abstract {
				return g.deny(pid, "connect", "@abstract")
			}
		default:
			parent, base, f, errno := g.resolveParent(pid, unix.AT_FDCWD, string(path))
			if errno != 0 {
				return errno
			}
			if c.op == opBind {
				// bind creates the name: not a protected one (a .git
				// that would hide the project's fence.json, .mcp.json).
				if g.refuse(parent, base, f) || g.ancestors[f] || g.dotGitRefused(parent, base, putsFile) || !g.mayWriteIn(parent, base, f, false) {
					unix.Close(parent)
					return g.deny(pid, "bind", f)
				}
				bindDir, full = parent, f
				// A name in the caller's working directory is bound as
				// given, relative to the directory already resolved
				// (bindIn): the socket keeps that name, and one in a
				// directory deeper than sun_path holds still fits. Other
				// paths are bound absolute, as getsockname then reports
				// them; one too long for that goes the first way.
				addr := full
				if !bytes.ContainsRune(path, '/') || len(addr) >= len(unix.RawSockaddrUnix{}.Path) {
					addr = base
				}
				if len(addr) >= len(unix.RawSockaddrUnix{}.Path) {
					return unix.ENAMETOOLONG
				}
				sa = append(append(sa[:2:2], addr...), 0)
				break
			}
			// connect: to the file the name leads to, checked, and then
			// through an fd of it, so that no name is resolved again (a
			// socket the sandbox bound, unlinked and replaced by a
			// symlink to a host socket).
			if errno := followFinal(pid, &parent, &base, &f, nil); errno != 0 {
				unix.Close(parent)
				return errno
			}
			target, err := unix.Openat(parent, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			unix.Close(parent)
			if err != nil {
				return errnoOf(err) // nothing there: say so, as the kernel would
			}
			defer unix.Close(target)
			var st unix.Stat_t
			if err := unix.Fstat(target, &st); err != nil {
				return errnoOf(err)
			}
			full = f
			if !g.unixAllowed(full, idOf(&st)) {
				return g.deny(pid, "connect", full)
			}
			sa = append(append(sa[:2:2], "/proc/self/fd/"+strconv.Itoa(target)...), 0)
		}
	}
	sock, err := g.pidfds.getfd(pid, int(c.sockfd))
	if err != nil {
		return errnoOf(err)
	}
	defer unix.Close(sock)
	// Checked again now that the socket is taken: had the caller died
	// and its id gone to another thread, a pidfd opened for that id would
	// have reached that one's socket (one the guard kept reaches the
	// thread it was opened for or nothing).
	if errno := stillAsking(nfd, id); errno != 0 {
		return errno
	}
	nr := uintptr(unix.SYS_CONNECT)
	if c.op == opBind {
		nr = unix.SYS_BIND
	}
	var e unix.Errno
	if bindDir >= 0 {
		e = bindIn(bindDir, sock, sa, g.umasks.get(pid))
	} else if err := signalsBlocked(func() error {
		// The call is the command's: a signal reaching this thread
		// (nothing sends one today) would make it return EINTR to a
		// command that was never signalled, and connect, unlike most
		// syscalls, is not restarted after a handler. Blocked, a signal
		// waits for the call.
		_, _, e = unix.Syscall(nr, uintptr(sock), uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
		return nil
	}); err != nil {
		return errnoOf(err)
	}
	if e == 0 && bindDir >= 0 {
		var st unix.Stat_t
		if unix.Fstatat(bindDir, filepath.Base(full), &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			g.mu.Lock()
			g.bound[idOf(&st)] = true
			g.mu.Unlock()
		}
	}
	return e
}

// bindIn binds sock to sa, a name relative to dir (or absolute), with PID 1's working
// directory moved to dir and its umask set to the caller's (with which
// the kernel creates the socket's file) for the call, then put back. Both
// are per process (unshare is denied to PID 1 too), which is safe because
// nothing else in PID 1 resolves a relative path or creates a file
// meanwhile: creations and binds are handled one at a time on the guard's
// goroutine, and the rest of PID 1 uses absolute paths or directory fds.
// Signals are blocked for the call, as for connect.
func bindIn(dir, sock int, sa []byte, umask uint32) unix.Errno {
	back, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errnoOf(err)
	}
	defer unix.Close(back)
	if err := unix.Fchdir(dir); err != nil {
		return errnoOf(err)
	}
	defer unix.Fchdir(back)
	unix.Umask(int(umask))
	defer unix.Umask(0)
	var e unix.Errno
	if err := signalsBlocked(func() error {
		_, _, e = unix.Syscall(unix.SYS_BIND, uintptr(sock), uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
		return nil
	}); err != nil {
		return errnoOf(err)
	}
	return e
}

// fdTablePidfd returns a pidfd through which pidfd_getfd reaches thread
// tid's file descriptors: the thread's own (PIDFD_THREAD, Linux 6.9), or,
// on older kernels, which refuse that flag, its process's. Threads share
// their process's fd table unless cloned without CLONE_FILES, which no
// thread library does; such a thread could only have one of its process's
// sockets connected to an address the policy allows. On those kernels the
// threads of a process whose main thread has exited cannot connect or bind
// (pidfd_getfd finds no fd table).
func fdTablePidfd(tid int, open func(pid, flags int) (int, error)) (int, error) {
	fd, err := open(tid, unix.PIDFD_THREAD)
	if !errors.Is(err, unix.EINVAL) {
		return fd, err
	}
	tgid, err := procTgid(tid)
	if err != nil {
		return -1, err
	}
	return open(tgid, 0)
}

// pidfds keeps a pidfd per thread that passed the guard a descriptor (a
// directory for a path relative to it, rm -rf's and Python's rmtree's
// every removal, or a socket for connect or bind), so that each request
// takes the descriptor with one pidfd_getfd instead of also opening and
// closing a pidfd: 2 syscalls fewer per such request. A pidfd is for one
// thread, not for its id: once that thread is gone, pidfd_getfd through
// it fails (ESRCH), even when another thread has the id by then, and a
// new pidfd is opened. Only thread pidfds (PIDFD_THREAD, Linux 6.9) are
// kept: a process's pidfd kept by a thread's id would reach that
// process's descriptors for another process's thread with that id.
type pidfds struct {
	mu    sync.Mutex
	byTid map[int]int
}

// maxPidfds bounds the pidfds kept; past it they are all closed.
const maxPidfds = 64

// getfd takes a duplicate of thread tid's descriptor n (getfdCaller).
// The lock is held throughout: a kept pidfd that another goroutine closed
// meanwhile (the thread gone, or past maxPidfds) would be a number the
// next pidfd opened takes, another thread's.
func (p *pidfds) getfd(tid, n int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pidfd, ok := p.byTid[tid]; ok {
		fd, err := getfdCaller(pidfd, n)
		if !errors.Is(err, unix.ESRCH) {
			return fd, err
		}
		delete(p.byTid, tid)
		unix.Close(pidfd)
	}
	pidfd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	if errors.Is(err, unix.EINVAL) {
		// No thread pidfds: the process's, not kept.
		if pidfd, err = fdTablePidfd(tid, unix.PidfdOpen); err != nil {
			return -1, err
		}
		defer unix.Close(pidfd)
		return getfdCaller(pidfd, n)
	}
	if err != nil {
		return -1, err
	}
	fd, err := getfdCaller(pidfd, n)
	if errors.Is(err, unix.ESRCH) {
		unix.Close(pidfd) // the thread is gone
		return fd, err
	}
	if len(p.byTid) >= maxPidfds {
		for t, f := range p.byTid {
			unix.Close(f)
			delete(p.byTid, t)
		}
	}
	if p.byTid == nil {
		p.byTid = map[int]int{}
	}
	p.byTid[tid] = pidfd
	return fd, err
}

// procTgid returns the process (thread group) of thread tid.
func procTgid(tid int) (int, error) {
	b, err := readProc("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("read status of %d: no tgid", tid)
}

// unixAllowed reports whether the sandbox may connect to the unix socket at
// path: one it bound itself (the socket file id), or one the policy lists
// (or a parent of it).
func (g *guard) unixAllowed(path string, id fileID) bool {
	if g.unix.AllowAll {
		return true
	}
	g.mu.Lock()
	ok := g.bound[id]
	g.mu.Unlock()
	if ok {
		return true
	}
	for _, a := range g.unix.Allow {
		if path == a || strings.HasPrefix(path, strings.TrimSuffix(a, "/")+"/") {
			return true
		}
	}
	return false
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// readString reads a NUL-terminated string of at most PATH_MAX bytes from
// the caller's memory.
func readString(pid int, addr uintptr) (string, error) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	// Most paths are short: a first small read copies less of the
	// caller's memory (the kernel copies page by page) and allocates less.
	for _, size := range []int{256, unix.PathMax} {
		buf := make([]byte, size)
		n, err := readCaller(pid, addr, buf)
		if n <= 0 {
			if err == nil {
				err = unix.EFAULT
			}
			return "", err
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(buf[:i]), nil
		}
		if n < size {
			return "", unix.EFAULT // unterminated at the end of the mapping
		}
	}
	return "", unix.ENAMETOOLONG
}

// readProc reads a small procfs file with raw syscalls.
func readProc(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if m <= 0 || err != nil {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// procUmask returns a thread's umask, from /proc/TID/status.
func procUmask(tid int) (uint32, error) {
	b, err := readProc("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				return 0, fmt.Errorf("parse umask of %d: %w", tid, err)
			}
			return uint32(m), nil
		}
	}
	return 0, fmt.Errorf("read status of %d: no umask", tid)
}

// umasks knows the callers' umasks, so that creating a file for them costs
// no read of /proc/TID/status (a third of a guarded mkdir's time, measured
// here). A thread's umask changes only through umask(2), which every guard
// program sends to PID 1 (opUmask): PID 1 lets it through and drops what it
// knows, since the mask belongs to a filesystem context that other threads
// and processes may share (CLONE_FS) or not (a thread cloned without it),
// and PID 1 cannot tell which. Until every umask(2) let through has surely
// happened (the thread that made it has made another guarded syscall, or is
// gone), nothing is cached: the kernel runs them in its own order, and a
// value read meanwhile may be overtaken. A read of the status is always
// right: a thread's own umask(2) is done before its next syscall, and one in
// another thread, still running, may count as before or after.
//
// Until the first umask(2) there is nothing to read at all: every process
// of the sandbox descends from the command and every filesystem context
// in it is a copy of the command's (fork, a thread cloned without CLONE_FS,
// unshare), so each holds the command's umask, which PID 1 knows (see
// start). Most commands never call umask(2) (bash -c, git, python, make
// and cc do not), and then no created file costs a read of /proc or a
// thread pidfd: a new process's first one read its status, ~10-20% of a
// guarded open here.
//
// Entries are held by thread pidfd: a thread id is reused once its thread is
// gone, and a pidfd says whether the thread it was opened for still runs.
// Without thread pidfds (Linux before 6.9) nothing is cached.
type umasks struct {
	mu sync.Mutex
	// uniform: no umask(2) has been let through since start, and every
	// thread's umask is initial.
	uniform bool
	initial uint32
	cached  map[int]umaskEntry // by thread id
	pending map[int]int        // thread id → pidfd (-1: none) of umask(2) let through
	off     bool               // too many pending: no cache from now on
	pruned  time.Time          // when get last pruned pending (prunePeriod)
}

// prunePeriod spaces get's prunes of pending umask(2) calls. A thread
// that called umask(2) and then only computes stays pending (it shows
// "running", which tells nothing, leftUmask), and each prune reads
// every pending thread's /proc/TID/syscall: with 4 such processes (a
// build's workers) every file the sandbox created cost twice as much.
// Until a prune clears them, get reads the umask from /proc, which is
// always right.
const prunePeriod = 10 * time.Millisecond

type umaskEntry struct {
	pidfd int
	umask uint32
}

// maxUmaskEntries bounds the pidfds each map holds.
const maxUmaskEntries = 256

// start records the command's umask, which every thread of the sandbox has
// until one calls umask(2) (set). PID 1 calls it with the mask its own
// umask(2) replaced after the command was forked (serveGuard), before the
// guard reads any request: the command's copy is PID 1's from that fork,
// and nothing in PID 1 changes its mask before.
func (u *umasks) start(m uint32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.uniform, u.initial = true, m&0o777
}

// seen records that thread tid has made a guarded syscall: a umask(2) it
// made before is done. Called for every request.
func (u *umasks) seen(tid int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if fd, ok := u.pending[tid]; ok {
		closeFD(fd)
		delete(u.pending, tid)
	}
}

// set is called for umask(2) by thread tid, which the kernel performs after
// PID 1 lets it through.
func (u *umasks) set(tid int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	// Before the kernel makes the call (PID 1 lets it through after
	// this): a get from now on may be for a thread whose mask it changed.
	u.uniform = false
	for t, e := range u.cached {
		closeFD(e.pidfd)
		delete(u.cached, t)
	}
	if _, ok := u.pending[tid]; ok || u.off {
		return
	}
	if len(u.pending) >= maxUmaskEntries {
		u.prune()
		if len(u.pending) >= maxUmaskEntries {
			u.off = true
			return
		}
	}
	fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	if err != nil {
		fd = -1 // only seen can clear it
	}
	if u.pending == nil {
		u.pending = map[int]int{}
	}
	u.pending[tid] = fd
}

// get returns the umask of thread tid. On failure it returns 077, the
// strictest mask: a file created with too few permissions is a nuisance, one
// created with too many is a leak.
func (u *umasks) get(tid int) uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.uniform {
		return u.initial
	}
	if len(u.pending) > 0 {
		if now := time.Now(); now.Sub(u.pruned) >= prunePeriod {
			u.prune()
			u.pruned = now
		}
	}
	if len(u.pending) > 0 || u.off {
		m, err := procUmask(tid)
		if err != nil {
			return 0o077
		}
		return m
	}
	if e, ok := u.cached[tid]; ok {
		if alive(e.pidfd) {
			return e.umask
		}
		closeFD(e.pidfd)
		delete(u.cached, tid)
	}
	// The pidfd first: if the status then read is not of the thread the
	// pidfd names (it ended, and its id went to another), the pidfd says
	// so afterwards.
	fd, ferr := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	m, err := procUmask(tid)
	switch {
	case err != nil:
		closeFD(fd)
		return 0o077
	case ferr != nil:
		return m // no thread pidfds: no cache
	case !alive(fd):
		closeFD(fd)
		return m
	}
	if len(u.cached) >= maxUmaskEntries {
		for t, e := range u.cached {
			if !alive(e.pidfd) || len(u.cached) >= maxUmaskEntries/2 {
				closeFD(e.pidfd)
				delete(u.cached, t)
			}
		}
	}
	if u.cached == nil {
		u.cached = map[int]umaskEntry{}
	}
	u.cached[tid] = umaskEntry{pidfd: fd, umask: m}
	return m
}

// disable turns the cache off for good: a thread has a umask of its own,
// which an exec from it can make its process's without any umask(2). Not
// uniform, which stays as it is: that thread's mask is a copy, the same
// until a umask(2) (set).
func (u *umasks) disable() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.off = true
	for t, e := range u.cached {
		closeFD(e.pidfd)
		delete(u.cached, t)
	}
}

// prune forgets pending umask(2) calls that are done: of threads that are
// gone, or that are now in another syscall or back in user space
// (/proc/TID/syscall names the syscall a thread is in, -1 for none), which
// a thread that set its umask once and then only waits (a daemon) would
// otherwise never show.
func (u *umasks) prune() {
	for t, fd := range u.pending {
		if fd >= 0 && !alive(fd) || leftUmask(t) {
			closeFD(fd)
			delete(u.pending, t)
		}
	}
}

// leftUmask reports whether thread tid is surely past its umask(2): it is
// blocked in another syscall, or outside any. A running thread says
// "running", which tells nothing.
func leftUmask(tid int) bool {
	b, err := readProc("/proc/" + strconv.Itoa(tid) + "/syscall")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false
	}
	nr, err := strconv.Atoi(f[0])
	return err == nil && nr != unix.SYS_UMASK
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// alive reports whether the thread behind pidfd still runs: a pidfd becomes
// readable when its thread exits.
func alive(pidfd int) bool {
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n == 0
	}
}

// resolveParent opens the directory that will hold path's last component,
// as the caller (pid, with dirfd) would resolve it, and returns it with the
// last component and the full resolved path of the new name.
func (g *guard) resolveParent(pid int, dirfd int32, path string) (int, string, string, unix.Errno) {
	var start string
	switch {
	case strings.HasPrefix(path, "/"):
		// Absolute: openat ignores the directory fd, and PID 1's root is
		// the caller's (nothing in the sandbox can chroot).
		return resolveParentFrom(pid, unix.AT_FDCWD, path)
	case dirfd == unix.AT_FDCWD:
		start = "/proc/" + strconv.Itoa(pid) + "/cwd"
	default:
		// The caller's directory fd itself, not /proc/PID/fd/N: that
		// directory of a non-dumpable process belongs to a root an
		// unprivileged runner's sandbox does not map, and no capability
		// opens it.
		d, err := g.pidfds.getfd(pid, int(dirfd))
		if err != nil {
			return -1, "", "", errnoOf(err)
		}
		defer unix.Close(d)
		return resolveParentFrom(pid, d, path)
	}
	d, err := openCaller(start, unix.O_PATH)
	if err != nil {
		return -1, "", "", errnoOf(err)
	}
	if path != "" && path != "." && path != ".." && !strings.Contains(path, "/") {
		// A name in the working directory, the common case: the
		// directory just opened is its parent (no second open of ".").
		return named(pid, d, path)
	}
	defer unix.Close(d)
	return resolveParentFrom(pid, d, path)
}

// resolveParentFrom is resolveParent relative to an open directory.
// Paths through /proc/self, /proc/thread-self and /dev/fd are the caller's,
// not PID 1's: they are rewritten to /proc/PID.
func resolveParentFrom(pid int, dir int, path string) (int, string, string, unix.Errno) {
	if path == "" {
		return -1, "", "", unix.ENOENT
	}
	path = rewriteSelf(pid, path)
	trimmed := strings.TrimRight(path, "/")
	if trimmed == "" {
		trimmed = "/"
	}
	dirPart, base := filepath.Split(trimmed)
	if base == "" || base == "." || base == ".." {
		// Not a new name: let the operation itself fail or succeed on
		// the whole path.
		dirPart, base = trimmed, "."
	}
	if dirPart == "" {
		dirPart = "."
	}
	if dir == unix.AT_FDCWD && strings.HasPrefix(dirPart, "/") && !dotDot(dirPart) && !noOpenat2.Load() {
		// An absolute path without symlinks or "..", the common case
		// (git's, a shell's redirections, cp's and tar's with an
		// absolute destination): its directory is named as written,
		// without a readlink of the descriptor. The kernel's name is
		// the same: the directories walked from the root, which PID 1
		// shares, each found in the one before; a change the guard
		// makes meets a rename of one of them meanwhile either way.
		// Not with "..", which the kernel takes from wherever the
		// directory before it is at that moment: a directory renamed
		// to and fro while a connect was resolved made the written
		// name an allowed socket's and the socket reached another.
		how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS}
		p, err := unix.Openat2(unix.AT_FDCWD, dirPart, &how)
		if err == nil {
			return namedAs(pid, p, base, filepath.Clean(dirPart))
		}
		if errors.Is(err, unix.ENOSYS) {
			noOpenat2.Store(true) // Linux before 5.6
		}
		// Else a symlink on the way (ELOOP), or an error the open
		// below gives again.
	}
	p, err := unix.Openat(dir, dirPart, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", "", errnoOf(err)
	}
	return named(pid, p, base)
}

// dotDot reports whether path has a ".." component (without allocating:
// it runs for every guarded path).
func dotDot(path string) bool {
	for path != "" {
		var c string
		c, path, _ = strings.Cut(path, "/")
		if c == ".." {
			return true
		}
	}
	return false
}

// noOpenat2 is set once openat2 has failed with ENOSYS.
var noOpenat2 atomic.Bool

// named completes resolveParent for base in the directory p, which it takes
// over: it returns p (or, where p led into PID 1's own /proc entries, the
// caller's same directory instead), base and the full path.
func named(pid, p int, base string) (int, string, string, unix.Errno) {
	real, err := fdPath(p)
	if err != nil {
		unix.Close(p)
		return -1, "", "", errnoOf(err)
	}
	return namedAs(pid, p, base, real)
}

// namedAs is named for p, whose path is real.
func namedAs(pid, p int, base, real string) (int, string, string, unix.Errno) {
	if pid != 1 && pid1Task(real) {
		// /proc/TID/... of one of PID 1's other threads: PID 1 would
		// open its own memory (mem), descriptors (fd) or cgroup files
		// for the caller, where the kernel checks nothing between
		// threads of one process.
		unix.Close(p)
		return -1, "", "", unix.EACCES
	}
	if own := "/proc/1"; pid != 1 && (real == own || strings.HasPrefix(real, own+"/")) {
		// A symlink inside the path (e.g. /dev/fd) led to PID 1's own
		// /proc entries; redo it with the caller's.
		unix.Close(p)
		var err error
		p, err = unix.Open("/proc/"+strconv.Itoa(pid)+strings.TrimPrefix(real, own), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, "", "", errnoOf(err)
		}
		real = "/proc/" + strconv.Itoa(pid) + strings.TrimPrefix(real, own)
	}
	full := filepath.Join(real, base)
	if base == "." {
		full = real
	}
	return p, base, full, 0
}

// pid1Task reports whether path is under /proc/TID for a thread of PID 1
// other than PID 1 itself (whose /proc/1 named rewrites to the caller's).
func pid1Task(path string) bool {
	rest, ok := strings.CutPrefix(path, "/proc/")
	if !ok {
		return false
	}
	n, _, _ := strings.Cut(rest, "/")
	if n == "" || n == "1" || strings.Trim(n, "0123456789") != "" {
		return false
	}
	var st unix.Stat_t
	return unix.Lstat("/proc/1/task/"+n, &st) == nil
}

func rewriteSelf(pid int, path string) string {
	p := "/proc/" + strconv.Itoa(pid)
	for _, alias := range []string{"/proc/self", "/proc/thread-self", "/dev/fd"} {
		if path == alias || strings.HasPrefix(path, alias+"/") {
			suffix := strings.TrimPrefix(path, alias)
			if alias == "/dev/fd" {
				return p + "/fd" + suffix
			}
			return p + suffix
		}
	}
	switch path {
	case "/dev/stdin":
		return p + "/fd/0"
	case "/dev/stdout":
		return p + "/fd/1"
	case "/dev/stderr":
		return p + "/fd/2"
	}
	return path
}

// fdPath is the path of what fd is open on, as the kernel names it.
func fdPath(fd int) (string, error) {
	return readlinkAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd))
}

func readlinkAt(dir int, name string) (string, error) {
	// A short buffer first, as in readString; a result that fills it may
	// have been cut.
	for _, size := range []int{256, unix.PathMax} {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}

// sharedFile reports whether st is a regular file with other hard links,
// which the sandbox may not write in place: a link elsewhere, outside the
// writable paths, is the same file. pnpm's store and every project's
// node_modules/.pnpm, uv's cache and every virtualenv it made, bun's
// cache share their files so (a write to proj/node_modules/x/index.js
// changed x in all the user's projects). Tools replace such files (unlink,
// rename) rather than write them in place; creating links stays allowed.
// The callers let the sandbox write one it created in this run
// (freshFile; a run is a whole agent session under fence -- claude).
func sharedFile(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink > 1
}

// openWrites reports whether an open with flags writes: opens the file for
// writing, truncates it, or (exists false) creates it.
func openWrites(flags int, exists bool) bool {
	return flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0 || flags&unix.O_CREAT != 0 && !exists
}

// callerWrites reports whether full, a caller's /proc/PID/fd/N (or
// /proc/PID/task/TID/fd/N), is a descriptor the caller holds open for
// writing on the file fd is: then opening it again to write gives the
// caller nothing it does not have. A shell's redirection of fence's output
// to a file outside the writable places (fence ... > out.log) is one, and
// `echo > /dev/stdout` there writes to it. The identity check makes a
// descriptor swapped in meanwhile count for nothing: it would have to be
// a writable one of the very same file.
func callerWrites(full string, fd int) bool {
	rest, ok := strings.CutPrefix(full, "/proc/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	if len(parts) == 5 && parts[1] == "task" {
		parts = []string{parts[2], parts[3], parts[4]} // the thread's table
	}
	if len(parts) != 3 || parts[1] != "fd" {
		return false
	}
	tid, err1 := strconv.Atoi(parts[0])
	n, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || tid <= 0 || n < 0 {
		return false
	}
	pidfd, err := fdTablePidfd(tid, unix.PidfdOpen)
	if err != nil {
		return false
	}
	theirs, err := getfdCaller(pidfd, n)
	unix.Close(pidfd)
	if err != nil {
		return false
	}
	defer unix.Close(theirs)
	// Open to write: O_WRONLY or O_RDWR. Not O_ACCMODE 3, which reads
	// and writes nothing (only ioctls) and which Landlock and read-only
	// mounts let through for that reason: the creation guard does not see
	// such an open, and it would vouch for a reopen that writes.
	fl, err := unix.FcntlInt(uintptr(theirs), unix.F_GETFL, 0)
	if acc := fl & unix.O_ACCMODE; err != nil || acc != unix.O_WRONLY && acc != unix.O_RDWR || fl&unix.O_PATH != 0 {
		return false
	}
	var a, b unix.Stat_t
	return unix.Fstat(fd, &a) == nil && unix.Fstat(theirs, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

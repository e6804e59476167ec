package nsexec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// stage is where the new root is assembled before pivot_root. It is a path in
// the init stage's private mount namespace; the host never sees the mount.
// Every source is opened (open_tree) before the new tree is attached here,
// because attaching it shadows the host's /tmp in this namespace.
const stage = "/tmp"

// mountAttrs applied to every mount of the host we clone: setuid bits and
// device nodes found anywhere in the host tree are inert inside.
const hostAttrs = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV

// detached is a cloned, not yet attached mount and where it goes.
type detached struct {
	fd       int
	target   string // absolute path inside the sandbox
	isDir    bool
	noFollow bool // mount on a final symlink itself
	socket   bool // only a socket (cloneSocket), cloned again as one
	pinned   bool // cloned without following a symlink (clonePinned), and again so
}

// cloneAgain clones d's path again, as d was (attachSource): a pinned
// path without following a symlink. Through cloneSource, a symlink put in
// place of a directory removed meanwhile (which is what fails the attach)
// was followed: what it led to was bound there, without the masks.
func (d detached) cloneAgain(ro bool) (*detached, error) {
	switch {
	case d.socket:
		return cloneSocket(d.target)
	case d.pinned:
		return clonePinned(d.target, ro)
	}
	return cloneSource(d.target, ro)
}

// rootPrep is the part of the sandbox's tree that no policy changes:
// prepareRoot makes it while PID 1 waits for the policy, and buildRoot
// takes it over.
type rootPrep struct {
	nodes [len(DevNodes)]int // the device nodes' clones (cloneDevNodes), for mountDev
	empty int                // the mask file system (newMaskFS), or -1
	// dev and proc are the sandbox's /dev and /proc, built detached
	// (prepareDev, prepareProc), or -1: buildRoot then mounts them in
	// place (mountDev, mountProc), as it must where the kernel adds no
	// mount to a detached tree (before Linux 6.15).
	dev, proc int
	// hostNet is the network mode /proc was prepared for; devErr and
	// procErr say why /dev or /proc was not prepared (-d prints them).
	hostNet         bool
	devErr, procErr error
	err             error // the first step that failed; buildRoot reports it
}

// prepareRoot does the part of buildRoot that no policy changes, so that
// PID 1 does it while the supervisor still plans instead of after the
// policy came (~105 system calls; `fence -- true` ~0.1 ms sooner,
// docs/benchmarking.md, "/dev and /proc built before the policy"). hostNet
// is the network mode PID 1 was started for (mountProc). Its errors are
// reported by buildRoot, once the policy is read: an init stage that fails
// earlier leaves the supervisor a closed socket and nothing to say why.
func prepareRoot(hostNet bool) *rootPrep {
	p := &rootPrep{empty: -1, dev: -1, proc: -1, hostNet: hostNet}
	for i := range p.nodes {
		p.nodes[i] = -1
	}
	// 1. A userns-owned mount namespace starts as a copy of the host's with
	// shared propagation; without MS_PRIVATE our mounts would propagate.
	// First: the clones below must not be made while it is shared.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		p.err = fmt.Errorf("make / private: %w", err)
		return p
	}
	// 2. The device nodes are cloned before anything else of the tree: in
	// place, the sandbox's /dev covers the host's before they are bound,
	// and the root made nodev by buildRoot would be carried by clones
	// made after it.
	if p.nodes, p.err = cloneDevNodes(); p.err != nil {
		return p
	}
	if p.empty, p.err = newMaskFS(); p.err != nil {
		return p
	}
	// /dev and /proc (~80 system calls, ~0.25 ms) as detached trees that
	// buildRoot attaches with one call each. Where that fails (an older
	// kernel, anything else), buildRoot mounts them in place as before,
	// and reports what fails there.
	if p.dev, p.devErr = detachedDev(&p.nodes); p.devErr != nil && slices.Contains(p.nodes[:], -1) {
		// Some nodes went into the tree given up: mountDev needs them.
		closeFDs(p.nodes[:])
		if p.nodes, p.err = cloneDevNodes(); p.err != nil {
			return p
		}
	}
	p.proc, p.procErr = detachedProc(hostNet)
	return p
}

// detachedDev and detachedProc are prepareDev and prepareProc: variables
// so that tests can make them fail as an older kernel does.
var detachedDev, detachedProc = prepareDev, prepareProc

// prepareDev builds, as a detached tree, the /dev that mountDev builds in
// place, with the device nodes' clones (which it takes: -1 from here, also
// after an error that came after one was taken), and returns its mount
// fd. On an error it returns -1 and what it built is released.
func prepareDev(nodes *[len(DevNodes)]int) (int, error) {
	// Not nodev: the nodes are binds of their own, whose flags count, but
	// the tmpfs is mounted as mountDev mounts it.
	dev, err := newFS("tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC, "mode=0755")
	if err != nil {
		return -1, err
	}
	built := false
	defer func() {
		if !built {
			unix.Close(dev)
		}
	}()
	for i, n := range DevNodes {
		fd, err := unix.Openat(dev, n, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return -1, fmt.Errorf("create /dev/%s: %w", n, err)
		}
		unix.Close(fd)
		err = unix.MoveMount(nodes[i], "", dev, n, unix.MOVE_MOUNT_F_EMPTY_PATH)
		if err != nil {
			return -1, fmt.Errorf("bind /dev/%s: %w", n, err)
		}
		unix.Close(nodes[i])
		nodes[i] = -1
	}
	if err := unix.Mkdirat(dev, "pts", 0o755); err != nil {
		return -1, fmt.Errorf("create /dev/pts: %w", err)
	}
	if err := mountDetached(dev, "pts", "devpts", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC, "newinstance", "ptmxmode=0666", "mode=0620"); err != nil {
		return -1, fmt.Errorf("mount /dev/pts: %w", err)
	}
	if err := unix.Mkdirat(dev, "shm", 0o755); err != nil {
		return -1, fmt.Errorf("create /dev/shm: %w", err)
	}
	if err := mountDetached(dev, "shm", "tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, "mode=1777"); err != nil {
		return -1, fmt.Errorf("mount /dev/shm: %w", err)
	}
	for _, l := range DevLinks {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return -1, fmt.Errorf("create /dev/%s: %w", l[1], err)
		}
	}
	// Nothing may be added to /dev itself; pts and shm stay writable.
	if err := unix.MountSetattr(dev, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return -1, fmt.Errorf("make /dev read-only: %w", err)
	}
	built = true
	return dev, nil
}

// prepareProc builds, as a detached tree, the /proc that mountProc mounts
// in place (for the PID namespace this process is in, as mountProc's
// would be), and returns its mount fd. On an error it returns -1 and
// what it built is released.
func prepareProc(hostNet bool) (int, error) {
	const attrs = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	proc, err := newFS("proc", attrs)
	if err != nil {
		return -1, err
	}
	built := false
	defer func() {
		if !built {
			unix.Close(proc)
		}
	}()
	// What mountProc makes read-only, and why, is said there.
	for _, p := range procReadOnly {
		if err := bindDetached(proc, p, unix.MOUNT_ATTR_RDONLY|attrs, 0); errors.Is(err, unix.ENOENT) {
			continue
		} else if err != nil {
			return -1, fmt.Errorf("bind /proc/%s read-only: %w", p, err)
		}
	}
	if !hostNet {
		if err := bindDetached(proc, "sys/net", attrs, unix.MOUNT_ATTR_RDONLY); err != nil && !errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("make /proc/sys/net writable: %w", err)
		}
	}
	built = true
	return proc, nil
}

// procReadOnly are the entries of a fresh procfs that mountProc binds
// read-only (see there).
var procReadOnly = [...]string{"sys", "sysrq-trigger", "irq", "bus", "fs", "acpi", "asound", "scsi"}

// bindDetached binds rel of the detached tree at (on itself), with the
// mount attributes set and clr changed.
func bindDetached(at int, rel string, set, clr uint64) error {
	fd, err := unix.OpenTree(at, rel, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: set, Attr_clr: clr}); err != nil {
		return err
	}
	return unix.MoveMount(fd, "", at, rel, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// mountDetached mounts a new file system (newFS) on rel of the detached
// tree at.
func mountDetached(at int, rel, fstype string, attrs int, opts ...string) error {
	fd, err := newFS(fstype, attrs, opts...)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.MoveMount(fd, "", at, rel, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// newMaskFS creates the detached tmpfs every mask is cloned from: an empty
// directory "d" and an empty file "f", read-only, nosuid, nodev and
// noexec (clones carry its attributes).
func newMaskFS() (int, error) {
	empty, err := newTmpfs("mode=0555,size=4k")
	if err != nil {
		return -1, fmt.Errorf("create mask filesystem: %w", err)
	}
	fail := func(err error) (int, error) {
		unix.Close(empty)
		return -1, err
	}
	if err := unix.Mkdirat(empty, "d", 0o555); err != nil {
		return fail(fmt.Errorf("create mask directory: %w", err))
	}
	fd, err := unix.Openat(empty, "f", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return fail(fmt.Errorf("create mask file: %w", err))
	}
	unix.Close(fd)
	// Read-only and noexec once, here: every mask is a clone of this mount
	// (open_tree OPEN_TREE_CLONE), and clones carry its attributes.
	if err := unix.MountSetattr(empty, "", unix.AT_EMPTY_PATH, &unix.MountAttr{
		Attr_set: unix.MOUNT_ATTR_RDONLY | hostAttrs | unix.MOUNT_ATTR_NOEXEC,
	}); err != nil {
		return fail(fmt.Errorf("make mask filesystem read-only: %w", err))
	}
	return empty, nil
}

// buildRoot assembles the sandbox's mount tree.
//
// Order matters, and each step says why:
//  1. propagation private, so nothing we do leaks to the host;
//  2. clone every source while the host tree is still at its usual paths
//     and attributes;
//  3. the root: the namespace's own copy of the host's tree made read-only
//     in place, or a new root attached at stage; then /proc, /dev and /tmp
//     (/proc and /dev built beforehand, detached, where the kernel allows);
//  4. writable binds (parents first), then protected read-only binds on top
//     of them, then masks on top of everything, so a deny always wins;
//  5. with a staged root, pivot_root and drop the old root.
//
// The staged root is needed only when the root itself is replaced: a
// defaultDenyRead scaffold, or a bind of the host's "/" (allowWrite ["."]
// run from /, allowRead ["/"]). Otherwise the copy of the host's tree that
// the new mount namespace started with is the same tree a recursive clone
// of "/" would be (a superset: the clone leaves out unbindable mounts), and
// using it saves the clone, the pivot and the detach of the old root, an
// RCU grace period (~0.2 ms of every start).
//
// hostNet says the sandbox shares the host's network namespace (mountProc).
// prep is what prepareRoot made before the policy came: step 1, the part
// of step 2 that no policy changes (the device nodes, the mask file
// system), and /dev and /proc where it could. noExec gives fs.NoExec
// where fs.NoExecFollows, once everything else is in place.
func buildRoot(fs *FSPolicy, hostNet bool, prep *rootPrep, noExec func() ([]string, error)) error {
	if prep.err != nil {
		return prep.err
	}
	nodes, empty := &prep.nodes, prep.empty
	defer closeFDs(nodes[:])
	writable := fs.Writable
	if fs.HostTmp {
		writable = append([]string{"/tmp"}, writable...)
	}
	inPlace := !fs.DefaultDenyRead && !hasRoot(fs.ReadOnly) && !hasRoot(writable)
	at := stage
	if inPlace {
		at = ""
	}

	// 2. Clone sources.
	root := -1
	var err error
	if fs.DefaultDenyRead {
		root, err = newTmpfs("mode=0755")
	} else if !inPlace {
		root, err = cloneTree("/", true)
	}
	if err != nil {
		return fmt.Errorf("clone root: %w", err)
	}
	var readOnly []detached
	{
		for _, p := range sortedPaths(fs.ReadOnly) {
			d, err := cloneBind(fs, p, true)
			if err != nil {
				return err
			}
			if d != nil {
				readOnly = append(readOnly, *d)
			}
		}
		// After the others: a socket in a directory bound read-only
		// goes on top of that bind.
		for _, p := range sortedPaths(fs.Sockets) {
			d, err := cloneSocket(p)
			if err != nil {
				return err
			}
			if d != nil {
				readOnly = append(readOnly, *d)
			}
		}
	}
	var rw []detached
	var rwDirs []string
	for _, p := range sortedPaths(writable) {
		// A path in a writable directory bound already (parents come
		// first) is in that bind's clone, the same file and as
		// writable: a bind of its own only made it a mount point, which
		// a rename onto it fails with EBUSY (a save by rename of
		// ~/.claude.json, -t code started in $HOME). Not below "/",
		// whose bind is the staged root's.
		if underAnyPath(p, rwDirs) {
			continue
		}
		d, err := cloneBind(fs, p, false)
		if err != nil {
			return err
		}
		if d != nil {
			rw = append(rw, *d)
			if d.isDir && p != "/" {
				rwDirs = append(rwDirs, p)
			}
		}
	}
	var prot []detached
	for _, p := range sortedPaths(fs.Protected) {
		// Pinned too: a protected path in a writable directory that
		// another user can change (a shared project's .vscode) swapped
		// for a symlink to ~/.ssh while fence started, then back, was
		// bound there read-only, without the masks.
		d, err := cloneBind(fs, p, true)
		if err != nil {
			return err
		}
		if d != nil {
			prot = append(prot, *d)
		}
	}
	// 3. The root.
	if inPlace {
		// After every clone above: they keep the attributes of their
		// sources (a writable bind must not inherit this read-only).
		// Before anything is attached: the binds keep their own.
		if err := unix.MountSetattr(unix.AT_FDCWD, "/", unix.AT_RECURSIVE, &unix.MountAttr{
			Attr_set: unix.MOUNT_ATTR_RDONLY | hostAttrs,
		}); err != nil {
			return fmt.Errorf("make the root read-only: %w", err)
		}
	} else {
		if err := unix.MoveMount(root, "", unix.AT_FDCWD, stage, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("attach new root at %s: %w", stage, err)
		}
		// root stays open: the scaffold of a defaultDenyRead root is made
		// read-only through it at the end, whatever is mounted on it by
		// then.
		defer unix.Close(root)
	}
	// Opened after a new root is attached, so that it is that root and not
	// the directory underneath.
	rootfd, err := openStagedRoot(at)
	if err != nil {
		return err
	}
	defer rootfd.close()
	// Binds of "/" itself (allowWrite ["."] run from /, allowRead ["/"]
	// with defaultDenyRead) cover the whole staged root, so they come
	// before the sandbox's own /proc, /dev and /tmp, which go on top of
	// them. Mounted last, they would hide those behind the host's: the
	// host's processes in /proc, its device nodes in /dev.
	if readOnly, err = attachRootBinds(rootfd, readOnly); err != nil {
		return err
	}
	n := len(rw)
	if rw, err = attachRootBinds(rootfd, rw); err != nil {
		return err
	}
	if len(rw) < n {
		// A writable clone of the host's root carries its /sys (and the
		// cgroup filesystems under it) writable: a sandbox run by root
		// could change kernel settings. /proc and /dev are the sandbox's
		// own (below); /sys stays read-only.
		// Only if /sys is a mount of its own: on a plain directory the
		// attribute would go to the mount holding it, the writable "/".
		var stx unix.Statx_t
		err := unix.Statx(unix.AT_FDCWD, at+"/sys", unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx)
		if err == nil && stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
			if err := setAttr(at+"/sys", true, unix.MOUNT_ATTR_RDONLY); err != nil {
				return fmt.Errorf("make /sys read-only: %w", err)
			}
		}
	}
	if prep.proc >= 0 && prep.hostNet != hostNet {
		// Prepared for the other network mode (init refuses that
		// mismatch before this): /proc/sys/net would be wrong.
		unix.Close(prep.proc)
		prep.proc, prep.procErr = -1, errors.New("prepared for the other network mode")
	}
	if prep.proc >= 0 {
		err, prep.proc = attachTree(prep.proc, at+"/proc"), -1
	} else {
		err = mountProc(at, hostNet)
	}
	if err != nil {
		return err
	}
	if prep.dev >= 0 {
		err, prep.dev = attachTree(prep.dev, at+"/dev"), -1
	} else {
		err = mountDev(at, nodes)
	}
	if err != nil {
		return err
	}
	if !fs.HostTmp {
		if err := ensureDir(at + "/tmp"); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", at+"/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("mount private /tmp: %w", err)
		}
		// Outside a defaultDenyRead scaffold, Links are symlinks of the
		// host's /tmp recreated in the private one (a home that is a
		// symlink there, bound read-only below), before the binds that
		// go under them. Nothing else may be put there.
		for _, l := range fs.Links {
			if fs.DefaultDenyRead {
				break
			}
			if !strings.HasPrefix(l[0], "/tmp/") || strings.Contains(l[0], "/../") {
				return fmt.Errorf("symlink %s: not in the private /tmp", l[0])
			}
			if err := makeLink(rootfd, l[0], l[1]); err != nil {
				return err
			}
		}
	}

	// 4. Read-only binds (visible parts of a defaultDenyRead root, or paths
	// under the private /tmp), writable, then protected, then masks.
	if fs.DefaultDenyRead {
		for _, l := range fs.Links {
			if err := makeLink(rootfd, l[0], l[1]); err != nil {
				return err
			}
		}
	}
	for _, d := range readOnly {
		if err := attachSource(rootfd, d, true); err != nil {
			return err
		}
	}
	for _, d := range rw {
		if err := attachSource(rootfd, d, false); err != nil {
			return err
		}
	}
	for _, d := range prot {
		if err := attachSource(rootfd, d, true); err != nil {
			return err
		}
	}
	for _, p := range sortedPaths(fs.Masked) {
		if err := mask(empty, rootfd, p, false); err != nil {
			return err
		}
	}
	if fs.NoExecFollows {
		// Last of the policy to come (the supervisor looked the denied
		// programs up while the tree above was built), and the tree is
		// not finished without it: an error ends the start here.
		late, err := noExec()
		if err != nil {
			return fmt.Errorf("receive the denied programs: %w", err)
		}
		fs.NoExec = append(fs.NoExec, late...)
	}
	for _, p := range sortedPaths(fs.NoExec) {
		if err := mask(empty, rootfd, p, true); err != nil {
			return err
		}
	}
	// Closing the last reference to a detached mount waits for an RCU
	// grace period (~0.1 ms): PID 1 closes it once the command runs
	// (closeMaskFS). It is close-on-exec, read-only and noexec.
	maskFS, prep.empty = empty, -1
	if fs.DefaultDenyRead {
		// The scaffold tmpfs was writable so we could create mount points;
		// the command must not be able to add files to it. Through its own
		// fd: at stage there may be a bind of "/" on top of it by now.
		if err := unix.MountSetattr(root, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("make root read-only: %w", err)
		}
	}

	if inPlace {
		return nil
	}
	// 5. pivot_root(".", ".") stacks the old root on top of the new one;
	// detaching it leaves only the new tree, with no directory needed for
	// the old root inside the (read-only) new one.
	if err := unix.Chdir(stage); err != nil {
		return fmt.Errorf("enter new root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// cloneTree returns a detached recursive copy of the mount tree at path,
// read-only if ro, always nosuid and nodev.
func cloneTree(path string, ro bool) (int, error) {
	return cloneTreeAt(unix.AT_FDCWD, path, ro)
}

// cloneTreeAt is cloneTree of path relative to dirfd ("" for dirfd
// itself).
func cloneTreeAt(dirfd int, path string, ro bool) (int, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_RECURSIVE
	if path == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	fd, err := unix.OpenTree(dirfd, path, uint(flags))
	if err != nil {
		return -1, err
	}
	attr := uint64(hostAttrs)
	if ro {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{
		Attr_set: attr, Propagation: unix.MS_PRIVATE,
	}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set mount attributes: %w", err)
	}
	return fd, nil
}

// cloneSource clones path for a later bind. It returns nil for a path that
// does not exist: there is nothing to bind.
func cloneSource(path string, ro bool) (*detached, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	fd, err := cloneTree(path, ro)
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", path, err)
	}
	return &detached{fd: fd, target: path, isDir: st.Mode&unix.S_IFMT == unix.S_IFDIR}, nil
}

// clonePinned is cloneSource for a path the planner resolved (a read-only
// or writable bind: the working directory, allowWrite and allowRead
// entries, a home or a repository's top in the host's /tmp): a symlink on
// the way now means that someone changed it since, and another user may
// own a directory on that way (one in /tmp, /var/tmp, a shared project
// directory). Followed, a symlink swapped in there (to ~, say) would show
// what it leads to at that path, read-only or writable, without the masks
// that hide credentials where it really is. It fails instead: fence
// refuses to start.
func clonePinned(path string, ro bool) (*detached, error) {
	// O_DIRECTORY first: an O_PATH open triggers an automount (autofs)
	// at the last name only with it, as open_tree by name did.
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_DIRECTORY, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &how)
	if errors.Is(err, unix.ENOTDIR) {
		how.Flags &^= unix.O_DIRECTORY
		fd, err = unix.Openat2(unix.AT_FDCWD, path, &how)
	}
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("open %s: a symlink is on the way now, where fence found none a moment before: the path changed while fence started (another user's directory on the way?); run again, or start fence elsewhere", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	tree, err := cloneTreeAt(fd, "", ro)
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", path, err)
	}
	return &detached{fd: tree, target: path, isDir: st.Mode&unix.S_IFMT == unix.S_IFDIR, pinned: true}, nil
}

// cloneSocket is cloneSource, read-only, for a path that must be a socket
// (FSPolicy.Sockets): what the clone holds is checked, not the path, which
// another user may have made a symlink to a file meanwhile. It returns nil
// for what is missing or not a socket.
func cloneSocket(path string) (*detached, error) {
	// Pinned as the other binds (the planner resolved it): a symlink
	// swapped in on the way would lead to a socket of yours (an ssh
	// agent's) where another user's was listed.
	d, err := clonePinned(path, true)
	if err != nil || d == nil {
		return d, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		unix.Close(d.fd)
		return nil, fmt.Errorf("stat the clone of %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		unix.Close(d.fd)
		return nil, nil
	}
	d.isDir, d.socket = false, true
	return d, nil
}

// cloneBind clones the bind source p: clonePinned where pinned says so,
// else cloneSource.
func cloneBind(fs *FSPolicy, p string, ro bool) (*detached, error) {
	if pinned(fs, p) {
		return clonePinned(p, ro)
	}
	return cloneSource(p, ro)
}

// pinned reports whether the bind source p is cloned without following a
// symlink (clonePinned): every read-only, writable and protected path,
// which the planner gives as it resolves, but the host's /tmp that
// HostTmp asks for by that name.
func pinned(fs *FSPolicy, p string) bool {
	return !(fs.HostTmp && p == "/tmp")
}

// maskFS is the detached filesystem the masks are cloned from, or -1.
var maskFS = -1

// closeMaskFS closes maskFS; PID 1 calls it once the command has started.
func closeMaskFS() {
	if maskFS >= 0 {
		unix.Close(maskFS)
		maskFS = -1
	}
	closeFDs(stdioMounts)
	stdioMounts = nil
}

// attachRootBinds attaches the mounts of ds whose target is "/" and returns
// the others.
func attachRootBinds(root *stagedRoot, ds []detached) ([]detached, error) {
	rest := ds[:0:0]
	for _, d := range ds {
		if filepath.Clean(d.target) != "/" {
			rest = append(rest, d)
			continue
		}
		if err := attach(root, d); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// stagedRoot is the staged root, open O_PATH, from which every mount point
// is opened (openTarget): one open for all mounts instead of one each.
// at is where it is: stage, or "" for the root in place.
type stagedRoot struct {
	fd int
	at string
}

func openStagedRoot(at string) (*stagedRoot, error) {
	fd, err := unix.Open(at+"/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open staged root: %w", err)
	}
	return &stagedRoot{fd: fd, at: at}, nil
}

// reopen follows a mount made on the staged root itself (a writable or
// read-only "/"): the fd still refers to the mount underneath, now covered,
// and mount points opened from it would receive mounts the command never
// sees (masks and read-only binds silently lost).
func (r *stagedRoot) reopen() error {
	n, err := openStagedRoot(r.at)
	if err != nil {
		return err
	}
	unix.Close(r.fd)
	r.fd = n.fd
	return nil
}

func (r *stagedRoot) close() { unix.Close(r.fd) }

// attach moves a detached mount onto its target inside the staged root.
func attach(root *stagedRoot, d detached) error {
	defer unix.Close(d.fd)
	t, err := openTarget(root, d.target, d.isDir, d.noFollow)
	if err != nil {
		return err
	}
	defer unix.Close(t)
	if err := unix.MoveMount(d.fd, "", t, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind %s: %w", d.target, err)
	}
	if filepath.Clean(d.target) == "/" {
		return root.reopen()
	}
	return nil
}

// attachTries bounds attachSource's attempts for one path.
const attachTries = 32

// attachSource attaches d, a clone of the host's path d.target
// (cloneSource), there. A file renamed over on the host since the clone (an
// editor's save, the record of created files that another run ending
// meanwhile replaces) is no longer where the clone came from, and
// move_mount refuses it (ENOENT): the path is cloned again, up to
// attachTries times (a file saved over in a tight loop on the other CPU
// beat four tries about once in 40 starts). One removed meanwhile has
// nothing left to bind.
func attachSource(root *stagedRoot, d detached, ro bool) error {
	for try := 1; ; try++ {
		err := attach(root, d)
		if err == nil || try == attachTries || !errors.Is(err, unix.ENOENT) {
			return err
		}
		n, cerr := d.cloneAgain(ro)
		if cerr != nil {
			return cerr
		}
		if n == nil {
			return nil
		}
		n.noFollow = d.noFollow
		d = *n
	}
}

// openTarget opens the mount point for p inside the staged root without
// following any symlink, so a link in the tree can never redirect a mount
// outside it. Missing mount points are created only where the staged tree is
// writable (our own tmpfs for /tmp, /dev or a defaultDenyRead scaffold).
func openTarget(root *stagedRoot, p string, isDir, noFollow bool) (int, error) {
	rel := strings.TrimPrefix(filepath.Clean(p), "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
	}
	if noFollow {
		// O_PATH|O_NOFOLLOW returns the final symlink itself; the
		// components before it still may not be symlinks.
		how.Flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat2(root.fd, rel, how)
	if errors.Is(err, unix.ENOENT) {
		if err := createMountpoint(root, rel, isDir); err != nil {
			return -1, fmt.Errorf("create mount point %s: %w", p, err)
		}
		fd, err = unix.Openat2(root.fd, rel, how)
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return -1, fmt.Errorf("mount point %s contains a symlink; use the resolved path", p)
		}
		return -1, fmt.Errorf("open mount point %s: %w", p, err)
	}
	return fd, nil
}

func createMountpoint(root *stagedRoot, rel string, isDir bool) error {
	if isDir {
		fd, err := mkdirBeneath(root, rel)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	dir, err := mkdirBeneath(root, filepath.Dir(rel))
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	fd, err := unix.Openat(dir, filepath.Base(rel), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// mkdirBeneath returns an O_PATH descriptor of the directory rel (relative
// to root, clean), making each missing directory on the way (mode 0755),
// and following no symlink. Before the pivot, a path of the staged tree
// is a path of PID 1's, on the host's file system: a symlink met on the
// way (one of the scaffold's Links, which the plan made from what it found
// on the host; a name another user swapped while fence started) would have
// taken os.MkdirAll out of the tree, to make directories on the host. It
// fails with ELOOP instead.
func mkdirBeneath(root *stagedRoot, rel string) (int, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
	dir, err := unix.Openat2(root.fd, ".", &how)
	if err != nil {
		return -1, err
	}
	if rel == "." || rel == "" {
		return dir, nil
	}
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." || c == ".." {
			unix.Close(dir)
			return -1, unix.EINVAL
		}
		next, err := unix.Openat2(dir, c, &how)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(dir, c, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat2(dir, c, &how)
			}
		}
		unix.Close(dir)
		if err != nil {
			return -1, err
		}
		dir = next
	}
	return dir, nil
}

// makeLink makes the symlink p -> target of FSPolicy.Links in the staged
// tree, its directories as mkdirBeneath makes them. A name there already
// is left as it is.
func makeLink(root *stagedRoot, p, target string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
		return fmt.Errorf("create symlink %s: not an absolute path", p)
	}
	rel := strings.TrimPrefix(p, "/")
	dir, err := mkdirBeneath(root, filepath.Dir(rel))
	if err != nil {
		return fmt.Errorf("create symlink %s: %w", p, err)
	}
	defer unix.Close(dir)
	if err := unix.Symlinkat(target, dir, filepath.Base(rel)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create symlink %s: %w", p, err)
	}
	return nil
}

func ensureDir(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

// mask hides p behind an empty read-only directory or file. With noFollow a
// final symlink is covered itself instead of its target.
func mask(empty int, root *stagedRoot, p string, noFollow bool) error {
	if p == "/" {
		// A mount on the root mount is not where paths start: it would
		// hide nothing. The planner refuses such a policy first.
		return errors.New("mask /: a mask cannot hide the root; nothing would be hidden")
	}
	var st unix.Stat_t
	stat := unix.Stat
	if noFollow {
		stat = unix.Lstat
	}
	if err := stat(root.at+p, &st); err != nil {
		// ENOTDIR: a directory above p is a file (an overlay's layer
		// replaced by one since the mount, whose views are masked too).
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // nothing to hide
		}
		return fmt.Errorf("stat masked path %s: %w", p, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	src := "f"
	if isDir {
		src = "d"
	}
	// The clone is read-only, nosuid, nodev and noexec like empty.
	fd, err := unix.OpenTree(empty, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("clone mask for %s: %w", p, err)
	}
	return attach(root, detached{fd: fd, target: p, isDir: isDir, noFollow: noFollow})
}

// newTmpfs creates a detached tmpfs, nosuid and nodev, configured by opts
// (comma-separated "key=value"), and returns its mount fd.
func newTmpfs(opts string) (int, error) {
	return newFS("tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, strings.Split(opts, ",")...)
}

// newFS creates a detached file system of type fstype with the mount
// attributes attrs, configured by opts ("key=value", or a flag "key"),
// and returns its mount fd.
func newFS(fstype string, attrs int, opts ...string) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	for _, kv := range opts {
		k, v, isValue := strings.Cut(kv, "=")
		if isValue {
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return -1, fmt.Errorf("configure %s %s: %w", fstype, kv, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create %s: %w", fstype, err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return fd, nil
}

func setAttr(path string, recursive bool, set uint64) error {
	flags := uint(0)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	return unix.MountSetattr(unix.AT_FDCWD, path, flags, &unix.MountAttr{Attr_set: set})
}

// mountProc mounts a procfs for the new PID namespace: only the sandbox's
// own processes are visible. hostNet: the sandbox shares the host's network
// namespace, whose sysctls /proc/sys/net then shows.
func mountProc(at string, hostNet bool) error {
	if err := ensureDir(at + "/proc"); err != nil {
		return err
	}
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("proc", at+"/proc", "proc", flags, ""); err != nil {
		return fmt.Errorf("mount /proc: %w (a container that masks parts of /proc prevents a fresh procfs)", err)
	}
	// The files of a fresh procfs that act on the host's kernel are
	// read-only, as container runtimes make them: sysctls outside the
	// sandbox's own namespaces (kernel.core_pattern names a program the
	// host's kernel runs as root), the magic SysRq key and interrupt
	// affinities; and, as container runtimes keep them, the devices' and
	// file systems' own entries: bus (/proc/bus/pci/BUS/DEV is the
	// device's PCI configuration space, which the kernel writes for any
	// uid 0 that may open it, unless locked down), fs (nfsd's controls),
	// acpi, asound and scsi. The kernel lets a uid 0 without capabilities
	// write several of them, and fence run as root maps the sandbox's uid
	// 0 to the host's: Landlock stops that too, but it may be missing.
	for _, p := range procReadOnly {
		p = at + "/proc/" + p
		if err := unix.Mount(p, p, "", unix.MS_BIND, ""); errors.Is(err, unix.ENOENT) {
			continue
		} else if err != nil {
			return fmt.Errorf("bind %s read-only: %w", strings.TrimPrefix(p, at), err)
		}
		if err := unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|flags, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", strings.TrimPrefix(p, at), err)
		}
	}
	// Except the sysctls of the sandbox's own network namespace, which
	// PID 1 sets (netns.AllowLowPorts, in setup, after this) and which
	// reach nothing outside it. A bind copies the flags of
	// the read-only mount it comes from: made writable again. Not on the
	// host's network (HostNetwork): /proc/sys/net is the host's then, and
	// PID 1 sets nothing there.
	if p := at + "/proc/sys/net"; !hostNet && unix.Mount(p, p, "", unix.MS_BIND, "") == nil {
		if err := unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|flags, ""); err != nil {
			return fmt.Errorf("make /proc/sys/net writable: %w", err)
		}
	}
	return nil
}

// cloneDevNodes clones the host's DevNodes for mountDev, in their order,
// read-only, nosuid and noexec.
func cloneDevNodes() (nodes [len(DevNodes)]int, err error) {
	for i := range nodes {
		nodes[i] = -1
	}
	for i, n := range DevNodes {
		nodes[i], err = unix.OpenTree(unix.AT_FDCWD, "/dev/"+n, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			closeFDs(nodes[:])
			return nodes, fmt.Errorf("clone /dev/%s: %w", n, err)
		}
		// Read-only: each node is the host's own inode (the /dev/null
		// of the whole machine), and a sandbox that root runs owns it:
		// the kernel lets an owner chmod it and set its times with no
		// capability, and Landlock does not cover either. On a
		// read-only mount both fail with EROFS, while a device node is
		// still opened for writing there (the kernel checks a mount's
		// read-only flag only for regular files).
		if err := unix.MountSetattr(nodes[i], "", unix.AT_EMPTY_PATH, &unix.MountAttr{
			Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC,
		}); err != nil {
			closeFDs(nodes[:])
			return nodes, fmt.Errorf("make /dev/%s read-only: %w", n, err)
		}
	}
	return nodes, nil
}

// attachTree attaches the detached tree fd at path (created if missing)
// and closes fd.
func attachTree(fd int, path string) error {
	defer unix.Close(fd)
	if err := ensureDir(path); err != nil {
		return err
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, path, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach %s: %w", path, err)
	}
	return nil
}

// closeFDs closes the fds of fds that are open (not -1) and marks them
// closed.
func closeFDs(fds []int) {
	for i, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
			fds[i] = -1
		}
	}
}

// hasRoot reports whether paths holds "/" itself.
func hasRoot(paths []string) bool {
	for _, p := range paths {
		if filepath.Clean(p) == "/" {
			return true
		}
	}
	return false
}

// mountDev builds a minimal /dev at at+"/dev": a few host nodes bound in
// (nodes, from cloneDevNodes: attached here and closed), a private devpts
// instance (so openpty works and the host's ptys are invisible), a private
// /dev/shm, and the usual symlinks. The host /dev is never bound.
func mountDev(at string, nodes *[len(DevNodes)]int) error {
	dev := at + "/dev"
	if err := ensureDir(dev); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for i, n := range DevNodes {
		p := dev + "/" + n
		// In the tmpfs just mounted: nothing there but what this makes.
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
		if err == nil {
			err = unix.Close(fd)
		}
		if err != nil {
			return fmt.Errorf("create /dev/%s: %w", n, err)
		}
		err = unix.MoveMount(nodes[i], "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH)
		unix.Close(nodes[i])
		nodes[i] = -1
		if err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
	}
	if err := ensureDir(dev + "/pts"); err != nil {
		return err
	}
	if err := unix.Mount("devpts", dev+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	if err := ensureDir(dev + "/shm"); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	for _, l := range DevLinks {
		if err := os.Symlink(l[0], dev+"/"+l[1]); err != nil {
			return fmt.Errorf("create /dev/%s: %w", l[1], err)
		}
	}
	// Nothing may be added to /dev itself; pts and shm stay writable.
	if err := setAttr(dev, false, unix.MOUNT_ATTR_RDONLY); err != nil {
		return fmt.Errorf("make /dev read-only: %w", err)
	}
	return nil
}

// sortedPaths returns cleaned, de-duplicated paths, parents before children.
func sortedPaths(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, p := range in {
		p = filepath.Clean(p)
		if !filepath.IsAbs(p) || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		di, dj := strings.Count(out[i], "/"), strings.Count(out[j], "/")
		if di != dj {
			return di < dj
		}
		return out[i] < out[j]
	})
	return out
}

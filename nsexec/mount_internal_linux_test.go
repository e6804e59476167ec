package nsexec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAttachSourceClonesPinnedAgainPinned: a pinned bind whose attach
// fails because its source was removed meanwhile (ENOENT) is cloned again
// without following a symlink either. Another user who owns the directory
// holding it (a bind in /var/tmp, a shared project) removed it while
// fence started and put a symlink to ~/.ssh there: attachSource cloned
// the path again through cloneSource, and the sandbox showed ~/.ssh
// there, writable, without the masks.
func TestAttachSourceClonesPinnedAgainPinned(t *testing.T) {
	inMountNamespace(t, func() { attachSourcePinned(t) })
}

// inMountNamespace runs f on a thread of its own in a mount namespace of
// its own, and returns once f has.
// It skips the test where it is not run as root. The thread stays locked
// and ends with f's goroutine: the namespace it leaves is its own.
func inMountNamespace(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts in a mount namespace of its own")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		f()
	}()
	<-done
}

func attachSourcePinned(t *testing.T) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Errorf("make / private: %v", err)
		return
	}
	dir := t.TempDir()
	src, secret := filepath.Join(dir, "src"), filepath.Join(dir, "secret")
	for _, d := range []string{src, secret} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Error(err)
			return
		}
	}
	if err := os.WriteFile(filepath.Join(secret, "key"), []byte("key\n"), 0o600); err != nil {
		t.Error(err)
		return
	}
	d, err := clonePinned(src, false)
	if err != nil || d == nil {
		t.Errorf("clonePinned(%s): %v, %v", src, d, err)
		return
	}
	// The staged root: a directory holding the mount point at src's path.
	stageDir := filepath.Join(dir, "stage")
	if err := os.MkdirAll(stageDir+src, 0o755); err != nil {
		t.Error(err)
		return
	}
	root, err := openStagedRoot(stageDir)
	if err != nil {
		t.Error(err)
		return
	}
	defer root.close()
	// Meanwhile the directory is removed and a symlink put in its place.
	if err := os.Remove(src); err != nil {
		t.Error(err)
		return
	}
	if err := os.Symlink(secret, src); err != nil {
		t.Error(err)
		return
	}
	err = attachSource(root, *d, false)
	if _, serr := os.Stat(filepath.Join(stageDir+src, "key")); serr == nil {
		t.Errorf("attach of %s, a directory removed and made a symlink to %s since its clone: what the link leads to was bound there (error %v)", src, secret, err)
	}
	if err == nil || !strings.Contains(err.Error(), "a symlink is on the way now") {
		t.Errorf("attach of %s, a symlink since its pinned clone: error %v, want a refusal", src, err)
	}
}

// The staged tree's mount points and links are made without following a
// symlink: before the pivot its paths are PID 1's, and a symlink in it (a
// scaffold link the plan made from what it found on the host, a name
// another user swapped meanwhile) led os.MkdirAll out of the tree, where
// PID 1 made directories and links on the host's file system.
func TestStagedTreeFollowsNoSymlink(t *testing.T) {
	tree, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(tree, "l")); err != nil {
		t.Fatal(err)
	}
	root, err := openStagedRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer root.close()
	if err := createMountpoint(root, "l/x/y", true); !errors.Is(err, unix.ELOOP) {
		t.Errorf("mount point through a symlink: %v, want ELOOP", err)
	}
	if err := createMountpoint(root, "l/f", false); !errors.Is(err, unix.ELOOP) {
		t.Errorf("file mount point through a symlink: %v, want ELOOP", err)
	}
	if err := makeLink(root, "/l/z", "target"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("link through a symlink: %v, want ELOOP", err)
	}
	if err := makeLink(root, "rel/z", "target"); err == nil {
		t.Error("a relative link path was made")
	}
	if ents, err := os.ReadDir(outside); err != nil || len(ents) != 0 {
		t.Errorf("made outside the tree: %v %v", ents, err)
	}
	if err := createMountpoint(root, "d/e/f", false); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(filepath.Join(tree, "d/e/f")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("file mount point d/e/f: %v %v", st, err)
	}
	if err := makeLink(root, "/d/link", "/abs"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join(tree, "d/link")); got != "/abs" || err != nil {
		t.Errorf("link d/link -> %q %v, want /abs", got, err)
	}
	if err := makeLink(root, "/d/link", "/other"); err != nil {
		t.Errorf("a link there already: %v, want it left as it is", err)
	}
}

// TestPrepareRoot: the tree's first steps, made before the policy comes,
// leave the mount namespace's propagation private and hand buildRoot a
// read-only mask file system holding an empty directory and an empty
// file, and /dev and /proc built as mountDev and mountProc build them:
// the host's device nodes bound read-only, nosuid and noexec, a devpts
// and a /dev/shm of their own, the links; the procfs entries that act on
// the host read-only, /proc/sys/net writable.
func TestPrepareRoot(t *testing.T) {
	unsupported := ""
	inMountNamespace(t, func() {
		// Shared, as a user namespace's copy of a systemd host's tree
		// starts (this machine's may be private already).
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
			t.Errorf("make / shared: %v", err)
			return
		}
		p := prepareRoot(false)
		if p.err != nil {
			t.Errorf("prepareRoot: %v", p.err)
			return
		}
		defer p.close()
		mi, err := os.ReadFile("/proc/thread-self/mountinfo")
		if err != nil {
			t.Errorf("read mountinfo: %v", err)
			return
		}
		for _, line := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(line); len(f) > 6 && strings.Contains(line, " shared:") {
				t.Errorf("mount %s still shares its propagation: %s", f[4], line)
			}
		}
		flagsOf := func(fd int) int64 {
			var st unix.Statfs_t
			if err := unix.Fstatfs(fd, &st); err != nil {
				t.Errorf("fstatfs: %v", err)
			}
			return int64(st.Flags)
		}
		if f := flagsOf(p.empty); f&unix.ST_RDONLY == 0 || f&unix.ST_NOSUID == 0 || f&unix.ST_NODEV == 0 || f&unix.ST_NOEXEC == 0 {
			t.Errorf("mask file system has mount flags %#x, want read-only, nosuid, nodev and noexec", f)
		}
		for name, want := range map[string]uint32{"d": unix.S_IFDIR | 0o555, "f": unix.S_IFREG | 0o444} {
			var st unix.Stat_t
			if err := unix.Fstatat(p.empty, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				t.Errorf("mask %s: %v", name, err)
			} else if st.Mode != want || name == "f" && st.Size != 0 {
				t.Errorf("mask %s: mode %#o size %d, want %#o (a file empty)", name, st.Mode, st.Size, want)
			}
		}
		if p.dev < 0 || p.proc < 0 {
			// A kernel before 6.15: buildRoot mounts them in place,
			// with every node's clone, read-only.
			unsupported = fmt.Sprintf("/dev (%v) or /proc (%v) not prepared", p.devErr, p.procErr)
			for i, fd := range p.nodes {
				if f := int64(0); fd < 0 {
					t.Errorf("no clone of /dev/%s for mountDev", DevNodes[i])
				} else if f = flagsOf(fd); f&unix.ST_RDONLY == 0 {
					t.Errorf("clone of /dev/%s has mount flags %#x, want read-only", DevNodes[i], f)
				}
			}
			return
		}
		// flagsAt is the mount flags of rel in the detached tree at, and
		// its file system's magic number.
		flagsAt := func(at int, rel string) (int64, int64) {
			fd, err := unix.Openat(at, rel, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
			if err != nil {
				t.Errorf("open %s: %v", rel, err)
				return 0, 0
			}
			defer unix.Close(fd)
			var st unix.Statfs_t
			if err := unix.Fstatfs(fd, &st); err != nil {
				t.Errorf("fstatfs %s: %v", rel, err)
			}
			return int64(st.Flags), int64(st.Type)
		}
		for i, n := range DevNodes {
			if p.nodes[i] >= 0 {
				t.Errorf("the clone of /dev/%s was not taken into /dev", n)
			}
			var st, host unix.Stat_t
			if err := unix.Fstatat(p.dev, n, &st, 0); err != nil || unix.Stat("/dev/"+n, &host) != nil || st.Rdev != host.Rdev || st.Mode&unix.S_IFMT != unix.S_IFCHR {
				t.Errorf("/dev/%s in the tree: %v, device %#x, want the host's %#x", n, err, st.Rdev, host.Rdev)
			}
			if f, _ := flagsAt(p.dev, n); f&unix.ST_RDONLY == 0 || f&unix.ST_NOSUID == 0 || f&unix.ST_NOEXEC == 0 {
				t.Errorf("/dev/%s has mount flags %#x, want read-only, nosuid and noexec", n, f)
			}
		}
		if f := flagsOf(p.dev); f&unix.ST_RDONLY == 0 || f&unix.ST_NOSUID == 0 || f&unix.ST_NOEXEC == 0 || f&unix.ST_NODEV != 0 {
			t.Errorf("/dev has mount flags %#x, want read-only, nosuid, noexec, not nodev", f)
		}
		if f, typ := flagsAt(p.dev, "pts"); typ != unix.DEVPTS_SUPER_MAGIC || f&unix.ST_RDONLY != 0 {
			t.Errorf("/dev/pts: file system %#x, flags %#x; want a writable devpts", typ, f)
		}
		if f, typ := flagsAt(p.dev, "shm"); typ != unix.TMPFS_MAGIC || f&unix.ST_RDONLY != 0 || f&unix.ST_NODEV == 0 {
			t.Errorf("/dev/shm: file system %#x, flags %#x; want a writable, nodev tmpfs", typ, f)
		}
		for _, l := range DevLinks {
			buf := make([]byte, 64)
			if n, err := unix.Readlinkat(p.dev, l[1], buf); err != nil || string(buf[:n]) != l[0] {
				t.Errorf("/dev/%s: %q, %v; want a symlink to %s", l[1], buf[:max(n, 0)], err, l[0])
			}
		}
		if f, typ := flagsAt(p.proc, "."); typ != unix.PROC_SUPER_MAGIC || f&unix.ST_RDONLY != 0 || f&unix.ST_NOSUID == 0 || f&unix.ST_NODEV == 0 || f&unix.ST_NOEXEC == 0 {
			t.Errorf("/proc: file system %#x, flags %#x; want a writable procfs, nosuid, nodev, noexec", typ, f)
		}
		for _, rel := range []string{"sys", "sysrq-trigger", "irq", "bus", "fs"} {
			if _, err := os.Stat("/proc/" + rel); err != nil {
				continue // not in this kernel's procfs
			}
			if f, _ := flagsAt(p.proc, rel); f&unix.ST_RDONLY == 0 {
				t.Errorf("/proc/%s has mount flags %#x, want read-only", rel, f)
			}
		}
		if f, _ := flagsAt(p.proc, "sys/net"); f&unix.ST_RDONLY != 0 {
			t.Errorf("/proc/sys/net has mount flags %#x, want writable (the sandbox's own network namespace)", f)
		}
	})
	if unsupported != "" {
		t.Skip(unsupported + ": this kernel adds no mount to a detached tree (move_mount onto one, Linux 6.15); the mask file system and the nodes for mountDev were checked")
	}
}

// TestPreparedTreesMatchInPlace: the /dev and /proc that prepareRoot
// builds detached are the ones mountDev and mountProc build in place
// (what buildRoot falls back to where the kernel adds no mount to a
// detached tree): the same mounts at the same paths, of the same file
// systems, with the same options.
func TestPreparedTreesMatchInPlace(t *testing.T) {
	base := t.TempDir()
	inPlace, prepared := filepath.Join(base, "in-place"), filepath.Join(base, "prepared")
	var got, want []string
	unsupported := false
	inMountNamespace(t, func() {
		for _, hostNet := range []bool{false, true} {
			sub := strconv.FormatBool(hostNet)
			p := prepareRoot(hostNet)
			if p.err != nil {
				t.Errorf("prepareRoot: %v", p.err)
				return
			}
			if p.dev < 0 || p.proc < 0 {
				unsupported = true
				p.close()
				return
			}
			nodes, err := cloneDevNodes()
			if err != nil {
				t.Errorf("clone the device nodes: %v", err)
				return
			}
			for _, err := range []error{
				mountProc(filepath.Join(inPlace, sub), hostNet), mountDev(filepath.Join(inPlace, sub), &nodes),
				attachTree(p.proc, filepath.Join(prepared, sub, "proc")), attachTree(p.dev, filepath.Join(prepared, sub, "dev")),
			} {
				if err != nil {
					t.Errorf("host network %v: %v", hostNet, err)
				}
			}
			p.proc, p.dev = -1, -1
			p.close()
		}
		want, got = mountsUnder(t, inPlace), mountsUnder(t, prepared)
	})
	if unsupported {
		t.Skip("this kernel adds no mount to a detached tree (move_mount onto one, Linux 6.15): buildRoot mounts /dev and /proc in place")
	}
	if len(want) < 10 || !slices.Equal(got, want) {
		t.Errorf("prepared:\n%s\nin place:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// mountsUnder lists the mounts below dir in this thread's mount namespace,
// in order of path: the path below dir, the mount's root, its options, its
// file system's type and options.
func mountsUnder(t *testing.T, dir string) []string {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		t.Errorf("read mountinfo: %v", err)
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 || f[4] != dir && !strings.HasPrefix(f[4], dir+"/") {
			continue
		}
		out = append(out, strings.Join([]string{"." + strings.TrimPrefix(f[4], dir), f[3], f[5], f[sep+1], f[sep+3]}, " "))
	}
	slices.Sort(out)
	return out
}

// TestPrepareRootFallsBack: where /dev or /proc cannot be built detached
// (a kernel before 6.15 refuses the first mount onto a detached tree; here
// the build fails after two device nodes went into it), prepareRoot
// leaves them to buildRoot, which mounts them in place: with a full set
// of the device nodes' clones for mountDev.
func TestPrepareRootFallsBack(t *testing.T) {
	realDev, realProc := detachedDev, detachedProc
	defer func() { detachedDev, detachedProc = realDev, realProc }()
	detachedDev = func(nodes *[len(DevNodes)]int) (int, error) {
		for i := range 2 {
			unix.Close(nodes[i])
			nodes[i] = -1
		}
		return -1, unix.EINVAL
	}
	detachedProc = func(bool) (int, error) { return -1, unix.EINVAL }
	dir := t.TempDir()
	inMountNamespace(t, func() {
		p := prepareRoot(false)
		defer p.close()
		if p.err != nil || p.dev >= 0 || p.proc >= 0 {
			t.Errorf("prepareRoot: %v, /dev %d, /proc %d; want no error and neither prepared", p.err, p.dev, p.proc)
			return
		}
		for i, fd := range p.nodes {
			var st unix.Statfs_t
			if fd < 0 || unix.Fstatfs(fd, &st) != nil || st.Flags&unix.ST_RDONLY == 0 {
				t.Errorf("clone of /dev/%s: fd %d, mount flags %#x; want a read-only clone for mountDev", DevNodes[i], fd, st.Flags)
			}
		}
		if err := mountDev(dir, &p.nodes); err != nil {
			t.Errorf("mountDev with them: %v", err)
			return
		}
		var st, host unix.Stat_t
		if err := unix.Stat(dir+"/dev/null", &st); err != nil || unix.Stat("/dev/null", &host) != nil || st.Rdev != host.Rdev {
			t.Errorf("/dev/null in place: %v, device %#x", err, st.Rdev)
		}
	})
}

// TestBuildRootFallsBack: buildRoot with /dev and /proc not prepared (a
// kernel before 6.15), or /proc prepared for the other network mode,
// mounts them in place: the same mounts as it attaches where they were
// prepared for the mode it builds; with both network modes.
func TestBuildRootFallsBack(t *testing.T) {
	for _, hostNet := range []bool{false, true} {
		cases := []struct {
			name            string
			supported       bool // the kernel builds detached trees
			preparedHostNet bool
		}{
			{"prepared", true, hostNet},
			{"not prepared", false, hostNet},
			{"prepared for the other network mode", true, !hostNet},
		}
		var trees [3][]string
		for i, c := range cases {
			realDev, realProc := detachedDev, detachedProc
			if !c.supported {
				// As a kernel before 6.15 answers.
				detachedDev = func(*[len(DevNodes)]int) (int, error) { return -1, unix.EINVAL }
				detachedProc = func(bool) (int, error) { return -1, unix.EINVAL }
			}
			inMountNamespace(t, func() {
				p := prepareRoot(c.preparedHostNet)
				if c.supported != (p.dev >= 0 && p.proc >= 0) {
					t.Errorf("%s: /dev %d (%v), /proc %d (%v)", c.name, p.dev, p.devErr, p.proc, p.procErr)
				}
				defer p.close()
				if err := buildRoot(&FSPolicy{}, hostNet, p, nil); err != nil {
					t.Errorf("buildRoot, %s, host network %v: %v", c.name, hostNet, err)
					return
				}
				closeMaskFS()
				trees[i] = append(mountsUnder(t, "/dev"), mountsUnder(t, "/proc")...)
			})
			detachedDev, detachedProc = realDev, realProc
		}
		for i := range cases[1:] {
			if len(trees[0]) < 10 || !slices.Equal(trees[i+1], trees[0]) {
				t.Errorf("host network %v: %s:\n%s\nprepared:\n%s", hostNet, cases[i+1].name, strings.Join(trees[i+1], "\n"), strings.Join(trees[0], "\n"))
			}
		}
	}
}

// TestPrepareDevAndProcRelease: a /dev or /proc whose build fails (here:
// device nodes that are not mounts, an entry of /proc that is not a
// directory) is released, with nothing left open.
func TestPrepareDevAndProcRelease(t *testing.T) {
	saved := procReadOnly
	defer func() { procReadOnly = saved }()
	procReadOnly[1] = "self/status/x" // after "sys" is bound: ENOTDIR
	inMountNamespace(t, func() {
		before := openFDs(t)
		var nodes [len(DevNodes)]int
		for i := range nodes {
			nodes[i] = -1
		}
		if fd, err := prepareDev(&nodes); err == nil || fd != -1 {
			t.Errorf("prepareDev with no nodes: %d, %v; want an error", fd, err)
		}
		if fd, err := prepareProc(false); err == nil || fd != -1 {
			t.Errorf("prepareProc with %s: %d, %v; want an error", procReadOnly[1], fd, err)
		}
		if after := openFDs(t); after != before {
			t.Errorf("%d descriptors open before, %d after", before, after)
		}
	})
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	d, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Errorf("list /proc/self/fd: %v", err)
	}
	return len(d)
}

// close releases what p holds that buildRoot did not take (in PID 1,
// buildRoot takes it all, or an error ends the process).
func (p *rootPrep) close() {
	closeFDs(p.nodes[:])
	closeFDs([]int{p.empty, p.dev, p.proc})
	p.empty, p.dev, p.proc = -1, -1, -1
}

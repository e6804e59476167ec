package nsexec

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
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
	if os.Geteuid() != 0 {
		t.Skip("needs root: clones and attaches mounts in a mount namespace of its own")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread stays locked, and ends with the goroutine: the mount
		// namespace it leaves is its own.
		runtime.LockOSThread()
		attachSourcePinned(t)
	}()
	<-done
}

func attachSourcePinned(t *testing.T) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		t.Errorf("unshare: %v", err)
		return
	}
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

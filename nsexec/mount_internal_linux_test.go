package nsexec

import (
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

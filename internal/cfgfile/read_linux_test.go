package cfgfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOPathMatchesUnix(t *testing.T) {
	if oPath != unix.O_PATH {
		t.Fatalf("oPath = %#x, unix.O_PATH = %#x on this architecture", oPath, unix.O_PATH)
	}
}

// What Read refuses never reaches the open for reading, and that open
// goes through /proc/self/fd (the file checked, whatever the path names
// by then), without waiting and not as a controlling terminal.
func TestReadOpensOnlyWhatPassed(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fence.json")
	if err := os.WriteFile(file, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	toFifo := filepath.Join(dir, "to-fifo.json")
	if err := os.Symlink(fifo, toFifo); err != nil {
		t.Fatal(err)
	}
	toNull := filepath.Join(dir, "to-null.json")
	if err := os.Symlink(os.DevNull, toNull); err != nil {
		t.Fatal(err)
	}
	toSys := filepath.Join(dir, "to-sys.json")
	if err := os.Symlink("/sys/kernel/uevent_seqnum", toSys); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	real := reopen
	defer func() { reopen = real }()
	var opened []string
	reopen = func(path string, flags int) (int, error) {
		opened = append(opened, path)
		if !strings.HasPrefix(path, "/proc/self/fd/") || flags&syscall.O_NONBLOCK == 0 || flags&syscall.O_NOCTTY == 0 {
			t.Errorf("reopen(%q, %#x): want /proc/self/fd/N with O_NONBLOCK and O_NOCTTY", path, flags)
		}
		return real(path, flags)
	}
	for _, p := range []string{fifo, toFifo, toNull, dir, big, "/proc/self/status", toSys, "/dev/zero"} {
		opened = nil
		b, err := Read(p)
		if len(opened) != 0 {
			t.Errorf("Read(%s) = %q, %v: opened %v for reading", p, b, err, opened)
		}
		if p != toNull && err == nil {
			t.Errorf("Read(%s): no error", p)
		}
	}
	opened = nil
	if b, err := Read(file); err != nil || string(b) != "{}" || len(opened) != 1 {
		t.Errorf("Read(%s) = %q, %v, opened %v", file, b, err, opened)
	}

	// Without /proc the file is there but cannot be read: not "does not
	// exist".
	reopen = func(string, int) (int, error) {
		return -1, &fs.PathError{Op: "open", Path: "/proc/self/fd/3", Err: syscall.ENOENT}
	}
	if _, err := Read(file); err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/proc mounted") {
		t.Errorf("without /proc: %v; want an error naming /proc, not ErrNotExist", err)
	}
	// A file this user may not read: a permission error naming it, not
	// a word about /proc.
	reopen = func(string, int) (int, error) {
		return -1, &fs.PathError{Op: "open", Path: "/proc/self/fd/3", Err: syscall.EACCES}
	}
	if _, err := Read(file); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), file) || strings.Contains(err.Error(), "/proc") {
		t.Errorf("an unreadable file: %v; want a permission error naming %s", err, file)
	}
}

// readAll stops at MaxSize whatever the size the stat said.
func TestReadAllCapsTheSize(t *testing.T) {
	big := filepath.Join(t.TempDir(), "grew.json")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(big, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if b, err := readAll(fd, big, 2); err == nil || !strings.Contains(err.Error(), "shorten it") {
		t.Errorf("a file that grew past %d bytes: %d bytes, %v", MaxSize, len(b), err)
	}
}

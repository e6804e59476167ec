//go:build unix

package cfgfile

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// read is Read with a deadline: a Read that waits is the failure.
func read(t *testing.T, path string) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() { b, err := Read(path); done <- result{b, err} }()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("Read(%s) waited", path)
		return nil, nil
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fence.json")
	if err := os.WriteFile(file, []byte(`{"network": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := read(t, file); err != nil || string(b) != `{"network": {}}` {
		t.Errorf("regular file: %q, %v", b, err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if b, err := read(t, link); err != nil || len(b) == 0 {
		t.Errorf("symlink to a regular file: %q, %v", b, err)
	}
	// Blanked with a symlink to the null device: an empty config.
	blank := filepath.Join(dir, "blank.json")
	if err := os.Symlink(os.DevNull, blank); err != nil {
		t.Fatal(err)
	}
	if b, err := read(t, blank); err != nil || len(b) != 0 {
		t.Errorf("symlink to %s: %q, %v; want empty", os.DevNull, b, err)
	}
	// A FIFO is refused without being opened: an open would wait for a
	// writer, and a writer waiting in its own open would be released.
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, fifo); err == nil || !strings.Contains(err.Error(), "is a FIFO") {
		t.Errorf("FIFO: %v", err)
	}
	writerOpened := make(chan struct{})
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			close(writerOpened)
			f.Close()
		}
	}()
	if _, err := read(t, fifo); err == nil {
		t.Errorf("FIFO with a writer waiting: read")
	}
	select {
	case <-writerOpened:
		t.Error("Read opened the FIFO (a writer waiting in open got through)")
	case <-time.After(200 * time.Millisecond):
	}
	// Unblock the writer goroutine for the test's end.
	if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
		defer f.Close()
	}
	if _, err := read(t, dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, big); err == nil || !strings.Contains(err.Error(), "shorten it") {
		t.Errorf("%d bytes: %v", MaxSize+1, err)
	}
}

// The files of the kernel's pseudo file systems are refused before they
// are opened for reading: reading some takes what it reads (/proc/kmsg,
// tracefs's trace_pipe).
func TestReadPseudoFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the pseudo file systems are Linux's")
	}
	if _, err := read(t, "/proc/self/status"); err == nil || !strings.Contains(err.Error(), "procfs") {
		t.Errorf("/proc/self/status: %v; want a refusal naming procfs", err)
	}
	link := filepath.Join(t.TempDir(), "fence.json")
	if err := os.Symlink("/proc/self/status", link); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, link); err == nil || !strings.Contains(err.Error(), "procfs") {
		t.Errorf("a symlink to /proc/self/status: %v; want a refusal naming procfs", err)
	}
}

// A read that would wait is refused, not waited on; and a file of exactly
// MaxSize is read whole.
func TestReadAll(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	if err := syscall.SetNonblock(p[0], true); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(p[0], "pipe", 0); err == nil || !strings.Contains(err.Error(), "would wait") {
		t.Errorf("an empty non-blocking pipe: %v; want a refusal", err)
	}
	full := filepath.Join(t.TempDir(), "full.json")
	if err := os.WriteFile(full, make([]byte, MaxSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := read(t, full); err != nil || len(b) != MaxSize {
		t.Errorf("a file of exactly %d bytes: %d bytes, %v", MaxSize, len(b), err)
	}
}

package fence

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FUSE and CIFS lookups return EINTR when a signal (a terminal resize, the
// runtime's own preemption) interrupts them. The resolver retries, as
// os.Lstat does: an interrupted lookup must not drop a policy path, which
// would leave a denyRead path readable.
func TestResolverRetriesInterruptedLookups(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "secret")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	real := lstat
	defer func() { lstat = real }()
	interrupted := 0
	lstat = func(p string, st *unix.Stat_t) error {
		if interrupted < 3 {
			interrupted++
			return unix.EINTR
		}
		return real(p, st)
	}
	var r resolver
	got, err := r.eval(target)
	if err != nil || got != target {
		t.Fatalf("eval(%s) with interrupted lookups: %q, %v; want the path", target, got, err)
	}
	if interrupted != 3 {
		t.Fatalf("the fake lstat was interrupted %d times, want 3", interrupted)
	}
}

// The denied-program lookups retry an interrupted lookup, treat absence
// as absence, and any other failure as an error: the program might be
// there, and would stay unmasked.
func TestRuntimeDeniedLookups(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "denied"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	real := lstatAt
	defer func() { lstatAt = real }()

	n := 0
	lstatAt = func(fd int, name *byte) unix.Errno {
		if n++; n%2 == 1 {
			return unix.EINTR
		}
		return real(fd, name)
	}
	var r resolver
	got, err := runtimeDenied(&r, []string{"denied", "absent"}, bin)
	if err != nil || !slices.Contains(got, filepath.Join(bin, "denied")) || slices.Contains(got, filepath.Join(bin, "absent")) {
		t.Fatalf("with every other lookup interrupted: %q, %v; want %s masked and nothing else from there", got, err, filepath.Join(bin, "denied"))
	}

	lstatAt = func(fd int, name *byte) unix.Errno { return unix.EIO }
	r = resolver{}
	if got, err := runtimeDenied(&r, []string{"denied"}, bin); err == nil || !strings.Contains(err.Error(), "denied") || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("with lookups failing with EIO: %q, %v; want an error naming the program and the cause", got, err)
	}
}

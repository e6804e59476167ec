package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMissingNamesFromListing: once a directory has been searched a few
// times, the names missing from its listing are answered without a lookup,
// exactly as the lookup would have answered them; names that are there,
// symlinks, and names that are not printable ASCII are still looked up.
func TestMissingNamesFromListing(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	for _, d := range []string{"sub", "Upper"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("gone", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf(".missing%d", i))
	}
	names = append(names, "file", "sub", "link", "dangling", "upper", "Upper", "café", "sub/x", "file/x", "link/x")

	real := lstat
	defer func() { lstat = real }()
	looked := 0
	lstat = func(p string, st *unix.Stat_t) error {
		if strings.HasPrefix(p, dir+"/") {
			looked++
		}
		return real(p, st)
	}
	resolveAll := func(r *resolver) []string {
		var out []string
		for _, n := range names {
			res, exists, err := r.evalPartial(filepath.Join(dir, n), nil)
			out = append(out, fmt.Sprintf("%s: %q %v %v", n, res, exists, err))
		}
		return out
	}
	var listed resolver
	got := resolveAll(&listed)
	withListing := looked

	saved := listNames
	listNames = func(string) map[string]struct{} { return nil }
	looked = 0
	var plain resolver
	want := resolveAll(&plain)
	listNames = saved
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("with the listing %s; looked up %s", got[i], want[i])
		}
	}
	if looked < len(names) || withListing > listAfter+12 {
		t.Errorf("%d lookups in the directory with its listing, %d without, for %d names: want at most %d with it", withListing, looked, len(names), listAfter+12)
	}
	if listed.listed[dir] == nil {
		t.Errorf("%s was not listed", dir)
	}
	// lookup answers from a listing made meanwhile too.
	looked = 0
	if err := listed.lookup(filepath.Join(dir, ".not-here")); !missingName(err, filepath.Join(dir, ".not-here")) || looked != 0 {
		t.Errorf("lookup of a name missing from the listing: %v after %d lookups, want lstat's ENOENT after none", err, looked)
	}
	if err := listed.lookup(filepath.Join(dir, "file")); err != nil || looked != 1 {
		t.Errorf("lookup of a listed name: %v after %d lookups, want found by one", err, looked)
	}
	// A directory whose lookups fail with EACCES (one that may be read
	// but not searched) is never listed: its names are not "missing".
	denied, _ := filepath.EvalSymlinks(t.TempDir())
	refused := 0
	lstat = func(p string, st *unix.Stat_t) error {
		if strings.HasPrefix(p, denied+"/") {
			refused++
			return unix.EACCES
		}
		return real(p, st)
	}
	var r resolver
	for i := range 10 {
		_, _, _ = r.evalPartial(filepath.Join(denied, fmt.Sprint(i)), nil)
	}
	if _, ok := r.listed[denied]; ok || refused != 10 {
		t.Errorf("%s, which may not be searched, was listed (%v) or not asked about each name (%d of 10)", denied, ok, refused)
	}
	lstat = real
	// A resolved missing name is the lookup's error, for missingName.
	_, _, err := listed.evalPartial(filepath.Join(dir, ".missing3", "x"), nil)
	if err != nil {
		t.Errorf("below a missing name: %v", err)
	}
	res := listed.done[filepath.Join(dir, ".missing3")]
	var pe *fs.PathError
	if !errors.As(res.err, &pe) || !missingName(res.err, filepath.Join(dir, ".missing3")) {
		t.Errorf("a name missing from the listing resolved to %v, want lstat's ENOENT", res.err)
	}
}

// TestGlobReusesListing: a glob in a directory that lookups have listed
// already (unlisted) matches from that listing, without reading the
// directory again, and matches what a glob that reads it matches.
func TestGlobReusesListing(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	for _, n := range []string{".zcompdump", ".zcompdump-host-5.9", "a", "b.key", "sub"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if listNames(dir) == nil {
		var sfs unix.Statfs_t
		_ = unix.Statfs(dir, &sfs)
		t.Skipf("the test directory's file system (magic %#x) is not one listDirNames lists (listedFS)", uint32(sfs.Type))
	}
	real := openList
	defer func() { openList = real }()
	opened := 0
	openList = func(d string) (int, error) {
		if d == dir {
			opened++
		}
		return real(d)
	}
	var r resolver
	for i := range listAfter + 1 {
		if _, exists, err := r.evalPartial(filepath.Join(dir, fmt.Sprintf(".missing%d", i)), nil); exists || err != nil {
			t.Fatalf("lookup of a missing name: exists %v, %v", exists, err)
		}
	}
	if r.listed[dir] == nil || opened != 1 {
		t.Fatalf("after %d lookups %s was listed %v, opened %d times: want listed, once", listAfter+1, dir, r.listed[dir] != nil, opened)
	}
	for _, pattern := range []string{"/.zcompdump*", "/*.key", "/*"} {
		got, err := r.glob(dir+pattern, nil)
		var fresh resolver
		want, werr := fresh.glob(dir+pattern, nil)
		if err != nil || werr != nil || !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("glob %s: %q, %v; from a fresh listing %q, %v", pattern, got, err, want, werr)
		}
	}
	if opened != 1+3 {
		// The first resolver's globs read nothing; each fresh one read
		// the directory once.
		t.Errorf("%s opened %d times for the listing and 3 fresh globs: want 4", dir, opened)
	}
}

// TestListDirNamesRefuses: listings stand for lookups only on the local
// file systems listed, in directories of printable ASCII names of a
// bounded number, that can be read.
func TestListDirNamesRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	needListing(t, dir)
	if got := listDirNames("/proc/self"); got != nil {
		t.Errorf("/proc/self listed: %d names", len(got))
	}
	if err := os.WriteFile(filepath.Join(dir, "ünï"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := listDirNames(dir); got != nil {
		t.Errorf("a directory with a non-ASCII name listed: %v", got)
	}
	// Few names, but long ones: a directory whose size says it holds
	// many (ext4, Btrfs, XFS) is not read. tmpfs sizes a directory by its
	// number of names alone; maxListed bounds it there.
	long := t.TempDir()
	for i := 0; ; i++ {
		var st unix.Stat_t
		if err := unix.Stat(long, &st); err != nil {
			t.Fatal(err)
		}
		if st.Size > maxListedSize {
			if got := listDirNames(long); got != nil {
				t.Errorf("a directory of %d bytes listed (%d names)", st.Size, len(got))
			}
			break
		}
		if i == maxListed {
			var sfs unix.Statfs_t
			_ = unix.Statfs(long, &sfs)
			t.Logf("%d names of 200 bytes make a directory of %d bytes on this file system (magic %#x): the size bound is not reached", i, st.Size, sfs.Type)
			break
		}
		if err := os.WriteFile(filepath.Join(long, fmt.Sprintf("%03d%s", i, strings.Repeat("x", 197))), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := t.TempDir()
	for i := range maxListed + 1 {
		f, err := os.Create(filepath.Join(big, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if got := listDirNames(big); got != nil {
		t.Errorf("a directory of %d names listed", len(got))
	}
	realOpen := openList
	defer func() { openList = realOpen }()
	openList = func(string) (int, error) { return -1, unix.EACCES }
	if got := listDirNames(t.TempDir()); got != nil {
		t.Error("an unreadable directory listed")
	}
}

// TestListDirNamesCaseInsensitive: a directory whose names match without
// regard to case (ext4, F2FS or tmpfs casefold, XFS ascii-ci) is not
// listed, since a lookup of ".BASHRC" there finds ".bashrc". This kernel
// may lack casefolding (CONFIG_UNICODE), so the lookup of the name with
// its case swapped is made to answer as such a directory would.
func TestListDirNamesCaseInsensitive(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".bashrc"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	needListing(t, dir)
	real := lstatAt
	defer func() { lstatAt = real }()
	asked := ""
	lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno {
		asked = unix.BytePtrToString(name)
		if strings.EqualFold(asked, ".bashrc") {
			return 0 // found: the directory ignores case
		}
		return real(fd, name, st)
	}
	if got := listDirNames(dir); got != nil || asked != ".BASHRC" {
		t.Errorf("a case-insensitive directory listed (%v) after asking for %q", got, asked)
	}
	lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno { return unix.EIO }
	if got := listDirNames(dir); got != nil {
		t.Error("listed although the case probe failed")
	}
	lstatAt = real
	if got := listDirNames(dir); got == nil {
		t.Error("a case-sensitive directory was not listed")
	}
}

// TestMadeHomeDirForgetsListing: a directory the plan makes in $HOME
// (makeHomeDirs) is found by the plan's later lookups, even where $HOME
// was listed before it was made.
func TestMadeHomeDirForgetsListing(t *testing.T) {
	home, _ := filepath.EvalSymlinks(t.TempDir())
	needListing(t, home)
	s := &Spec{Home: home, Cwd: home}
	for i := range listAfter + 2 {
		_, _, _ = s.paths.evalPartial(filepath.Join(home, fmt.Sprintf(".probe%d", i)), nil)
	}
	if s.paths.listed[home] == nil {
		t.Fatalf("%s was not listed", home)
	}
	s.makeHomeDirs([]string{"~/.cache"})
	if _, exists, err := s.paths.evalPartial(filepath.Join(home, ".cache"), nil); err != nil || !exists {
		t.Errorf("~/.cache made by the plan: exists %v, %v; want found", exists, err)
	}
}

// TestRuntimeDeniedLooksUpEachName: the denied programs are looked up by
// name in each PATH directory, once each, without listing it (a listing
// cost more than the ~20 lookups where system calls are cheap); they are
// a program, a symlink to one, not a directory of a denied name.
func TestRuntimeDeniedLooksUpEachName(t *testing.T) {
	bin, _ := filepath.EvalSymlinks(t.TempDir())
	other, _ := filepath.EvalSymlinks(t.TempDir())
	for _, f := range []string{filepath.Join(bin, "reboot"), filepath.Join(other, "nsenter")} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("reboot", filepath.Join(bin, "halt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(bin, "chroot"), 0o755); err != nil {
		t.Fatal(err)
	}
	tokens := []string{"mkfs", "reboot", "halt", "chroot", "nsenter", "kexec", "insmod", "parted"}
	path := bin + ":" + other
	real := lstatAt
	defer func() { lstatAt = real }()
	asked := map[string]int{} // lookups in bin and other
	lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno {
		if d, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil && (d == bin || d == other) {
			asked[d]++
		}
		return real(fd, name, st)
	}
	realList := listNames
	defer func() { listNames = realList }()
	listNames = func(dir string) map[string]struct{} {
		if dir == bin || dir == other {
			t.Errorf("%s listed", dir)
		}
		return realList(dir)
	}
	var r resolver
	got, err := runtimeDenied(&r, tokens, path, true, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The system's directories (binDirs) are searched after PATH's.
	got = slices.DeleteFunc(got, func(p string) bool { return !strings.HasPrefix(p, bin+"/") && !strings.HasPrefix(p, other+"/") })
	want := []string{filepath.Join(bin, "reboot"), filepath.Join(bin, "halt"), filepath.Join(other, "nsenter")}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("found %q in the test's directories, want %q", got, want)
	}
	if asked[bin] != len(tokens) || asked[other] != len(tokens) {
		t.Errorf("lookups in %s and %s: %d and %d; want %d each", bin, other, asked[bin], asked[other], len(tokens))
	}

	// A lookup refused (EACCES): the directory may not be searched, and
	// the command could chmod it if it is writable in the sandbox.
	lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno {
		if unix.BytePtrToString(name) == "kexec" {
			return unix.EACCES
		}
		return real(fd, name, st)
	}
	r = resolver{}
	if _, err := runtimeDenied(&r, []string{"kexec"}, bin, true, "", []string{bin}); err == nil || !strings.Contains(err.Error(), "chmod") {
		t.Errorf("an unsearchable PATH directory of the user's, writable in the sandbox: %v; want the error", err)
	}
}

// needListing fails the test if listDirNames refuses dir, a directory of a
// few ASCII names, on a file system it lists (a broken listing must not
// pass for a file system it does not list), and skips it elsewhere.
func needListing(t *testing.T, dir string) {
	t.Helper()
	if listDirNames(dir) != nil {
		return
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	if listedFS(sfs) {
		t.Fatalf("listDirNames refused %s, on a file system it lists (magic %#x)", dir, sfs.Type)
	}
	t.Skipf("the test directory's file system (magic %#x) is not one listDirNames lists: use a TMPDIR on ext4, XFS, Btrfs or tmpfs", sfs.Type)
}

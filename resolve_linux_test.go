package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// TestListDirNamesRefuses: listings stand for lookups only on the local
// file systems listed, in directories of printable ASCII names of a
// bounded number, that can be read.
func TestListDirNamesRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if listDirNames(dir) == nil {
		var sfs unix.Statfs_t
		_ = unix.Statfs(dir, &sfs)
		t.Skipf("the test directory's file system (magic %#x) is not one listDirNames lists: use a TMPDIR on ext4, XFS, Btrfs or tmpfs", sfs.Type)
	}
	if got := listDirNames("/proc/self"); got != nil {
		t.Errorf("/proc/self listed: %d names", len(got))
	}
	if err := os.WriteFile(filepath.Join(dir, "ünï"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := listDirNames(dir); got != nil {
		t.Errorf("a directory with a non-ASCII name listed: %v", got)
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
	if listDirNames(dir) == nil {
		t.Skip("the test directory's file system is not one listDirNames lists: use a TMPDIR on ext4, XFS, Btrfs or tmpfs")
	}
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
	if listDirNames(home) == nil {
		t.Skip("the test directory's file system is not one listDirNames lists: use a TMPDIR on ext4, XFS, Btrfs or tmpfs")
	}
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

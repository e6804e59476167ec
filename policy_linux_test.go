package fence

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// runtimeDenied finds a denied name in every PATH directory that has it,
// whether the directory is small (listed once) or large (names looked up
// one by one), as it is (a symlink, even a dangling one, is found), and
// never a name that is only a prefix, a different case or a subdirectory's
// entry.
func TestRuntimeDeniedSmallAndLargeDirs(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	small, large := filepath.Join(root, "small"), filepath.Join(root, "large")
	for _, d := range []string{small, large, filepath.Join(small, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(p string) {
		t.Helper()
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{small, large} {
		touch(filepath.Join(d, "reboot"))
		touch(filepath.Join(d, "shutdownx"))
		touch(filepath.Join(d, "Halt"))
		if err := os.Symlink("nowhere", filepath.Join(d, "kexec")); err != nil {
			t.Fatal(err)
		}
	}
	touch(filepath.Join(small, "sub", "poweroff"))
	// Enough entries that the directory is no longer "small".
	for i := 0; i < 700; i++ {
		touch(filepath.Join(large, fmt.Sprintf("filler-entry-%04d", i)))
	}
	var st unix.Stat_t
	if err := unix.Stat(large, &st); err != nil || st.Size <= 8192 {
		t.Fatalf("large directory is %d bytes (%v): the test needs one over 8192", st.Size, err)
	}
	if _, ok := smallDirNames(small); !ok {
		t.Fatalf("smallDirNames(%s) not ok", small)
	}
	if _, ok := smallDirNames(large); ok {
		t.Fatalf("smallDirNames(%s) ok for a directory of %d bytes", large, st.Size)
	}
	var r resolver
	var got []string
	// The host's own bin directories are always searched too: only the
	// test's directories are compared.
	for _, p := range runtimeDenied(&r, []string{"reboot", "shutdown", "halt", "kexec", "poweroff", "/abs/none"}, small+":"+large+":relative") {
		if strings.HasPrefix(p, root+"/") {
			got = append(got, p)
		}
	}
	want := []string{
		filepath.Join(small, "reboot"), filepath.Join(small, "kexec"),
		filepath.Join(large, "reboot"), filepath.Join(large, "kexec"),
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("runtimeDenied = %v, want %v", got, want)
	}
}

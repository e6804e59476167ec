package nsexec

import (
	"path/filepath"
	"testing"
)

// With no PATH in the command's environment (env -i), a command name is
// looked up in bash's default search path, as upstream's bash -c did, not
// in the working directory alone; an empty PATH is the working directory.
func TestLookPathUnsetPATH(t *testing.T) {
	sh, err := lookPath("sh", []string{"HOME=/"})
	if err != nil {
		t.Fatalf("lookPath(sh) without PATH: %v", err)
	}
	if dir := filepath.Dir(sh); dir != "/usr/bin" && dir != "/bin" && dir != "/usr/local/bin" {
		t.Errorf("lookPath(sh) without PATH = %s, want it from bash's default path", sh)
	}
	// An empty PATH is the working directory, which has no sh here.
	t.Chdir(t.TempDir())
	if p, err := lookPath("sh", []string{"PATH="}); err == nil {
		t.Errorf("lookPath(sh) with an empty PATH = %s, want not found", p)
	}
	if p, err := lookPath("sh", []string{"PATH=/usr/bin:/bin"}); err != nil || filepath.Base(p) != "sh" {
		t.Errorf("lookPath(sh) with PATH = %q, %v", p, err)
	}
}

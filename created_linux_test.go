package fence

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nsfence/fence/nsexec"
	"golang.org/x/sys/unix"
)

// A run that creates more recorded files than the record holds leaves a
// record of maxCreatedRecord entries, its repositories among them: the
// bound held only for the entries of earlier runs, so one npm install with
// thousands of .pem fixtures made a record every later start read, pinned
// and sent whole.
func TestSaveCreatedBounded(t *testing.T) {
	home, ws := t.TempDir(), t.TempDir()
	var created []string
	add := func(path string) {
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			t.Fatal(err)
		}
		created = append(created, nsexec.FormatCreated(uint64(st.Dev), st.Ino, path))
	}
	const n = maxCreatedRecord + 500
	for i := range n {
		p := filepath.Join(ws, fmt.Sprintf("f%05d.pem", i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok := pin(p); !ok {
			t.Skip("no birth times on this file system")
		}
		add(p)
	}
	repo := filepath.Join(ws, "repo/.git")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	add(repo)
	s := &Spec{Home: home, Env: []string{}}
	fs := &nsexec.FSPolicy{Writable: []string{ws}, DenyWritePatterns: []string{filepath.Join(ws, "*.pem")}, GitDirs: true}
	s.saveCreated(fs, created)
	got := s.readCreated()
	if len(got) != maxCreatedRecord {
		t.Errorf("record of %d entries after a run that created %d, want %d", len(got), n+1, maxCreatedRecord)
	}
	if !s.recordedGit()[repo] {
		t.Error("the repository the run made is not in the record")
	}
}

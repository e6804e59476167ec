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

// fullRecord makes maxCreatedRecord files and a record of them.
func fullRecord(b *testing.B) (*Spec, *nsexec.FSPolicy, []string) {
	home, ws := b.TempDir(), b.TempDir()
	var created []string
	for i := range maxCreatedRecord {
		p := filepath.Join(ws, fmt.Sprintf("node_modules/pkg%03d/test/fixtures/key%05d.pem", i/100, i))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			b.Fatal(err)
		}
		created = append(created, nsexec.FormatCreated(uint64(st.Dev), st.Ino, p))
	}
	s := &Spec{Home: home, Env: []string{}}
	fs := &nsexec.FSPolicy{Writable: []string{ws}, DenyWritePatterns: []string{filepath.Join(ws, "**/*.pem")}}
	s.saveCreated(fs, created)
	if n := len(s.readCreated()); n != maxCreatedRecord {
		b.Skipf("record of %d entries (no birth times?)", n)
	}
	return s, fs, created
}

// BenchmarkReadCreated: a start with a full record (maxCreatedRecord
// files, as npm installs with .pem fixtures leave it) reads and pins it.
func BenchmarkReadCreated(b *testing.B) {
	s, fs, _ := fullRecord(b)
	for b.Loop() {
		s.created = nil // a new plan
		var fp nsexec.FSPolicy
		fp.DenyWritePatterns = fs.DenyWritePatterns
		s.recordedGit()
		s.loadCreated(&fp)
	}
}

// BenchmarkSaveCreatedNothingNew: the end of a run that created no
// recorded file, with a full record (PID 1 reports the loaded entries
// back).
func BenchmarkSaveCreatedNothingNew(b *testing.B) {
	s, fs, created := fullRecord(b)
	fs.Created = created
	for b.Loop() {
		s.saveCreated(fs, created)
	}
}

package fence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nsfence/fence/nsexec"
	"golang.org/x/sys/unix"
)

// A run that creates more recorded files than the record holds leaves a
// record of maxCreatedRecord entries, its repositories among them: the
// bound held only for the entries of earlier runs, so one npm install with
// thousands of .pem fixtures made a record every later start read, pinned
// and sent whole. Runs that end together with a full record each keep what
// they made: the entries each had loaded went first, and took the room of
// the others' new files.
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

	// Two runs that loaded the full record end together, each with 5
	// new files: both keep theirs, the record its bound.
	var loaded []string
	for _, e := range got {
		loaded = append(loaded, nsexec.FormatCreated(e.Dev, e.Ino, e.Path))
	}
	var news []string
	for r := range 2 {
		run := append([]string{}, loaded...) // PID 1 reports the loaded files back
		for i := range 5 {
			p := filepath.Join(ws, fmt.Sprintf("run%d-%d.pem", r, i))
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			created = created[:0]
			add(p)
			run = append(run, created[0])
			news = append(news, p)
		}
		s.saveCreated(&nsexec.FSPolicy{Writable: fs.Writable, DenyWritePatterns: fs.DenyWritePatterns, GitDirs: true, Created: loaded}, run)
	}
	got = s.readCreated()
	if len(got) != maxCreatedRecord {
		t.Errorf("record of %d entries, want %d", len(got), maxCreatedRecord)
	}
	have := map[string]bool{}
	for _, e := range got {
		have[e.Path] = true
	}
	for _, p := range append(news, repo) {
		if !have[p] {
			t.Errorf("%s is not in the record", p)
		}
	}
}

// A recorded file the sandbox removed and made again under the same name
// often gets the same inode number back (ext4): PID 1 reports it in the
// form the run loaded it, and it must still be recorded again, pinned by
// its new birth time. It was skipped as already known, and the record's
// entry, stale, was dropped by the next read: the sandbox's file (a .pem
// of npm ci's, a .git of a clone made again) was taken for the user's.
func TestSaveCreatedMadeAgain(t *testing.T) {
	home, ws := t.TempDir(), t.TempDir()
	p := filepath.Join(ws, "key.pem")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e, ok := pin(p)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	s := &Spec{Home: home, Env: []string{}}
	fs := &nsexec.FSPolicy{Writable: []string{ws}, DenyWritePatterns: []string{filepath.Join(ws, "*.pem")}}
	c := nsexec.FormatCreated(e.Dev, e.Ino, p)
	s.saveCreated(fs, []string{c})
	if got := s.readCreated(); len(got) != 1 {
		t.Fatalf("record %v after the first run", got)
	}
	fs.Created = []string{c} // the next run loads it
	var again createdEntry
	for range 100 {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if again, _ = pin(p); again.Ino == e.Ino && again.Btime != e.Btime {
			break
		}
	}
	if again.Ino != e.Ino || again.Btime == e.Btime {
		t.Skip("the inode number was not given back")
	}
	s.saveCreated(fs, []string{c})
	if got := s.readCreated(); len(got) != 1 || got[0] != again {
		t.Errorf("record %v after the file was made again as %v", got, again)
	}
}

// makeCreated makes the empty file p and returns it as PID 1 reports a
// file it created (nsexec.FormatCreated).
func makeCreated(tb testing.TB, p string) string {
	tb.Helper()
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		tb.Fatal(err)
	}
	return nsexec.FormatCreated(uint64(st.Dev), st.Ino, p)
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
		created = append(created, makeCreated(b, p))
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
// files, as npm installs with .pem fixtures leave it) reads it, and pins
// the entries in what the run may change: all of them in the project
// that made them, none in another.
func BenchmarkReadCreated(b *testing.B) {
	s, fs, _ := fullRecord(b)
	for _, bc := range []struct {
		name     string
		writable []string
	}{{"same-project", fs.Writable}, {"other-project", []string{b.TempDir()}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s.created = nil // a new plan
				fp := nsexec.FSPolicy{DenyWritePatterns: fs.DenyWritePatterns, Writable: bc.writable}
				s.recordedGit()
				s.loadCreated(&fp)
			}
		})
	}
}

// loadCreated gives PID 1 the entries in what the run may change, pinned,
// and only those: another project's files cannot be written anyway, and
// pinning a full record whole cost every start ~25 ms.
func TestLoadCreatedScope(t *testing.T) {
	home, ws1, ws2 := t.TempDir(), t.TempDir(), t.TempDir()
	var created []string
	for _, p := range []string{filepath.Join(ws1, "a.pem"), filepath.Join(ws2, "b.pem")} {
		created = append(created, makeCreated(t, p))
	}
	s := &Spec{Home: home, Env: []string{}}
	s.saveCreated(&nsexec.FSPolicy{Writable: []string{ws1, ws2}, DenyWritePatterns: []string{"/**/*.pem"}}, created)
	if n := len(s.readCreated()); n != 2 {
		t.Skipf("record of %d entries, want 2: the file system under %s keeps no birth times", n, ws1)
	}
	fp := nsexec.FSPolicy{Writable: []string{ws1}, DenyWritePatterns: []string{"/**/*.pem"}}
	s.created = nil
	s.loadCreated(&fp)
	if !slices.Equal(fp.Created, created[:1]) {
		t.Errorf("run in %s: Created %q, want only %q", ws1, fp.Created, created[:1])
	}
	// A stale entry in scope is not given (pinned): the file replaced.
	if err := os.Remove(filepath.Join(ws1, "a.pem")); err != nil {
		t.Fatal(err)
	}
	fp = nsexec.FSPolicy{Writable: []string{ws1}, DenyWritePatterns: []string{"/**/*.pem"}}
	s.created = nil
	s.loadCreated(&fp)
	if len(fp.Created) != 0 {
		t.Errorf("a removed file's entry given to PID 1: %q", fp.Created)
	}
}

// BenchmarkSaveCreatedNothingNew: the end of a run that created no
// recorded file, with a full record (PID 1 reports none of the loaded
// entries back, as it leaves out those still as they were).
func BenchmarkSaveCreatedNothingNew(b *testing.B) {
	s, fs, created := fullRecord(b)
	fs.Created = created
	for b.Loop() {
		s.saveCreated(fs, nil)
	}
}

// parseRecord reads what writeRecord writes as encoding/json does, and
// leaves everything else to it.
func TestParseRecord(t *testing.T) {
	recs := []createdRecord{
		{},
		{Files: []createdEntry{{Path: "/p/a.pem", Dev: 2049, Ino: 12, Btime: 1795792713692182412}}},
		{Files: []createdEntry{{Path: "/p/\"q\"/<&>\\x.pem", Dev: 1, Ino: 2, Btime: -3}, {Path: "/p/caf\xe9/\u00e9\x01.env", Ino: 1 << 63}}},
		{Files: []createdEntry{{Path: "/a/.git", Dev: 0, Ino: 0, Btime: 0}, {Path: "/b/ü .env"}}},
	}
	for i, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		checkParseRecord(t, b)
		if _, ok := parseRecord(b); !ok && (i == 1 || i == 3) {
			t.Errorf("%s left to encoding/json", b)
		}
	}
	for _, s := range []string{`{"files":[]}`, `{"files":null}`, `{"files":[{"path":"/a","dev":01,"ino":2,"btime":3}]}`,
		`{"files":[{"path":"/a","dev":1,"ino":2,"btime":-0}]}`, `{"files":[{"path":"/a","dev":1,"ino":2,"btime":3}]} `,
		`{"files":[{"path":"/a","ino":2,"dev":1,"btime":3}]}`, `{"files":[{"path":"/a","dev":1,"ino":2,"btime":3},]}`,
		`{"files":[{"path":"/a","dev":-1,"ino":2,"btime":3}]}`, `{"files":[{"path":"/a","dev":1,"ino":2,"btime":3}`, ``} {
		checkParseRecord(t, []byte(s))
	}
}

func checkParseRecord(t *testing.T, b []byte) {
	t.Helper()
	var want createdRecord
	werr := json.NewDecoder(bytes.NewReader(b)).Decode(&want)
	got, ok := parseRecord(b)
	if ok && (werr != nil || !slices.Equal(got.Files, want.Files)) {
		t.Errorf("parseRecord(%q) = %+v; encoding/json: %+v, %v", b, got, want, werr)
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"files":[{"path":"/p/a.pem","dev":2049,"ino":12,"btime":1795792713692182412},{"path":"/x/.git","dev":1,"ino":2,"btime":-3}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkParseRecord(t, b) })
}

// BenchmarkParseRecord: decoding a full record (no pins), parseRecord
// against encoding/json.
func BenchmarkParseRecord(b *testing.B) {
	var rec createdRecord
	for i := range maxCreatedRecord {
		rec.Files = append(rec.Files, createdEntry{Path: fmt.Sprintf("/home/u/proj/node_modules/pkg%03d/test/fixtures/key%05d.pem", i/100, i), Dev: 2049, Ino: uint64(1e6 + i), Btime: 1795792713692182412 + int64(i)})
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("parseRecord", func(b *testing.B) {
		for b.Loop() {
			if _, ok := parseRecord(data); !ok {
				b.Fatal("not parsed")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var r createdRecord
			if err := json.NewDecoder(bytes.NewReader(data)).Decode(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

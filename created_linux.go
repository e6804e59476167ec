package fence

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/nsexec"
	"golang.org/x/sys/unix"
)

// The record of created files: the files matching a denyWrite pattern that
// a sandbox created (the write guard lets a sandbox change what it created
// itself, nsexec.FSPolicy.DenyWritePatterns). Without it, a later run
// could not change them either: a virtualenv's certifi/cacert.pem, or the
// .pem fixtures of an npm package, stuck under -t code's "**/*.pem" until
// the user removed them by hand. With them, the .git directories it made
// (git init, git clone), whose hooks and configs stay its own in later
// runs (nsexec.FSPolicy.GitDirs) as they are in the run that made them.
//
// Each entry pins the file it names by device, inode and birth time, so a
// file of the user's that later takes the same path, or the same inode
// number, is not taken for it; a file system without birth times records
// nothing. The record decides the policy, so it is protected like the
// config files (createdRecordPath is in fsPolicy's protected list).

// maxCreatedRecord bounds the record; the oldest entries go first.
const maxCreatedRecord = 10000

type createdEntry struct {
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Btime int64  `json:"btime"` // ns since the epoch
}

type createdRecord struct {
	Files []createdEntry `json:"files"`
}

// pin returns path's entry: a regular file, or a directory named .git (a
// repository the sandbox made, nsexec.FSPolicy.GitDirs), not followed
// through a symlink, on a file system that reports its birth time.
func pin(path string) (createdEntry, bool) {
	var st unix.Statx_t
	mask := uint32(unix.STATX_TYPE | unix.STATX_INO | unix.STATX_BTIME)
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, int(mask), &st); err != nil {
		return createdEntry{}, false
	}
	if st.Mask&mask != mask {
		return createdEntry{}, false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		if filepath.Base(path) != ".git" {
			return createdEntry{}, false
		}
	default:
		return createdEntry{}, false
	}
	return createdEntry{
		Path:  path,
		Dev:   unix.Mkdev(st.Dev_major, st.Dev_minor),
		Ino:   st.Ino,
		Btime: st.Btime.Sec*1e9 + int64(st.Btime.Nsec),
	}, true
}

// parseRecord reads the record as writeRecord writes it (json.Marshal's
// output, one line), and reports false for anything else, escapes in a
// path included, which encoding/json then decodes. encoding/json took
// ~15 ms here for a full record (1 MiB), at every start.
func parseRecord(b []byte) (rec createdRecord, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"files":[`))
	if !ok {
		return rec, false
	}
	if string(rest) == "]}" {
		return rec, true
	}
	str := func(key string) (string, bool) {
		if rest, ok = bytes.CutPrefix(rest, []byte(key)); !ok {
			return "", false
		}
		i := bytes.IndexByte(rest, '"')
		if i < 0 {
			return "", false
		}
		v := rest[:i]
		for _, c := range v {
			if c < 0x20 || c == '\\' {
				return "", false
			}
		}
		if !utf8.Valid(v) {
			return "", false
		}
		rest = rest[i+1:]
		return string(v), true
	}
	num := func(key string, signed bool) (uint64, bool) {
		if rest, ok = bytes.CutPrefix(rest, []byte(key)); !ok {
			return 0, false
		}
		i := 0
		if signed && i < len(rest) && rest[i] == '-' {
			i++
		}
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		var v uint64
		var err error
		if signed {
			var n int64
			n, err = strconv.ParseInt(string(rest[:i]), 10, 64)
			v = uint64(n)
		} else {
			v, err = strconv.ParseUint(string(rest[:i]), 10, 64)
		}
		if err != nil || i > 1 && rest[0] == '0' || i > 2 && rest[0] == '-' && rest[1] == '0' {
			return 0, false // json.Marshal writes no leading zeros
		}
		rest = rest[i:]
		return v, true
	}
	for {
		var e createdEntry
		var btime uint64
		var ok1, ok2, ok3, ok4 bool
		e.Path, ok1 = str(`{"path":"`)
		if ok1 {
			e.Dev, ok2 = num(`,"dev":`, false)
		}
		if ok2 {
			e.Ino, ok3 = num(`,"ino":`, false)
		}
		if ok3 {
			btime, ok4 = num(`,"btime":`, true)
		}
		if !ok4 {
			return createdRecord{}, false
		}
		e.Btime = int64(btime)
		rec.Files = append(rec.Files, e)
		switch {
		case bytes.HasPrefix(rest, []byte("},")):
			rest = rest[2:]
		case string(rest) == "}]}":
			return rec, true
		default:
			return createdRecord{}, false
		}
	}
}

// planCreated returns the record's entries as read (readRecord), once per
// plan: recordedGit and loadCreated both want it, and each pins only
// what it needs (a full record, maxCreatedRecord entries, took ~25 ms to
// pin whole here).
func (s *Spec) planCreated() []createdEntry {
	if s.created == nil {
		c := s.readRecord()
		s.created = &c
	}
	return *s.created
}

// readCreated returns the entries of the record that still name the file
// they were made for.
func (s *Spec) readCreated() []createdEntry {
	return pinned(s.readRecord())
}

// readRecord returns the record's entries as read, not pinned.
func (s *Spec) readRecord() []createdEntry {
	p := s.createdRecordPath()
	if p == "" {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		s.logf("record of created files %s: %v; ignored", p, err)
		return nil
	}
	rec, ok := parseRecord(b)
	if !ok {
		rec = createdRecord{}
		if err := json.NewDecoder(bytes.NewReader(b)).Decode(&rec); err != nil {
			s.logf("record of created files %s: %v; ignored", p, err)
			return nil
		}
	}
	return rec.Files
}

// pinned returns the entries of es that still name the file they were
// made for (pin). One statx each (~2 µs here, more for deep paths): on
// every CPU.
func pinned(es []createdEntry) []createdEntry {
	valid := make([]bool, len(es))
	workers := min(runtime.GOMAXPROCS(0), len(es)/256+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(es); i += workers {
				now, ok := pin(es[i].Path)
				valid[i] = ok && now == es[i]
			}
		})
	}
	wg.Wait()
	var out []createdEntry
	for i, e := range es {
		if valid[i] {
			out = append(out, e)
		}
	}
	return out
}

// recordedGit returns the .git directories and files of the record, still
// the ones it was made for: repositories an earlier sandbox made, and the
// checkouts of their submodules and linked worktrees.
func (s *Spec) recordedGit() map[string]bool {
	var git []createdEntry
	for _, e := range s.planCreated() {
		if filepath.Base(e.Path) == ".git" {
			git = append(git, e)
		}
	}
	out := map[string]bool{}
	for _, e := range pinned(git) {
		out[e.Path] = true
	}
	return out
}

// loadCreated fills fp.Created from the record, when the write guard has
// patterns to apply or git directories to keep.
func (s *Spec) loadCreated(fp *nsexec.FSPolicy) {
	if len(fp.DenyWritePatterns) == 0 && !fp.GitDirs {
		return
	}
	// Only the entries in what this run may change matter to the guard
	// (elsewhere nothing is written, and a hard link or rename needs
	// both directories writable): a full record pinned whole cost every
	// start ~25 ms, most of it for other projects' files. An entry left
	// out is taken for the user's file, the stricter answer.
	var scope []string
	for _, w := range changeableOf(*fp) {
		if r, err := s.paths.eval(w); err == nil {
			scope = append(scope, r)
		}
		scope = append(scope, w)
	}
	var mine []createdEntry
	for _, e := range s.planCreated() {
		if underAny(e.Path, scope) {
			mine = append(mine, e)
		}
	}
	for _, e := range pinned(mine) {
		fp.Created = append(fp.Created, nsexec.FormatCreated(e.Dev, e.Ino, e.Path))
	}
	if len(fp.Created) > 0 {
		s.logf("files earlier sandboxes created, free to change: %d", len(fp.Created))
	}
}

// createdMatches returns the files that the globs of denyWrite (one level,
// matched now) match and that earlier sandboxes created (the record,
// pinned): the guard's patterns let the sandbox change them, and they are
// not to be bound read-only with the user's matches.
func (s *Spec) createdMatches(denyWrite, changeable []string) map[string]bool {
	var globbed []string
	for _, p := range denyWrite {
		if config.HasGlob(p) {
			m, _ := s.expand(p, changeable) // its errors stopped the plan already
			globbed = append(globbed, m...)
		}
	}
	if len(globbed) == 0 {
		return nil
	}
	var mine []createdEntry
	for _, e := range s.planCreated() {
		if slices.Contains(globbed, e.Path) {
			mine = append(mine, e)
		}
	}
	out := map[string]bool{}
	for _, e := range pinned(mine) {
		out[e.Path] = true
	}
	return out
}

// saveCreated adds to the record the files the sandbox created (p.Created,
// once it is empty) that are on the host: under a writable bind, not in a
// private /tmp, and still the file the guard saw created there (a file of
// the user's moved to that path is not). Entries whose file changed hands
// are dropped. Failures are only logged: a file missing from the record
// stays protected.
func (s *Spec) saveCreated(fs *nsexec.FSPolicy, created []string) {
	if len(fs.DenyWritePatterns) == 0 && !fs.GitDirs {
		return
	}
	path := s.createdRecordPath()
	if path == "" {
		return
	}
	host := fs.Writable
	if fs.HostTmp {
		host = append(append([]string{}, host...), "/tmp")
	}
	// Only what is not among the entries this run loaded (fs.Created,
	// which PID 1 leaves out unless it saw them go) is news, and only that is added to
	// the record as it is then (the loaded ones still valid are in it). Replacing the
	// record when nothing changed would do more than waste a write: a
	// concurrent run's read-only bind of it goes with the file it was
	// on, and one starting then fails to bind it. An entry of the
	// record that went stale meanwhile (its file removed, or another in
	// its place) is dropped by every read (readCreated pins each), so it
	// is no reason to write either. (A run that made nothing, with a
	// full record, pinned its 10,000 entries twice and decoded it once
	// more, ~60 ms at every exit here; and with a full record, the
	// loaded entries went first and took the room of what concurrent
	// runs had added meanwhile: of 20 runs ending together, each adding
	// 5 .pem files, 5 were recorded.)
	known := make(map[string]bool, len(fs.Created))
	for _, c := range fs.Created {
		known[c] = true
	}
	// One in the form loaded may yet be news: removed and made again
	// under its name, a file often gets its inode number back (ext4),
	// and only its birth time tells it from the entry (PID 1 reports it
	// because it saw it go). Such ones are news unless the record has
	// them as they are now.
	var add, again []createdEntry
	for _, c := range created {
		dev, ino, path, ok := nsexec.ParseCreated(c)
		if !ok || !underAny(path, host) {
			continue
		}
		if e, ok := pin(path); ok && e.Dev == dev && e.Ino == ino {
			if known[c] {
				again = append(again, e)
			} else {
				add = append(add, e)
			}
		}
	}
	if len(add) == 0 && len(again) == 0 {
		return
	}
	// Runs that end at the same time would each write what they read
	// with their own entries, and the last one's rename would drop the
	// others' (their files then taken for the user's): read again, and
	// write, under a lock.
	defer lockRecordDir(filepath.Dir(path))()
	old := s.readCreated()
	if len(again) > 0 {
		have := make(map[createdEntry]bool, len(old))
		for _, e := range old {
			have[e] = true
		}
		for _, e := range again {
			if !have[e] {
				add = append(add, e)
			}
		}
		if len(add) == 0 {
			return
		}
	}
	seen := map[string]bool{}
	for _, e := range add {
		seen[e.Path] = true
	}
	// Newest first: this run's, then the record's from its end.
	all := add
	for i := len(old) - 1; i >= 0; i-- {
		if !seen[old[i].Path] {
			seen[old[i].Path] = true
			all = append(all, old[i])
		}
	}
	rec := createdRecord{Files: all}
	if len(all) > maxCreatedRecord {
		// The record keeps its bound, or every later start reads,
		// pins and sends the lot (one npm install of packages with
		// .pem fixtures can make more). The repositories first:
		// taken for the user's, theirs would stop git there; then the
		// newest.
		gits := 0
		for _, e := range all {
			if filepath.Base(e.Path) == ".git" {
				gits++
			}
		}
		room := max(maxCreatedRecord-gits, 0)
		rec.Files = nil
		for _, e := range all {
			if filepath.Base(e.Path) == ".git" {
				if len(rec.Files) < maxCreatedRecord {
					rec.Files = append(rec.Files, e)
				}
			} else if room > 0 {
				rec.Files = append(rec.Files, e)
				room--
			}
		}
	}
	// Newest last, so that trimming drops the oldest.
	for i, j := 0, len(rec.Files)-1; i < j; i, j = i+1, j-1 {
		rec.Files[i], rec.Files[j] = rec.Files[j], rec.Files[i]
	}
	if err := writeRecord(path, &rec); err != nil {
		s.logf("record of created files: %v", err)
	}
}

// recordLockWait bounds the wait for the lock of the record's directory:
// a sandbox can read that directory, and so flock it, for as long as it
// likes. Past the wait the record is written without the lock, as it
// always was.
const recordLockWait = 2 * time.Second

// lockRecordDir takes an exclusive flock(2) on dir (made 0700 if missing),
// waiting at most recordLockWait, and returns what releases it. The
// directory, not a file in it: the record is replaced by a rename, and a
// lock file would be one more file there for a sandbox to be kept from.
func lockRecordDir(dir string) (unlock func()) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return func() {}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return func() {}
	}
	for deadline := time.Now().Add(recordLockWait); ; time.Sleep(2 * time.Millisecond) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil || !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
	}
	return func() { unix.Close(fd) }
}

// writeRecord replaces path with rec, atomically (a temporary file beside
// it, renamed over it).
func writeRecord(path string, rec *createdRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	tmp := filepath.Join(dir, ".created-"+hex.EncodeToString(r[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

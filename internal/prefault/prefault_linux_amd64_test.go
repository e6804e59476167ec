package prefault

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on linux/amd64 (a PMD).
const hugePage = 2 << 20

// fenceEntry is spawn.EntrySymbol, which this package's tests cannot
// import (spawn imports this package).
const fenceEntry = "github.com/nsfence/fence/nsexec/spawn.entry"

// shown holds the builds of testdata/show by linker flags.
var shown = map[string]string{}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, bin := range shown {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// show builds testdata/show with the given linker flags (once per test
// binary) and runs it (as PID 1 of new user and PID namespaces if
// asPID1), returning its report.
func show(t *testing.T, ldflags string, asPID1 bool) map[string][]int {
	t.Helper()
	bin, ok := shown[ldflags]
	if !ok {
		dir, err := os.MkdirTemp("", "prefault-show")
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "show")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		build := exec.Command(gobin, "build", "-buildvcs=false", "-ldflags="+ldflags, "-o", bin, "./testdata/show")
		// Not the caller's GOFLAGS (-race would link another runtime).
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := build.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			t.Fatalf("build testdata/show: %v\n%s", err, out)
		}
		shown[ldflags] = bin
	}
	return runShow(t, bin, asPID1)
}

// runShow runs a build of testdata/show, as show does.
func runShow(t *testing.T, bin string, asPID1 bool) map[string][]int {
	t.Helper()
	cmd := exec.Command(bin)
	// No environment: GOMEMLIMIT or GODEBUG=harddecommit=1 have the
	// runtime give pages back before main.
	cmd.Env = []string{}
	if asPID1 {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
	}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && asPID1 && !errors.As(err, &ee) {
		t.Skipf("cannot create a user namespace here, which the init stage's case needs: %v", err)
	}
	if err != nil {
		t.Fatalf("run testdata/show: %v\n%s", err, out)
	}
	r := map[string][]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, v := range f[1:] {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("report line %q: %v", line, err)
			}
			r[f[0]] = append(r[f[0]], n)
		}
	}
	for _, k := range []string{"rodata", "data", "bss", "anon"} {
		if len(r[k]) < 2 {
			t.Fatalf("report has no %s line:\n%s", k, out)
		}
	}
	return r
}

// needPopulate skips the test where the kernel refuses MADV_POPULATE_*
// (before Linux 5.14, or a seccomp profile's refusal): prefault then does
// nothing, as it should.
func needPopulate(t *testing.T) {
	t.Helper()
	page, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(page)
	if err := unix.Madvise(page, unix.MADV_POPULATE_READ); err != nil {
		t.Skipf("this kernel refuses madvise(MADV_POPULATE_READ) (Linux 5.14, or a seccomp profile), which prefault needs: %v", err)
	}
}

// TestEntryPopulatesTheBinary: with the entry point linked in, a process's
// read-only data is wholly mapped when main starts, and its data and bss
// are left to fault in as they are written (a write populate of them cost
// more than the faults it saved: see the entry's code); without it the
// read-only data is not mapped (the test program has 1 MB of each that
// nothing touches), so that the comparison shows what the entry does.
func TestEntryPopulatesTheBinary(t *testing.T) {
	needPopulate(t)
	// This package's entry, and fence's (nsexec/spawn's, which calls
	// populate before its spawn; testdata/show links that package).
	for _, flag := range []string{LDFlag("linux", "amd64"), "-E=" + fenceEntry} {
		with := show(t, flag, false)
		if r := with["rodata"]; r[0] != r[1] {
			t.Errorf("with %s, %d of the read-only data's %d kB are mapped at main: want all", flag, r[0], r[1])
		}
		if d := with["data"]; d[1]-d[0] < 512 {
			t.Errorf("with %s, %d of the data's %d kB are private copies at main: want the untouched 1 MB left to fault in", flag, d[0], d[1])
		}
		if b := with["bss"]; b[0]*2 > b[1] {
			t.Errorf("with %s, %d of an untouched bss array's %d pages are resident at main: want it left to fault in", flag, b[0], b[1])
		}
	}
	without := show(t, "", false)
	if r := without["rodata"]; r[0] >= r[1] {
		t.Errorf("without the entry point, %d of the read-only data's %d kB are mapped at main: the test cannot tell the entry's work from the runtime's", r[0], r[1])
	}
}

// TestEntryMapsTheReadOnlyTail: with the segments aligned to 2 MB (the
// linker's -R, as spawn.LDFlags links fence), the entry maps the read-only
// data's segment up to the end of its last 2 MB block (the rest is the
// file's padding), so that a huge page can map that block; every page of
// the segment is mapped at main (the padding, which nothing reads, is
// not populated). Without the alignment the mapping is the segment's, as
// the kernel made it.
func TestEntryMapsTheReadOnlyTail(t *testing.T) {
	needPopulate(t)
	for _, entry := range []string{LDFlag("linux", "amd64"), "-E=" + fenceEntry} {
		for _, aligned := range []bool{true, false} {
			flags := entry
			if aligned {
				flags += " -R=0x200000"
			}
			r := show(t, flags, false)["rodata"]
			// The segment's size, from the build's program headers.
			f, err := elf.Open(shown[flags])
			if err != nil {
				t.Fatal(err)
			}
			var memsz uint64
			for _, p := range f.Progs {
				if p.Type == elf.PT_LOAD && p.Flags == elf.PF_R {
					memsz = p.Memsz
				}
			}
			f.Close()
			if memsz == 0 {
				t.Fatalf("%s: no read-only PT_LOAD segment", flags)
			}
			pages := (memsz + 4095) &^ 4095
			want := pages
			if aligned {
				want = (memsz + hugePage - 1) &^ (hugePage - 1)
			}
			if uint64(r[1])<<10 != want {
				t.Errorf("linked with %s: the read-only data is mapped over %d kB, want %d (its segment: %d bytes)", flags, r[1], want>>10, memsz)
			}
			if uint64(r[0])<<10 < pages {
				t.Errorf("linked with %s: %d kB of the read-only data are mapped at main: want all of its segment's %d", flags, r[0], pages>>10)
			}
		}
	}
}

// TestHeapLeftSmall: neither the entry nor anything else of prefault's
// gives a process huge pages of anonymous memory, in the supervisor or in
// the init stage (PID 1 of its namespace): no mapping of no file is
// advised MADV_HUGEPAGE, and, unless the administrator set huge pages to
// "always" (the kernel then uses them unasked), none holds one. A fresh
// huge page cost a VM whose host backs memory on first touch ~3.5 ms
// (docs/benchmarking.md, "Huge pages after a pause").
func TestHeapLeftSmall(t *testing.T) {
	// The 2 MB size's own setting (Linux 6.8) wins unless it inherits.
	always := false
	for _, f := range []string{"/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled", "/sys/kernel/mm/transparent_hugepage/enabled"} {
		if b, err := os.ReadFile(f); err == nil && !strings.Contains(string(b), "[inherit]") {
			always = strings.Contains(string(b), "[always]")
			break
		}
	}
	for _, asPID1 := range []bool{false, true} {
		a := show(t, "-E="+fenceEntry, asPID1)["anon"]
		if a[1] != 0 {
			t.Errorf("as PID 1 %v: %d mappings of no file are advised for huge pages, want none", asPID1, a[1])
		}
		if !always && a[0] != 0 {
			t.Errorf("as PID 1 %v: %d kB of anonymous huge pages at main, want none (huge pages are not set to always here)", asPID1, a[0])
		}
	}
}

// TestRereadSize: the copy of reread that the entry runs from a page of
// its own (rereadSize bytes) holds all of its code.
func TestRereadSize(t *testing.T) {
	needPopulate(t)
	flag := "-E=" + fenceEntry
	show(t, flag, false)
	f, err := elf.Open(shown[flag])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var found []elf.Symbol
	for _, s := range syms {
		if s.Name == "reread" || strings.HasSuffix(s.Name, "prefault.reread") {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("testdata/show has %d symbols named reread, want 1: %v", len(found), found)
	}
	if n := found[0].Size; n == 0 || n > rereadSize {
		t.Errorf("reread's code is %d bytes, rereadSize %d: the copy the entry runs must hold all of it", n, rereadSize)
	}
}

// TestRereadable: the entry's answer to whether the executable's page
// cache keeps 2 MB folios is the one its rules give (XFS; ext4 from Linux
// 6.16 on, for files neither encrypted nor verity-protected, without DAX),
// for a build in the temporary directory and a copy on a tmpfs, which
// never does.
func TestRereadable(t *testing.T) {
	flag := "-E=" + fenceEntry
	if got, want := show(t, flag, false)["rereadable"], rereadableHere(t, shown[flag]); len(got) != 1 || (got[0] == 1) != want {
		t.Errorf("testdata/show in %s reports rereadable %v, want %v", filepath.Dir(shown[flag]), got, want)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Skipf("no tmpfs at /dev/shm for the copy (%v)", err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "prefault-show")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(shown[flag])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "show")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := runShow(t, bin, false)["rereadable"]; len(got) != 1 || got[0] != 0 {
		t.Errorf("testdata/show on a tmpfs reports rereadable %v, want 0", got)
	}
}

// rereadableHere is the rules of the entry's rereadable, for the file at
// path.
func rereadableHere(t *testing.T, path string) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	switch st.Type {
	case unix.XFS_SUPER_MAGIC:
	case unix.EXT4_SUPER_MAGIC:
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			t.Fatal(err)
		}
		release := unix.ByteSliceToString(u.Release[:])
		major, rest, _ := strings.Cut(release, ".")
		minor := rest
		if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			minor = rest[:i]
		}
		ma, err1 := strconv.Atoi(major)
		mi, err2 := strconv.Atoi(minor)
		if err1 != nil || err2 != nil {
			t.Fatalf("kernel release %q: %v %v", release, err1, err2)
		}
		if ma < 6 || ma == 6 && mi < 16 {
			return false
		}
	default:
		return false
	}
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, 0, &sx); err != nil {
		t.Fatal(err)
	}
	return sx.Attributes&(unix.STATX_ATTR_ENCRYPTED|unix.STATX_ATTR_VERITY|unix.STATX_ATTR_DAX) == 0
}

package e2e

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// TestBuiltWithGoExperiment: the fence under test is built as make build
// builds it, with spawn.GoExperiment (the collector whose spans fault in
// one page, not two, on their first allocation) wherever the toolchain
// accepts the setting, so that the binary tested is the one users run.
func TestBuiltWithGoExperiment(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	info, err := buildinfo.ReadFile(fenceBin)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, s := range info.Settings {
		if s.Key == "GOEXPERIMENT" {
			got = s.Value
		}
	}
	want := goExperiment(gobin) != nil
	if has := slices.Contains(strings.Split(got, ","), spawn.GoExperiment); has != want {
		t.Errorf("fence built with GOEXPERIMENT=%q: %s in it %v, want %v (whether the toolchain accepts it)", got, spawn.GoExperiment, has, want)
	}
}

// TestInitStageByHand: the fence binary run under argv[0] "fence-init" by
// someone (anyone may set argv[0]), not as PID 1 of the namespaces fence
// makes, is no init stage: it exits 255 with the reason and changes
// nothing around it. It used to start its set-up at once, whose first
// step made every mount of its mount namespace private: run by root, the
// host's. Here it runs in a mount namespace whose mounts are shared, with
// fence's own arguments and others; "/" must still be shared afterwards.
func TestInitStageByHand(t *testing.T) {
	for _, tool := range []string{"unshare", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make test-deps installs it): %v", tool, err)
		}
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// The mount namespace is a user namespace's, as for every runner.
		const script = `(exec -a fence-init "$0" "$@"); echo "rc=$?"; awk '$5 == "/"' /proc/self/mountinfo`
		for _, tc := range []struct {
			args []string
			why  string
		}{
			{nil, "not those fence starts its init stage with"},
			{[]string{"net"}, "not those fence starts its init stage with"},
			{[]string{"--", "true"}, "not those fence starts its init stage with"},
			{[]string{spawn.StartArg}, "not as PID 1 of a sandbox's PID namespace"},
			{[]string{spawn.AskNetArg}, "not as PID 1 of a sandbox's PID namespace"},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			cmd := s.command(ctx, opts{})
			cmd.Path, _ = exec.LookPath("unshare")
			cmd.Args = append([]string{"unshare", "-Urm", "--propagation", "shared", "bash", "-c", script, fenceBin}, tc.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			cancel()
			if err != nil {
				t.Fatalf("unshare %q: %v\n%s%s", tc.args, err, out, stderr.String())
			}
			rc, root, _ := strings.Cut(string(out), "\n")
			if rc != "rc=255" || !strings.Contains(stderr.String(), "fence: not an init stage that fence started: ") || !strings.Contains(stderr.String(), tc.why) {
				t.Errorf("fence-init %q by hand: %s, stderr %q; want rc=255 and %q", tc.args, rc, stderr.String(), tc.why)
			}
			if !strings.Contains(root, " shared:") {
				t.Errorf("fence-init %q by hand changed the mounts around it: / is now %q, want it still shared", tc.args, strings.TrimSpace(root))
			}
		}
	})
}

// TestInitStageSkipsSupervisorPackages: the init stage runs from package
// cmd/fence/internal/stage's init function, before the packages only the
// supervisor needs are initialised (~0.3–0.5 ms of every sandbox's start). An
// import that reaches package net, net/netip or runtime/debug from nsexec
// would silently undo that (Go initialises in import path order once a
// package's imports are ready); this runs the real binary as an init stage
// with GODEBUG=inittrace=1 and reads which packages it initialised. It
// also checks that internal/prefault, whose init made the heap a huge page
// (docs/benchmarking.md, "Huge pages after a pause"), has no init work in
// either process.
func TestInitStageSkipsSupervisorPackages(t *testing.T) {
	trace := func(argv0 string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(fenceBin, args...)
		cmd.Args[0] = argv0
		cmd.Env = []string{"GODEBUG=inittrace=1", "PATH=" + strings.Join(stdPath, ":")}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("run %s as %s: %v", fenceBin, argv0, err)
		}
		return stderr.String(), code
	}
	supervisorOnly := []string{
		"net", "net/netip", "crypto/tls", "crypto/x509",
		"mvdan.cc/sh/v3/fileutil", "github.com/spf13/cobra",
		"github.com/spf13/pflag", "github.com/nsfence/fence",
	}
	initialised := func(out, pkg string) bool { return strings.Contains(out, "init "+pkg+" @") }
	const prefault = "github.com/nsfence/fence/internal/prefault"

	// The supervisor does initialise them, so their absence below means
	// something (and the trace format is the one this test reads).
	out, code := trace("fence", "--version")
	if code != 0 {
		t.Fatalf("fence --version exited %d:\n%s", code, out)
	}
	for _, pkg := range supervisorOnly {
		if !initialised(out, pkg) {
			t.Fatalf("the supervisor's trace shows no init of %s; update this test's list:\n%s", pkg, out)
		}
	}
	if initialised(out, prefault) {
		t.Errorf("the supervisor initialises %s: its entry does its work, and its init nothing", prefault)
	}

	// Without its control socket the init stage exits 255 at its first
	// step, after package initialisation.
	for _, argv0 := range []string{"fence-init", "fence-probe"} {
		out, code := trace(argv0)
		if argv0 == "fence-init" && code != 255 {
			t.Fatalf("%s without a control socket exited %d, want 255:\n%s", argv0, code, out)
		}
		if !initialised(out, "golang.org/x/sys/unix") {
			t.Fatalf("%s: no inittrace output:\n%s", argv0, out)
		}
		if initialised(out, prefault) {
			t.Errorf("%s initialises %s: its entry does its work, and its init nothing", argv0, prefault)
		}
		for _, pkg := range supervisorOnly {
			if initialised(out, pkg) {
				t.Errorf("%s initialised %s: nsexec now depends on a package that Go initialises after it (see cmd/fence/internal/stage)", argv0, pkg)
			}
		}
	}
}

// TestHugePageMappings: in a fence binary written in one piece (as make
// build and make install write it), both processes map all of the
// read-only data with huge pages (the segments aligned to 2 MB,
// spawn.LDFlags, and the last block mapped whole by internal/prefault's
// entry), and neither has anonymous memory advised for huge pages, nor,
// unless huge pages are set to "always" here, any anonymous huge page: a
// fresh one cost ~3.5 ms on a VM whose host backs memory on first touch
// (docs/benchmarking.md, "Huge pages after a pause"). Where the page cache
// does not hold the file in 2 MB folios (the text's mapping then has no
// huge page either), the read-only data's part is skipped with the reason.
func TestHugePageMappings(t *testing.T) {
	bin := writeOnce(t, fenceBin)
	// The 2 MB size's own setting (Linux 6.8) wins unless it inherits.
	always := false
	for _, f := range []string{"/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled", "/sys/kernel/mm/transparent_hugepage/enabled"} {
		if b, err := os.ReadFile(f); err == nil && !strings.Contains(string(b), "[inherit]") {
			always = strings.Contains(string(b), "[always]")
			break
		}
	}
	// The page cache may be short of a 2 MB folio for a moment: the run
	// is tried again.
	var failures []string
	for try := 0; try < 3; try++ {
		failures = nil
		held := holdSandbox(t, bin)
		for _, p := range []struct {
			name string
			pid  int
		}{{"supervisor", held.supervisor}, {"init stage", held.pid1}} {
			ms := mappingsOf(t, p.pid, bin)
			if n := sumOf(ms, "anon", func(m mapping) int { return m.advised }); n != 0 {
				failures = append(failures, fmt.Sprintf("the %s has %d anonymous mappings advised for huge pages (MADV_HUGEPAGE), want none", p.name, n))
			}
			if h := sumOf(ms, "anon", func(m mapping) int { return m.anonHuge }); !always && h != 0 {
				failures = append(failures, fmt.Sprintf("the %s has %d kB of anonymous huge pages, want none (huge pages are not set to always here)", p.name, h))
			}
			if sumOf(ms, "text", func(m mapping) int { return m.filePMD }) < 2048 {
				t.Logf("skipped for the %s: its text is mapped without huge pages: this file system's page cache does not hold %s in 2 MB folios", p.name, bin)
				continue
			}
			r, n := sumOf(ms, "rodata", func(m mapping) int { return m.filePMD }), sumOf(ms, "rodata", func(m mapping) int { return m.size })
			if r != n || n%2048 != 0 {
				failures = append(failures, fmt.Sprintf("the %s maps %d of its read-only data's %d kB with huge pages, want all, in whole 2 MB blocks (segments aligned to 2 MB, spawn.LDFlags; the last block mapped whole, internal/prefault)", p.name, r, n))
			}
		}
		held.release()
		if len(failures) == 0 {
			return
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
}

// TestInitStageHoldsNoCgroupFiles: fence's PID 1, started with
// GOMAXPROCS set, holds no descriptor of a cgroup file (the runtime's
// cgroup lookup, skipped by the build overlay, kept two of the host's open
// for the sandbox's life), where the supervisor's runtime, which looks,
// holds some; without any in the supervisor the runtime opens none here,
// and the test says so.
func TestInitStageHoldsNoCgroupFiles(t *testing.T) {
	held := holdSandbox(t, fenceBin)
	defer held.release()
	cgroupFDs := func(pid int) int {
		t.Helper()
		es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			var st unix.Statfs_t
			if unix.Statfs(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()), &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
				n++
			}
		}
		return n
	}
	if cgroupFDs(held.supervisor) == 0 {
		t.Skip("the supervisor's Go runtime opened no cgroup file here (no CPU controller it reads): nothing for PID 1 to skip")
	}
	if n := cgroupFDs(held.pid1); n != 0 {
		t.Errorf("PID 1 holds %d descriptors of cgroup files, want none (internal/rtoverlay's skipCgroup)", n)
	}
}

// TestEntryRereadsSmallFolios: a fence whose page cache holds its text and
// read-only data in small folios (read by faults on a mapping without the
// huge page mark, as after a boot or the kernel reclaiming the file's
// pages) reads its whole 2 MB blocks again as 2 MB folios at its start,
// and maps them with huge pages, the init stage too (internal/prefault's
// hugeText, healRodata); it leaves the blocks alone while another process
// maps their pages, which would keep them in small folios.
func TestEntryRereadsSmallFolios(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("the entry point exists on linux/amd64 only, not %s", runtime.GOARCH)
	}
	forEachRunner(t, testEntryRereadsSmallFolios)
}

func testEntryRereadsSmallFolios(t *testing.T, s *sandbox) {
	// In the workspace, which the runner can reach; the file is root's
	// where the runner is not (readable, as an installed fence is).
	bin := writeOnceIn(t, fenceBin, s.dir)
	held := holdSandboxAs(t, bin, s, nil)
	text := sumOf(mappingsOf(t, held.supervisor, bin), "text", func(m mapping) int { return m.filePMD })
	held.release()
	if text == 0 {
		t.Skipf("the text of %s, written in one piece, is mapped without huge pages: this file system's page cache does not keep 2 MB folios, or huge pages are off", bin)
	}
	if !pagemapScan(t, bin) {
		t.Skip("this kernel has no PAGEMAP_SCAN (Linux 6.7), which the entry needs to tell a block's folios")
	}
	// The blocks the entry rereads: the text's and the read-only data's
	// whole 2 MB blocks (the read-only data's last one is mapped whole).
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []int64 // file offsets
	wantText, wantRodata := 0, 0
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W != 0 {
			continue
		}
		end := p.Off + p.Filesz
		if p.Flags == elf.PF_R {
			end = (end + 2<<20 - 1) &^ (2<<20 - 1)
		}
		for off := (p.Off + 2<<20 - 1) &^ (2<<20 - 1); off+2<<20 <= end; off += 2 << 20 {
			blocks = append(blocks, int64(off))
			if p.Flags&elf.PF_X != 0 {
				wantText += 2048
			} else {
				wantRodata += 2048
			}
		}
	}
	f.Close()
	if wantText < 2*2048 || wantRodata == 0 {
		t.Fatalf("fence has %d kB of whole 2 MB blocks of text and %d of read-only data, the test expects two blocks of text and one of read-only data at least", wantText, wantRodata)
	}

	// Another process maps the small folios: nothing is evicted.
	m := smallFolios(t, bin, 0)
	if huge := hugeBlocks(t, bin, blocks); len(huge) != 0 {
		t.Fatalf("blocks at %v of %s stayed in 2 MB folios: the test could not have the page cache read them again", huge, bin)
	}
	held = holdSandboxAs(t, bin, s, nil)
	ms := mappingsOf(t, held.supervisor, bin)
	read := readBytes(t, held.supervisor)
	held.release()
	// Nothing evicted and read again: the blocks were left alone.
	if read >= 2<<20 {
		t.Errorf("while another process mapped pages of its blocks, fence read %d bytes from storage, want less than a block (2 MB): it evicted the blocks' other pages and read them again", read)
	}
	if h := sumOf(ms, "text", func(m mapping) int { return m.filePMD }); h != 0 {
		t.Errorf("while another process maps its pages, fence maps %d kB of its text with huge pages, want 0 (its page cache in small folios)", h)
	}
	for i, v := range resident(t, m) {
		if v&1 == 0 {
			t.Errorf("page %d of %s was evicted while the test mapped a page of its block", i, bin)
			break
		}
	}
	if huge := hugeBlocks(t, bin, blocks); len(huge) != 0 {
		t.Errorf("blocks at %v are in 2 MB folios after a start while another process mapped them, want none", huge)
	}
	unix.Munmap(m)

	// Another process maps a page of each block that the entry does not
	// ask about: the first block read again stays small, and the entry
	// stops there, having read one block (2 MB) again, not all of them.
	m = smallFolios(t, bin, 1<<20)
	held = holdSandboxAs(t, bin, s, nil)
	read = readBytes(t, held.supervisor)
	held.release()
	unix.Munmap(m)
	if read >= 4<<20 {
		t.Errorf("while another process mapped a middle page of each block, fence read %d bytes from storage, want at most a block's (2 MB): it went on rereading blocks that stay small", read)
	}

	// Alone: the first start rereads the blocks and maps them whole.
	held = holdSandboxAs(t, bin, s, nil)
	for _, p := range []struct {
		name string
		pid  int
	}{{"supervisor", held.supervisor}, {"init stage", held.pid1}} {
		ms := mappingsOf(t, p.pid, bin)
		if h := sumOf(ms, "text", func(m mapping) int { return m.filePMD }); h != wantText {
			t.Errorf("the %s maps %d kB of its text with huge pages, want %d (its whole blocks)", p.name, h, wantText)
		}
		if h := sumOf(ms, "rodata", func(m mapping) int { return m.filePMD }); h != wantRodata {
			t.Errorf("the %s maps %d kB of its read-only data with huge pages, want %d", p.name, h, wantRodata)
		}
	}
	held.release()
	if huge := hugeBlocks(t, bin, blocks); len(huge) != len(blocks) {
		t.Errorf("after a start, the blocks at %v of %v are in 2 MB folios, want all", huge, blocks)
	}

	// The next start finds the 2 MB folios and reads nothing again.
	held = holdSandboxAs(t, bin, s, nil)
	for _, p := range []struct {
		name string
		pid  int
	}{{"supervisor", held.supervisor}, {"init stage", held.pid1}} {
		if read := readBytes(t, p.pid); read >= 2<<20 {
			t.Errorf("the %s of the start after the reread read %d bytes from storage, want less than a block (2 MB)", p.name, read)
		}
	}
	held.release()
}

// TestEntryKeepsPrivatePages: a block of the text that holds a private
// page (a debugger's breakpoint, a uprobe) is not read again, which would
// replace its mapping and drop that page. The test writes a word of the
// text's first block back as it was (PTRACE_POKETEXT), which gives that
// page a private copy, before fence's first instruction.
func TestEntryKeepsPrivatePages(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("the entry point exists on linux/amd64 only, not %s", runtime.GOARCH)
	}
	bin := writeOnce(t, fenceBin)
	if !pagemapScan(t, bin) {
		t.Skip("this kernel has no PAGEMAP_SCAN (Linux 6.7), which the entry needs to tell a block's folios")
	}
	unix.Munmap(smallFolios(t, bin, 0))
	const addr = 0x401000 // the text's first block (runtime.text)
	run := holdSandboxAs(t, bin, nil, func(pid int) {
		word := make([]byte, 8)
		if _, err := unix.PtracePeekText(pid, addr, word); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.PtracePokeText(pid, addr, word); err != nil {
			t.Fatal(err)
		}
	})
	ms := mappingsOf(t, run.supervisor, bin)
	run.release()
	// The private page is in the text's mapping that holds addr.
	anon := -1
	for _, m := range ms {
		if m.kind == "text" && m.start <= addr && addr < m.end {
			anon = m.anon
		}
	}
	if anon <= 0 {
		t.Errorf("the mapping of fence's text at %#x holds %d kB of private pages after the start, want the page written under ptrace: the entry replaced the block's mapping", addr, anon)
	}
}

// smallFolios evicts bin from the page cache and reads it back in small
// folios, by faults on a mapping without the huge page mark, which it
// returns, with one page of each 2 MB mapped, keep bytes into it.
func smallFolios(t *testing.T, bin string, keep int) []byte {
	t.Helper()
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// Written back first: dirty pages are not evicted.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(m); i += 4096 {
		sink += m[i]
	}
	// Then only one page of each 2 MB stays mapped, keep bytes into it:
	// the first is the one the entry asks about, and the only one to
	// keep its block's other pages in the page cache if the entry
	// evicted the block anyway.
	if err := unix.Madvise(m, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	for i := keep; i < len(m); i += 2 << 20 {
		sink += m[i]
	}
	return m
}

// readBytes returns what pid had read from storage (read_bytes in
// /proc/PID/io).
func readBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "read_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/io has no read_bytes", pid)
	return 0
}

// sink keeps the tests' reads of mapped memory, which fault the pages in.
var sink byte

// resident returns mincore(2)'s vector for b: a byte a page, bit 0 set
// where the page cache holds the page.
func resident(t *testing.T, b []byte) []byte {
	t.Helper()
	vec := make([]byte, (len(b)+4095)/4096)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	return vec
}

// pmScanArg is struct pm_scan_arg (linux/fs.h), pageRegion struct
// page_region, for the PAGEMAP_SCAN ioctl.
type pmScanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages uint64
	categoryInverted, categoryMask, categoryAnyofMask       uint64
	returnMask                                              uint64
}

type pageRegion struct{ start, end, categories uint64 }

const (
	pagemapScanIoctl = 0xc0606610 // _IOWR('f', 16, struct pm_scan_arg)
	pageIsHuge       = 1 << 6
)

// hugeMapped reports whether the 2 MB at addr, in this process, are
// mapped with a huge page (PAGEMAP_SCAN), or an error.
func hugeMapped(addr uintptr) (bool, error) {
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return false, err
	}
	defer pm.Close()
	var r pageRegion
	a := pmScanArg{size: uint64(unsafe.Sizeof(pmScanArg{})), start: uint64(addr), end: uint64(addr) + 2<<20,
		vec: uint64(uintptr(unsafe.Pointer(&r))), vecLen: 1, categoryMask: pageIsHuge, returnMask: pageIsHuge}
	n, _, errno := unix.Syscall(unix.SYS_IOCTL, pm.Fd(), pagemapScanIoctl, uintptr(unsafe.Pointer(&a)))
	if errno != 0 {
		return false, errno
	}
	return n == 1, nil
}

// pagemapScan reports whether this kernel has PAGEMAP_SCAN.
func pagemapScan(t *testing.T, bin string) bool {
	t.Helper()
	m, err := unix.Mmap(-1, 0, 4<<20, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	_, err = hugeMapped(uintptr(unsafe.Pointer(&m[0])))
	return err == nil
}

// hugeBlocks returns which of bin's 2 MB blocks at the file offsets given
// its page cache holds in 2 MB folios: a read-only mapping of each, at an
// address aligned to 2 MB, touched where the page cache holds the page
// (mincore; a touch of a missing one would read it), maps a huge page
// exactly then.
func hugeBlocks(t *testing.T, bin string, offs []int64) []int64 {
	t.Helper()
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var huge []int64
	for _, off := range offs {
		// 4 MB of address space, for a 2 MB-aligned block inside it.
		r, err := unix.Mmap(-1, 0, 4<<20, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		base := uintptr(unsafe.Pointer(&r[0]))
		at := (base + 2<<20 - 1) &^ (2<<20 - 1)
		_, _, errno := unix.Syscall6(unix.SYS_MMAP, at, 2<<20, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_FIXED, f.Fd(), uintptr(off))
		if errno != 0 {
			t.Fatalf("map %s at offset %d: %v", bin, off, errno)
		}
		b := r[at-base : at-base+2<<20]
		if resident(t, b[:4096])[0]&1 != 0 {
			sink += b[0]
			h, err := hugeMapped(at)
			if err != nil {
				t.Fatal(err)
			}
			if h {
				huge = append(huge, off)
			}
		}
		unix.Munmap(r)
	}
	return huge
}

// TestEntryWithoutAlignment: a fence linked with its entry point but
// without the segments aligned to 2 MB (the linker's -E alone) runs, and
// its read-only data is mapped as the kernel mapped the segment: the
// entry leaves a last block alone that the next segment starts inside.
func TestEntryWithoutAlignment(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("the entry point exists on linux/amd64 only, not %s", runtime.GOARCH)
	}
	dir := t.TempDir()
	linked := filepath.Join(dir, "fence.link")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-buildvcs=false", "-ldflags=-E="+spawn.EntrySymbol, "-o", linked, "../cmd/fence")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build fence with -E alone: %v\n%s", err, out)
	}
	f, err := elf.Open(linked)
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
	if memsz <= 2<<20 {
		t.Fatalf("fence's read-only data segment is %d bytes: the test needs one past a 2 MB block", memsz)
	}
	bin := writeOnce(t, linked)
	held := holdSandbox(t, bin)
	defer held.release()
	for _, pid := range []int{held.supervisor, held.pid1} {
		n := sumOf(mappingsOf(t, pid, bin), "rodata", func(m mapping) int { return m.size })
		if want := (memsz + 4095) &^ 4095; uint64(n)<<10 != want {
			t.Errorf("process %d maps %d kB of read-only data, want the segment's %d", pid, n, want>>10)
		}
	}
}

// writeOnce copies the file at src to a temporary file with one write(2)
// of the whole, as dd does in the Makefile, and returns its path.
func writeOnce(t *testing.T, src string) string {
	t.Helper()
	return writeOnceIn(t, src, t.TempDir())
}

// writeOnceIn is writeOnce into directory dir.
func writeOnceIn(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "fence")
	f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Write(int(f.Fd()), b); err != nil || n != len(b) {
		t.Fatalf("write %s: %d of %d bytes, %v", bin, n, len(b), err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// held is a sandbox kept running by holdSandbox: `head -c1` waits on its
// stdin until release.
type held struct {
	supervisor, pid1 int
	release          func()
}

// holdSandbox starts `bin -- head -c1` and returns once the command runs
// (PID 1 has a child), with the supervisor's and PID 1's pids.
func holdSandbox(t *testing.T, bin string) held {
	t.Helper()
	return holdSandboxAs(t, bin, nil, nil)
}

// holdSandboxAs is holdSandbox run by s's runner in its workspace, or as
// holdSandbox where s is nil. Where atExec is set, fence starts traced,
// and atExec runs with fence stopped at its exec, before its first
// instruction, on the thread that started it (which ptrace requests must
// come from); the trace then ends.
func holdSandboxAs(t *testing.T, bin string, s *sandbox, atExec func(pid int)) held {
	t.Helper()
	cmd := exec.Command(bin, "--", "head", "-c1")
	cmd.Env = []string{"PATH=" + strings.Join(stdPath, ":")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: atExec != nil}
	if s != nil {
		cmd.Dir = s.dir
		cmd.Env = append(cmd.Env, "HOME="+s.home)
		cmd.SysProcAttr.Credential = s.r.cred
	}
	if atExec != nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	release := func() {
		stdin.Write([]byte("x"))
		stdin.Close()
		if err := cmd.Wait(); err != nil || out.String() != "x" {
			t.Errorf("%s -- head -c1: %v, output %q, want \"x\"", bin, err, out.String())
		}
	}
	if atExec != nil {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(cmd.Process.Pid, &ws, 0, nil); err != nil || !ws.Stopped() {
			t.Fatalf("%s traced: %v, status %v, want stopped at its exec", bin, err, ws)
		}
		atExec(cmd.Process.Pid)
		if err := unix.PtraceDetach(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	// PID 1 is the supervisor's only child; it has started the command
	// once it has a child of its own.
	var pid1 int
	deadline := time.Now().Add(10 * time.Second)
	for pid1 == 0 || !hasChild(pid1) {
		if zombie(cmd.Process.Pid) {
			release()
			t.Fatalf("%s exited before the sandbox's command started", bin)
		}
		if time.Now().After(deadline) {
			release()
			t.Fatalf("the sandbox's command did not start within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
		pid1 = onlyChild(cmd.Process.Pid)
	}
	return held{cmd.Process.Pid, pid1, release}
}

// mapping is one of a process's mappings, as smaps shows it: bin's text
// or read-only data, or anonymous and writable.
type mapping struct {
	kind                          string // "text", "rodata", "anon"
	start, end                    uint64
	size, filePMD, anonHuge, anon int // kB; anon: private pages (Anonymous)
	advised                       int // 1 if advised MADV_HUGEPAGE ("hg")
}

// mappingsOf reads pid's smaps.
func mappingsOf(t *testing.T, pid int, bin string) []mapping {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ms []mapping
	var cur *mapping
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			cur = nil
			kind := ""
			switch {
			case len(f) >= 6 && f[5] == bin && f[1] == "r-xp":
				kind = "text"
			case len(f) >= 6 && f[5] == bin && f[1] == "r--p":
				kind = "rodata"
			case (len(f) == 5 || strings.HasPrefix(f[5], "[anon:")) && f[1] == "rw-p":
				kind = "anon"
			}
			if kind != "" {
				lo, hi, _ := strings.Cut(f[0], "-")
				l, _ := strconv.ParseUint(lo, 16, 64)
				h, _ := strconv.ParseUint(hi, 16, 64)
				ms = append(ms, mapping{kind: kind, start: l, end: h})
				cur = &ms[len(ms)-1]
			}
			continue
		}
		if cur == nil || len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Size:":
			cur.size = v
		case "FilePmdMapped:":
			cur.filePMD = v
		case "AnonHugePages:":
			cur.anonHuge += v
		case "Anonymous:":
			cur.anon = v
		case "VmFlags:":
			if slices.Contains(f[1:], "hg") {
				cur.advised = 1
			}
		}
	}
	return ms
}

// sumOf adds up field over the mappings of a kind.
func sumOf(ms []mapping, kind string, field func(mapping) int) int {
	n := 0
	for _, m := range ms {
		if m.kind == kind {
			n += field(m)
		}
	}
	return n
}

// onlyChild returns pid's child if it has exactly one, else 0.
func onlyChild(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return 0
	}
	c, _ := strconv.Atoi(f[0])
	return c
}

// hasChild reports whether pid's main thread has a child.
func hasChild(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	return err == nil && len(strings.TrimSpace(string(b))) > 0
}

// zombie reports whether pid has exited and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

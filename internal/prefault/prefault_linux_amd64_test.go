package prefault

import (
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

// fenceEntry is spawn.EntrySymbol, which this package's tests cannot
// import (spawn imports this package).
const fenceEntry = "github.com/nsfence/fence/nsexec/spawn.entry"

// show builds testdata/show with the given linker flags and runs it (as
// PID 1 of new user and PID namespaces if asPID1), returning its report.
func show(t *testing.T, ldflags string, asPID1 bool) map[string][]int {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "show")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-buildvcs=false", "-ldflags="+ldflags, "-o", bin, "./testdata/show")
	// Not the caller's GOFLAGS (-race would link another runtime).
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/show: %v\n%s", err, out)
	}
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
	for _, k := range []string{"rodata", "data", "bss", "heap"} {
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
// read-only data is wholly mapped when main starts, its data wholly copied
// (a write populate: a read one maps without copying) and its bss
// resident; without it they are not (the test program has 1 MB of each
// that nothing touches), so that the comparison shows what the entry does.
func TestEntryPopulatesTheBinary(t *testing.T) {
	needPopulate(t)
	// This package's entry, and fence's (nsexec/spawn's, which calls
	// populate before its spawn; testdata/show links that package).
	for _, flag := range []string{LDFlag("linux", "amd64"), "-E=" + fenceEntry} {
		with := show(t, flag, false)
		if r := with["rodata"]; r[0] != r[1] {
			t.Errorf("with %s, %d of the read-only data's %d kB are mapped at main: want all", flag, r[0], r[1])
		}
		// The data mapping's first page holds .go.buildinfo, which may
		// sit below the populated range.
		if d := with["data"]; d[1]-d[0] > 4 {
			t.Errorf("with %s, %d of the data's %d kB are private copies at main: want all (but a page)", flag, d[0], d[1])
		}
		if b := with["bss"]; b[0] != b[1] {
			t.Errorf("with %s, %d of an untouched bss array's %d pages are resident at main: want all", flag, b[0], b[1])
		}
	}
	without := show(t, "", false)
	if r := without["rodata"]; r[0] >= r[1] {
		t.Errorf("without the entry point, %d of the read-only data's %d kB are mapped at main: the test cannot tell the entry's work from the runtime's", r[0], r[1])
	}
	if d := without["data"]; d[1]-d[0] < 512 {
		t.Errorf("without the entry point, %d of the data's %d kB are private copies at main: the test cannot tell the entry's work from the runtime's", d[0], d[1])
	}
	if b := without["bss"]; b[0]*2 > b[1] {
		t.Errorf("without the entry point, %d of an untouched bss array's %d pages are resident at main: the test cannot tell the entry's work from the runtime's", b[0], b[1])
	}
}

// TestHeapPopulated: init populates the heap from its first free page up,
// 2 MB in the supervisor and 256 kB in the init stage (PID 1 of its
// namespace), as far as the runtime had mapped it; every page of that is
// resident when main starts.
func TestHeapPopulated(t *testing.T) {
	needPopulate(t)
	for _, tc := range []struct {
		name   string
		asPID1 bool
		want   int
	}{
		{"supervisor", false, supervisorHeap},
		{"init stage", true, initStageHeap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := show(t, "", tc.asPID1)["heap"]
			if h[0] != tc.want {
				t.Fatalf("init asked for %d bytes of heap, want %d", h[0], tc.want)
			}
			if h[2] == 0 || h[1] != h[2] {
				t.Errorf("%d of the %d heap pages asked for and mapped are resident at main: want all", h[1], h[2])
			}
		})
	}
}

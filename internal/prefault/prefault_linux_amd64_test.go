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
)

// show builds testdata/show with the given linker flags and runs it (as
// PID 1 of new user and PID namespaces if asPID1), returning its report.
func show(t *testing.T, ldflags string, asPID1 bool) map[string][]int {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "show")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-buildvcs=false", "-ldflags="+ldflags, "-o", bin, "./testdata/show")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/show: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
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
	for _, k := range []string{"rodata", "data", "heap"} {
		if len(r[k]) < 2 {
			t.Fatalf("report has no %s line:\n%s", k, out)
		}
	}
	return r
}

// TestEntryPopulatesTheBinary: with the entry point linked in, a process's
// read-only data and its data are wholly resident when main starts; without
// it they are not (the test program has data nothing reads), so that the
// comparison shows what the entry does.
func TestEntryPopulatesTheBinary(t *testing.T) {
	with := show(t, LDFlag("linux", "amd64"), false)
	without := show(t, "", false)
	for _, k := range []string{"rodata", "data"} {
		if with[k][0] != with[k][1] {
			t.Errorf("with the entry point, %s has %d of %d kB resident at main: want all", k, with[k][0], with[k][1])
		}
		if without[k][0] >= without[k][1] {
			t.Errorf("without the entry point, %s has %d of %d kB resident at main: the test cannot tell the entry's work from the runtime's", k, without[k][0], without[k][1])
		}
	}
}

// TestHeapPopulated: init populates the heap from its first free page up,
// 2 MB in the supervisor and 256 kB in the init stage (PID 1 of its
// namespace), as far as the runtime had mapped it; every page of that is
// resident when main starts.
func TestHeapPopulated(t *testing.T) {
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

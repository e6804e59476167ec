package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestInitStageSkipsSupervisorPackages: the init stage runs from package
// cmd/fence/internal/stage's init function, before the packages only the
// supervisor needs are initialised (~0.3–0.5 ms of every sandbox's start). An
// import that reaches package net, net/netip or runtime/debug from nsexec
// would silently undo that (Go initialises in import path order once a
// package's imports are ready); this runs the real binary as an init stage
// with GODEBUG=inittrace=1 and reads which packages it initialised. It
// also checks that internal/prefault's init is the first to allocate in
// both processes.
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
	// internal/prefault's init populates the heap for the allocations
	// after it: it must be the first to allocate, in each process.
	const prefault = "github.com/nsfence/fence/internal/prefault"
	firstToAllocate := func(out string) string {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			// init PKG @T ms, D ms clock, B bytes, N allocs
			if len(f) == 11 && f[0] == "init" && f[10] == "allocs" && f[9] != "0" {
				return f[1]
			}
		}
		return ""
	}

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
	if first := firstToAllocate(out); first != prefault {
		t.Errorf("the supervisor's first init to allocate is %q, not %s's, whose heap populate then comes too late:\n%s", first, prefault, out)
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
		if first := firstToAllocate(out); first != prefault {
			t.Errorf("%s's first init to allocate is %q, not %s's, whose heap populate then comes too late:\n%s", argv0, first, prefault, out)
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
// entry) and have a 2 MB huge page at the start of their heap
// (internal/prefault). Where the page cache does not hold the file in
// 2 MB folios (the text's mapping then has no huge page either), the
// first part is skipped with the reason.
func TestHugePageMappings(t *testing.T) {
	src, err := os.ReadFile(fenceBin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "fence")
	// One write(2) of the whole file, as dd's in the Makefile.
	f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Write(int(f.Fd()), src); err != nil || n != len(src) {
		t.Fatalf("write %s: %d of %d bytes, %v", bin, n, len(src), err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// smaps returns, for each mapping of pid's that is bin's or anonymous
	// and writable, its address range's start, and its kB of file and
	// anonymous huge pages.
	type mapping struct {
		kind                    string // "text", "rodata", "anon"
		size, filePMD, anonHuge int
	}
	smaps := func(pid int) []mapping {
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
					ms = append(ms, mapping{kind: kind})
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
			}
		}
		return ms
	}
	sum := func(ms []mapping, kind string, field func(mapping) int) int {
		n := 0
		for _, m := range ms {
			if m.kind == kind {
				n += field(m)
			}
		}
		return n
	}
	filePMD := func(m mapping) int { return m.filePMD }
	size := func(m mapping) int { return m.size }
	anonHuge := func(m mapping) int { return m.anonHuge }

	// The command waits on its stdin until the test has read both
	// processes' mappings.
	cmd := exec.Command(bin, "--", "head", "-c1")
	cmd.Env = []string{"PATH=" + strings.Join(stdPath, ":")}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Write([]byte("x"))
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("fence -- head -c1: %v", err)
		}
	}()
	// PID 1 is the supervisor's only child; it has started the command
	// once it has a child of its own.
	var pid1 int
	deadline := time.Now().Add(10 * time.Second)
	for pid1 == 0 || !hasChild(pid1) {
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox's command did not start within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
		pid1 = onlyChild(cmd.Process.Pid)
	}
	for _, p := range []struct {
		name string
		pid  int
	}{{"supervisor", cmd.Process.Pid}, {"init stage", pid1}} {
		ms := smaps(p.pid)
		if h := sum(ms, "anon", anonHuge); h < 2048 {
			t.Errorf("the %s has %d kB of anonymous huge pages, want its heap's 2048 at least", p.name, h)
		}
		if sum(ms, "text", filePMD) < 2048 {
			t.Logf("skipped for the %s: its text is mapped without huge pages: this file system's page cache does not hold %s in 2 MB folios", p.name, bin)
			continue
		}
		if r, n := sum(ms, "rodata", filePMD), sum(ms, "rodata", size); r != n || n%2048 != 0 {
			t.Errorf("the %s maps %d of its read-only data's %d kB with huge pages, want all, in whole 2 MB blocks (segments aligned to 2 MB, spawn.LDFlags; the last block mapped whole, internal/prefault)", p.name, r, n)
		}
	}
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

package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
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

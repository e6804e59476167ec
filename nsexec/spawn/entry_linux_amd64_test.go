package spawn

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// entryReport is testdata/entry's report (its Report and Child types).
type entryReport struct {
	Spawned   bool
	Error     string
	Child     *entryChild
	NS        map[string]string
	Stdio     []string
	Uid, Gid  int
	Status    int
	Children  []string
	Discarded bool
	Inherited []int
	Adopted   bool
	Slack     string
	// SysmonSlack is "" where the program may not read it.
	SysmonSlack string
	CPUs        string
	Placed      bool
	PlaceErr    string
}

type entryChild struct {
	Args      []string
	Env       []string
	Mode      string
	Pid       int
	Uid, Gid  int
	CapAmb    string
	Pdeathsig int
	NS        map[string]string
	Stdio     []string
	FDs       []int
	Spawned   bool

	SlackAtStart, Slack string
	Adopted             bool
	CPUs                string
	ThreadCPUs          []string
}

// buildEntry builds testdata/entry linked with fence's entry point (LDFlags)
// into a directory anyone may read, for runs as another user.
func buildEntry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(sharedDir(t, 0o755), "entry")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-buildvcs=false", "-ldflags="+LDFlags("linux", "amd64"), "-o", bin, "./testdata/entry")
	// Not the caller's GOFLAGS (-race would link another runtime).
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/entry: %v\n%s", err, out)
	}
	return bin
}

// sharedDir returns a new temporary directory of the given mode, which
// any user can reach.
func sharedDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// entryRunners are who runs the program: the caller, and nobody when the
// caller is root.
func entryRunners() []struct {
	name string
	cred *syscall.Credential
} {
	r := []struct {
		name string
		cred *syscall.Credential
	}{{"caller", nil}}
	if os.Getuid() == 0 {
		r = append(r, struct {
			name string
			cred *syscall.Credential
		}{"nobody", &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}})
	}
	return r
}

// runEntry runs bin with argv (argv[0] included) as cred, with extra
// environment, and returns its report.
func runEntry(t *testing.T, bin string, argv []string, cred *syscall.Credential, env ...string) entryReport {
	t.Helper()
	return runEntryFiles(t, bin, argv, cred, nil, env...)
}

// runEntryFiles is runEntry with extra files, from fd 3 on.
func runEntryFiles(t *testing.T, bin string, argv []string, cred *syscall.Credential, extra []*os.File, env ...string) entryReport {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.ExtraFiles = extra
	cmd.Args = argv
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// The program starts with testCallerSlack, which no default has: the
	// slack it reports back is the caller's, not a default.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, testCallerSlack, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	if serr := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(orig), 0, 0, 0); serr != nil {
		t.Fatal(serr)
	}
	if err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
	var r entryReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: report %q: %v", argv, out, err)
	}
	return r
}

// testCallerSlack is the timer slack (ns) that runEntryFiles starts the
// program with.
const testCallerSlack = 77777

// checkSlack checks that the program r reports on gave its main thread
// the caller's timer slack back, and, if spawned (the entry cloned, even
// if its child failed then), that the entry had given its threads and the
// init stage's SysmonSlack (only root may read another thread's slack:
// SysmonSlack is "" otherwise).
func checkSlack(t *testing.T, r entryReport, spawned bool) {
	t.Helper()
	caller, coarse := strconv.Itoa(testCallerSlack), strconv.FormatInt(SysmonSlack.Nanoseconds(), 10)
	if r.Adopted != spawned || r.Slack != caller {
		t.Errorf("AdoptEntrySlack reported %v, the main thread's slack is then %s ns: want %v and the caller's %s", r.Adopted, r.Slack, spawned, caller)
	}
	want := caller
	if spawned {
		want = coarse
	}
	if r.SysmonSlack != want && (r.SysmonSlack != "" || os.Geteuid() == 0 && r.Uid == 0) {
		t.Errorf("sysmon's thread has timer slack %q ns, want %s", r.SysmonSlack, want)
	}
	if c := r.Child; c != nil {
		if c.SlackAtStart != coarse || !c.Adopted || c.Slack != caller {
			t.Errorf("the init stage starts with timer slack %s ns, AdoptEntrySlack reports %v, then %s ns: want %s, true and the caller's %s", c.SlackAtStart, c.Adopted, c.Slack, coarse, caller)
		}
	}
}

// needUserNamespaces skips where this process cannot create the
// namespaces the init stage needs.
func needUserNamespaces(t *testing.T) {
	t.Helper()
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: CloneFlags}
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot create user, mount, PID, IPC and UTS namespaces here (unprivileged user namespaces disabled, or a seccomp profile), which the init stage needs: %v", err)
	}
}

// TestEntryChild: for a command line with "--" or "-c", or that starts
// with the command, fence's entry
// point starts the init stage as Start does: /proc/self/exe as InitArg0
// (with AskNetArg, where Start gives StartArg) and initEnv alone, PID 1 of new user, mount, PID, IPC
// and UTS namespaces (the network namespace is the init stage's to make),
// initCaps as its ambient capabilities, SIGKILL as its parent-death
// signal, fence's stdio, and the control socket as fd 3; FromEntry maps
// the caller's ids and sends the network mode. As the caller and, for
// root, as nobody.
func TestEntryChild(t *testing.T) {
	needUserNamespaces(t)
	bin := buildEntry(t)
	var mask uint64
	for _, c := range initCaps {
		mask |= 1 << c
	}
	for _, ru := range entryRunners() {
		for _, tc := range []struct {
			argv    []string
			hostNet bool
			fd3     bool // fence inherits an fd 3 (the socket's place in the child)
		}{
			{[]string{"fence", "--", "true"}, false, false},
			{[]string{"fence", "-t", "code", "-c", "true"}, true, false},
			{[]string{"fence", "true", "-t", "code"}, false, false},
			{[]string{"fence", "--", "true"}, false, true},
		} {
			t.Run(fmt.Sprintf("%s/%s/fd3=%v", ru.name, strings.Join(tc.argv[1:], " "), tc.fd3), func(t *testing.T) {
				var env []string
				if tc.hostNet {
					env = append(env, "HOSTNET=1")
				}
				var extra []*os.File
				if tc.fd3 {
					extra = append(extra, openFile(t, "/dev/null"))
				}
				r := runEntryFiles(t, bin, tc.argv, ru.cred, extra, env...)
				if !r.Spawned || r.Error != "" || r.Child == nil {
					t.Fatalf("the entry spawned %v, error %q, child %+v: want an init stage taken over", r.Spawned, r.Error, r.Child)
				}
				c := r.Child
				if want := []string{InitArg0, AskNetArg}; !slices.Equal(c.Args, want) {
					t.Errorf("the init stage's argv is %q, want %q", c.Args, want)
				}
				if !slices.Equal(c.Env, initEnv) {
					t.Errorf("the init stage's environment is %q, want initEnv %q", c.Env, initEnv)
				}
				want := string(rune(ModeNetNS))
				if tc.hostNet {
					want = string(rune(ModeHost))
				}
				if c.Mode != want {
					t.Errorf("the init stage read the network mode %q, want %q", c.Mode, want)
				}
				if amb, err := strconv.ParseUint(c.CapAmb, 16, 64); err != nil || amb != mask {
					t.Errorf("the init stage's ambient capabilities are %s, want initCaps, %016x", c.CapAmb, mask)
				}
				if c.Pdeathsig != int(syscall.SIGKILL) {
					t.Errorf("the init stage's parent-death signal is %d, want SIGKILL", c.Pdeathsig)
				}
				if c.Pid != 1 {
					t.Errorf("the init stage is pid %d in its namespace, want 1", c.Pid)
				}
				for _, ns := range []string{"user", "mnt", "pid", "ipc", "uts"} {
					if c.NS[ns] == "" || c.NS[ns] == r.NS[ns] {
						t.Errorf("the init stage's %s namespace is %q, the caller's %q: want a new one", ns, c.NS[ns], r.NS[ns])
					}
				}
				if c.NS["net"] != r.NS["net"] {
					t.Errorf("the init stage's network namespace is %q, the caller's %q: the clone must not make one", c.NS["net"], r.NS["net"])
				}
				if c.Uid != r.Uid || c.Gid != r.Gid {
					t.Errorf("the init stage runs as %d:%d, the caller as %d:%d: want the caller's ids mapped", c.Uid, c.Gid, r.Uid, r.Gid)
				}
				if !slices.Equal(c.Stdio, r.Stdio) {
					t.Errorf("the init stage's fds 0-2 are %q, the caller's %q", c.Stdio, r.Stdio)
				}
				// What fence inherited, with the socket as fd 3, and
				// nothing else: the supervisor's end of the socket would
				// keep it from ever seeing the supervisor go (EOF).
				fds := append([]int{ControlFD}, r.Inherited...)
				slices.Sort(fds)
				fds = slices.Compact(fds)
				if !slices.Equal(c.FDs, fds) || !slices.Contains(c.FDs, 0) {
					t.Errorf("the init stage starts with fds %v without close-on-exec, want %v (fence's own, and %d)", c.FDs, fds, ControlFD)
				}
				if c.Spawned {
					t.Error("the init stage's own entry spawned another init stage")
				}
				if r.Status != 0 || len(r.Children) != 0 {
					t.Errorf("the init stage exited %d, children left %q", r.Status, r.Children)
				}
				checkSlack(t, r, true)
				checkCPUs(t, r, r.CPUs)
			})
		}
	}
}

// TestEntryChildCPUs: the entry moves the init stage off the CPU it runs
// on for a start, and gives it back every CPU the caller may use before
// its exec, whichever those are: all of them, one (nowhere to move it), or
// two of several.
func TestEntryChildCPUs(t *testing.T) {
	needUserNamespaces(t)
	bin := buildEntry(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	var allowed []int
	for i := range len(all) * 64 {
		if all.IsSet(i) {
			allowed = append(allowed, i)
		}
	}
	sets := [][]int{allowed, allowed[:1]}
	if len(allowed) > 2 {
		sets = append(sets, []int{allowed[1], allowed[len(allowed)-1]})
	}
	defer func() {
		if err := unix.SchedSetaffinity(0, &all); err != nil {
			t.Fatal(err)
		}
	}()
	moved := 0
	for _, cpus := range sets {
		var set unix.CPUSet
		var want []string
		for _, c := range cpus {
			set.Set(c)
			want = append(want, strconv.Itoa(c))
		}
		// The program inherits this thread's CPUs (runEntryFiles forks
		// from it, locked).
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			t.Fatal(err)
		}
		// Moved where there is somewhere to move it, unless it reached
		// its exec first (then not at all: on a busy machine, as a CI
		// run of every package at once, now and then; a few tries then),
		// and never on one CPU.
		for try := 0; try < 10; try++ {
			r := runEntry(t, bin, []string{"fence", "--", "true"}, nil)
			if !r.Spawned || r.Child == nil {
				t.Fatalf("CPUs %v: the entry spawned %v, error %q: want an init stage", cpus, r.Spawned, r.Error)
			}
			w := strings.Join(want, ",")
			if r.CPUs != w {
				t.Errorf("started on CPUs %s: fence may run on %q", w, r.CPUs)
			}
			checkCPUs(t, r, w)
			if r.PlaceErr != "" || len(cpus) == 1 && r.Placed {
				t.Errorf("started on CPUs %s: the entry moved the init stage %v, %s: want %v without an error", w, r.Placed, r.PlaceErr, len(cpus) > 1)
			}
			if len(cpus) == 1 || r.Placed {
				if r.Placed {
					moved++
				}
				break
			}
		}
	}
	if moved == 0 && len(sets) > 1 {
		t.Error("the entry never moved the init stage off the supervisor's CPU where it could")
	}
}

// TestEntryPlacesChild runs the entry's move of a child off the calling
// thread's CPU (entryPlaceCheck) on a sleeping child: it narrows the
// child's CPUs to the caller's less the one it runs on, gives them back
// whole, and marks the move done (entryPlace 2); it leaves a child alone
// that reached its exec first (entryPlace 3), and one that has nowhere
// else to go.
func TestEntryPlacesChild(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.SchedSetaffinity(0, &all); err != nil {
			t.Fatal(err)
		}
		entryPid, entryPlace, entryPlaced = 0, 0, [2]int64{1, 1}
	}()
	var allowed []int
	for i := range len(all) * 64 {
		if all.IsSet(i) {
			allowed = append(allowed, i)
		}
	}
	if len(allowed) < 2 {
		t.Skipf("this process may run on %d CPU: the move needs two", len(allowed))
	}
	mask := func(cpus ...int) (s unix.CPUSet) {
		for _, c := range cpus {
			s.Set(c)
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		cpus    []int
		claimed int32 // entryPlace before the call
		moved   bool
	}{
		{"all", allowed, 0, true},
		{"two", allowed[:2], 0, true},
		{"one", allowed[:1], 0, false},
		{"exec first", allowed, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := mask(tc.cpus...)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				t.Fatal(err)
			}
			child := exec.Command("sleep", "10")
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
			entryPid, entryPlace, entryPlaced = int64(child.Process.Pid), tc.claimed, [2]int64{1, 1}
			entryMask, entryAway = [entryMaskBytes / 8]uint64{}, [entryMaskBytes / 8]uint64{}
			entryPlaceCheck()
			moved, err := EntryPlacement()
			if moved != tc.moved || err != nil {
				t.Fatalf("EntryPlacement = %v, %v; want %v, nil", moved, err, tc.moved)
			}
			wantPlace := int32(2)
			if tc.claimed != 0 {
				wantPlace = tc.claimed
			}
			if entryPlace != wantPlace {
				t.Errorf("entryPlace is %d after the move, want %d", entryPlace, wantPlace)
			}
			var got unix.CPUSet
			if err := unix.SchedGetaffinity(child.Process.Pid, &got); err != nil {
				t.Fatal(err)
			}
			if got != set {
				t.Errorf("the child may run on %v after the move, want the caller's %v", got, set)
			}
			if !tc.moved {
				return
			}
			// What the child was narrowed to: the caller's CPUs less the
			// one the caller ran on.
			var m, away unix.CPUSet
			for i := range len(m) * 64 {
				if entryMask[i/64]&(1<<(i%64)) != 0 {
					m.Set(i)
				}
				if entryAway[i/64]&(1<<(i%64)) != 0 {
					away.Set(i)
				}
			}
			narrowed := set
			narrowed.Clear(int(entryCPU))
			if m != set || away != narrowed || !set.IsSet(int(entryCPU)) {
				t.Errorf("the entry read CPUs %v, ran on CPU %d, narrowed the child to %v: want %v, one of them, %v", m, entryCPU, away, set, narrowed)
			}
		})
	}
}

// TestWaitEntryChild: FromEntry's wait returns at once for a child done
// already, and otherwise only once the child's tid is cleared, as the
// kernel clears it (and wakes the futex) at the child's exec or exit.
func TestWaitEntryChild(t *testing.T) {
	defer atomic.StoreInt32(&entryChildTid, 0)
	atomic.StoreInt32(&entryChildTid, 0)
	waitEntryChild() // returns: nothing to wait for
	atomic.StoreInt32(&entryChildTid, 1)
	var cleared atomic.Bool
	go func() {
		time.Sleep(20 * time.Millisecond)
		cleared.Store(true)
		atomic.StoreInt32(&entryChildTid, 0)
		// FUTEX_WAKE, shared, as the kernel's wake-up at exec.
		_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&entryChildTid)), 1, 1, 0, 0, 0)
	}()
	waitEntryChild()
	if !cleared.Load() {
		t.Error("waitEntryChild returned before the child's tid was cleared")
	}
}

// checkCPUs checks that the init stage's main thread, and every thread it
// had as its main started, may run on exactly the CPUs want.
func checkCPUs(t *testing.T, r entryReport, want string) {
	t.Helper()
	c := r.Child
	if c.CPUs != want || len(c.ThreadCPUs) < 2 {
		t.Errorf("the init stage may run on CPUs %q (%d threads reported), want %q", c.CPUs, len(c.ThreadCPUs), want)
	}
	for i, tc := range c.ThreadCPUs {
		if tc != want {
			t.Errorf("the init stage's thread %d may run on CPUs %q, want the caller's %q", i, tc, want)
		}
	}
}

// TestEntryDoesNotSpawn: no init stage for a command line that starts
// with a flag and has no "--" or "-c" (fence --version, fence -t code
// cmd), that names a subcommand (Subcommands), without arguments, in an
// init stage or a probe (argv[0] theirs), or with a closed fd 0, 1 or 2
// (a socket would take its number); and no child is left.
func TestEntryDoesNotSpawn(t *testing.T) {
	needUserNamespaces(t)
	bin := buildEntry(t)
	for _, ru := range entryRunners() {
		argvs := [][]string{
			{"fence", "--version"},
			{"fence", "-t", "code", "true"},
			{"fence", ""},
			{"fence"},
			{ProbeArg0, "--", "true"},
			{InitArg0, "--", "true"},
			{ProbeArg0, "true"},
		}
		for _, c := range Subcommands {
			argvs = append(argvs, []string{"fence", c, "x"})
		}
		for _, argv := range argvs {
			t.Run(ru.name+"/"+strings.Join(argv, " "), func(t *testing.T) {
				r := runEntry(t, bin, argv, ru.cred)
				if argv[0] == InitArg0 {
					// The program reports as an init stage (testdata/entry).
					if r.Error != "" || r.Spawned {
						t.Errorf("as an init stage: spawned %v, error %q", r.Spawned, r.Error)
					}
					return
				}
				if r.Spawned || len(r.Children) != 0 {
					t.Errorf("spawned %v, children %q: want no init stage", r.Spawned, r.Children)
				}
				checkSlack(t, r, false)
			})
		}
		for fd := 0; fd < 3; fd++ {
			t.Run(fmt.Sprintf("%s/fd %d closed", ru.name, fd), func(t *testing.T) {
				// The report goes to a file anyone may write: stdout may
				// be the fd closed.
				report := filepath.Join(sharedDir(t, 0o777), "report")
				// The shell closes the fd and execs the program.
				cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`exec "$0" -- true %d>&-`, fd), bin)
				cmd.Env = []string{"PATH=/usr/bin:/bin", "OUT=" + report}
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: ru.cred}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("run: %v\n%s", err, out)
				}
				b, err := os.ReadFile(report)
				if err != nil {
					t.Fatal(err)
				}
				var rep entryReport
				if err := json.Unmarshal(b, &rep); err != nil {
					t.Fatalf("report %q: %v", b, err)
				}
				if rep.Spawned || len(rep.Children) != 0 {
					t.Errorf("with fd %d closed: spawned %v, children %q: want the spawn left to Go", fd, rep.Spawned, rep.Children)
				}
			})
		}
	}
}

// TestEntryDiscard: DiscardEntry kills and reaps the init stage the entry
// spawned, for a command line that turns out to run no sandbox.
func TestEntryDiscard(t *testing.T) {
	needUserNamespaces(t)
	bin := buildEntry(t)
	for _, ru := range entryRunners() {
		t.Run(ru.name, func(t *testing.T) {
			r := runEntry(t, bin, []string{"fence", "--version", "--"}, ru.cred, "DISCARD=1")
			if !r.Spawned || !r.Discarded || len(r.Children) != 0 {
				t.Errorf("spawned %v, discarded %v, children left %q: want the init stage gone", r.Spawned, r.Discarded, r.Children)
			}
			checkSlack(t, r, true)
		})
	}
}

// TestEntryExecFails: root running a binary that only CAP_DAC_OVERRIDE
// lets it run (0700, another user's) cannot exec it from the new user
// namespace, where no id is mapped yet. The entry's child reports the
// failure and exits, FromEntry reaps it and reports nothing spawned
// (package early then spawns through ForkExec, which maps the ids first).
// The entry gave the threads its timer slack at the clone, before the
// child could fail: it is given back as after a spawn.
func TestEntryExecFails(t *testing.T) {
	needUserNamespaces(t)
	if os.Getuid() != 0 {
		t.Skip("needs root: a 0700 binary of another user that root runs through CAP_DAC_OVERRIDE")
	}
	bin := buildEntry(t)
	if err := os.Chown(bin, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	r := runEntry(t, bin, []string{"fence", "--", "true"}, nil)
	if r.Spawned || r.Error != "" || len(r.Children) != 0 {
		t.Errorf("spawned %v, error %q, children %q: want the failed child reaped and nothing spawned", r.Spawned, r.Error, r.Children)
	}
	checkSlack(t, r, true)
}

// TestMakefileLinksTheEntry: make build passes the same linker flags that
// LDFlags gives the test builds, so that the binary users run is the one
// measured and tested.
func TestMakefileLinksTheEntry(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	flag := LDFlags("linux", "amd64")
	if flag == "" || !strings.Contains(string(mk), flag) {
		t.Errorf("the Makefile does not link with %q (spawn.LDFlags)", flag)
	}
	for _, p := range [][2]string{{"linux", "arm64"}, {"darwin", "amd64"}, {"linux", "386"}} {
		if f := LDFlags(p[0], p[1]); f != "" {
			t.Errorf("LDFlags(%s, %s) = %q: there is no entry function there", p[0], p[1], f)
		}
	}
}

// TestEntryChecksArguments: the entry's spawn returns before any system
// call for an empty argv (argc 0, argv[0] the NULL that ends it: kernels
// before 5.18 pass that on, later ones make it {""}), for argv[0] alone,
// for a command line that starts with a flag or an empty argument and has
// no "--" or "-c" (a NULL-terminated scan), for a subcommand, and for
// an init stage or a probe. Called in this process (entryCheck), where a
// spawn must not happen: a file descriptor or an entryPid would show one.
func TestEntryChecksArguments(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	for _, argv := range [][]string{
		{},
		{"fence"},
		{"fence", "--version", "x", "---", "-cc", "c", "-"},
		{InitArg0, "--", "true"},
		{ProbeArg0, "-c", "true"},
		{InitArg0, "true"},
		{"fence", "", "x"},
		{"fence", "-t", "code", "true"},
		{"fence", "help", "--", ""},
	} {
		t.Run(fmt.Sprintf("%q", argv), func(t *testing.T) {
			ptrs := make([]*byte, len(argv)+1)
			for i, a := range argv {
				p, err := syscall.BytePtrFromString(a)
				if err != nil {
					t.Fatal(err)
				}
				ptrs[i] = p
			}
			before := fds()
			entryCheck(uintptr(len(argv)), &ptrs[0])
			runtime.KeepAlive(ptrs)
			if entryPid != 0 || entryErrno != 0 || fds() != before {
				t.Fatalf("entryPid %d, entryErrno %d, fds %d → %d: want no spawn attempted", entryPid, entryErrno, before, fds())
			}
		})
	}
}

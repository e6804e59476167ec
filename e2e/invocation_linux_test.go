package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// fence -- cmd args: argv reaches the command unchanged, spaces and shell
// metacharacters included.
func TestInvocationDoubleDash(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("--", "printf", "[%s]", "a", "b c", "$HOME", "*", "")
		if want := "[a][b c][$HOME][*][]"; res.stdout != want {
			t.Errorf("stdout %q, want %q", res.stdout, want)
		}
	})
}

// fence cmd args, without "--".
func TestInvocationPlainArgs(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("printf", "%s-%s", "x", "y z")
		if want := "x-y z"; res.stdout != want {
			t.Errorf("stdout %q, want %q", res.stdout, want)
		}
	})
}

// fence NAME args, where bash has a builtin or keyword NAME, does what
// upstream's `bash -c 'NAME args'` does, not what an executable of that
// name in PATH does: `:` exits 0, pwd prints $PWD (the logical working
// directory), time is the keyword, printf has -v, echo prints a lone
// --help; a function the environment exports to bash runs instead of a
// program.
func TestInvocationBuiltinsAsBash(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// A link inside the working directory, which the sandbox shows
		// (the workspace is in the host's /tmp, which it does not).
		s.mkdir("real")
		link := s.symlink(".", "real/self")
		for _, c := range []struct {
			o            opts
			args         []string
			stdout, errs string
		}{
			{opts{}, []string{":"}, "", ""},
			{opts{dir: link, env: []string{"PWD=" + link}}, []string{"pwd"}, link + "\n", ""},
			{opts{}, []string{"time", "true"}, "", "real"},
			{opts{}, []string{"printf", "-v", "x", "%s", "y"}, "", ""},
			{opts{}, []string{"echo", "--help"}, "--help\n", ""},
			{opts{}, []string{"--", "true", "--help"}, "", ""},
			{opts{env: []string{"BASH_FUNC_greet%%=() {  echo from-function \"$@\"\n}"}}, []string{"greet", "a"}, "from-function a\n", ""},
		} {
			res := s.fenceWith(c.o, c.args...)
			if res.code != 0 || res.err != nil || res.stdout != c.stdout || !strings.Contains(res.stderr, c.errs) {
				t.Errorf("want exit 0, stdout %q, stderr with %q: %v", c.stdout, c.errs, res)
			}
		}
	})
}

// fence -c "shell string" runs the string through a shell.
func TestInvocationShellString(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("-c", `x=4; echo "$((x*10+2))" | tr 4 X; echo "$0" >&2`)
		if res.stdout != "X2\n" {
			t.Errorf("stdout %q, want %q", res.stdout, "X2\n")
		}
		if !strings.Contains(res.stderr, "bash") {
			t.Errorf("$0 is %q, want the default shell bash", res.stderr)
		}
	})
}

// fence stops parsing its own flags at the first non-flag argument:
// `fence ls -l` runs `ls -l`, `fence echo -c x` prints "-c x".
func TestInvocationFlagsStopAtCommand(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("listed.txt", "12345")
		res := s.mustRun("ls", "-l", "listed.txt")
		out := strings.TrimSpace(res.stdout)
		if !strings.HasPrefix(out, "-rw-r--r--") || !strings.HasSuffix(out, "listed.txt") || !strings.Contains(out, " 5 ") {
			t.Errorf("`fence ls -l listed.txt` printed %q, want a long listing (-rw-r--r-- ... 5 ... listed.txt)", out)
		}
		res = s.mustRun("echo", "-c", "not-a-fence-flag", "-s", "x", "--debug")
		if want := "-c not-a-fence-flag -s x --debug\n"; res.stdout != want {
			t.Errorf("`fence echo -c ...` printed %q, want %q", res.stdout, want)
		}
	})
}

// --shell-login runs the shell as a login shell; without it, it is not.
func TestInvocationShellLogin(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("--shell-login", "-c", "shopt -q login_shell && echo login || echo not-login")
		if res.stdout != "login\n" {
			t.Errorf("--shell-login: stdout %q, want %q", res.stdout, "login\n")
		}
		res = s.mustRun("-c", "shopt -q login_shell && echo login || echo not-login")
		if res.stdout != "not-login\n" {
			t.Errorf("without --shell-login: stdout %q, want %q", res.stdout, "not-login\n")
		}
	})
}

// fence's exit code is the command's.
func TestExitCode(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		for _, c := range []struct {
			args []string
			want int
		}{
			{[]string{"-c", "exit 7"}, 7},
			{[]string{"-c", "exit 0"}, 0},
			{[]string{"-c", "exit 255"}, 255},
			{[]string{"--", "false"}, 1},
			{[]string{"--", "true"}, 0},
			{[]string{"--", "sh", "-c", "exit 3"}, 3},
		} {
			res := s.fence(c.args...)
			if res.code != c.want || res.err != nil {
				t.Errorf("want exit %d: %v", c.want, res)
			}
		}
	})
}

// A command killed by signal n gives 128+n.
func TestExitCodeSignal(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		for _, c := range []struct {
			cmd  string
			want int
		}{
			{"kill -9 $$", 128 + 9},
			{"kill -TERM $$", 128 + 15},
			{"kill -SEGV $$", 128 + 11},
		} {
			res := s.fence("-c", c.cmd)
			if res.code != c.want || res.err != nil {
				t.Errorf("-c %q: want exit %d: %v", c.cmd, c.want, res)
			}
		}
	})
}

// A command that is not found: 127, as in a shell.
func TestExitCodeCommandNotFound(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.fence("--", "fence-e2e-no-such-command")
		if res.code != 127 {
			t.Errorf("want exit 127: %v", res)
		}
		// A path is not a command to look up, and a script whose #!
		// interpreter is missing is there: the message says which, as
		// bash's does (both 127).
		s.write("bad-interpreter", "#!/fence-e2e-no-such-interpreter\n")
		if err := os.Chmod(s.path("bad-interpreter"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ arg, want string }{
			{"fence-e2e-no-such-command", "fence: fence-e2e-no-such-command: command not found\n"},
			{"./no-such-file", "fence: ./no-such-file: no such file or directory\n"},
			{"./bad-interpreter", "fence: ./bad-interpreter: cannot execute: the interpreter its #! line names does not exist\n"},
		} {
			if res := s.fence("--", c.arg); res.code != 127 || res.stderr != c.want {
				t.Errorf("want exit 127 and %q: %v", c.want, res)
			}
		}
	})
}

// A program whose dynamic loader is missing (a glibc build on a musl
// system) fails with ENOENT as a script with a missing #! interpreter
// does, 127, but has no #! line: the message names the loader.
func TestExitCodeMissingLoader(t *testing.T) {
	prog, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true in PATH")
	}
	b, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	// The loader's path, as PT_INTERP holds it, with its last byte
	// changed: the same length, so nothing else moves.
	i := bytes.Index(b, []byte("/lib"))
	for i >= 0 && !bytes.Contains(b[i:min(len(b), i+64)], []byte("ld-")) {
		j := bytes.Index(b[i+1:], []byte("/lib"))
		if j < 0 {
			i = -1
			break
		}
		i += 1 + j
	}
	if !bytes.HasPrefix(b, []byte("\x7fELF")) || i < 0 {
		t.Skipf("%s is not a dynamically linked ELF program", prog)
	}
	end := i + bytes.IndexByte(b[i:], 0)
	b[end-1] = 'X'
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("no-loader", string(b))
		if err := os.Chmod(s.path("no-loader"), 0o755); err != nil {
			t.Fatal(err)
		}
		want := "fence: ./no-loader: cannot execute: the dynamic loader (ELF interpreter) it names does not exist\n"
		if res := s.fence("--", "./no-loader"); res.code != 127 || res.stderr != want {
			t.Errorf("want exit 127 and %q: %v", want, res)
		}
	})
}

// A directory given as the command: 126, as in a shell, and said to be a
// directory (bash: "Is a directory"), not a permission problem; a file
// without the execute bit stays "permission denied".
func TestExitCodeDirectory(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("noexec", "echo x\n")
		for _, c := range []struct{ arg, want string }{
			{"/etc", "fence: /etc: is a directory\n"},
			{"./", "fence: ./: is a directory\n"},
			{"./noexec", "fence: ./noexec: permission denied\n"},
		} {
			res := s.fence("--", c.arg)
			if res.code != 126 || res.stderr != c.want {
				t.Errorf("fence -- %s: want exit 126 and %q: %v", c.arg, c.want, res)
			}
		}
	})
}

// stdin, stdout and stderr pass through untouched, binary data included.
func TestStdioPassThrough(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// Every byte value, then a large pseudo-random body (bigger than
		// any pipe buffer).
		var in bytes.Buffer
		for i := 0; i < 256; i++ {
			in.WriteByte(byte(i))
		}
		x := uint32(2463534242)
		for in.Len() < 1<<20+123 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			in.WriteByte(byte(x))
		}
		want := in.String()
		res := s.fenceWith(opts{stdin: bytes.NewReader(in.Bytes())}, "--", "cat")
		if res.code != 0 || res.err != nil {
			t.Fatalf("cat: %v", res)
		}
		if res.stdout != want {
			t.Errorf("cat through fence: got %d bytes, want %d identical bytes (first difference at %d)", len(res.stdout), len(want), firstDiff(res.stdout, want))
		}
		if res.stderr != "" {
			t.Errorf("stderr %q, want nothing", res.stderr)
		}

		// stdout and stderr stay separate and exact.
		res = s.fence("-c", `printf 'out\000\377\n'; printf 'err\001\n' >&2; exit 5`)
		if res.code != 5 {
			t.Errorf("want exit 5: %v", res)
		}
		if res.stdout != "out\x00\xff\n" {
			t.Errorf("stdout %q, want %q", res.stdout, "out\x00\xff\n")
		}
		if res.stderr != "err\x01\n" {
			t.Errorf("stderr %q, want %q", res.stderr, "err\x01\n")
		}

		// stdin is the command's stdin: EOF arrives.
		res = s.fenceWith(opts{stdin: strings.NewReader("l1\nl2\nl3")}, "-c", "wc -l; read -r x || echo eof")
		if res.code != 0 || strings.Fields(res.stdout)[0] != "2" || !strings.Contains(res.stdout, "eof") {
			t.Errorf("want 2 lines counted and eof: %v", res)
		}
	})
}

// TestCommandKeepsOpenFileLimit: the command starts with the open-file
// limits fence was started with, as any child of a shell would. Go raises
// its own soft limit to the hard one at start, and the command used to
// inherit that (19999 under ulimit -Sn 1000 -Hn 20000).
func TestCommandKeepsOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if uint64(lim.Max) < 1002 {
		t.Skipf("the hard open-file limit is %d: the test needs a soft limit of 1000 at least two below it (ulimit -Hn 1002)", lim.Max)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		for _, tc := range []struct{ opt, n, want string }{
			{"-Sn", "1000", "1000 " + strconv.FormatUint(uint64(lim.Max), 10)},
			{"-n", "900", "900 900"}, // soft and hard: Go raises nothing
		} {
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			cmd := s.command(ctx, opts{}, "--", "sh", "-c", `echo "$(ulimit -Sn) $(ulimit -Hn)"`)
			withFileLimit(cmd, tc.opt, tc.n)
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil || strings.TrimSpace(string(out)) != tc.want {
				t.Errorf("under ulimit %s %s the command's soft and hard limits are %q (%v), want %q", tc.opt, tc.n, out, err, tc.want)
			}
		}
	})
}

func firstDiff(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// SIGTERM sent to the fence process reaches the command.
func TestSIGTERMReachesCommand(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		r := s.startReady(ctx, false, `trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done`)
		cmd, br, stderr := r.cmd, r.out, r.stderr
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(br)
		err := cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if ctx.Err() != nil {
			t.Fatalf("fence did not exit after SIGTERM within %v; output %q", runTimeout, rest)
		}
		if code != 42 {
			t.Errorf("exit %d (%v), want 42 from the command's TERM trap; stderr %q", code, err, stderr.String())
		}
		if !strings.Contains(string(rest), "got-term") {
			t.Errorf("output after SIGTERM %q, want \"got-term\"", rest)
		}
	})
}

// Root can run a fence binary that only its CAP_DAC_OVERRIDE lets it
// execute (owned by another user, mode 0700; e.g. built under umask 077
// and run with sudo). That capability does not count inside the new user
// namespace until the ids are mapped, so this exec takes the slower path
// that maps them first (nsexec/spawn's forkInit).
func TestRootRunsBinaryOwnedByOther(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the binary must be one root may run only through CAP_DAC_OVERRIDE")
	}
	bin := filepath.Join(t.TempDir(), "fence")
	data, err := os.ReadFile(fenceBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(bin, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--", "id", "-u").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("root running a 0700 fence owned by nobody: %v, output %q; want uid 0 inside", err, out)
	}
	// That path execs the init stage as root of its namespace, with
	// every capability; it keeps no more than the vfork path's
	// (spawn.InitCapMask) from its first step (-d reports them).
	want := fmt.Sprintf("capabilities at start %#x\n", spawn.InitCapMask())
	for _, b := range []string{bin, fenceBin} {
		out, err := exec.Command(b, "-d", "--", "true").CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%s -d -- true: %v; want the init stage's %q:\n%s", b, err, strings.TrimSpace(want), out)
		}
	}
}

// Root of a user namespace that maps only its own id (a rootless
// container; unshare -Ur) runs fence: it cannot map every id into the
// sandbox, so it maps root alone, as any user maps itself.
func TestRootOfPartialUserNamespace(t *testing.T) {
	need(t, "unshare")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "-Ur", fenceBin, "--", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map")
		cmd.Dir, cmd.Env = s.dir, s.env()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		out, err := cmd.CombinedOutput()
		if got := strings.Fields(string(out)); err != nil || strings.Join(got, " ") != "0 0 0 0 1 0 0 1" {
			t.Fatalf("fence as root of unshare -Ur: %v, output %q; want uid and gid 0, each mapped alone", err, out)
		}
	})
}

// Root without CAP_SETUID or CAP_SETGID (a container that dropped them)
// runs fence too: what it cannot map in full it maps for root alone, the
// gid with setgroups denied.
func TestRootWithoutSetidCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the case is root without some of its capabilities")
	}
	need(t, "setpriv")
	for _, c := range []struct{ drop, uidMap, gidMap, setgroups string }{
		{"-setgid", "0 0 4294967295", "0 0 1", "deny"},
		{"-setuid", "0 0 1", "0 0 1", "deny"},
	} {
		out, err := exec.Command("setpriv", "--bounding-set="+c.drop, fenceBin, "--", "sh", "-c",
			"id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups").CombinedOutput()
		want := "0 " + c.uidMap + " " + c.gidMap + " " + c.setgroups
		if got := strings.Join(strings.Fields(string(out)), " "); err != nil || got != want {
			t.Errorf("fence as root with %s: %v, output %q; want %q", c.drop, err, got, want)
		}
	}
}

// Each signal fence forwards reaches the command, one after another, and
// fence keeps running until the command exits.
func TestForwardedSignalsReachCommand(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		r := s.startReady(ctx, false, `for sig in INT HUP QUIT USR1 USR2; do trap "echo got-$sig" $sig; done
trap "echo got-TERM; exit 42" TERM
echo ready; while :; do sleep 0.05; done`)
		defer func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() }()
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2} {
			if signal.Ignored(sig) {
				// Inherited ignored by the test (nohup, a background
				// job's SIGINT): fence inherits the ignore and rightly
				// does not forward it (TestCommandSignalDispositions).
				continue
			}
			if err := r.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			line, err := r.out.ReadString('\n')
			if want := "got-" + strings.TrimPrefix(unix.SignalName(sig), "SIG") + "\n"; line != want {
				t.Fatalf("after %v the command printed %q (%v), want %q; stderr %q", sig, line, err, want, r.stderr.String())
			}
		}
		if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(r.out)
		_ = r.cmd.Wait()
		if code := r.cmd.ProcessState.ExitCode(); code != 42 || string(rest) != "got-TERM\n" {
			t.Errorf("after SIGTERM: exit %d, output %q; want 42 and \"got-TERM\"", code, rest)
		}
	})
}

// PID 1 of the sandbox survives the signals a terminal or the command can
// send it: Ctrl-C's SIGINT reaches the whole foreground group (fence, PID 1
// and the command), and the command may signal PID 1 itself. If PID 1 died,
// the kernel would kill the command with it.
func TestInitSurvivesSignals(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// From inside: every catchable signal the runtime would act on.
		res := s.fence("-c", `for sig in INT TERM HUP QUIT USR1 USR2 PIPE ALRM ABRT SEGV BUS FPE ILL TRAP SYS STKFLT; do kill -s $sig 1 || echo "kill $sig failed"; done; sleep 0.2; echo alive`)
		if res.code != 0 || res.stdout != "alive\n" {
			t.Errorf("command signalling PID 1: want exit 0 and \"alive\": %v", res)
		}

		// From the host, as the terminal does: SIGINT to fence's whole
		// process group while the command traps it.
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		r := s.startReady(ctx, true, `trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 0.1; done`)
		cmd, br, stderr := r.cmd, r.out, r.stderr
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(br)
		_ = cmd.Wait()
		if ctx.Err() != nil {
			t.Fatalf("fence did not exit after SIGINT within %v; output %q", runTimeout, rest)
		}
		if code := cmd.ProcessState.ExitCode(); code != 7 || string(rest) != "got-int\n" {
			t.Errorf("after SIGINT to the process group: exit %d, output %q; want exit 7 from the command's trap and \"got-int\"; stderr %q",
				code, rest, stderr.String())
		}
	})
}

// Without a terminal, a SIGINT to fence's process group (timeout -s INT, a
// harness's killpg) reaches the command's whole process group, as it would
// without fence, where the command shares fence's group (and as it does
// with a terminal, and on macOS): a shell waiting for its child stops with
// it. Passed to the shell alone, the shell waited for sleep to end and went
// on to its next command.
func TestSignalReachesCommandGroup(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		r := s.startReady(ctx, true, `echo ready; sleep 20; echo after`)
		defer func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() }()
		start := time.Now()
		if err := syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(r.out)
		_ = r.cmd.Wait()
		if took := time.Since(start); took > 10*time.Second || len(rest) != 0 {
			t.Errorf("after SIGINT to fence's process group: output %q after %v; want nothing, at once (the command's sleep interrupted); stderr %q",
				rest, took.Round(time.Millisecond), r.stderr.String())
		}
	})
}

// A command that signals PID 1 the instant it starts: PID 1 may still be
// inside the fork of the command then, with every signal blocked on that
// thread, and a signal must not find a fatal disposition on another thread.
// A C helper starts fast enough to hit that window (bash does not).
func TestInitSurvivesEarlySignals(t *testing.T) {
	gcc := need(t, "gcc")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("killone.c", "#include <signal.h>\n#include <stdlib.h>\nint main(int c, char **v) { return kill(1, atoi(v[1])) ? 3 : 0; }\n")
		if out, err := exec.Command(gcc, "-O2", "-o", s.path("killone"), s.path("killone.c")).CombinedOutput(); err != nil {
			t.Fatalf("compile the helper: %v\n%s", err, out)
		}
		if err := os.Chmod(s.path("killone"), 0o755); err != nil {
			t.Fatal(err)
		}
		sigs := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1}
		died := map[syscall.Signal]int{}
		for i := 0; i < 40; i++ {
			sig := sigs[i%len(sigs)]
			res := s.fence("--", s.path("killone"), strconv.Itoa(int(sig)))
			if res.code != 0 {
				died[sig]++
				if died[sig] == 1 {
					t.Logf("kill(1, %v) from the command: %v", sig, res)
				}
			}
		}
		if len(died) > 0 {
			t.Errorf("the sandbox died when its command signalled PID 1 at start: %v (of 10 runs each)", died)
		}
	})
}

// The command starts with the signal dispositions and mask any child of a
// Go program gets (PID 1 ignores signals itself, and none of that may leak
// into the command); a SIGHUP fence inherited ignored (nohup) stays ignored
// for the command, whether the init stage was spawned early or late.
func TestCommandSignalDispositions(t *testing.T) {
	sigStatus := func(status string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(status, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && (k == "SigIgn" || k == "SigBlk") {
				m[k] = strings.TrimSpace(v)
			}
		}
		return m
	}
	out, err := exec.Command("cat", "/proc/self/status").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := sigStatus(string(out))
	if len(want) != 2 {
		t.Fatalf("no SigIgn/SigBlk in /proc/self/status:\n%s", out)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// The init stage spawned by fence's entry point (--) and by
		// package early's init (a flag first, no --).
		for _, args := range [][]string{{"--", "cat", "/proc/self/status"}, {"-t", "code", "cat", "/proc/self/status"}} {
			res := s.fence(args...)
			if got := sigStatus(res.stdout); got["SigIgn"] != want["SigIgn"] || got["SigBlk"] != want["SigBlk"] {
				t.Errorf("fence %q: command's signals %v, want %v (a plain child's)\n%v", args, got, want, res)
			}
		}
		// fence started with SIGHUP ignored, for each way the init stage
		// is spawned: by the entry point, by early's init, and again
		// after fence's signal set-up, for a config that changes the
		// network mode only through extends (the early guess, a network
		// namespace, does not follow it).
		relaxed := s.config("relaxed.json", `{"network": {"allowedDomains": ["*"]}}`)
		chained := s.config("chained.json", `{"extends": "`+relaxed+`"}`)
		for _, args := range []string{"--", "-t code", "-s " + chained + " --"} {
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			cmd := s.command(ctx, opts{})
			cmd.Path, cmd.Args = "/bin/sh", []string{"sh", "-c", `trap "" HUP; exec "$0" ` + args + ` cat /proc/self/status`, fenceBin}
			out, err := cmd.Output()
			cancel()
			got := sigStatus(string(out))["SigIgn"]
			ign, perr := strconv.ParseUint(got, 16, 64)
			if err != nil || perr != nil || ign&(1<<(syscall.SIGHUP-1)) == 0 {
				t.Errorf("fence %s started with SIGHUP ignored: the command's SigIgn %q lacks SIGHUP (%v)", args, got, err)
			}
		}
	})
}

// No command: exit 1 and a message.
func TestNoCommand(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		for _, args := range [][]string{nil, {"-s", cfg}, {"--"}} {
			res := s.fence(args...)
			if res.code != 1 {
				t.Errorf("want exit 1: %v", res)
			}
			if !strings.Contains(res.stderr, "no command specified") {
				t.Errorf("want \"no command specified\" on stderr: %v", res)
			}
		}
	})
}

// waitUntil polls cond until it holds or timeout passes (a guard against
// hangs, not a timing assertion).
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fence killed in its first moments (a CI job or an agent's harness
// cancelling a run it just started) leaves nothing behind. The init stage
// its ELF entry had just cloned set its parent-death signal only after
// fence was gone in a few runs in a thousand, and waited for good for a
// placement fence never finished, holding fence's stdout: a pipeline
// reading it never ended. Each run's stdout is a pipe of its own, which
// must reach its end once fence is reaped.
func TestKilledAtStartLeavesNothing(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		const runs = 300
		before := strayStages()
		rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		left := 0
		for i := 0; i < runs && left == 0; i++ {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := s.command(context.Background(), opts{}, "--", "sleep", "30")
			cmd.Stdout, cmd.Stderr = w, w
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			// Anywhere in the first 3 ms: the entry, the clone, the
			// child's first steps, the runtime's start.
			for until := time.Now().Add(time.Duration(rnd.IntN(3000)) * time.Microsecond); time.Now().Before(until); {
			}
			sig := []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT}[i%3]
			_ = cmd.Process.Signal(sig)
			_ = cmd.Wait()
			_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, r); err != nil {
				left++
				t.Errorf("run %d, %v a moment after the start: fence's stdout still open 5 s after fence was reaped (%v): something of the sandbox outlived it", i, sig, err)
			}
			r.Close()
		}
		for _, pid := range strayStages() {
			if !slices.Contains(before, pid) {
				t.Errorf("an init stage (pid %d) outlived its fence", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// strayStages lists the init stages (argv[0] fence-init) whose parent is
// the host's init: their fence is gone. (Under a subreaper they are its;
// the pipe above still tells.)
func strayStages() []int {
	var pids []int
	for _, pid := range processesMatching(func(c string) bool { return strings.HasPrefix(c, "fence-init\x00") }) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// The parent is the second field after the command's ")".
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 1 && f[1] == "1" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// What fence's caller ignored stays ignored: for fence, which does not
// forward such a signal (it died of a SIGTERM its caller's empty trap was
// meant to keep off, and passed it on), and for the command, which
// inherits the ignore as it would without fence (systemd's ignored
// SIGPIPE made `seq | head` end by the signal under fence, by EPIPE
// without). The Go runtime keeps an inherited ignore of SIGHUP and SIGINT
// only. Both spawns: the entry's (after --) and package early's (flags,
// then the command, no --).
func TestInheritedIgnoresKept(t *testing.T) {
	bash := need(t, "bash")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		run := func(script string, args ...string) result {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			cmd := s.command(ctx, opts{})
			cmd.Path = bash
			cmd.Args = append([]string{"bash", "-c", script, fenceBin}, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			res := result{args: cmd.Args, stdout: stdout.String(), stderr: stderr.String(), err: err}
			if err == nil {
				res.code = 0
			}
			return res
		}
		// What the command ignores is what it would without fence: the
		// same shell's grep, run directly (the environment may ignore
		// more, as CI's runner does signal 32). With the traps, bits 3,
		// 10, 12, 13, 14 and 15 of SigIgn (0x7a04, bit n-1 for signal n)
		// are set there.
		for _, traps := range []string{"trap '' QUIT USR1 USR2 PIPE ALRM TERM; ", ""} {
			want := run(traps + `exec grep SigIgn /proc/self/status`)
			if want.err != nil || traps != "" && !strings.HasSuffix(strings.TrimSpace(want.stdout), "7a04") {
				t.Fatalf("without fence: %v", want)
			}
			for _, args := range [][]string{{"--", "grep", "SigIgn", "/proc/self/status"}, {"--no-project", "grep", "SigIgn", "/proc/self/status"}} {
				if res := run(traps+`exec "$0" "$@"`, args...); res.err != nil || res.stdout != want.stdout {
					t.Errorf("fence %q after %q: want the command's ignored signals as without fence, %q\n%v", args, traps, want.stdout, res)
				}
			}
		}
		res := run(`trap '' TERM; "$0" -- sh -c 'sleep 1; echo done' & sleep 0.3; kill -TERM $!; wait $!; echo "rc=$?"`)
		if res.err != nil || res.stdout != "done\nrc=0\n" {
			t.Errorf("SIGTERM to fence, its caller ignoring it: want fence and the command to go on\n%v", res)
		}
	})
}

package e2e

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

// TestFailClosedWithoutUserNamespaces: when user namespaces cannot be
// created, fence refuses to run the command and names the sysctl to fix. The
// test lowers user.max_user_namespaces to 0 inside a user namespace of its
// own (the limit is per namespace), so the host is untouched.
func TestFailClosedWithoutUserNamespaces(t *testing.T) {
	unshare := need(t, "unshare")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg, marker := s.markerIn()
		s.mustRefuse(exec.Command(unshare, "--user", "--map-root-user", "sh", "-c",
			`echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" -s "$2" -- touch "$1"`, fenceBin, marker, cfg),
			marker, "user.max_user_namespaces=0")
	})
}

// TestFailClosedInsideFence: fence run inside a fence sandbox refuses, and
// says why: the sandbox allows no new namespaces. It blamed the kernel or
// a container's seccomp profile.
func TestFailClosedInsideFence(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		inner := s.copyIn(fenceBin, "fence-inner", 0o755)
		cfg, marker := s.markerIn()
		s.mustRefuse(exec.Command(fenceBin, "-s", cfg, "--", inner, "-s", cfg, "--", "touch", marker), marker,
			"create sandbox namespaces", "inside a fence sandbox (FENCE_SANDBOX=1)", "start this fence outside it")
	})
}

// TestLinuxFeaturesInsideFence: fence --linux-features run inside a fence
// sandbox says why it cannot create namespaces there, as a refused run
// does (TestFailClosedInsideFence). It blamed a container's seccomp
// profile or a kernel setting and sent the reader to the README.
func TestLinuxFeaturesInsideFence(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		inner := s.copyIn(fenceBin, "fence-inner", 0o755)
		res := s.fence("--", inner, "--linux-features")
		if res.code != 0 {
			t.Fatalf("want exit 0: %v", res)
		}
		if !strings.Contains(res.stdout, "inside a fence sandbox (FENCE_SANDBOX=1)") ||
			strings.Contains(res.stdout, "container's seccomp profile") {
			t.Errorf("--linux-features inside fence does not say the outer sandbox is the cause:\n%s", res.stdout)
		}
	})
}

// TestOldLandlockABI: a kernel of Landlock ABI 1 (Linux 5.13 to 5.18) has
// no refer right, and a ruleset there refuses every rename across
// directories, in the writable paths too; go-landlock then applies none.
// fence refused every command there ("landlock is not available") while
// --linux-features said Landlock was fine, and a kernel without Landlock
// ran on the mount policy. It now runs as without Landlock, the mount
// policy enforcing the writes, and says so with -d and in
// --linux-features. strace makes the kernel answer version 1 to the
// version queries (the first two in each thread that asks).
func TestOldLandlockABI(t *testing.T) {
	strace := need(t, "strace")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		fake := func(args ...string) (string, int) {
			cmd := exec.Command(strace, append([]string{"-f", "-qq", "-o", "/dev/null",
				"-e", "inject=landlock_create_ruleset:retval=1:when=1..2", fenceBin}, args...)...)
			cmd.Dir = s.dir
			cmd.Env = s.env()
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			return string(out), code
		}
		s.mkdir("w")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`)
		out, code := fake("-d", "-s", cfg, "--", "sh", "-c",
			`mkdir w/a w/b && touch w/a/x && mv w/a/x w/b/x && echo MOVED; touch outside 2>/dev/null || echo READONLY`)
		if code != 0 || !strings.Contains(out, "MOVED") {
			t.Fatalf("want the command to run: exit %d\n%s", code, out)
		}
		if !strings.Contains(out, "READONLY") {
			t.Errorf("the mount policy let the command write outside allowWrite:\n%s", out)
		}
		if !strings.Contains(out, "landlock ABI 1 is too old for fence") {
			t.Errorf("-d does not say Landlock is not used:\n%s", out)
		}
		out, _ = fake("--linux-features")
		if !strings.Contains(out, "Landlock: true (ABI v1, too old for fence: not used)") {
			t.Errorf("--linux-features does not say ABI 1 is not used:\n%s", out)
		}
	})
}

// TestFailClosedWorkingDirWithoutCapabilities: a working directory below
// one of mode 000 can be entered only with capabilities: by root, and by
// the root of the sandbox's user namespace over the user's own files,
// while the sandbox is built; the command, which has none, cannot. fence
// reported that as the program's failure ("fence: touch: permission
// denied", exit 126); it now refuses with one line naming the directory.
func TestFailClosedWorkingDirWithoutCapabilities(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// Outside /tmp: a working directory there is bound on the
		// sandbox's private /tmp, whose directories above it are fence's.
		locked := filepath.Join(s.outsideDir("fence-e2e-locked-"), "d")
		if err := os.MkdirAll(filepath.Join(locked, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		s.own(locked, 0o755)
		s.own(filepath.Join(locked, "x"), 0o755)
		t.Cleanup(func() { os.Chmod(locked, 0o755) })
		cfg, marker := s.markerIn()
		s.mustRefuse(exec.Command("sh", "-c", `cd "$2/x" && chmod 000 .. && exec "$0" --no-project -s "$3" -- sh -c "echo > $1"`, fenceBin, marker, locked, cfg),
			marker, "enter working directory "+filepath.Join(locked, "x")+" inside the sandbox", "permission denied", "chmod +x")
	})
}

// TestFailClosedWithoutSyscalls: a kernel without a system call fence
// builds the sandbox with, or a seccomp profile (a container's) that
// refuses it, stops fence with one line naming the call and what it
// needs. The nosys fixture fails the call with ENOSYS or EPERM.
func TestFailClosedWithoutSyscalls(t *testing.T) {
	nosys := fixture(t, "nosys")
	for _, tc := range []struct {
		call  string
		wants []string
	}{
		// The init stage exited without a word: "exited before
		// reporting; run with -d for details", and -d had none.
		{"close_range", []string{"close_range", "Linux 5.11"}},
		// "load creation guard filter: function not implemented".
		{"seccomp_listener", []string{"guard filter", "user-notification listener", "Linux 5.9"}},
	} {
		for _, errno := range []string{"38", "1"} {
			t.Run(tc.call+"/"+errno, func(t *testing.T) {
				forEachRunner(t, func(t *testing.T, s *sandbox) {
					// A writable path: the write guard is on.
					marker := filepath.Join(s.mkdir("w"), "ran")
					s.mustRefuse(exec.Command(nosys, errno, tc.call, fenceBin, "-s", s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`), "--", "touch", marker),
						marker, tc.wants...)
				})
			})
		}
	}
	// The mount API (Linux 5.12): "clone /dev/null: function not
	// implemented" named no kernel. ENOSYS only: an EPERM from open_tree
	// has other causes too.
	for _, call := range []string{"open_tree", "mount_setattr"} {
		t.Run(call, func(t *testing.T) {
			forEachRunner(t, func(t *testing.T, s *sandbox) {
				cfg, marker := s.markerIn()
				s.mustRefuse(exec.Command(nosys, "38", call, fenceBin, "-s", cfg, "--", "touch", marker), marker, "mount API", "Linux 5.12")
			})
		})
	}
	// Another listener in force (fence under another sandbox that uses
	// seccomp user notification): the kernel allows one, and says EBUSY.
	t.Run("second listener", func(t *testing.T) {
		forEachRunner(t, func(t *testing.T, s *sandbox) {
			marker := filepath.Join(s.mkdir("w"), "ran")
			s.mustRefuse(exec.Command(nosys, "16", "seccomp_listener", fenceBin, "-s", s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`), "--", "touch", marker),
				marker, "already in force", "start fence outside it")
		})
	})
}

// TestFailClosedLowOpenFileLimit: at a low open-file limit fence runs out
// of descriptors while it builds the sandbox, and refuses; the error
// named a mount ("clone /dev/random: too many open files") or a
// credential path with a fix for the file system, not the limit. It now
// names the limit too. Below 16 fence refuses before it builds anything
// (at 6 to 9 the Go runtime's poller failed to start: a fatal error and a
// stack trace); from 16 up, every limit at which the build runs out is
// named, until one is enough and the command runs. The config's writable
// paths (PID 1 holds a clone of each until it attaches them) make sure
// that the build runs out at 16: with one, since /dev is built before
// the policy comes (Linux 6.15 and later), `fence -- touch` fits in 16.
func TestFailClosedLowOpenFileLimit(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// The marker is written in the workspace, so that it proves the
		// command ran: without allowWrite the touch fails either way.
		s.mkdir("out")
		writable := []string{`"out"`}
		for i := range 12 {
			writable = append(writable, strconv.Quote(filepath.Base(s.mkdir("w"+strconv.Itoa(i)))))
		}
		cfg := s.config("w.json", `{"filesystem":{"allowWrite":[`+strings.Join(writable, ",")+`]}}`)
		marker := s.path("out/ran")
		for _, n := range []string{"6", "8", "9", "12", "15"} {
			s.mustRefuse(exec.Command("sh", "-c", `ulimit -n "$2" && exec "$0" -s "$3" -- touch "$1"`, fenceBin, marker, n, cfg), marker,
				"Error: fence needs an open-file limit of at least 16 to start a sandbox, and ulimit -n is "+n+": raise it (ulimit -n 1024)")
		}
		refused := 0
		for n := 16; n <= 64; n++ {
			cmd := exec.Command("sh", "-c", `ulimit -n "$2" && exec "$0" -s "$3" -- touch "$1"`, fenceBin, marker, strconv.Itoa(n), cfg)
			cmd.Dir, cmd.Env = s.dir, s.env()
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
			out, err := cmd.CombinedOutput()
			if err == nil {
				if _, err := os.Stat(marker); err != nil {
					t.Fatalf("ulimit -n %d: fence exited 0 but the command did not run: %v\n%s", n, err, out)
				}
				break
			}
			refused++
			var ee *exec.ExitError
			msg := strings.TrimSpace(string(out))
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || strings.Contains(msg, "\n") {
				t.Errorf("ulimit -n %d: %v, output:\n%s\nwant exit 1 and one line", n, err, out)
			}
			for _, w := range []string{"too many open files", "ulimit -n, is " + strconv.Itoa(n), "raise it"} {
				if !strings.Contains(msg, w) {
					t.Errorf("ulimit -n %d: want the error to name %q, got:\n%s", n, w, out)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatalf("ulimit -n %d: fence failed (%v) after the command ran", n, err)
			}
		}
		t.Logf("refused at %d limits from 16, ran at the next", refused)
		if refused == 0 {
			t.Fatal("fence built the sandbox at ulimit -n 16, the lowest limit its early check lets through: the out-of-descriptors path this test covers is no longer reached by a limit")
		}
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("fence refused at every ulimit -n from 16 to 64 (%d times): %v", refused, err)
		}
	})
}

// markerIn returns a config that makes the workspace's directory w
// writable, and the path of a marker file in it: a command that ran would
// create it (in the read-only workspace itself its touch would fail
// whether fence refused or not, and mustRefuse's check could not fail).
func (s *sandbox) markerIn() (cfg, marker string) {
	s.t.Helper()
	w := s.mkdir("w")
	return s.config("marker.json", `{"filesystem":{"allowWrite":["`+w+`"]}}`), filepath.Join(w, "ran")
}

// fence --linux-features names what the init stage needs beyond the
// namespaces and seccomp, when it is missing: the write guard's listener,
// the mount API and close_range (it said "Minimum requirements met" on
// such a kernel, and every command then failed).
func TestLinuxFeaturesRequirements(t *testing.T) {
	nosys := fixture(t, "nosys")
	for _, tc := range []struct{ call, line, missing string }{
		{"seccomp_listener", "Seccomp user notification: false", "the write guard's seccomp listener"},
		{"open_tree", "Mount API: false", "open_tree"},
		{"mount_setattr", "Mount API: false", "mount_setattr"},
		{"close_range", "close_range: false", "close_range(CLOSE_RANGE_CLOEXEC)"},
	} {
		t.Run(tc.call, func(t *testing.T) {
			forEachRunner(t, func(t *testing.T, s *sandbox) {
				cmd := exec.Command(nosys, "38", tc.call, fenceBin, "--linux-features")
				cmd.Dir = s.dir
				cmd.Env = s.env()
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
				out, _ := cmd.CombinedOutput()
				if !strings.Contains(string(out), tc.line) || !strings.Contains(string(out), "✗ Missing requirements: "+tc.missing) ||
					strings.Contains(string(out), "Minimum requirements met") {
					t.Errorf("%s failing: want %q and a missing requirement naming %q:\n%s", tc.call, tc.line, tc.missing, out)
				}
			})
		})
	}
}

// mustRefuse runs cmd, a fence that must refuse to run a command that
// would create marker: exit 1, one line of output holding each of wants,
// no marker.
func (s *sandbox) mustRefuse(cmd *exec.Cmd, marker string, wants ...string) {
	t := s.t
	t.Helper()
	cmd.Dir = s.dir
	cmd.Env = s.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v\n%s", err, out)
	}
	msg := strings.TrimSpace(string(out))
	for _, w := range wants {
		if !strings.Contains(msg, w) || strings.Contains(msg, "\n") {
			t.Errorf("want one line naming %q, got:\n%s", w, out)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran")
	}
}

// TestFailClosedUnreadableCredentials: fence cannot see which keys to hide
// in a credential directory the user may not list, and the command may
// still get at them: by names it guesses when the directory is searchable
// (~/.ssh mode 0311), or by a chmod when the directory is the user's and
// writable in the sandbox (mode 0000 under allowWrite ["~"]). Root lists
// and searches anyway, and hides the keys; any other user gets a one-line
// refusal naming the credential pattern (or a protected name in ~/.ssh),
// and the command does not run.
// An unsearchable directory the command cannot chmod hides the keys by
// itself, and the command runs. The key never reaches the command.
func TestFailClosedUnreadableCredentials(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    os.FileMode
		config  string
		refusal string // for a user other than root; "" = runs
	}{
		{"searchable, not readable", 0o311, `{}`, "searched but not read"},
		{"unsearchable, writable", 0o000, `{"filesystem":{"allowWrite":["~"]}}`, "chmod u+x"},
		{"unsearchable, read-only", 0o000, `{}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachRunner(t, func(t *testing.T, s *sandbox) {
				s.mkdir("home/.ssh")
				s.write("home/.ssh/id_rsa", "PRIVATE-KEY-MATERIAL")
				s.own(s.path("home/.ssh/id_rsa"), 0o600)
				s.own(s.path("home/.ssh"), tc.mode)
				cfg := s.config("fence.json", tc.config)
				res := s.fence("-s", cfg, "--", "sh", "-c", `echo RAN; chmod 700 ~/.ssh 2>/dev/null; cat ~/.ssh/id_rsa`)
				if strings.Contains(res.stdout, "PRIVATE-KEY-MATERIAL") {
					t.Fatalf("the command read the key: %v", res)
				}
				if s.r.root() || tc.refusal == "" {
					if ranInside(t, res) && !strings.Contains(res.stdout, "RAN") {
						t.Errorf("the command did not run: %v", res)
					}
					return
				}
				msg := strings.TrimSpace(res.stderr)
				// The entry named is the first one under ~/.ssh looked up:
				// the credential pattern, or a protected name there
				// (~/.ssh/authorized_keys) when ~ is writable.
				if res.code != 1 || !strings.Contains(msg, "/.ssh/") || !strings.Contains(msg, tc.refusal) || strings.Contains(msg, "\n") {
					t.Errorf("want exit 1 and one line naming a path in ~/.ssh and %q: %v", tc.refusal, res)
				}
				if strings.Contains(res.stdout, "RAN") {
					t.Error("the command ran")
				}
			})
		})
	}
}

// TestFailClosedUnsupportedArchitecture: fence has seccomp filters for
// amd64 and arm64 only. Built for another architecture it still compiles,
// and refuses every command with one line that names the architecture,
// instead of running it without the filter. The test builds fence for
// 386, which an amd64 kernel runs natively (IA32 emulation).
func TestFailClosedUnsupportedArchitecture(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("needs an amd64 host to run a 386 binary, this is %s", runtime.GOARCH)
	}
	bin := filepath.Join(binDir, "fence-386")
	if out, err := goBuild(bin, "../cmd/fence", []string{"GOARCH=386"}); err != nil {
		t.Fatalf("build fence for 386: %v\n%s", err, out)
	}
	if err := exec.Command(bin, "--version").Run(); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && errors.Is(pe.Err, syscall.ENOEXEC) {
			t.Skip("this kernel cannot run 386 binaries (CONFIG_IA32_EMULATION off, or ia32_emulation=0)")
		}
		t.Fatalf("fence-386 --version: %v", err)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg, marker := s.markerIn()
		s.mustRefuse(exec.Command(bin, "-s", cfg, "--", "touch", marker), marker, "linux/386", "linux/amd64 and linux/arm64")
		feat := exec.Command(bin, "--linux-features")
		feat.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		out, _ := feat.CombinedOutput()
		if !strings.Contains(string(out), "Seccomp: false (fence has no seccomp filter for linux/386") ||
			!strings.Contains(string(out), "user namespace: true") {
			t.Errorf("--linux-features should blame the architecture, not the namespaces:\n%s", out)
		}
	})
}

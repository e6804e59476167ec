package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/cli")

// golden compares got with testdata/cli/<name>.golden (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("..", "testdata", "cli", name+".golden")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s\n--- got ---\n%s\n--- want ---\n%s", name, p, got, want)
	}
}

// TestCLIGolden: the output of the informational commands and subcommands,
// and the one-line errors, byte for byte.
func TestCLIGolden(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		claude := s.write("claude.json", `{"permissions": {
			"allow": ["Bash(npm run test:*)", "Write(src/**)", "Read"],
			"deny": ["Bash(git push)", "Read(./.env)"],
			"ask": ["Edit(config/**)"]}}`)
		s.write("both.json", `{"network": {"allowLocalOutboundPorts": [7001]}}`)
		s.write("tmp-denied.json", `{"filesystem": {"allowWrite": ["/tmp"], "denyWrite": ["/tmp"]}}`)
		cases := []struct {
			name string
			args []string
			code int
		}{
			{"list-templates", []string{"--list-templates"}, 0},
			{"config-init-print", []string{"config", "init", "--print"}, 0},
			{"config-init-minimal-scaffold", []string{"config", "init", "--print", "--minimal", "--scaffold"}, 0},
			{"config-init-exclusive", []string{"config", "init", "--print", "-o", "x.json"}, 1},
			{"import-claude", []string{"import", "--claude", "-f", claude}, 0},
			{"import-no-source", []string{"import"}, 1},
			{"no-command", nil, 1},
			{"bad-port", []string{"-p", "70000", "--", "true"}, 1},
			{"proxy-port", []string{"-p", "3128", "--", "true"}, 1},
			{"forwarded-both-ways", []string{"-s", "both.json", "-p", "7001", "--", "true"}, 1},
			{"host-tmp-denied", []string{"-s", "tmp-denied.json", "--", "true"}, 0},
			{"bad-shell", []string{"--shell", "weird", "-c", "true"}, 1},
			{"missing-settings", []string{"-s", "nope.json", "--", "true"}, 1},
			{"unknown-template", []string{"-t", "nope", "--", "true"}, 1},
			{"blocked-command", []string{"-t", "code", "--", "git", "push", "origin", "main"}, 1},
			{"blocked-default", []string{"-c", "echo hi && shutdown -h now"}, 1},
			{"template-twice", []string{"-t", "code", "-t", "git-readonly", "--", "true"}, 1},
			{"empty-settings", []string{"-s", "", "--", "true"}, 1},
			{"c-and-command", []string{"-c", "echo a", "--", "echo", "b"}, 1},
			{"bad-shell-direct", []string{"--shell", "bogus", "--", "true"}, 1},
			{"port-twice", []string{"-p", "8080", "-p", "8080", "--", "true"}, 1},
			{"settings-device", []string{"-s", "/dev/zero", "--", "true"}, 1},
			{"denied-domains-host-network", []string{"-t", "disable-telemetry", "--", "true"}, 0},
		}
		for _, c := range cases {
			res := s.fence(c.args...)
			if res.code != c.code {
				t.Errorf("%s: exit %d, want %d\n%v", c.name, res.code, c.code, res)
				continue
			}
			out := strings.ReplaceAll(res.stdout+"--- stderr ---\n"+res.stderr, s.dir, "$WS")
			golden(t, c.name, out)
		}
	})
}

func TestCLIVersionAndCompletion(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("--version")
		if !regexp.MustCompile(`(?s)^fence - lightweight, container-free sandbox for running untrusted commands\n  Version: \S+\n  Built:   \S+\n  Commit:  \S+\n$`).MatchString(res.stdout) {
			t.Errorf("--version output: %q", res.stdout)
		}
		for _, sh := range []string{"bash", "zsh", "fish"} {
			res := s.mustRun("completion", sh)
			if !strings.Contains(res.stdout, "fence") || len(res.stdout) < 200 {
				t.Errorf("completion %s: %q", sh, res.stdout)
			}
		}
		// What the scripts ask for: template names for -t, the modes of
		// --shell, files (directive 0, the shell's default) for the
		// command, nothing for -p.
		for _, c := range []struct {
			args []string
			want []string
		}{
			{[]string{"__complete", "-t", ""}, []string{"code\t", "code-strict\t", ":4"}},
			{[]string{"__complete", "--shell", ""}, []string{"default\n", "user\n", ":4"}},
			{[]string{"__complete", ""}, []string{"config\t", ":0"}},
			{[]string{"__complete", "-p", ""}, []string{":4"}},
			// cobra parses the flags twice while it completes: a -t
			// before the word must not be "given twice".
			{[]string{"__complete", "-t", "code", "--sh"}, []string{"--shell\t", ":4"}},
		} {
			res := s.mustRun(c.args...)
			for _, w := range c.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("fence %q: want %q in %q", c.args, w, res.stdout)
				}
			}
		}
	})
}

// TestConfigInitWritesFile: config init -o writes a 0600 file with the
// header, refuses to overwrite without -y (answering no aborts, no answer
// is an error), and
// config show prints the chain.
func TestConfigInitWritesFile(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		p := filepath.Join(s.dir, "cfg", "fence.json")
		s.mkdir("cfg")
		res := s.mustRun("config", "init", "-o", p)
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("config file: %v %v\n%v", st, err, res)
		}
		b, _ := os.ReadFile(p)
		if !strings.HasPrefix(string(b), "// ") || !strings.Contains(string(b), `"extends": "code"`) {
			t.Errorf("config file content:\n%s", b)
		}
		res = s.fenceWith(opts{stdin: strings.NewReader("n\n")}, "config", "init", "-o", p, "--minimal")
		if res.code != 0 || !strings.Contains(res.stdout+res.stderr, "Aborted.") {
			t.Errorf("overwrite without -y: %v", res)
		}
		if b2, _ := os.ReadFile(p); string(b2) != string(b) {
			t.Error("the file was overwritten after answering no")
		}
		// No answer at all (a script without a terminal): an error, not
		// a quiet "Aborted." with exit status 0.
		res = s.fenceWith(opts{stdin: strings.NewReader("")}, "config", "init", "-o", p, "--minimal")
		if res.code != 1 || !strings.Contains(res.stderr, "pass -y") || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
			t.Errorf("overwrite without -y and without an answer: want exit 1 and one line naming -y: %v", res)
		}
		if b2, _ := os.ReadFile(p); string(b2) != string(b) {
			t.Error("the file was overwritten without an answer")
		}
		s.mustRun("config", "init", "-o", p, "--minimal", "-y")
		// A symlink (a dotfile manager's) stays one: its target is written.
		link := s.symlink("dots/fence.json", "link.json")
		s.mustRun("config", "init", "-o", link, "-y")
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("config init -o a symlink replaced the link: %v %v", fi, err)
		}
		if b, err := os.ReadFile(s.path("dots/fence.json")); err != nil || !strings.Contains(string(b), `"extends": "code"`) {
			t.Errorf("the symlink's target: %q %v", b, err)
		}
		// Through a linked directory, "../" is where that directory is.
		s.mkdir("real/sub")
		s.symlink("real/sub", "linkdir")
		s.symlink("../shared/fence.json", "real/sub/fence.json")
		s.mustRun("config", "init", "-o", s.path("linkdir/fence.json"), "-y")
		if _, err := os.Stat(s.path("real/shared/fence.json")); err != nil {
			t.Errorf("config init through a linked directory: %v", err)
		}
		// Another user's link in a sticky directory is not followed, as
		// the kernel would not follow it (fs.protected_symlinks).
		if s.r.root() {
			sticky := s.mkdir("sticky")
			if err := os.Chmod(sticky, os.ModeSticky|0o777); err != nil {
				t.Fatal(err)
			}
			victim := s.write("victim", "precious\n")
			link := s.symlink(victim, "sticky/cfg.json")
			if err := os.Lchown(link, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			res = s.fence("config", "init", "-o", link, "-y")
			if res.code != 1 || !strings.Contains(res.stderr, "another user") {
				t.Errorf("config init -o another user's link in a sticky directory: %v", res)
			}
			mustHaveContent(t, victim, "precious\n", "the planted link's target")
		}
		// A directory is an error, not a question about overwriting it.
		res = s.fence("config", "init", "-o", s.path("cfg"), "-y")
		if res.code != 1 || !strings.Contains(res.stderr, "is a directory") {
			t.Errorf("config init -o a directory: %v", res)
		}
		res = s.mustRun("config", "show", "-s", p)
		if !strings.Contains(res.stdout+res.stderr, p) {
			t.Errorf("config show does not name the settings file\n%v", res)
		}
	})
}

// TestConfigWriteErrors: config init and import that cannot write their
// file name it (not the temporary file beside it) and the way out.
func TestConfigWriteErrors(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		claude := s.config("claude.json", `{"permissions": {"deny": ["Bash(git push)"]}}`)
		if s.r.root() {
			// Root may write /etc: a read-only file system stops it.
			ro := t.TempDir()
			if err := unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, ""); err != nil {
				t.Fatalf("mount a read-only tmpfs on %s: %v", ro, err)
			}
			t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
			target := filepath.Join(ro, "x.json")
			for _, args := range [][]string{
				{"config", "init", "-o", target},
				{"import", "--claude", "-f", claude, "-o", target},
			} {
				want := "Error: write " + target + ": read-only file system; choose another path with -o\n"
				if res := s.fence(args...); res.code != 1 || res.stderr != want {
					t.Errorf("want exit 1 and %q: %v", want, res)
				}
			}
			return
		}
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"config", "init", "-o", "/etc/fence-e2e.json"},
				"Error: write /etc/fence-e2e.json: permission denied (this user may not create files in /etc); choose another path with -o\n"},
			{[]string{"import", "--claude", "-f", claude, "-o", "/etc/fence-e2e.json"},
				"Error: write /etc/fence-e2e.json: permission denied (this user may not create files in /etc); choose another path with -o\n"},
			{[]string{"config", "init", "-o", "/etc/fence-e2e-dir/sub/x.json"},
				"Error: write /etc/fence-e2e-dir/sub/x.json: create /etc/fence-e2e-dir: permission denied; choose another path with -o\n"},
		} {
			res := s.fence(c.args...)
			if res.code != 1 || res.stderr != c.want {
				t.Errorf("want exit 1 and %q: %v", c.want, res)
			}
		}
		mustNotExist(t, "/etc/fence-e2e.json", "a config nobody may not write")
	})
}

// TestProjectConfigApplies: a fence.json in the working directory applies
// on top of the user config, and cannot be rewritten from inside.
func TestProjectConfigApplies(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		p := s.config("fence.json", `{"filesystem": {"allowWrite": ["."]}}`)
		// It comes with the checkout and loosens the policy: refused
		// until trusted, or left out with --no-project.
		res := s.fence("-c", "echo data > out.txt")
		want := "Error: project config " + p + ` is not trusted and loosens the policy (filesystem.allowWrite "."); review it, then run ` + "`fence config trust`"
		if res.code != 1 || !strings.HasPrefix(res.stderr, want) {
			t.Errorf("untrusted project config: want exit 1 and %q: %v", want, res)
		}
		mustNotExist(t, s.path("out.txt"), "a write the untrusted project config allowed")
		res = s.fence("--no-project", "-c", "echo data > out.txt; echo rc=$?")
		if !strings.Contains(res.stdout, "rc=1") || !writeDenied(res.stderr) {
			t.Errorf("--no-project: want the default policy (no writes): %v", res)
		}
		if res := s.mustRun("config", "trust"); !strings.Contains(res.stdout, "trusted "+p) {
			t.Errorf("config trust: %v", res)
		}
		res = s.mustRun("-c", `echo data > out.txt && echo wrote; echo '{"network":{"allowedDomains":["*"]}}' > fence.json; echo "rewrite:$?"`)
		mustHaveContent(t, s.path("out.txt"), "data\n", "the project config allows writes in the workspace")
		if !strings.Contains(res.stdout, "rewrite:1") {
			t.Errorf("the sandbox could rewrite its own project config\n%v", res)
		}
	})
}

// TestProjectConfigExtendsChanged: when the file a trusted project config
// extends changes, the refusal names that file, not the project file,
// which did not change.
func TestProjectConfigExtendsChanged(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		p := s.config("fence.json", `{"extends": "./base.json"}`)
		base := s.config("base.json", `{"filesystem": {"allowWrite": ["."]}}`)
		s.mustRun("config", "trust")
		s.mustRun("--", "true")
		s.config("base.json", `{"filesystem": {"allowWrite": [".", "/tmp"]}}`)
		res := s.fence("--", "true")
		want := "Error: project config " + p + " is trusted, but " + base + ", which it extends, changed since; it loosens the policy ("
		if res.code != 1 || !strings.HasPrefix(res.stderr, want) {
			t.Errorf("extends target changed after trust: want exit 1 and %q: %v", want, res)
		}
	})
}

// TestRuntimeExecDeny: a single-program deny rule stops the program when a
// child execs it (env python3), where preflight cannot see it; other names
// of the same binary keep working.
func TestRuntimeExecDeny(t *testing.T) {
	need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("deny.json", `{"command": {"deny": ["python3"]}}`)
		s.write("run.sh", "env python3 -c 'print(1)'; echo \"python3:$?\"\npython3.11 -c 'print(2)' 2>/dev/null || /usr/bin/python3.*[0-9] -c 'print(2)'\n")
		res := s.fence("-s", cfg, "--", "bash", "run.sh")
		if !ranInside(t, res) {
			return
		}
		if strings.Contains(res.stdout, "python3:0") || !strings.Contains(res.stdout, "python3:126") {
			t.Errorf("env python3 was not stopped at exec\n%v", res)
		}
		if !strings.Contains(res.stdout, "2\n") {
			t.Errorf("another name of the same interpreter stopped working\n%v", res)
		}
		// The denied program is covered by a read-only, noexec mount.
		res = s.fence("-s", cfg, "--", "cat", "/proc/self/mountinfo")
		masks := 0
		for _, l := range lines(res.stdout) {
			if f := strings.Fields(l); len(f) > 5 && strings.HasSuffix(f[4], "/python3") {
				masks++
				if opts := "," + f[5] + ","; !strings.Contains(opts, ",ro,") || !strings.Contains(opts, ",noexec,") {
					t.Errorf("mask of %s has mount options %s, want ro and noexec", f[4], f[5])
				}
			}
		}
		if masks == 0 {
			t.Errorf("no mask over python3 in the sandbox's mountinfo:\n%s", res.stdout)
		}
		res = s.fence("-s", cfg, "-c", "python3 -c 1")
		if res.code != 1 || !strings.Contains(res.stderr, `command blocked by sandbox command policy: "python3 -c 1" matches "python3"`) {
			t.Errorf("preflight: %v", res)
		}
	})
}

// The shell fence runs a command line with (-c, or a builtin after --) is
// one command.deny may mask: then fence refuses before the start, naming
// the shell and the way out, with and without something writable (the
// lookups' two paths). It used to start and fail in the sandbox with
// "fence: /usr/bin/bash: permission denied", exit 126. A program given
// after -- still runs.
func TestDeniedShellRefused(t *testing.T) {
	need(t, "bash")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		for _, cfg := range []string{
			s.config("deny-bash.json", `{"command": {"deny": ["bash"]}}`),
			s.config("deny-bash-w.json", `{"filesystem": {"allowWrite": ["."]}, "command": {"deny": ["bash"]}}`),
		} {
			for _, args := range [][]string{{"-c", "echo ran"}, {"--", "cd", "/"}} {
				res := s.fence(append([]string{"-s", cfg}, args...)...)
				want := "which command.deny (from " + cfg + ") denies in the sandbox"
				if res.code != 1 || strings.Contains(res.stdout, "ran") || !strings.Contains(res.stderr, "fence runs this command line with the shell ") ||
					!strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, "choose another shell with --shell") {
					t.Errorf("%q with bash denied: want exit 1 and the refusal (%q)\n%v", args, want, res)
				}
			}
			if res := s.fence("-s", cfg, "--", "echo", "direct"); res.code != 0 || res.stdout != "direct\n" {
				t.Errorf("a program after -- with bash denied: want it run\n%v", res)
			}
		}
	})
}

// PID 1 writes its -m log lines itself. On a closed stderr pipe they are
// lost but the sandbox carries on (EPIPE on os.Stderr would make the Go
// runtime exit PID 1); on a non-blocking pipe with a slow reader every line
// arrives (PID 1 waits instead of dropping what EAGAIN refused).
func TestMonitorLogToBadPipes(t *testing.T) {
	const n = 1500 // ~150 KB of log lines, more than a pipe holds
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("w.json", `{"filesystem": {"allowWrite": ["."]}}`)
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		start := func(script string, nonblock bool) (*exec.Cmd, *os.File, *bytes.Buffer) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := s.command(ctx, opts{}, "-m", "-s", cfg, "-c", script)
			var stdout bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, w
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The open file description is shared: fence and PID 1 then
			// write to a non-blocking pipe.
			if err := unix.SetNonblock(int(w.Fd()), nonblock); err != nil {
				t.Fatal(err)
			}
			w.Close() // fence has its copy
			return cmd, r, &stdout
		}

		cmd, r, _ := start("sleep 0.2; touch .zshrc; echo ok > out.txt", false)
		r.Close() // every write to stderr now fails with EPIPE
		if err := cmd.Wait(); err != nil {
			t.Errorf("fence with a closed stderr: %v, want exit 0", err)
		}
		mustHaveContent(t, s.path("out.txt"), "ok\n", "the command after a logged refusal")

		cmd, r, stdout := start(fmt.Sprintf("sleep 0.2; for i in $(seq %d); do : > .zshrc; done 2>/dev/null; echo done", n), true)
		defer r.Close()
		time.Sleep(700 * time.Millisecond) // let the pipe fill up
		log, _ := io.ReadAll(r)
		err := cmd.Wait()
		if got := strings.Count(string(log), "[fence:guard]"); err != nil || got != n || stdout.String() != "done\n" {
			t.Errorf("-m to a slow non-blocking pipe: %d of %d refusal lines, exit %v, stdout %q\nlog starts: %.300s", got, n, err, stdout.String(), log)
		}
	})
}

// TestMonitorLogsRefusals: with -m, every operation the guard refuses is one
// line on stderr naming the operation, the path and the process; without
// -m, nothing of the kind is printed.
func TestMonitorLogsRefusals(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("w.json", `{"filesystem": {"allowWrite": ["."]}}`)
		res := s.fence("-m", "-s", cfg, "-c", "touch .zshrc; echo after")
		if !ranInside(t, res) {
			return
		}
		want := regexp.MustCompile(`(?m)^\[fence:guard\] \d\d:\d\d:\d\d ✗ write ` + regexp.QuoteMeta(s.path(".zshrc")) + ` \(touch:\d+\)$`)
		if !want.MatchString(res.stderr) || !strings.Contains(res.stdout, "after") {
			t.Errorf("-m: want a refusal line for .zshrc\n%v", res)
		}
		res = s.fence("-s", cfg, "-c", "touch .zshrc")
		if strings.Contains(res.stderr, "[fence:guard]") {
			t.Errorf("without -m the guard must stay quiet\n%v", res)
		}
	})
}

// TestEarlySpawn: fence starts the init stage before main: from its ELF
// entry point, before the Go runtime (nsexec/spawn's entry, linked as make
// build links it), for a command line with "--" or "-c" or that starts
// with the command, and from a package init function
// (cmd/fence/internal/early) for the others (flags first, no "--"); the
// network mode follows -t naming a host-network template, and a config
// file that changes the network mode still gets a sandbox of the right
// kind (the early one is replaced).
func TestEarlySpawn(t *testing.T) {
	stages := func(t *testing.T, res result) []string {
		t.Helper()
		var names []string
		for _, l := range lines(res.stderr) {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "[fence:timeline]" {
				names = append(names, f[1])
			}
		}
		return names
	}
	index := func(names []string, n string) int { return slices.Index(names, n) }
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		relaxed := s.config("relaxed.json", `{"network": {"allowedDomains": ["*"]}}`)
		chained := s.config("chained.json", `{"extends": "`+relaxed+`"}`)
		const (
			entry    = iota // spawned before fence-start, by the entry point
			initFunc        // after fence-start, before main
			replaced        // the one that ran was spawned after the plan
		)
		for _, tc := range []struct {
			args []string
			when int
		}{
			{[]string{"--", "true"}, entry},
			{[]string{"-c", "true"}, entry},
			{[]string{"true"}, entry},
			{[]string{"-t", "code", "true"}, initFunc},
			{[]string{"-t", "code", "--", "true"}, entry},
			{[]string{"-t", "code-relaxed", "--", "true"}, entry},
			{[]string{"-t", "code-relaxed", "true"}, initFunc},
			// The -s file allows every domain: early sees it.
			{[]string{"-s", relaxed, "--", "true"}, entry},
			// Only through extends, which early does not follow: the
			// guess (a network namespace) is wrong, and replaced once
			// the policy is known.
			{[]string{"-s", chained, "--", "true"}, replaced},
		} {
			res := s.fenceWith(opts{env: []string{"FENCE_TIMELINE=1"}}, tc.args...)
			if res.code != 0 {
				t.Errorf("%v", res)
				continue
			}
			names := stages(t, res)
			start, spawn, main, planned := index(names, "fence-start"), index(names, "spawn"), index(names, "main"), index(names, "planned")
			switch {
			case start < 0 || spawn < 0 || main < 0 || planned < 0:
				t.Errorf("fence %q: stages %v", tc.args, names)
			case tc.when == entry && spawn != 0:
				t.Errorf("fence %q: the init stage was not spawned by the entry point, before fence-start: stages %v", tc.args, names)
			case tc.when == initFunc && (start != 0 || spawn > main):
				t.Errorf("fence %q: the init stage was not spawned by package early's init, after fence-start and before main: stages %v", tc.args, names)
			case tc.when == replaced && spawn < planned:
				t.Errorf("fence %q: the sandbox that ran was spawned with the wrong network mode: stages %v", tc.args, names)
			}
		}
		// FENCE_TIMELINE_LAUNCH (the perf harness's launch time) starts
		// the timeline before fence-start; a value that is no time before
		// now is named and ignored.
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		now := ts.Nano()
		for _, tc := range []struct {
			launch string
			ok     bool
		}{
			{strconv.FormatInt(now, 10), true},
			{"soon", false},
			{strconv.FormatInt(now+int64(time.Hour), 10), false},
			{strconv.FormatInt(now-int64(time.Hour), 10), false},
		} {
			res := s.fenceWith(opts{env: []string{"FENCE_TIMELINE=1", "FENCE_TIMELINE_LAUNCH=" + tc.launch}}, "--", "true")
			names := stages(t, res)
			warned := strings.Contains(res.stderr, "FENCE_TIMELINE_LAUNCH ignored")
			switch {
			case res.code != 0:
				t.Errorf("FENCE_TIMELINE_LAUNCH=%s: %v", tc.launch, res)
			case tc.ok && (index(names, "launch") != 0 || index(names, "fence-start") < 1 || warned):
				t.Errorf("FENCE_TIMELINE_LAUNCH=%s: stages %v\n%s", tc.launch, names, res.stderr)
			case !tc.ok && (index(names, "launch") >= 0 || !warned):
				t.Errorf("FENCE_TIMELINE_LAUNCH=%s was not refused: stages %v\n%s", tc.launch, names, res.stderr)
			}
		}
		// A launch time after fence-start is no launch, even one before
		// the config was loaded: here fence waits for its -s file, a
		// FIFO, which is written only once the launch time has passed.
		// Should fence start after that time (a very slow machine), the
		// launch is a true one and must come first.
		fifo := s.path("slow.json")
		if err := unix.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		s.own(fifo, 0o644)
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		late := ts.Nano() + int64(300*time.Millisecond)
		done, written := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(written)
			time.Sleep(500 * time.Millisecond)
			for {
				// Non-blocking: ENXIO until fence opens it to read.
				if w, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
					_, _ = w.WriteString("{}")
					w.Close()
					return
				}
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		res := s.fenceWith(opts{env: []string{"FENCE_TIMELINE=1", "FENCE_TIMELINE_LAUNCH=" + strconv.FormatInt(late, 10)}}, "-s", fifo, "--", "true")
		close(done)
		<-written
		names := stages(t, res)
		warned := strings.Contains(res.stderr, "FENCE_TIMELINE_LAUNCH ignored")
		switch launch := index(names, "launch"); {
		case res.code != 0:
			t.Errorf("FENCE_TIMELINE_LAUNCH after fence-start: %v", res)
		case launch < 0 && !warned, launch > 0, launch == 0 && warned:
			t.Errorf("FENCE_TIMELINE_LAUNCH after fence-start was not refused: stages %v\n%s", names, res.stderr)
		}
		// An init stage spawned for a run that fails before its sandbox
		// starts is ended and reaped (fence prints "aborted" then); none is
		// spawned for informational flags and subcommands.
		for _, tc := range []struct {
			args    []string
			aborted bool
		}{
			{[]string{"-s", s.path("missing.json"), "--", "true"}, true},
			{[]string{"--no-such-flag", "--", "true"}, true},
			{[]string{"--version"}, false},
			{[]string{"--list-templates"}, false},
			{[]string{"config", "show"}, false},
			{[]string{"-t", "code"}, false},
		} {
			res := s.fenceWith(opts{env: []string{"FENCE_TIMELINE=1"}}, tc.args...)
			if got := slices.Contains(stages(t, res), "aborted"); got != tc.aborted {
				t.Errorf("fence %q: init stage spawned and aborted = %v, want %v\n%v", tc.args, got, tc.aborted, res)
			}
		}
	})
}

// TestCLIAssignmentsAndScripts: leading NAME=value arguments are
// assignments for the command (fence -- NODE_ENV=test npm test), their
// values taken literally, and checked with the command by the command
// policy; an executable file without a #! line runs as a shell script, as
// bash would run it: with bash.
func TestCLIAssignmentsAndScripts(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("--", "FOO=a b$HOME", "BAR=2", "sh", "-c", `echo "$FOO|$BAR"`)
		if got := strings.TrimSpace(res.stdout); got != "a b$HOME|2" {
			t.Errorf("assignments: got %q, want %q", got, "a b$HOME|2")
		}
		cfg := s.config("deny.json", `{"command":{"deny":["npm publish"]}}`)
		res = s.fence("-s", cfg, "--", "FOO=1", "npm", "publish")
		if res.code == 0 || !strings.Contains(res.stderr, `matches "npm publish"`) {
			t.Errorf("a denied command after an assignment: %v", res)
		}
		script := s.write("script", "echo \"no shebang $1\"\n")
		if err := os.Chmod(script, 0o755); err != nil {
			t.Fatal(err)
		}
		res = s.mustRun("--", script, "x")
		if got := strings.TrimSpace(res.stdout); got != "no shebang x" {
			t.Errorf("a script without #!: got %q", got)
		}
		// With bash, as upstream's bash -c ran it (and fence -c does):
		// /bin/sh may be dash, which has no [[.
		bashism := s.write("bashism", "[[ -n $BASH_VERSION ]] && echo \"bash $0\"\n")
		if err := os.Chmod(bashism, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"--", bashism}, {"-c", bashism}} {
			if res = s.fence(args...); res.code != 0 || res.stdout != "bash "+bashism+"\n" {
				t.Errorf("a script without #! runs with bash: %v", res)
			}
		}
		// A NUL after the first line does not make it a binary (bash's
		// test looks at the first line).
		nul := s.write("nul-later", "echo first line\n\x00\n")
		if err := os.Chmod(nul, 0o755); err != nil {
			t.Fatal(err)
		}
		if res = s.fence("--", nul); !strings.Contains(res.stdout, "first line") {
			t.Errorf("a script with a NUL after its first line: %v", res)
		}
		// A binary for another machine is not handed to sh.
		bin := s.write("foreign", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00echo ran as a script\n")
		if err := os.Chmod(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		res = s.fence("--", bin)
		if res.code != 126 || !strings.Contains(res.stderr, "exec format error") || strings.Contains(res.stdout, "ran as a script") {
			t.Errorf("a binary for another machine: want exit 126 and exec format error: %v", res)
		}
	})
}

// TestDebugNamesConfigSources: -d names each config source on a line of
// its own, and the defaults without a trailing space.
func TestDebugNamesConfigSources(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("-d", "--", "true")
		if !strings.Contains(res.stderr, "\n[fence] config: default (no config file found)\n") && !strings.HasPrefix(res.stderr, "[fence] config: default (no config file found)\n") {
			t.Errorf("-d without a config: want the defaults named: %q", res.stderr)
		}
		for _, line := range strings.Split(res.stderr, "\n") {
			if strings.HasSuffix(line, " ") {
				t.Errorf("-d line with a trailing space: %q", line)
			}
		}
		cfg := s.config("dbg.json", `{}`)
		res = s.mustRun("-d", "-t", "code", "-s", cfg, "--", "true")
		if !strings.Contains(res.stderr, "[fence] config: template code\n[fence] config: settings "+cfg+"\n") {
			t.Errorf("-d with -t and -s: want both named: %q", res.stderr)
		}
	})
}

// TestTrustStoreNotWritable: the list of trusted project configs decides
// whether a checkout's loosening fence.json applies, so a sandbox must not
// plant or change it, even where its directory is writable (-t code
// allows ~/.local/state/**): not by writing, renaming or linking a file
// there, nor by moving the directory away or putting another in its place.
// Both the default store and the one $XDG_STATE_HOME names are kept.
func TestTrustStoreNotWritable(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		proj := s.mkdir("proj")
		state := s.mkdir("xdg-state")
		attack := `for S in "$HOME/.local/state" "$XDG_STATE_HOME"; do
mkdir -p "$S/fence" "$S/other" /tmp/x
echo '{"projects":{}}' > "$S/other/trusted.json"
echo '{"projects":{}}' > "$S/fence/trusted.json"
echo '{"projects":{}}' > "$S/fence/.t"; mv "$S/fence/.t" "$S/fence/trusted.json"
ln "$S/other/trusted.json" "$S/fence/trusted.json"
ln -s "$S/other/trusted.json" "$S/fence/trusted.json"
mv "$S/fence" "$S/fence.old" && mv "$S/other" "$S/fence"
ln -s /tmp/x "$S/fence2" && mv -T "$S/fence2" "$S/fence"
done 2>/dev/null; echo done`
		for round, prepare := range []func(){
			func() {}, // nothing there yet
			func() { // a store with one entry
				s.write("home/.local/state/fence/trusted.json", "{\"projects\":{}}\n")
				s.write("xdg-state/fence/trusted.json", "{\"projects\":{}}\n")
			},
		} {
			prepare()
			res := s.fenceWith(opts{dir: proj, env: []string{"XDG_STATE_HOME=" + state}}, "-t", "code", "-c", attack)
			if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
				t.Fatalf("round %d: %v", round, res)
			}
			for _, store := range []string{s.path("home/.local/state/fence/trusted.json"), filepath.Join(state, "fence/trusted.json")} {
				if round == 0 {
					mustNotExist(t, store, "a trust store planted by the sandbox")
				} else {
					mustHaveContent(t, store, "{\"projects\":{}}\n", "the trust store, after the sandbox tried to replace it")
				}
			}
		}
	})
}

// A working directory removed since the shell entered it (a branch
// switched in another terminal) is refused with the fix: fence said only
// "get working directory: getwd: no such file or directory".
func TestCLIWorkingDirRemoved(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		gone := s.mkdir("gone")
		cmd := exec.Command("sh", "-c", `cd "$1" && rmdir "$1" && exec "$0" -- true`, fenceBin, gone)
		cmd.Env = s.env()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "the working directory no longer exists") || !strings.Contains(string(out), "cd to a directory that exists") {
			t.Errorf("fence in a removed working directory: err %v, output %q; want a refusal that names the fix", err, out)
		}
	})
}

// Without a terminal, timeout's signals reach the command as they would
// without fence: its SIGTERM ends a command stopped with kill -STOP, which
// fence now continues as bash's kill does a stopped job (the signal stayed
// pending until timeout's SIGKILL, exit 137), and timeout -s ALRM ends it
// (the Go runtime ignored SIGALRM in fence, and the command ran on).
func TestCLISignalsWithoutTerminal(t *testing.T) {
	timeout := need(t, "timeout")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		for _, tc := range []struct {
			args []string
			want int
		}{
			{[]string{"--preserve-status", "-k", "20", "1", fenceBin, "--", "sh", "-c", "kill -STOP $$"}, 128 + int(syscall.SIGTERM)},
			{[]string{"--preserve-status", "-s", "ALRM", "1", fenceBin, "--", "sleep", "20"}, 128 + int(syscall.SIGALRM)},
		} {
			cmd := exec.Command(timeout, tc.args...)
			cmd.Dir, cmd.Env = s.dir, s.env()
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.want {
				t.Errorf("timeout %q: exit %d, want %d\n%s", tc.args, code, tc.want, out)
			}
		}
	})
}

// fence's output redirected to a file outside the writable paths: the
// command writes it through /dev/stdout and /dev/stderr too (echo x >
// /dev/stderr, curl -o /dev/stdout), which reopen the file through
// /proc/self/fd and failed with EACCES where nothing was writable (no
// write guard: Landlock refused the file), while the file's own path stays
// read-only. With writable paths (the guard opens it) as well.
func TestCLIStdioFilesReopened(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		out := s.outsideDir("fence-e2e-stdio-")
		ws := s.config("ws.json", `{"filesystem":{"allowWrite":["`+s.mkdir("w")+`"]}}`)
		for _, cfg := range []string{"", ws} {
			o, e := filepath.Join(out, "out.log"), filepath.Join(out, "err.log")
			args := []string{"--", "sh", "-c", `echo a > /dev/stdout && echo b > /dev/stderr && echo c >> /dev/stdout; echo x 2>/dev/null > "$1" || echo path-read-only >> /dev/stderr`, "sh", o}
			if cfg != "" {
				args = append([]string{"-s", cfg}, args...)
			}
			cmd := exec.Command(fenceBin, args...)
			cmd.Dir, cmd.Env = s.dir, s.env()
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
			fo, err := os.Create(o)
			if err != nil {
				t.Fatal(err)
			}
			fe, err := os.Create(e)
			if err != nil {
				t.Fatal(err)
			}
			// The runner's, as a shell of its would make them.
			s.own(o, 0o644)
			s.own(e, 0o644)
			cmd.Stdout, cmd.Stderr = fo, fe
			err = cmd.Run()
			fo.Close()
			fe.Close()
			if err != nil {
				t.Errorf("config %q: %v", cfg, err)
			}
			mustHaveContent(t, o, "a\nc\n", "fence's stdout file, written through /dev/stdout")
			mustHaveContent(t, e, "b\npath-read-only\n", "fence's stderr file, written through /dev/stderr")
		}
	})
}

// Pipes fence inherited above stdio reach the command at their numbers,
// as a shell passes them on: process substitution (diff <(a) <(b)) and
// make's jobserver pipes work. Nothing else fence inherited does: a file
// or directory descriptor would reach past the policy. Neither fence nor
// PID 1 keeps a copy of a pipe once passed: a reader sees the end of its
// input when the command closes the pipe, not when the sandbox ends.
func TestCLIInheritedPipesPassedOn(t *testing.T) {
	bash := need(t, "bash")
	need(t, "diff")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// A shell's process substitution, as a user types it.
		cmd := exec.Command(bash, "-c", `"$1" -- diff <(echo a) <(echo b)`, "bash", fenceBin)
		cmd.Dir, cmd.Env = s.dir, s.env()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "< a\n---\n> b") {
			t.Fatalf("fence -- diff <(echo a) <(echo b): %v, want exit 1 with the difference:\n%s", err, out)
		}

		// fd 3 (the number of PID 1's control socket) and 9: pipes; 4 a
		// file, 5 a directory; the command writes to 6 and closes it,
		// then waits for a line on 3, sent only once 6 reached its end.
		// Besides 3, 6 and 9, no descriptor up to 64 is open in it.
		in3r, in3w := pipe(t)
		out6r, out6w := pipe(t)
		in9r, in9w := pipe(t)
		file, err := os.Open(s.write("plain", "x"))
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		dir, err := os.Open(s.dir)
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		script := `read -r nine <&9; echo "nine:$nine"
for n in $(seq 4 64); do case $n in 6|9) continue; esac; [ -e /proc/self/fd/$n ] && echo "fd $n leaked: $(readlink /proc/self/fd/$n)"; done
echo written >&6; exec 6>&-; read -r line <&3; echo "three:$line"`
		cmd = exec.Command(fenceBin, "--", "bash", "-c", script)
		cmd.Dir, cmd.Env = s.dir, s.env()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		// fds 3 to 9; 7 and 8 closed (nil).
		cmd.ExtraFiles = []*os.File{in3r, file, dir, out6w, nil, nil, in9r}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		in3r.Close()
		out6w.Close()
		in9r.Close()
		if _, err := in9w.WriteString("high\n"); err != nil {
			t.Fatal(err)
		}
		in9w.Close()
		got := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(out6r)
			got <- string(b)
		}()
		select {
		case b := <-got:
			if b != "written\n" {
				t.Errorf("read %q from the pipe at fd 6, want %q", b, "written\n")
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the pipe at fd 6 did not end when the command closed it (fence or PID 1 kept a copy)\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
		}
		if _, err := in3w.WriteString("go\n"); err != nil {
			t.Fatal(err)
		}
		in3w.Close()
		err = cmd.Wait()
		if want := "nine:high\nthree:go\n"; err != nil || stdout.String() != want {
			t.Fatalf("fence with pipes at fds 3, 6 and 9: %v, stdout %q, want %q\nstderr: %s", err, stdout.String(), want, stderr.String())
		}

		// With an open-file limit of 64, a pipe at 60 is too near it to
		// be passed, and fence says so; one at 50 is passed.
		cmd = exec.Command(bash, "-c", `ulimit -n 64 || exit 9; exec 50< <(echo fifty) 60< <(echo sixty); "$1" -- bash -c 'read -r x <&50; echo "$x"; [ -e /proc/self/fd/60 ] && echo sixty-passed; true'`, "bash", fenceBin)
		cmd.Dir, cmd.Env = s.dir, s.env()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		stdout.Reset()
		stderr.Reset()
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		if err != nil || stdout.String() != "fifty\n" {
			t.Errorf("fence under ulimit -n 64 with pipes at 50 and 60: %v, stdout %q, want %q\nstderr: %s", err, stdout.String(), "fifty\n", stderr.String())
		}
		if w := "pipe fence inherited at descriptor 60 is not passed to the command: it is within 8 of the open-file limit (64)"; !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr %q lacks %q", stderr.String(), w)
		}
	})
}

// pipe returns a pipe's ends, closed when the test ends.
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// gitEnv is what git runs with in the git tests, inside and outside
// fence: no system config, an identity for commits.
var gitEnv = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t"}

// hostGit returns a function that runs git (the path) on the host, as the
// runner's user, with gitEnv, and returns its output; the test ends if git
// fails.
func (s *sandbox) hostGit(git string) func(dir string, args ...string) string {
	return func(dir string, args ...string) string {
		s.t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = dir, append(s.env(), gitEnv...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			s.t.Fatalf("git %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
}

// userWorktree makes, as the runner on the host, a repository with one
// commit at rel and a linked worktree of it at rel/wt (relative to the
// repository, e.g. "../wt"), and returns the worktree's .git file.
func (s *sandbox) userWorktree(git, rel, wt string) string {
	s.t.Helper()
	hostGit := s.hostGit(git)
	dir := s.mkdir(rel)
	hostGit(dir, "init", "-q", "-b", "main", ".")
	hostGit(dir, "commit", "-q", "--allow-empty", "-m", "one")
	hostGit(dir, "worktree", "add", "-q", wt)
	b, err := os.ReadFile(filepath.Join(dir, wt, ".git"))
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// tryWrite runs `echo x > target` in the sandbox (through sh, exec'd
// directly by fence) and returns the result.
func (s *sandbox) tryWrite(cfg, target string) result {
	s.t.Helper()
	args := []string{}
	if cfg != "" {
		args = append(args, "-s", cfg)
	}
	return s.fence(append(args, "--", "sh", "-c", `echo x > "$1"`, "sh", target)...)
}

// mustFailWrite asserts that writing target fails inside with EROFS or
// EACCES and that nothing reaches the host.
func (s *sandbox) mustFailWrite(cfg, target, why string) {
	s.t.Helper()
	res := s.tryWrite(cfg, target)
	if !ranInside(s.t, res) {
		return
	}
	if res.code == 0 {
		s.t.Errorf("%s: writing %s succeeded inside the sandbox: %v", why, target, res)
	} else if !writeDenied(res.stderr) {
		s.t.Errorf("%s: writing %s failed, but not with EROFS or EACCES: %v", why, target, res)
	}
	mustNotExist(s.t, target, why)
}

// Reads work: system files and workspace files.
func TestFSReads(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("data.txt", "workspace-content\n")
		s.write("home/notes.txt", "home-content\n")
		res := s.mustRun("-c", "grep -c '^root:' /etc/passwd; cat data.txt; cat ~/notes.txt; ls /usr/bin | grep -cx sh")
		if want := "1\nworkspace-content\nhome-content\n1\n"; res.stdout != want {
			t.Errorf("stdout %q, want %q", res.stdout, want)
		}
	})
}

// Writes in an allowWrite directory work and reach the host, owned by the
// runner; relative, absolute and ~ forms all work.
func TestFSWriteAllowedDir(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("existing.txt", "old\n")
		s.write("to-delete.txt", "x")
		s.write("to-rename.txt", "r")
		s.mkdir("abs")
		s.mkdir("home/cache")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":[".", "`+s.path("abs")+`", "~/cache"]}}`)
		s.mustRun("-s", cfg, "-c", `set -e
printf data > new.txt
mkdir -p d/e
printf 2 > d/e/f
echo appended >> existing.txt
rm to-delete.txt
mv to-rename.txt renamed.txt
printf abs > `+s.path("abs/f")+`
printf tilde > ~/cache/f`)
		mustHaveContent(t, s.path("new.txt"), "data", "new file")
		mustHaveContent(t, s.path("d/e/f"), "2", "file in new dirs")
		mustHaveContent(t, s.path("existing.txt"), "old\nappended\n", "appended file")
		mustNotExist(t, s.path("to-delete.txt"), "deleted file")
		mustHaveContent(t, s.path("renamed.txt"), "r", "renamed file")
		mustHaveContent(t, s.path("abs/f"), "abs", "absolute allowWrite path")
		mustHaveContent(t, s.path("home/cache/f"), "tilde", "~ allowWrite path")
		if st, err := os.Stat(s.path("new.txt")); err == nil {
			sys := st.Sys().(*syscall.Stat_t)
			if int(sys.Uid) != s.r.uid || int(sys.Gid) != s.r.gid {
				t.Errorf("new.txt is owned by %d:%d on the host, want the runner %d:%d", sys.Uid, sys.Gid, s.r.uid, s.r.gid)
			}
		}
	})
}

// allowWrite of a single file makes that file writable, and only it.
func TestFSWriteAllowedSingleFile(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("single.txt", "before\n")
		s.write("neighbour.txt", "neighbour\n")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["single.txt"]}}`)
		s.mustRun("-s", cfg, "-c", "echo after >> single.txt")
		mustHaveContent(t, s.path("single.txt"), "before\nafter\n", "allowWrite single file")

		s.mustFailWrite(cfg, s.path("other.txt"), "a file next to the allowed file")
		res := s.fence("-s", cfg, "-c", "echo x >> neighbour.txt")
		if res.code == 0 || !writeDenied(res.stderr) {
			t.Errorf("appending to an existing neighbour of the allowed file: want EROFS/EACCES: %v", res)
		}
		mustHaveContent(t, s.path("neighbour.txt"), "neighbour\n", "neighbour of the allowed file")
	})
}

// Root keeps no privileges in the sandbox: a writable directory owned by
// another user (a CI container's checkout, sudo fence in a user's project)
// refuses root's writes there, and fence says so at the start instead of
// leaving the command with a bare EACCES. A directory the runner may write
// by its bits gets no warning.
func TestFSRootWarnedOfUnwritableDirectory(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		theirs := s.mkdir("theirs")
		s.mkdir("mine")
		if s.r.root() {
			if err := os.Chown(theirs, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["theirs", "mine"]}}`)
		res := s.fence("-s", cfg, "-c", "echo x > theirs/f")
		if !ranInside(t, res) {
			return
		}
		warned := strings.Contains(res.stderr, "Warning: fence runs as root")
		if !s.r.root() {
			if res.code != 0 || warned {
				t.Errorf("a directory the runner owns: want the write to succeed with no warning: %v", res)
			}
			return
		}
		if res.code == 0 || !writeDenied(res.stderr) {
			t.Errorf("root writing in another user's 0755 directory: want EACCES inside: %v", res)
		}
		if !warned || !strings.Contains(res.stderr, theirs+" (owner uid 65534, mode 0755)") || !strings.Contains(res.stderr, "sudo -u '#65534'") {
			t.Errorf("want a warning naming %s, its owner and the fix: %v", theirs, res)
		}
		if strings.Contains(res.stderr, "more writable paths") {
			t.Errorf("root's own directory counted as unwritable: %v", res)
		}
		mustNotExist(t, filepath.Join(theirs, "f"), "root's write in another user's directory")
		// Group-writable for a group root is in: no warning.
		if err := os.Chown(theirs, 65534, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(theirs, 0o775); err != nil {
			t.Fatal(err)
		}
		res = s.fence("-s", cfg, "-c", "echo x > theirs/f")
		if res.code != 0 || strings.Contains(res.stderr, "Warning: fence runs as root") {
			t.Errorf("a directory group root may write: want the write to succeed with no warning: %v", res)
		}
	})
}

// Writes outside allowWrite fail with EROFS/EACCES and nothing reaches the
// host: a sibling directory, the workspace root, $HOME, /etc, /var/tmp, and
// a host directory next to the workspace (hidden by the private /tmp).
func TestFSWriteOutsideFails(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("w")
		s.write("outside/existing.txt", "keep\n")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`)
		// Control: the allowed directory is writable.
		s.mustRun("-s", cfg, "-c", "echo ok > w/ok.txt")
		mustHaveContent(t, s.path("w/ok.txt"), "ok\n", "allowed dir")

		s.mustFailWrite(cfg, s.path("outside/new.txt"), "sibling directory of the allowed dir")
		s.mustFailWrite(cfg, s.path("new-in-root.txt"), "workspace root (not allowed)")
		s.mustFailWrite(cfg, filepath.Join(s.home, "new.txt"), "$HOME (not allowed)")
		s.mustFailWrite(cfg, "/etc/"+unique("fence-e2e-"), "/etc")
		if st, err := os.Stat("/var/tmp"); err == nil && st.IsDir() {
			s.mustFailWrite(cfg, "/var/tmp/"+unique("fence-e2e-"), "/var/tmp")
		}

		res := s.fence("-s", cfg, "-c", "echo x >> outside/existing.txt")
		if res.code == 0 || !writeDenied(res.stderr) {
			t.Errorf("appending to an existing file outside: want EROFS/EACCES: %v", res)
		}
		res = s.fence("-s", cfg, "--", "rm", "-f", "outside/existing.txt")
		if res.code == 0 || !writeDenied(res.stderr) {
			t.Errorf("removing a file outside: want EROFS/EACCES: %v", res)
		}
		mustHaveContent(t, s.path("outside/existing.txt"), "keep\n", "existing file outside")
		res = s.fence("-s", cfg, "--", "mkdir", "outside/newdir")
		if res.code == 0 || !writeDenied(res.stderr) {
			t.Errorf("mkdir outside: want EROFS/EACCES: %v", res)
		}
		mustNotExist(t, s.path("outside/newdir"), "mkdir outside")

		// A host directory next to the workspace, writable by the runner
		// on the host. Under the host's /tmp it is hidden, so any error
		// will do; it must stay untouched.
		sib, err := os.MkdirTemp(filepath.Dir(s.dir), "fence-e2e-sibling-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(sib)
		s.own(sib, 0o755)
		target := filepath.Join(sib, "new.txt")
		if res := s.tryWrite(cfg, target); ranInside(t, res) && res.code == 0 {
			t.Errorf("writing a host dir next to the workspace succeeded: %v", res)
		}
		mustNotExist(t, target, "host dir next to the workspace")
	})
}

// A file in a writable directory that has a hard link outside is the file
// outside: pnpm's store links every project's node_modules/.pnpm files, uv
// its cache into every virtualenv. It may not be written in place; the
// sandbox may still replace its own name (rename, unlink) and make links.
func TestFSWriteOutsideThroughHardLinkFails(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		outside := s.write("outside/node_modules/dep/index.js", "orig\n")
		inside := s.path("w/node_modules/dep/index.js")
		s.mkdir(filepath.Dir(inside))
		if err := os.Link(outside, inside); err != nil {
			t.Fatal(err)
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`)
		for _, c := range []string{`echo evil >> "$1"`, `echo evil > "$1"`, `truncate -s 0 "$1"`,
			`exec 3<>"$1" && echo evil >&3`, `echo evil > /proc/self/cwd/"$1"`} {
			res := s.fenceWith(opts{}, "-s", cfg, "--", "sh", "-c", c, "sh", "w/node_modules/dep/index.js")
			if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
				t.Errorf("%s on a file linked outside: want EACCES: %v", c, res)
			}
		}
		mustHaveContent(t, outside, "orig\n", "a file written through its hard link in a writable directory")
		// Control: replacing the name, reading, and new links work.
		s.mustRun("-s", cfg, "-c", "cat w/node_modules/dep/index.js > /dev/null && ln w/node_modules/dep/index.js w/copy.js && "+
			"echo new > w/tmp.js && mv w/tmp.js w/node_modules/dep/index.js && echo more >> w/node_modules/dep/index.js && echo ok > w/plain && echo ok >> w/plain")
		mustHaveContent(t, outside, "orig\n", "the file outside after the name inside was replaced")
		mustHaveContent(t, s.path("w/node_modules/dep/index.js"), "new\nmore\n", "the replaced name")
	})
}

// A file the sandbox created in this run is its own however many names it
// gave it: tar -x of an archive with hard links, cp -al or ln of its own
// files, then an edit in place (>, >>, cp over it) work in the same run.
// One made in an earlier run stays refused once it has other links: a link
// outside may have been made since.
func TestFSWriteOwnHardLinkedFileInRun(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("w")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`)
		s.mustRun("-s", cfg, "-c", "cd w && echo a > own && ln own own2 && echo b >> own && cp own own3 && cp own3 own2 && "+
			"mkdir t && echo x > t/f && cp -al t t2 && echo y > t2/f && truncate -s 1 t/f")
		mustHaveContent(t, s.path("w/own"), "a\nb\n", "a file the sandbox made and linked in the run")
		mustHaveContent(t, s.path("w/t/f"), "y", "a file of a tree the sandbox made and cp -al'd in the run")
		res := s.fenceWith(opts{}, "-s", cfg, "-c", "echo c >> w/own")
		if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
			t.Errorf("a linked file made in an earlier run, written in place: want EACCES: %v", res)
		}
		mustHaveContent(t, s.path("w/own"), "a\nb\n", "a linked file made in an earlier run")
	})
}

// /tmp inside is a private tmpfs: writable, gone afterwards, and the host's
// /tmp files are not visible.
func TestFSPrivateTmp(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		name := unique("fence-e2e-tmp-")
		hostFile := filepath.Join("/tmp", unique("fence-e2e-hostfile-"))
		if err := os.WriteFile(hostFile, []byte("host"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(hostFile)
		defer os.Remove(filepath.Join("/tmp", name))
		res := s.mustRun("-c", "echo inside > /tmp/"+name+" && cat /tmp/"+name+"; test -e "+hostFile+" && echo host-visible || echo host-hidden")
		if want := "inside\nhost-hidden\n"; res.stdout != want {
			t.Errorf("stdout %q, want %q", res.stdout, want)
		}
		mustNotExist(t, filepath.Join("/tmp", name), "private /tmp")
	})
}

// A working directory in a subdirectory of a repository under the host's
// /tmp (a clone made there) brings the repository's top, read-only: shown
// alone, it had no repository above it (git status: "not a git
// repository"), and a write above it went to the private /tmp, lost.
func TestFSRepositorySubdirUnderTmp(t *testing.T) {
	git := need(t, "git")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		if !strings.HasPrefix(s.dir, "/tmp/") {
			t.Skipf("the workspace %s is not under /tmp (TMPDIR is set elsewhere): run the tests with TMPDIR=/tmp", s.dir)
		}
		repo := s.mkdir("repo")
		s.write("repo/sub/file", "x\n")
		s.committedRepo(git, repo)
		sub := filepath.Join(repo, "sub")
		w := s.config("w.json", `{"filesystem":{"allowWrite":["."]}}`)
		for _, args := range [][]string{nil, {"-s", w}} {
			res := s.fenceWith(opts{dir: sub, env: gitEnv}, append(args, "--", "sh", "-c", `git rev-parse --show-toplevel && git status --porcelain && echo status-ok; echo above > ../above.txt && echo wrote-above`)...)
			if res.stdout != repo+"\nstatus-ok\n" {
				t.Errorf("fence %v in %s: stdout %q, want the repository's top and a clean git status (and no write above): %v", args, sub, res.stdout, res)
			}
			mustNotExist(t, filepath.Join(repo, "above.txt"), "a write above the working directory")
		}
		// The working directory itself stays writable when listed.
		res := s.fenceWith(opts{dir: sub}, "-s", w, "--", "sh", "-c", "echo in > new.txt")
		if res.code != 0 {
			t.Errorf("write in the writable working directory: %v", res)
		}
		mustHaveContent(t, filepath.Join(sub, "new.txt"), "in\n", "a write in the working directory")
	})
}

// /dev/null opened to write where the write guard runs (a writable path):
// the guard's shortcut for it answers as the kernel would, flags and
// errors included.
func TestFSGuardDevNull(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("w.json", `{"filesystem":{"allowWrite":["."]}}`)
		script := `import errno, fcntl, os
fd = os.open("/dev/null", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
print("flags", oct(fcntl.fcntl(fd, fcntl.F_GETFL)), "wrote", os.write(fd, b"x"))
fd2 = os.open("/dev/null", os.O_RDWR | os.O_NONBLOCK)
print("flags", oct(fcntl.fcntl(fd2, fcntl.F_GETFL)), "read", os.read(fd2, 10))
print("rdev", os.fstat(fd2).st_rdev == os.stat("/dev/null").st_rdev)
for flags in (os.O_WRONLY | os.O_CREAT | os.O_EXCL, os.O_WRONLY | os.O_DIRECTORY,
              os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECTORY):
    try:
        os.close(os.open("/dev/null", flags))
        print("opened")
    except OSError as e:
        print(errno.errorcode[e.errno])
# O_PATH: the kernel ignores O_WRONLY, O_CREAT and O_TRUNC (nothing made).
for name in ("/dev/null", "file.txt", "missing.txt"):
    try:
        os.close(os.open(name, os.O_PATH | os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
        print(name, "opened", os.path.getsize(name))
    except OSError as e:
        print(name, errno.errorcode[e.errno], os.path.exists(name))
`
		s.write("file.txt", "x\n")
		// What the kernel answers, outside fence.
		bare := exec.Command("/usr/bin/env", "python3", "-c", script)
		bare.Dir, bare.Env = s.dir, s.env()
		bare.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		want, err := bare.Output()
		if err != nil {
			t.Fatalf("the script outside fence: %v", err)
		}
		res := s.fence("-s", cfg, "--", "python3", "-c", script)
		if res.code != 0 || res.stdout != string(want) {
			t.Errorf("/dev/null through the write guard: got %q, want the kernel's answers %q: %v", res.stdout, want, res)
		}
	})
}

// allowRead of a path in the host's /tmp makes it visible, read-only, over
// the private /tmp (a tool unpacked there): the grant did nothing, and the
// program there was "no such file or directory".
func TestFSAllowReadUnderTmp(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		tool, err := os.MkdirTemp("/tmp", "fence-e2e-tool-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(tool) })
		s.own(tool, 0o755)
		script := filepath.Join(tool, "run.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		s.own(script, 0o755)
		// Not listed: not found, and fence says why.
		hint := "is in the host's /tmp, which the sandbox replaces with a private one: list it, or its directory, in filesystem.allowRead"
		if res := s.fence("--", script); res.code != 127 || !strings.Contains(res.stderr, script+" "+hint) {
			t.Errorf("a program in the host's /tmp, not listed: want exit 127 and the line %q: %v", script+" "+hint, res)
		}
		res := s.fenceWith(opts{env: []string{"PATH=" + tool + ":/usr/bin:/bin"}}, "--", "run.sh")
		if want := "run.sh was found only in the host's /tmp (" + script + "), which the sandbox"; res.code != 127 || !strings.Contains(res.stderr, want) {
			t.Errorf("a program found only in a PATH directory in the host's /tmp: want exit 127 and %q: %v", want, res)
		}
		// The command's own 127 gets no such line.
		if res := s.fence("--", "sh", "-c", "exit 127"); res.code != 127 || strings.Contains(res.stderr, "host's /tmp") {
			t.Errorf("sh -c 'exit 127': want exit 127 and nothing said of /tmp: %v", res)
		}
		cfg := s.config("read.json", `{"filesystem":{"allowRead":["`+tool+`"]}}`)
		res = s.fence("-s", cfg, "--", "sh", "-c", script+"; echo x > "+tool+"/new || echo refused")
		if res.stdout != "ran\nrefused\n" {
			t.Errorf("allowRead %s: stdout %q, want the program run and the write refused: %v", tool, res.stdout, res)
		}
		mustNotExist(t, filepath.Join(tool, "new"), "a write in an allowRead path in /tmp")
		// Listed by a name that is a symlink there, or one through it
		// (a tool's "current" -> its version's directory): the name
		// works inside too.
		v1 := filepath.Join(tool, "v1")
		if err := os.Mkdir(v1, 0o755); err != nil {
			t.Fatal(err)
		}
		s.own(v1, 0o755)
		run2 := filepath.Join(v1, "run2.sh")
		if err := os.WriteFile(run2, []byte("#!/bin/sh\necho ran2\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		s.own(run2, 0o755)
		current := filepath.Join(tool, "current")
		if err := os.Symlink("v1", current); err != nil {
			t.Fatal(err)
		}
		for _, entry := range []string{current, current + "/run2.sh"} {
			cfg := s.config("link.json", `{"filesystem":{"allowRead":["`+entry+`"]}}`)
			if res := s.fence("-s", cfg, "--", current+"/run2.sh"); res.stdout != "ran2\n" {
				t.Errorf("allowRead %s (through the symlink %s -> v1): want the program run by that name: %v", entry, current, res)
			}
		}
		// And one that leads out of /tmp, to a directory shown anyway.
		bin, err := filepath.EvalSymlinks("/bin")
		if err != nil {
			t.Fatal(err)
		}
		sys := filepath.Join(tool, "sys")
		if err := os.Symlink(bin, sys); err != nil {
			t.Fatal(err)
		}
		cfg = s.config("link.json", `{"filesystem":{"allowRead":["`+sys+`"]}}`)
		if res := s.fence("-s", cfg, "--", sys+"/sh", "-c", "echo sys"); res.stdout != "sys\n" {
			t.Errorf("allowRead %s (a symlink to %s): want %s/sh run by that name: %v", sys, bin, sys, res)
		}
	})
}

// A home directory under the host's /tmp (a CI job's, a service user's) is
// kept readable over the private /tmp, as the working directory is, with
// its credentials hidden: the private /tmp took it away, ~/.gitconfig and
// all, with no word. It stays read-only.
func TestFSHomeUnderTmpReadable(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		home, err := os.MkdirTemp("/tmp", "fence-e2e-home-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(home) })
		s.own(home, 0o755)
		s.mkdir(filepath.Join(home, ".ssh"))
		s.write(filepath.Join(home, ".gitconfig"), "[user]\n\tname = home-under-tmp\n")
		s.write(filepath.Join(home, ".ssh/id_ed25519"), "SECRET KEY\n")
		proj := s.mkdir("proj")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+proj+`"]}}`)
		res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-s", cfg, "-c",
			`cat ~/.gitconfig; echo "key[$(cat ~/.ssh/id_ed25519)]"; echo x > ~/new && echo wrote`)
		if !ranInside(t, res) {
			return
		}
		if !strings.Contains(res.stdout, "name = home-under-tmp") {
			t.Errorf("~/.gitconfig in a home under /tmp: want it readable: %v", res)
		}
		if !strings.Contains(res.stdout, "key[]") || strings.Contains(res.stdout, "SECRET") {
			t.Errorf("a private key in a home under /tmp: want it hidden: %v", res)
		}
		if strings.Contains(res.stdout, "wrote") {
			t.Errorf("a home under /tmp, not in allowWrite: want it read-only: %v", res)
		}
		mustNotExist(t, filepath.Join(home, "new"), "a write in a home under /tmp")
		// HOME a symlink in /tmp to it: ~ is there too (the link was
		// missing from the private /tmp).
		for _, target := range []string{home, filepath.Base(home)} {
			link := filepath.Join("/tmp", unique("fence-e2e-homelink-"))
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(link)
			res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + link}}, "-s", cfg, "-c", `cat ~/.gitconfig; echo "key[$(cat ~/.ssh/id_ed25519)]"`)
			if !strings.Contains(res.stdout, "name = home-under-tmp") || !strings.Contains(res.stdout, "key[]") {
				t.Errorf("HOME a symlink (to %s) in /tmp to a home there: want ~/.gitconfig read, the key hidden: %v", target, res)
			}
			// The same from the home itself (the working directory's
			// bind shows it), and with the home writable.
			res = s.fenceWith(opts{dir: home, env: []string{"HOME=" + link}}, "-s", cfg, "-c", `cat ~/.gitconfig`)
			if !strings.Contains(res.stdout, "name = home-under-tmp") {
				t.Errorf("HOME a symlink (to %s) in /tmp to a home there, run from the home: want ~/.gitconfig read: %v", target, res)
			}
			wcfg := s.config("fence-whome.json", `{"filesystem":{"allowWrite":["`+home+`"]}}`)
			res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + link}}, "-s", wcfg, "-c", `cat ~/.gitconfig; echo "key[$(cat ~/.ssh/id_ed25519)]"`)
			if !strings.Contains(res.stdout, "name = home-under-tmp") || !strings.Contains(res.stdout, "key[]") {
				t.Errorf("HOME a symlink (to %s) in /tmp to a writable home there: want ~/.gitconfig read, the key hidden: %v", target, res)
			}
		}
	})
}

// A home under /tmp with the host's /tmp writable (-t code lists it; a CI
// job's or a container's HOME=/tmp/...): the warning that the home is
// writable names what makes it so. It said "run fence in a project
// directory", which fence already was, on every run.
func TestFSHomeWritableWarningNamesCause(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		home, err := os.MkdirTemp("/tmp", "fence-e2e-home-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(home) })
		s.own(home, 0o755)
		proj := s.mkdir("proj")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":[".","/tmp"]}}`)
		res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-s", cfg, "--", "true")
		if res.code != 0 || !strings.Contains(res.stderr, `home directory is writable`) ||
			!strings.Contains(res.stderr, `allowWrite "/tmp" holds it`) || strings.Contains(res.stderr, "project directory") {
			t.Errorf("a home under the writable /tmp: want the warning to name allowWrite \"/tmp\": %v", res)
		}
		// Run in the home itself: that is what to change.
		res = s.fenceWith(opts{dir: home, env: []string{"HOME=" + home}}, "-s", cfg, "--", "true")
		if res.code != 0 || !strings.Contains(res.stderr, "run fence in a project directory") {
			t.Errorf("run in a writable home: want the warning to say to run fence in a project directory: %v", res)
		}
	})
}

// allowWrite "/tmp" gives the host's /tmp, writable.
func TestFSHostTmpAllowed(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		name := filepath.Join("/tmp", unique("fence-e2e-hosttmp-"))
		defer os.Remove(name)
		hostFile := filepath.Join("/tmp", unique("fence-e2e-hostfile-"))
		if err := os.WriteFile(hostFile, []byte("host-tmp-file"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(hostFile)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["/tmp"]}}`)
		res := s.mustRun("-s", cfg, "-c", "echo inside > "+name+"; cat "+hostFile)
		if res.stdout != "host-tmp-file" {
			t.Errorf("host /tmp file read inside: %q, want %q", res.stdout, "host-tmp-file")
		}
		mustHaveContent(t, name, "inside\n", "allowWrite /tmp")
	})
}

// /proc shows the sandbox's PID namespace only.
func TestFSProcIsolated(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		self := os.Getpid()
		res := s.mustRun("-c", `for p in /proc/[0-9]*; do printf '%s %s\n' "${p#/proc/}" "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)"; done; test -e /proc/`+strconv.Itoa(self)+` && echo self-visible || echo self-hidden`)
		pids := map[int]string{}
		selfLine := ""
		for _, l := range lines(res.stdout) {
			if strings.HasPrefix(l, "self-") {
				selfLine = l
				continue
			}
			f, rest, _ := strings.Cut(l, " ")
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("bad line %q", l)
			}
			pids[n] = rest
		}
		if _, ok := pids[1]; !ok {
			t.Errorf("no pid 1 inside: %v", res)
		}
		if len(pids) > 8 {
			t.Errorf("%d processes visible inside, want only the sandbox's few: %v", len(pids), pids)
		}
		for pid, cmdline := range pids {
			if strings.Contains(cmdline, "e2e.test") || strings.Contains(cmdline, "go test") {
				t.Errorf("host process visible inside: pid %d %q", pid, cmdline)
			}
		}
		if self > 50 && selfLine != "self-hidden" {
			t.Errorf("the test process's host pid %d is visible inside: %q", self, selfLine)
		}
	})
}

// /dev is minimal: the usual character devices, no disks or memory
// devices, a private /dev/shm.
func TestFSDevMinimal(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("-c", `for d in sda vda nvme0 nvme0n1 mem kmem port kmsg loop0 fuse; do test -e /dev/$d && echo present $d; done
echo blockdevs $(find /dev -xdev -type b 2>/dev/null | wc -l)
echo hello > /dev/null && echo null-ok
echo zero $(head -c 4 /dev/zero | od -An -tx1 | tr -d ' ')
echo urandom $(head -c 16 /dev/urandom | wc -c)
echo full-write $(echo x 2>/dev/null > /dev/full && echo ok || echo enospc)`)
		for _, l := range lines(res.stdout) {
			if strings.HasPrefix(l, "present ") {
				t.Errorf("/dev/%s exists inside", strings.TrimPrefix(l, "present "))
			}
		}
		for _, want := range []string{"blockdevs 0", "null-ok", "zero 00000000", "urandom 16", "full-write enospc"} {
			if !strings.Contains(res.stdout, want+"\n") {
				t.Errorf("want %q in %q", want, res.stdout)
			}
		}

		// /dev/shm is private in both directions.
		name := unique("fence-e2e-shm-")
		var hostShm string
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			hostShm = filepath.Join("/dev/shm", unique("fence-e2e-hostshm-"))
			if err := os.WriteFile(hostShm, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(hostShm)
		}
		defer os.Remove(filepath.Join("/dev/shm", name))
		cmd := "echo inside > /dev/shm/" + name + " && cat /dev/shm/" + name
		if hostShm != "" {
			cmd += "; if test -e " + hostShm + "; then echo host-shm-visible; fi"
		}
		res = s.mustRun("-c", cmd)
		if res.stdout != "inside\n" {
			t.Errorf("/dev/shm inside: stdout %q, want %q", res.stdout, "inside\n")
		}
		mustNotExist(t, filepath.Join("/dev/shm", name), "private /dev/shm")
	})
}

// The host's device nodes bound into /dev can be used, not changed: their
// inodes are the host's own (/dev/null of the whole machine), and a
// sandbox that root runs is their owner, whom the kernel lets chmod and
// set times without a capability (chmod 000 /dev/null breaks the host).
// Each probe sets what is already there (the same mode, the node's own
// times), so a failure changes nothing but ctime.
func TestFSDevNodesUnchangeable(t *testing.T) {
	nodes := []string{"null", "zero", "full", "random", "urandom", "tty"}
	modes := map[string]os.FileMode{}
	for _, n := range nodes {
		if st, err := os.Stat("/dev/" + n); err == nil {
			modes[n] = st.Mode()
		}
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("-c", `for d in `+strings.Join(nodes, " ")+`; do
	test -e /dev/$d || continue
	chmod "$(stat -c %a /dev/$d)" /dev/$d 2>/dev/null && echo chmod $d
	touch -c -r /dev/$d /dev/$d 2>/dev/null && echo touch $d
done
echo x > /dev/null && echo null-ok`)
		for _, l := range lines(res.stdout) {
			if strings.HasPrefix(l, "chmod ") || strings.HasPrefix(l, "touch ") {
				t.Errorf("the sandbox could %s the host's /dev/%s", strings.Fields(l)[0], strings.Fields(l)[1])
			}
		}
		if !strings.Contains(res.stdout, "null-ok\n") {
			t.Errorf("/dev/null not writable inside: %q", res.stdout)
		}
		for n, m := range modes {
			if st, err := os.Stat("/dev/" + n); err == nil && st.Mode() != m {
				t.Errorf("the host's /dev/%s changed mode from %v to %v", n, m, st.Mode())
			}
		}
	})
}

// Grants in /proc and /sys: the sandbox's /proc is its own and /sys stays
// read-only. allowWrite "/proc" (or "/p*", or a symlink to /proc/sys)
// bound the host's procfs over the sandbox's, writable: a sandbox run by
// root changed the host's kernel settings (/proc/sys/kernel) and every
// user's sandbox saw the host's processes and set their oom_score_adj;
// allowWrite "/sys/kernel/mm" made the host's transparent huge page
// settings writable to root. allowRead of /proc, /dev and their names
// under defaultDenyRead bound the host's over the sandbox's: the host's
// processes, and /dev/null and the terminals unusable. Such a read grant
// is there already and grants nothing more; a write grant is refused.
// Nothing here writes: the probes are test -w and reads.
func TestFSGrantsInProcAndSys(t *testing.T) {
	hostInit, err := os.ReadFile("/proc/1/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		w := s.mkdir("w")
		s.symlink("/proc/sys/kernel", "w/kernel")
		marker := filepath.Join(w, "ran")
		for _, tc := range []struct{ entry, why string }{
			{"/proc", "a /proc of its own"},
			{"/proc/sys/kernel", "a /proc of its own"},
			{"/p*", "a /proc of its own"},
			{"w/kernel", "a /proc of its own"},
			{"/sys", "/sys stays read-only"},
			{"/sys/kernel/mm", "/sys stays read-only"},
		} {
			cfg := s.config("procsys.json", `{"filesystem":{"allowWrite":["`+w+`", "`+tc.entry+`"]}}`)
			s.mustRefuse(exec.Command(fenceBin, "-s", cfg, "-c", "touch "+marker), marker,
				`filesystem.allowWrite "`+tc.entry+`"`, tc.why, "remove the entry")
		}

		cfg := s.config("read.json", `{"filesystem":{"defaultDenyRead":true,"allowRead":[".", "/proc", "/proc/self", "/dev", "/dev/null", "/dev/shm", "/dev/pts"],"allowExecute":["/proc/self/exe"]}}`)
		res := s.mustRun("-s", cfg, "-c", `tr '\0' ' ' < /proc/1/cmdline; echo
echo x > /dev/null && echo null-ok
: > /dev/shm/x && echo shm-ok
echo ptmx $(stat -c %a /dev/pts/ptmx)
test -w /proc/sys/kernel/core_uses_pid && echo kernel-writable
echo done`)
		init, rest, _ := strings.Cut(res.stdout, "\n")
		if host := strings.ReplaceAll(string(hostInit), "\x00", " "); init == host {
			t.Errorf("allowRead \"/proc\": the sandbox's /proc/1 is the host's init (%q)", init)
		}
		if want := "null-ok\nshm-ok\nptmx 666\ndone\n"; rest != want {
			t.Errorf("read grants of /proc and /dev under defaultDenyRead: stdout %q, want %q after PID 1's command line (stderr %q)", rest, want, res.stderr)
		}
		refused := s.fence("-s", s.config("kvm.json", `{"filesystem":{"defaultDenyRead":true,"allowRead":[".", "/dev/kvm"]}}`), "-c", "true")
		if refused.code != 1 || !strings.Contains(refused.stderr, `filesystem.allowRead "/dev/kvm"`) || !strings.Contains(refused.stderr, "a /dev of its own") {
			t.Errorf("allowRead of a host device: want one line refusing it, got %v", refused)
		}
	})
}

// A kernel file system mounted in a writable path (a chroot's rbind of
// /sys for a build root, a container tool's /host/sys) came with the
// writable bind, writable: a sandbox run by root could change the kernel's
// settings through it. It is bound read-only on top, and a writable path
// on one is refused. The test binds /sys into the workspace in a mount
// namespace of its own (unshare), where fence then runs.
func TestFSKernelMountsInWritablePath(t *testing.T) {
	unshare := need(t, "unshare")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		w := s.mkdir("w")
		s.mkdir("w/sys")
		run := func(cfg, script string) ([]byte, error) {
			args := []string{"--mount", "--propagation", "private"}
			if !s.r.root() {
				args = append([]string{"--user", "--map-root-user"}, args...)
			}
			args = append(args, "sh", "-c", `mount --rbind /sys "$1/sys" && exec "$0" -s "$2" -c "$3"`, fenceBin, w, cfg, script)
			cmd := exec.Command(unshare, args...)
			cmd.Dir, cmd.Env = s.dir, s.env()
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
			return cmd.CombinedOutput()
		}
		cfg := s.config("chroot.json", `{"filesystem":{"allowWrite":["`+w+`"]}}`)
		out, err := run(cfg, `touch "`+w+`/made" && awk '$5 == "`+w+`/sys" { print $6 }' /proc/self/mountinfo; test -w "`+w+`/sys/kernel/mm/transparent_hugepage/enabled" && echo kernel-writable; true`)
		if err != nil {
			t.Fatalf("fence with /sys bound in the writable workspace: %v\n%s", err, out)
		}
		// The last mount at that point is the one on top.
		lines := strings.Fields(string(out))
		if len(lines) == 0 || slices.Contains(lines, "kernel-writable") || !strings.HasPrefix(lines[len(lines)-1], "ro,") {
			t.Errorf("the workspace's sysfs mount inside: options %q, the last on top; want it read-only", out)
		}
		mustHaveContent(t, filepath.Join(w, "made"), "", "a file made in the writable workspace")

		cfg = s.config("onsys.json", `{"filesystem":{"allowWrite":["`+w+`/sys/kernel"]}}`)
		out, err = run(cfg, "true")
		if err == nil || !strings.Contains(string(out), "is on the kernel's sysfs file system") || !strings.Contains(string(out), "remove it from filesystem.allowWrite") {
			t.Errorf("allowWrite of a path on a sysfs mount: want a refusal naming it, got %v\n%s", err, out)
		}
	})
}

// Started in /tmp itself, the command sees the host's /tmp there, read-only
// like any working directory in it, and still has a writable place for
// temporary files: mktemp and Python's tempfile failed ("No usable
// temporary directory"). TMPDIR leads to the sandbox's own /dev/shm.
func TestFSStartedInTmp(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.fenceWith(opts{dir: "/tmp"}, "--", "sh", "-c", `test -d "$1" && echo host-tmp-shown; f=$(mktemp) && echo x > "$f" && echo mktemp-ok; touch /tmp/fence-e2e-x 2>/dev/null || echo tmp-read-only`, "sh", s.dir)
		if res.code != 0 || res.stdout != "host-tmp-shown\nmktemp-ok\ntmp-read-only\n" {
			t.Errorf("fence started in /tmp: %v", res)
		}
		mustNotExist(t, "/tmp/fence-e2e-x", "a file made in the host's /tmp")
	})
}

// Paths the command knows through a symlink reach what fence grants there.
// Under defaultDenyRead only what is listed is in the tree, bound where it
// leads: a $HOME through a symlink (Fedora Atomic's /home -> /var/home)
// led nowhere inside, nor did a grant listed through one (~/proj ->
// work/proj). In the private /tmp, allowWrite of a name through a symlink
// (/tmp/tool/cur -> v1) left the name missing, where allowRead made it.
func TestFSGrantsThroughSymlinks(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		top := s.outsideDir("fence-e2e-links-")
		for _, d := range []string{"var/home/u", "work/proj"} {
			p := filepath.Join(top, d)
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			s.own(p, 0o755)
		}
		if err := os.WriteFile(filepath.Join(top, "var/home/u/f"), []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, l := range [][2]string{{"var/home", "home"}, {filepath.Join(top, "work/proj"), "var/home/u/proj"}} {
			if err := os.Symlink(l[0], filepath.Join(top, l[1])); err != nil {
				t.Fatal(err)
			}
		}
		home := filepath.Join(top, "home/u")
		cfg := s.config("links.json", `{"filesystem":{"defaultDenyRead":true,"allowRead":["~", "."],"allowWrite":["~/proj"]}}`)
		res := s.fenceWith(opts{env: []string{"HOME=" + home}}, "-s", cfg, "-c", `cat "$HOME/f" && touch "$HOME/proj/x" && echo ok`)
		if res.code != 0 || res.stdout != "hello\nok\n" {
			t.Errorf("defaultDenyRead, $HOME and a grant through symlinks: %v", res)
		}
		mustHaveContent(t, filepath.Join(top, "work/proj/x"), "", "a file made through ~/proj -> work/proj")

		s.mkdir("tl/v1")
		s.symlink("v1", "tl/cur")
		cfg = s.config("tmp.json", `{"filesystem":{"allowWrite":["`+s.path("tl/cur")+`"]}}`)
		res = s.fenceWith(opts{dir: top}, "-s", cfg, "-c", "touch "+s.path("tl/cur/y")+" && echo ok")
		if res.code != 0 || res.stdout != "ok\n" {
			t.Errorf("allowWrite of a name in /tmp through a symlink: %v", res)
		}
		mustHaveContent(t, s.path("tl/v1/y"), "", "a file made through /tmp/.../cur -> v1")
	})
}

// allowWrite in /dev: the sandbox's /dev is its own, and a bind of a host
// node there would be nodev. allowWrite "/dev/null" (or a writable file
// that is a symlink to it, ~/.node_repl_history -> /dev/null) bound the
// host's /dev/null that way, and every "2>/dev/null" inside failed with
// EACCES; "/dev/pts" bound the host's ptys over the sandbox's own. The
// sandbox's names are writable already and grant nothing more; the host's
// /dev/shm is bound as asked; the rest (the host's whole /dev, a device)
// is refused, with the fix.
func TestFSAllowWriteInDev(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		w := s.mkdir("w")
		s.symlink("/dev/null", "w/history")
		cfg := s.config("own.json", `{"filesystem":{"allowWrite":["/dev/null", "/dev/zero", "/dev/tty", "/dev/stdout", "/dev/fd", "/dev/pts", "w/history"]}}`)
		res := s.mustRun("-s", cfg, "-c", `echo x > /dev/null && echo null-ok
echo x > w/history && echo history-ok
test -L /dev/stdout && echo stdout-link
echo zero $(head -c 4 /dev/zero | wc -c)
echo ptmx $(stat -c %a /dev/pts/ptmx)`)
		// ptmxmode=0666 is the sandbox's devpts; the host's is 000.
		if want := "null-ok\nhistory-ok\nstdout-link\nzero 4\nptmx 666\n"; res.stdout != want {
			t.Errorf("allowWrite of the sandbox's own /dev names: stdout %q, want %q (stderr %q)", res.stdout, want, res.stderr)
		}

		// The host's /dev/shm, as asked.
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && st.Mode()&0o777 == 0o777 {
			name := unique("fence-e2e-allowshm-")
			defer os.Remove(filepath.Join("/dev/shm", name))
			cfg := s.config("shm.json", `{"filesystem":{"allowWrite":["/dev/shm"]}}`)
			s.mustRun("-s", cfg, "-c", "echo shared > /dev/shm/"+name)
			mustHaveContent(t, filepath.Join("/dev/shm", name), "shared\n", "a file written in the host's /dev/shm")
		}

		s.symlink("/dev", "w/devices")
		for _, entry := range []string{"/dev", "/dev/kvm", "/dev/*", "w/devices"} {
			cfg := s.config("dev.json", `{"filesystem":{"allowWrite":["`+w+`", "`+entry+`"]}}`)
			marker := filepath.Join(w, "ran")
			s.mustRefuse(exec.Command(fenceBin, "-s", cfg, "-c", "touch "+marker), marker,
				`filesystem.allowWrite "`+entry+`"`, "a /dev of its own", `list "/dev/shm"`)
		}
	})
}

// PTYs work inside: a new devpts instance with Landlock allowing its ioctls.
func TestFSPty(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		t.Run("python-openpty", func(t *testing.T) {
			need(t, "python3")
			res := s.fence("--", "python3", "-c", `import os, pty, termios
m, sl = pty.openpty()
os.write(m, b"ping\n")
print(os.read(sl, 100).decode().strip(), os.ttyname(sl).startswith("/dev/pts/"))
termios.tcgetattr(sl)`)
			if res.code != 0 || res.stdout != "ping True\n" {
				t.Errorf("pty.openpty inside: want \"ping True\": %v", res)
			}
		})
		t.Run("script", func(t *testing.T) {
			need(t, "script")
			res := s.fence("--", "script", "-qc", "tty; echo in-script", "/dev/null")
			if res.code != 0 || !strings.Contains(res.stdout, "in-script") || !strings.Contains(res.stdout, "/dev/pts/") {
				t.Errorf("script -qc inside: want exit 0, a /dev/pts tty and \"in-script\": %v", res)
			}
		})
	})
}

// Submounts of the host stay readable (recursive read-only view), both
// under the working directory and elsewhere (/mnt), and stay read-only.
// Mounting on the host needs root.
func TestFSSubmountsVisible(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs on the host needs root: run the tests as root")
	}
	mountTmpfs := func(t *testing.T, dir, content string) {
		t.Helper()
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755,size=1m"); err != nil {
			t.Fatalf("mount tmpfs on %s: %v", dir, err)
		}
		t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
		if err := os.WriteFile(filepath.Join(dir, "file.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		inWs := s.mkdir("mnt")
		mountTmpfs(t, inWs, "in-workspace-submount")
		targets := map[string]string{inWs: "in-workspace-submount"}
		if st, err := os.Stat("/mnt"); err == nil && st.IsDir() {
			d, err := os.MkdirTemp("/mnt", "fence-e2e-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Remove(d) })
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
			mountTmpfs(t, d, "in-mnt-submount")
			targets[d] = "in-mnt-submount"
		} else {
			t.Log("no /mnt on this host: only the submount under the workspace is checked")
		}
		for dir, content := range targets {
			res := s.fence("--", "cat", filepath.Join(dir, "file.txt"))
			if res.code != 0 || res.stdout != content {
				t.Errorf("submount %s: want %q readable inside: %v", dir, content, res)
			}
			s.mustFailWrite("", filepath.Join(dir, "new.txt"), "submount "+dir+" (read-only view)")
		}
	})
}

// A one-level glob before "/**" hides every matching directory whole; it
// once expanded to nothing and hid nothing.
func TestFSDenyReadGlobbedTree(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("secrets1/k.txt", "TOPSECRET-1\n")
		s.write("secrets2/deep/k.txt", "TOPSECRET-2\n")
		s.write("public/p.txt", "PUBLIC\n")
		cfg := s.config("fence.json", `{"filesystem":{"denyRead":["secret*/**"]}}`)
		res := s.fence("-s", cfg, "-c", "cat secrets1/k.txt secrets2/deep/k.txt public/p.txt; echo done")
		if !ranInside(t, res) {
			return
		}
		if strings.Contains(res.stdout, "TOPSECRET") || !strings.Contains(res.stdout, "PUBLIC") || !strings.HasSuffix(res.stdout, "done\n") {
			t.Errorf("want secrets*/ hidden and public/ readable: %v", res)
		}
	})
}

// denyRead hides a file and a directory: nothing of their content is
// readable, and they cannot be written either.
func TestFSDenyRead(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("secret.txt", "TOPSECRET-file\n")
		s.write("secretdir/inner.txt", "TOPSECRET-dir\n")
		s.write("home/private/key.txt", "TOPSECRET-home\n")
		script := "cat secret.txt; ls -A secretdir; cat secretdir/inner.txt; cat ~/private/key.txt; echo done"
		// Control: readable without the denyRead policy.
		res := s.mustRun("-c", script)
		if !strings.Contains(res.stdout, "TOPSECRET-dir") {
			t.Fatalf("control run cannot read the files: %v", res)
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyRead":["secret.txt","`+s.path("secretdir")+`","~/private"]}}`)
		res = s.fence("-s", cfg, "-c", script)
		if strings.Contains(res.stdout+res.stderr, "TOPSECRET") || strings.Contains(res.stdout, "inner.txt") || strings.Contains(res.stdout, "key.txt") {
			t.Errorf("denyRead content or names visible: %v", res)
		}
		if !strings.HasSuffix(res.stdout, "done\n") {
			t.Errorf("script did not finish: %v", res)
		}
		res = s.fence("-s", cfg, "-c", "echo overwritten > secret.txt; echo new > secretdir/new.txt")
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("writing a denyRead path succeeded: %v", res)
		}
		mustHaveContent(t, s.path("secret.txt"), "TOPSECRET-file\n", "denyRead file")
		mustNotExist(t, s.path("secretdir/new.txt"), "denyRead dir")
		// The mask itself is read-only: its owner (the sandbox) cannot
		// make it writable either.
		res = s.fence("-s", cfg, "-c", "chmod 644 secret.txt || exit 3; echo x > secret.txt")
		if ranInside(t, res) && res.code != 3 {
			t.Errorf("chmod of a denyRead mask: want it refused (exit 3): %v", res)
		}
	})
}

// A mask sits on a path as it was at the start: a directory above a hidden
// file, in a writable path, must not be renamed, or the mask would go with
// it and the next run, hiding the path where it was, would show the file
// at its new name.
func TestFSMaskedPathsNotRenamedAway(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.aws/credentials", "AWS-SECRET-MARKER\n")
		s.write("home/.config/containers/auth.json", "PODMAN-AUTH-MARKER\n")
		s.write("conf/prod/key.txt", "DENYREAD-MARKER\n")
		s.mkdir("other")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyRead":["conf/prod/key.txt"]}}`)
		res := s.fence("-s", cfg, "-c", "mv ~/.aws ~/.aws2; mv ~/.config/containers ~/.config/c2; mv conf conf2; mv conf/prod conf/prod2; mv other other2 && echo renamed")
		if ranInside(t, res) && !strings.Contains(res.stdout, "renamed") {
			t.Errorf("a directory that holds nothing hidden could not be renamed: %v", res)
		}
		res = s.fence("-s", cfg, "-c", "cat ~/.aws2/credentials ~/.config/c2/auth.json conf2/prod/key.txt conf/prod2/key.txt; cat ~/.aws/credentials ~/.config/containers/auth.json conf/prod/key.txt; echo done")
		if !strings.Contains(res.stdout, "done") {
			t.Errorf("the second run did not run: %v", res)
		}
		for _, m := range []string{"AWS-SECRET-MARKER", "PODMAN-AUTH-MARKER", "DENYREAD-MARKER"} {
			if strings.Contains(res.stdout+res.stderr, m) {
				t.Errorf("%s readable after a run renamed its directory: %v", m, res)
			}
		}
		mustHaveContent(t, s.path("home/.aws/credentials"), "AWS-SECRET-MARKER\n", "credential directory")
		mustHaveContent(t, s.path("conf/prod/key.txt"), "DENYREAD-MARKER\n", "denyRead directory")
	})
}

// A mask sits where a hidden path resolved at the start: a symlink on the
// way there, in a writable path (~/.aws -> a directory elsewhere with a
// writable home, a denyRead entry that is a symlink out of the project),
// must be neither removed, renamed nor replaced, or the next run would
// hide where it leads then and show the file.
func TestFSMaskedPathsSymlinkHeld(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		out := s.outsideDir("fence-e2e-store-")
		for _, f := range []string{"aws", "data"} {
			if err := os.Mkdir(filepath.Join(out, f), 0o755); err != nil {
				t.Fatal(err)
			}
			s.own(filepath.Join(out, f), 0o755)
		}
		for _, f := range [][2]string{{"aws/credentials", "AWS-SECRET-MARKER\n"}, {"data/key.txt", "DENYREAD-MARKER\n"}} {
			p := filepath.Join(out, f[0])
			if err := os.WriteFile(p, []byte(f[1]), 0o644); err != nil {
				t.Fatal(err)
			}
			s.own(p, 0o644)
		}
		s.symlink(filepath.Join(out, "aws"), "home/.aws")
		s.symlink(filepath.Join(out, "data"), "sub/secrets")
		s.symlink("sub/secrets", "chain")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyRead":["chain"]}}`)
		script := "rm ~/.aws; rm -f sub/secrets; ln -sfn /nonexistent chain; mv sub sub2; mv ~/.aws ~/.aws2; mkdir -p ~/.aws sub; echo changed"
		res := s.fence("-s", cfg, "-c", script)
		if !ranInside(t, res) || !strings.Contains(res.stdout, "changed") {
			t.Fatalf("the first run did not run: %v", res)
		}
		res = s.fence("-s", cfg, "-c", "cat "+filepath.Join(out, "aws/credentials")+" "+filepath.Join(out, "data/key.txt")+"; echo done")
		if !strings.Contains(res.stdout, "done") {
			t.Fatalf("the second run did not run: %v", res)
		}
		for _, m := range []string{"AWS-SECRET-MARKER", "DENYREAD-MARKER"} {
			if strings.Contains(res.stdout+res.stderr, m) {
				t.Errorf("%s readable after a run changed the symlink leading to it: %v", m, res)
			}
		}
		for _, l := range []string{"home/.aws", "sub/secrets", "chain"} {
			if st, err := os.Lstat(s.path(l)); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("%s: the symlink was removed or replaced (%v)", l, err)
			}
		}
		// A symlink that leads to nothing hidden stays the sandbox's.
		s.symlink("sub", "free")
		res = s.fence("-s", cfg, "-c", "rm free && ln -s home free && echo relinked")
		if !strings.Contains(res.stdout, "relinked") {
			t.Errorf("a symlink leading to nothing hidden could not be changed: %v", res)
		}
	})
}

// An allowRead entry in another user's directory does not lift the masks
// of your keys by where it leads: the owner there made it a symlink to
// your ~/.ssh, and the grant showed id_rsa. (Listed as the path itself,
// ~/.ssh still lifts them.)
func TestFSGrantThroughOtherUsersSymlink(t *testing.T) {
	needRootFor(t, "a directory of another user's")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-KEY-MARKER\n")
		other := 65534
		if s.r.uid == other {
			other = 1 // daemon
		}
		theirs := filepath.Join(s.outsideDir("fence-e2e-theirs-"), "d")
		if err := os.Mkdir(theirs, 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(theirs, "keys")
		if err := os.Symlink(s.path("home/.ssh"), link); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{link, theirs} {
			if err := os.Lchown(p, other, other); err != nil {
				t.Fatal(err)
			}
		}
		res := s.fence("-s", s.config("g.json", `{"filesystem":{"allowRead":["`+link+`"]}}`), "-c", `cat `+link+`/id_rsa ~/.ssh/id_rsa; echo done`)
		if !ranInside(t, res) || !strings.Contains(res.stdout, "done") || strings.Contains(res.stdout, "SSH-KEY-MARKER") {
			t.Errorf("allowRead of another user's symlink to ~/.ssh lifted the key's mask: %v", res)
		}
		res = s.fence("-s", s.config("o.json", `{"filesystem":{"allowRead":["~/.ssh"]}}`), "-c", `cat ~/.ssh/id_rsa`)
		if !strings.Contains(res.stdout, "SSH-KEY-MARKER") {
			t.Errorf("allowRead ~/.ssh no longer lifts the mask: %v", res)
		}
	})
}

// Another mount of the same file system shows a hidden file at another
// path (a bind mount of the home elsewhere, a btrfs pool mounted whole):
// masked there too. Mounting on the host needs root.
func TestFSMaskedPathsOtherMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts on the host need root: run the tests as root")
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-KEY-MARKER\n")
		s.write("conf/key.txt", "DENYREAD-MARKER\n")
		s.write("conf/open.txt", "open-visible\n")
		for _, b := range [][2]string{{"home", "homeview"}, {"conf", "confview"}} {
			dst := s.mkdir(b[1])
			if err := unix.Mount(s.path(b[0]), dst, "", unix.MS_BIND, ""); err != nil {
				t.Fatalf("bind %s at %s: %v", b[0], dst, err)
			}
			t.Cleanup(func() { _ = unix.Unmount(dst, unix.MNT_DETACH) })
		}
		script := "cat homeview/.ssh/id_rsa confview/key.txt confview/open.txt; echo done"
		for _, c := range []string{`{"filesystem":{"denyRead":["conf/key.txt"]}}`, `{"filesystem":{"defaultDenyRead":true,"allowRead":["."],"denyRead":["conf/key.txt"]}}`} {
			res := s.fence("-s", s.config("fence.json", c), "-c", script)
			if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
				t.Fatalf("%s: the command did not run: %v", c, res)
			}
			for _, m := range []string{"SSH-KEY-MARKER", "DENYREAD-MARKER"} {
				if strings.Contains(res.stdout, m) {
					t.Errorf("%s: %s readable through a bind mount of its directory: %v", c, m, res)
				}
			}
			if !strings.Contains(res.stdout, "open-visible") {
				t.Errorf("%s: a file beside the hidden one should stay readable there: %v", c, res)
			}
		}
	})
}

// An overlay mount shows its layers' files (its layers are private clones,
// without the masks on top of them): an overlay whose lower directory is
// the home shows the hidden keys at its mount point. Masked there too.
// Mounting on the host needs root.
func TestFSMaskedPathsOverlayLayers(t *testing.T) {
	needRootFor(t, "overlay mounts on the host")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-KEY-MARKER\n")
		s.write("conf/key.txt", "DENYREAD-MARKER\n")
		s.write("conf/open.txt", "open-visible\n")
		// A layer whose name holds a colon, given as "\:" (mountinfo
		// shows "\134:").
		s.write("co:lon/key.txt", "COLON-MARKER\n")
		for _, b := range [][2]string{{"home", "homeview"}, {"conf", "confview"}, {"co:lon", "colonview"}} {
			up, work, dst := s.mkdir(b[1]+"-up"), s.mkdir(b[1]+"-work"), s.mkdir(b[1])
			opts := "lowerdir=" + strings.ReplaceAll(s.path(b[0]), ":", `\:`) + ",upperdir=" + up + ",workdir=" + work
			if err := unix.Mount("overlay", dst, "overlay", 0, opts); err != nil {
				t.Skipf("overlay of %s at %s: %v", b[0], dst, err)
			}
			t.Cleanup(func() { _ = unix.Unmount(dst, unix.MNT_DETACH) })
		}
		script := "cat homeview/.ssh/id_rsa confview/key.txt confview/open.txt colonview/key.txt; echo done"
		for _, c := range []string{`{"filesystem":{"denyRead":["conf/key.txt","co:lon/key.txt"]}}`, `{"filesystem":{"defaultDenyRead":true,"allowRead":["."],"denyRead":["conf/key.txt","co:lon/key.txt"]}}`} {
			res := s.fence("-s", s.config("fence.json", c), "-c", script)
			if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
				t.Fatalf("%s: the command did not run: %v", c, res)
			}
			for _, m := range []string{"SSH-KEY-MARKER", "DENYREAD-MARKER", "COLON-MARKER"} {
				if strings.Contains(res.stdout, m) {
					t.Errorf("%s: %s readable through an overlay of its directory: %v", c, m, res)
				}
			}
			if !strings.Contains(res.stdout, "open-visible") {
				t.Errorf("%s: a file beside the hidden one should stay readable there: %v", c, res)
			}
		}
	})
}

// Layers given through symlinks (Docker's overlay2/l/ID): lowerdir,
// lowerdir+ and upperdir. The hidden file is masked at the overlay's mount
// point, and the overlay's own hidden file in the layer where the link
// leads; no mask is mounted through the link (the start failed there).
func TestFSMaskedPathsOverlayLinkedLayers(t *testing.T) {
	needRootFor(t, "overlay mounts on the host")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-KEY-MARKER\n")
		s.write("conf/key.txt", "DENYREAD-MARKER\n")
		s.write("conf/open.txt", "open-visible\n")
		s.write("low/inner.txt", "INNER-MARKER\n")
		s.symlink("../home", "l/H")
		s.symlink("../conf", "l/C")
		s.symlink("../low", "l/I")
		empty := s.mkdir("empty")
		for _, o := range [][2]string{
			{"lower", "lowerdir=" + s.path("l/H") + ",upperdir=" + s.mkdir("lower-up") + ",workdir=" + s.mkdir("lower-work")},
			{"lowerplus", "lowerdir+=" + s.path("l/H") + ",upperdir=" + s.mkdir("lowerplus-up") + ",workdir=" + s.mkdir("lowerplus-work")},
			{"upper", "lowerdir=" + empty + ",upperdir=" + s.path("l/C") + ",workdir=" + s.mkdir("upper-work")},
			{"inner", "lowerdir=" + s.path("l/I") + ",upperdir=" + s.mkdir("inner-up") + ",workdir=" + s.mkdir("inner-work")},
		} {
			dst := s.mkdir(o[0])
			if err := unix.Mount("overlay", dst, "overlay", 0, o[1]); err != nil {
				t.Skipf("overlay at %s (%s): %v", dst, o[1], err)
			}
			t.Cleanup(func() { _ = unix.Unmount(dst, unix.MNT_DETACH) })
		}
		script := "cat lower/.ssh/id_rsa lowerplus/.ssh/id_rsa upper/key.txt upper/open.txt inner/inner.txt low/inner.txt l/I/inner.txt; echo done"
		res := s.fence("-s", s.config("fence.json", `{"filesystem":{"denyRead":["conf/key.txt","inner/inner.txt"]}}`), "-c", script)
		if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
			t.Fatalf("the command did not run: %v", res)
		}
		for _, m := range []string{"SSH-KEY-MARKER", "DENYREAD-MARKER", "INNER-MARKER"} {
			if strings.Contains(res.stdout, m) {
				t.Errorf("%s readable through an overlay of a linked layer: %v", m, res)
			}
		}
		if !strings.Contains(res.stdout, "open-visible") {
			t.Errorf("a file beside the hidden one should stay readable: %v", res)
		}
	})
}

// An overlay mounted inside its own layer (here the home's, at ~/view): the
// key is masked at ~/view/.ssh, and fence starts (the views of views,
// ~/view/view/.ssh/..., had no end: it hung at 100% CPU).
func TestFSMaskedPathsOverlayInsideItsLayer(t *testing.T) {
	needRootFor(t, "overlay mounts on the host")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-KEY-MARKER\n")
		dst := s.mkdir("home/view")
		opts := "lowerdir=" + s.path("home") + ",upperdir=" + s.mkdir("view-up") + ",workdir=" + s.mkdir("view-work")
		mountOverlay(t, dst, opts)
		mustNotReveal(t, s, "home/view/.ssh/id_rsa", "SSH-KEY-MARKER")
	})
}

// An overlay whose upperdir is inside its lowerdir (as in an overlay of
// "/"): the key is masked at the overlay, and fence starts (views of views,
// up/up/up/.ssh/..., none of them there, had no end: it hung).
func TestFSMaskedPathsOverlayUpperInLower(t *testing.T) {
	needRootFor(t, "overlay mounts on the host")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-KEY-MARKER\n")
		dst := s.mkdir("view")
		opts := "lowerdir=" + s.path("home") + ",upperdir=" + s.mkdir("home/up") + ",workdir=" + s.mkdir("work")
		mountOverlay(t, dst, opts)
		mustNotReveal(t, s, "view/.ssh/id_rsa", "SSH-KEY-MARKER")
	})
}

// An overlay whose layers went missing or were replaced by a file since the
// mount: the hidden file's views in them are nothing to mask, and fence
// starts (a layer that was a file failed it, "not a directory").
func TestFSMaskedPathsOverlayLayerGone(t *testing.T) {
	needRootFor(t, "overlay mounts on the host")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-KEY-MARKER\n")
		gone, filed := s.mkdir("gone"), s.mkdir("filed")
		dst := s.mkdir("view")
		opts := "lowerdir=" + gone + ":" + filed + ":" + s.path("home") + ",upperdir=" + s.mkdir("view-up") + ",workdir=" + s.mkdir("view-work")
		mountOverlay(t, dst, opts)
		if err := os.Remove(gone); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filed); err != nil {
			t.Fatal(err)
		}
		s.write("filed", "a file now\n")
		mustNotReveal(t, s, "view/.ssh/id_rsa", "SSH-KEY-MARKER")
	})
}

// A directory as fence's standard input is refused: inside, paths through
// it (/proc/self/fd/0/...) are the host's, past every mask.
func TestFSDirectoryAsStdioRefused(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-PRIVATE-KEY-MARKER\n")
		dir, err := os.Open(s.path("home"))
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		res := s.fenceWith(opts{stdin: dir}, "-c", "cat /proc/self/fd/0/.ssh/id_rsa; echo RAN")
		if strings.Contains(res.stdout+res.stderr, "SSH-PRIVATE-KEY-MARKER") || strings.Contains(res.stdout, "RAN") {
			t.Errorf("a directory on stdin: the command ran, or read a hidden key through it: %v", res)
		}
		if res.code != 1 || !strings.Contains(res.stderr, "standard input is a directory") {
			t.Errorf("want exit 1 and \"standard input is a directory\": %v", res)
		}
	})
}

// Credential files are hidden unless allowRead names them.
func TestFSCredentialsHidden(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("home/.ssh/id_rsa", "SSH-PRIVATE-KEY-MARKER\n")
		s.write("home/.ssh/id_ed25519", "ED25519-KEY-MARKER\n")
		s.write("home/.ssh/config", "ssh-config-visible\n")
		s.write("home/.aws/credentials", "AWS-SECRET-MARKER\n")
		s.write("home/.config/containers/auth.json", "PODMAN-AUTH-MARKER\n")
		// A private key not named id_*, found by its content.
		s.write("home/.ssh/github", "-----BEGIN OPENSSH PRIVATE KEY-----\nGITHUB-KEY-MARKER\n")
		s.write("home/.ssh/notes", "ssh-notes-visible\n")
		script := "cat ~/.ssh/id_rsa ~/.ssh/id_ed25519 ~/.ssh/config ~/.aws/credentials ~/.ssh/github ~/.ssh/notes ~/.config/containers/auth.json 2>&1; echo done"
		res := s.fence("-c", script)
		for _, m := range []string{"SSH-PRIVATE-KEY-MARKER", "ED25519-KEY-MARKER", "AWS-SECRET-MARKER", "GITHUB-KEY-MARKER", "PODMAN-AUTH-MARKER"} {
			if strings.Contains(res.stdout+res.stderr, m) {
				t.Errorf("credential content %s readable inside: %v", m, res)
			}
		}
		if !strings.Contains(res.stdout, "ssh-notes-visible") {
			t.Errorf("~/.ssh/notes (not a key) should stay readable: %v", res)
		}
		if !strings.Contains(res.stdout, "ssh-config-visible") {
			t.Errorf("~/.ssh/config (not a credential) should stay readable: %v", res)
		}
		cfg := s.config("idrsa.json", `{"filesystem":{"allowRead":["~/.ssh/id_rsa"]}}`)
		res = s.fence("-s", cfg, "-c", script)
		if !strings.Contains(res.stdout, "SSH-PRIVATE-KEY-MARKER") {
			t.Errorf("allowRead ~/.ssh/id_rsa: key not readable: %v", res)
		}
		for _, m := range []string{"ED25519-KEY-MARKER", "AWS-SECRET-MARKER"} {
			if strings.Contains(res.stdout+res.stderr, m) {
				t.Errorf("allowRead of id_rsa exposed %s: %v", m, res)
			}
		}
		// A credential's own directory lifts its masks; a broader grant
		// (the home, e.g. to read it under defaultDenyRead) does not.
		cfg = s.config("own.json", `{"filesystem":{"allowRead":["~/.ssh"]}}`)
		res = s.fence("-s", cfg, "-c", script)
		if !strings.Contains(res.stdout, "ED25519-KEY-MARKER") || !strings.Contains(res.stdout, "GITHUB-KEY-MARKER") || strings.Contains(res.stdout, "AWS-SECRET-MARKER") {
			t.Errorf("allowRead ~/.ssh: want the ssh keys readable and the AWS credentials not: %v", res)
		}
		for _, c := range []string{`{"filesystem":{"allowRead":["~"]}}`, `{"filesystem":{"allowRead":["/"]}}`,
			`{"filesystem":{"defaultDenyRead":true,"allowRead":[".","~"]}}`} {
			cfg = s.config("broad.json", c)
			res = s.fence("-s", cfg, "-c", script)
			if !strings.Contains(res.stdout, "done") {
				t.Errorf("%s: the command did not run: %v", c, res)
			}
			for _, m := range []string{"SSH-PRIVATE-KEY-MARKER", "ED25519-KEY-MARKER", "AWS-SECRET-MARKER"} {
				if strings.Contains(res.stdout+res.stderr, m) {
					t.Errorf("%s exposed the credential %s: %v", c, m, res)
				}
			}
		}
	})
}

// The system's root-only secrets are hidden: fence run as root maps the
// sandbox's uid 0 to the host's, which owns /etc/shadow and may read it by
// its owner bits, capabilities or not. allowRead of the file lifts the
// mask; of /etc it does not.
func TestFSSystemCredentialsHidden(t *testing.T) {
	b, err := os.ReadFile("/etc/shadow")
	if err != nil || !strings.HasPrefix(string(b), "root:") {
		t.Skipf("no /etc/shadow that starts with root's line to test with (%v)", err)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		script := "cat /etc/shadow /etc/gshadow; echo done"
		for _, c := range []string{`{}`, `{"filesystem":{"allowRead":["/etc"]}}`, `{"filesystem":{"defaultDenyRead":true,"allowRead":["."]}}`} {
			res := s.fence("-s", s.config("fence.json", c), "-c", script)
			if !strings.Contains(res.stdout, "done") {
				t.Errorf("%s: the command did not run: %v", c, res)
			}
			if strings.Contains(res.stdout, "root:") {
				t.Errorf("%s: /etc/shadow readable inside: %v", c, res)
			}
		}
		if s.r.root() {
			res := s.fence("-s", s.config("fence.json", `{"filesystem":{"allowRead":["/etc/shadow"]}}`), "-c", script)
			if !strings.Contains(res.stdout, "root:") {
				t.Errorf("allowRead /etc/shadow: want it readable by root: %v", res)
			}
		}
	})
}

// Run as root, the sandbox's uid 0 could also read the kernel's tracing
// file system (what every process on the host does; a read of trace_pipe
// takes the events from whoever traces): hidden then, unless allowRead
// lists it. Run as anyone else the directory's owner bits refuse it and
// nothing is mounted on it.
func TestFSRootTracingHidden(t *testing.T) {
	const tracing = "/sys/kernel/tracing"
	if ents, err := os.ReadDir(tracing); err != nil || len(ents) == 0 {
		t.Skipf("no tracefs at %s to test with (%v)", tracing, err)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		script := "ls " + tracing + " 2>&1 | wc -l; echo done"
		res := s.fence("-c", script)
		if !strings.Contains(res.stdout, "done") {
			t.Fatalf("the command did not run: %v", res)
		}
		n, _ := strconv.Atoi(strings.Fields(res.stdout)[0])
		if s.r.root() {
			if n != 0 {
				t.Errorf("%s lists %d entries inside a sandbox run as root, want it hidden: %v", tracing, n, res)
			}
			res = s.fence("-s", s.config("fence.json", `{"filesystem":{"allowRead":["`+tracing+`"]}}`), "-c", script)
			if n, _ := strconv.Atoi(strings.Fields(res.stdout)[0]); n < 2 {
				t.Errorf("allowRead %s: want it listed: %v", tracing, res)
			}
			return
		}
		// Unprivileged: nothing is mounted on it (ls fails with EACCES).
		mounts := func(mountinfo string) int {
			n := 0
			for _, line := range strings.Split(mountinfo, "\n") {
				if f := strings.Fields(line); len(f) > 4 && f[4] == tracing {
					n++
				}
			}
			return n
		}
		host, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		res = s.fence("-c", "cat /proc/self/mountinfo")
		if in, out := mounts(res.stdout), mounts(string(host)); in != out {
			t.Errorf("%d mounts at %s inside a sandbox run as %s, %d outside: want no mask: %v", in, tracing, s.r.name, out, res)
		}
	})
}

// Private keys elsewhere than directly in ~/.ssh are hidden too: in a
// subdirectory of ~/.ssh (found by what they hold), and wherever an
// IdentityFile line of the ssh config (or of a file it includes) names
// one. A grant of ~/.ssh lifts the first kind; a key outside ~/.ssh only
// by a grant of itself.
func TestFSCredentialsSSHKeysElsewhere(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		key := func(m string) string { return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + m + "\n" }
		s.write("home/.ssh/keys/work", key("SUBDIR-KEY-MARKER"))
		s.write("home/.ssh/keys/work.pub", "ssh-ed25519 SUBDIR-PUB-VISIBLE\n")
		s.write("home/.ssh/keys/notes", "subdir-notes-visible\n")
		s.write("home/deploy/ci.pem", "DEPLOY-KEY-MARKER\n") // named by IdentityFile, whatever it holds
		s.write("home/deploy/readme", "deploy-readme-visible\n")
		s.write("home/other/k", "PERCENT-D-KEY-MARKER\n")
		s.write("home/inc/k", "INCLUDED-KEY-MARKER\n")
		s.write("home/.ssh/config", "Host a\n  IdentityFile ~/deploy/ci.pem\nHost b\n  IdentityFile=%d/other/k\n  IdentityFile ~/%h/k\nInclude extra.conf\n")
		s.write("home/.ssh/extra.conf", "Host c\n  identityfile \"~/inc/k\"\n")
		script := "cat ~/.ssh/keys/work ~/.ssh/keys/work.pub ~/.ssh/keys/notes ~/deploy/ci.pem ~/deploy/readme ~/other/k ~/inc/k 2>&1; echo done"
		markers := []string{"SUBDIR-KEY-MARKER", "DEPLOY-KEY-MARKER", "PERCENT-D-KEY-MARKER", "INCLUDED-KEY-MARKER"}
		res := s.fence("-c", script)
		if !strings.Contains(res.stdout, "done") {
			t.Fatalf("the command did not run: %v", res)
		}
		for _, m := range markers {
			if strings.Contains(res.stdout+res.stderr, m) {
				t.Errorf("private key %s readable inside: %v", m, res)
			}
		}
		for _, m := range []string{"SUBDIR-PUB-VISIBLE", "subdir-notes-visible", "deploy-readme-visible"} {
			if !strings.Contains(res.stdout, m) {
				t.Errorf("%s: not a private key, should stay readable: %v", m, res)
			}
		}
		cfg := s.config("ssh.json", `{"filesystem":{"allowRead":["~/.ssh"]}}`)
		res = s.fence("-s", cfg, "-c", script)
		if !strings.Contains(res.stdout, "SUBDIR-KEY-MARKER") || strings.Contains(res.stdout, "DEPLOY-KEY-MARKER") {
			t.Errorf("allowRead ~/.ssh: want the key under ~/.ssh readable and ~/deploy/ci.pem not: %v", res)
		}
		cfg = s.config("deploy.json", `{"filesystem":{"allowRead":["~/deploy"]}}`)
		res = s.fence("-s", cfg, "-c", script)
		if strings.Contains(res.stdout, "DEPLOY-KEY-MARKER") {
			t.Errorf("allowRead ~/deploy lifted the key the ssh config names: %v", res)
		}
		cfg = s.config("ci.json", `{"filesystem":{"allowRead":["~/deploy/ci.pem"]}}`)
		res = s.fence("-s", cfg, "-c", script)
		if !strings.Contains(res.stdout, "DEPLOY-KEY-MARKER") {
			t.Errorf("allowRead ~/deploy/ci.pem: key not readable: %v", res)
		}
	})
}

// The tokens AWS, gcloud and git keep beside their credential files (SSO
// and STS caches, per-account refresh tokens, git's XDG credential store)
// are hidden too; a grant of the tool's directory lifts them, a grant of
// ~/.config does not.
func TestFSCredentialsToolCaches(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		files := map[string]string{
			"home/.aws/sso/cache/a1.json": "AWS-SSO-MARKER", "home/.aws/cli/cache/b2.json": "AWS-STS-MARKER",
			"home/.config/gcloud/legacy_credentials/me@example.com/adc.json":  "GCLOUD-LEGACY-MARKER",
			"home/.config/gcloud/access_tokens.db":                            "GCLOUD-ACCESS-MARKER",
			"home/.config/git/credentials":                                    "GIT-XDG-MARKER",
			"home/.aws/config":                                                "aws-config-visible",
			"home/.azure/msal_token_cache.json":                               "AZURE-TOKEN-MARKER",
			"home/.azure/service_principal_entries.json":                      "AZURE-SP-MARKER",
			"home/.vault-token":                                               "VAULT-TOKEN-MARKER",
			"home/.terraform.d/credentials.tfrc.json":                         "TERRAFORM-TOKEN-MARKER",
			"home/.gem/credentials":                                           "GEM-TOKEN-MARKER",
			"home/.pgpass":                                                    "PGPASS-MARKER",
			"home/.config/rclone/rclone.conf":                                 "RCLONE-MARKER",
			"home/.mozilla/firefox/x.default/cookies.sqlite":                  "FIREFOX-COOKIE-MARKER",
			"home/.config/google-chrome/Default/Cookies":                      "CHROME-COOKIE-MARKER",
			"home/.config/chromium/Default/Login Data":                        "CHROMIUM-LOGIN-MARKER",
			"home/.config/BraveSoftware/Brave-Browser/Default/Cookies":        "BRAVE-COOKIE-MARKER",
			"home/snap/firefox/common/.mozilla/firefox/x.default/logins.json": "SNAP-FIREFOX-MARKER",
			"home/.config/microsoft-edge/Default/Cookies":                     "EDGE-COOKIE-MARKER",
		}
		var paths []string
		for f, v := range files {
			s.write(f, v+"\n")
			paths = append(paths, s.path(f))
		}
		script := `cat "$@" 2>&1; echo done`
		run := func(cfg string) result {
			t.Helper()
			args := []string{"--", "sh", "-c", script, "sh"}
			if cfg != "" {
				args = append([]string{"-s", s.config("caches.json", cfg)}, args...)
			}
			res := s.fence(append(args, paths...)...)
			if !ranInside(t, res) || !strings.Contains(res.stdout, "done") || !strings.Contains(res.stdout, "aws-config-visible") {
				t.Fatalf("%s: the command did not run, or ~/.aws/config is hidden: %v", cfg, res)
			}
			return res
		}
		res := run("")
		for f, v := range files {
			if v != "aws-config-visible" && strings.Contains(res.stdout, v) {
				t.Errorf("%s readable inside: %v", f, res)
			}
		}
		res = run(`{"filesystem":{"allowRead":["~/.aws"]}}`)
		if !strings.Contains(res.stdout, "AWS-SSO-MARKER") || !strings.Contains(res.stdout, "AWS-STS-MARKER") || strings.Contains(res.stdout, "GCLOUD-LEGACY-MARKER") {
			t.Errorf("allowRead ~/.aws: want the AWS caches readable and gcloud's tokens not: %v", res)
		}
		res = run(`{"filesystem":{"allowRead":["~/.config"]}}`)
		for _, m := range []string{"GCLOUD-LEGACY-MARKER", "GCLOUD-ACCESS-MARKER", "GIT-XDG-MARKER"} {
			if strings.Contains(res.stdout, m) {
				t.Errorf("allowRead ~/.config exposed %s: %v", m, res)
			}
		}
	})
}

// Credentials that the command's environment moves elsewhere (CI sets
// DOCKER_CONFIG, KUBECONFIG and the like) are hidden there too, and a
// grant of their own directory lifts them as it does at home.
func TestFSCredentialsFromEnvironmentHidden(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		files := map[string]string{
			"dock/config.json": "DOCKER-AUTH", "kube/a.conf": "KUBE-A", "kube/b.conf": "KUBE-B",
			"gpg/private-keys-v1.d/k.key": "GPG-KEY", "aws/creds": "AWS-KEY", "gh/hosts.yml": "GH-TOKEN",
			"xdg/gh/hosts.yml": "XDG-GH-TOKEN", "cargo/credentials.toml": "CARGO-TOKEN",
			"gcloud/application_default_credentials.json":       "GCLOUD-ADC",
			"gcloud/legacy_credentials/me@example.com/adc.json": "GCLOUD-LEGACY", "xdg/git/credentials": "XDG-GIT-CRED",
			"run/containers/auth.json": "PODMAN-RUN-AUTH", "xdg/containers/auth.json": "PODMAN-XDG-AUTH",
			"reg/auth.json": "REGISTRY-AUTH-FILE", "az/msal_token_cache.json": "AZURE-DIR-TOKEN",
			"pg/pass": "PGPASSFILE-PASS", "rc/rclone.conf": "RCLONE-CONFIG-TOKEN",
			"xdg/rclone/rclone.conf": "XDG-RCLONE-TOKEN", "xdg/google-chrome/Default/Cookies": "XDG-CHROME-COOKIE",
		}
		var paths []string
		for f, v := range files {
			s.write(f, v+"\n")
			paths = append(paths, s.path(f))
		}
		s.write("dock/other.json", "not-a-secret\n")
		env := []string{
			"DOCKER_CONFIG=" + s.path("dock"), "KUBECONFIG=" + s.path("kube/a.conf") + ":" + s.path("kube/b.conf"),
			"GNUPGHOME=" + s.path("gpg"), "AWS_SHARED_CREDENTIALS_FILE=" + s.path("aws/creds"),
			"GH_CONFIG_DIR=" + s.path("gh"), "XDG_CONFIG_HOME=" + s.path("xdg"), "CARGO_HOME=" + s.path("cargo"),
			"CLOUDSDK_CONFIG=" + s.path("gcloud"), "XDG_RUNTIME_DIR=" + s.path("run"),
			"REGISTRY_AUTH_FILE=" + s.path("reg/auth.json"), "AZURE_CONFIG_DIR=" + s.path("az"),
			"PGPASSFILE=" + s.path("pg/pass"), "RCLONE_CONFIG=" + s.path("rc/rclone.conf"),
		}
		script := `cat "$@" dock/other.json 2>&1; echo done`
		res := s.fenceWith(opts{env: env}, append([]string{"--", "sh", "-c", script, "sh"}, paths...)...)
		if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
			t.Fatalf("the command did not run: %v", res)
		}
		for _, v := range files {
			if strings.Contains(res.stdout, v) {
				t.Errorf("credential %s readable through its environment variable: %v", v, res)
			}
		}
		if !strings.Contains(res.stdout, "not-a-secret") {
			t.Errorf("a file beside DOCKER_CONFIG's config.json should stay readable: %v", res)
		}
		cfg := s.config("dock.json", `{"filesystem":{"allowRead":["`+s.path("dock")+`"]}}`)
		res = s.fenceWith(opts{env: env}, append([]string{"-s", cfg, "--", "sh", "-c", script, "sh"}, paths...)...)
		if !strings.Contains(res.stdout, "DOCKER-AUTH") || strings.Contains(res.stdout, "KUBE-A") {
			t.Errorf("allowRead of DOCKER_CONFIG's directory: want its config readable and nothing else: %v", res)
		}
	})
}

// A container's secrets (Docker's /run/secrets, Kubernetes' service
// account token in /var/run/secrets) are hidden: every uid there may read
// them. Needs root to make them (and never replaces them).
func TestFSContainerSecretsHidden(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make /run/secrets")
	}
	if _, err := os.Lstat("/run/secrets"); err == nil {
		t.Skip("/run/secrets exists: not replacing it")
	}
	token := "/run/secrets/kubernetes.io/serviceaccount/token"
	if err := os.MkdirAll(filepath.Dir(token), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll("/run/secrets") })
	for f, c := range map[string]string{token: "K8S-TOKEN-MARKER\n", "/run/secrets/db_password": "DB-SECRET-MARKER\n"} {
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		script := "cat /run/secrets/db_password /var/run/secrets/kubernetes.io/serviceaccount/token " + token + "; echo done"
		for _, c := range []string{`{}`, `{"filesystem":{"allowRead":["/run"]}}`, `{"filesystem":{"defaultDenyRead":true,"allowRead":["."]}}`} {
			res := s.fence("-s", s.config("fence.json", c), "-c", script)
			if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
				t.Fatalf("%s: the command did not run: %v", c, res)
			}
			if strings.Contains(res.stdout, "MARKER") {
				t.Errorf("%s: a container secret readable inside: %v", c, res)
			}
		}
		res := s.fence("-s", s.config("fence.json", `{"filesystem":{"allowRead":["/run/secrets"]}}`), "-c", script)
		if !strings.Contains(res.stdout, "DB-SECRET-MARKER") {
			t.Errorf("allowRead /run/secrets: want the secrets readable: %v", res)
		}
	})
}

// Without XDG_RUNTIME_DIR in the environment, podman keeps its login in
// /run/user/UID/containers/auth.json and the containers/image library in
// /run/containers/UID/auth.json: hidden there, as the tools inside would
// read them. Needs root to make them (and never replaces one there).
func TestFSCredentialsRuntimeDirDefaults(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make files in /run")
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		uid := strconv.Itoa(s.r.uid)
		var files []string
		for _, d := range []string{filepath.Join("/run/user", uid, "containers"), filepath.Join("/run/containers", uid)} {
			f := filepath.Join(d, "auth.json")
			if _, err := os.Lstat(f); err == nil {
				t.Skipf("%s exists: not replacing it", f)
			}
			// Remove what the test made, the directories included,
			// deepest first.
			made := []string{f}
			for p := d; ; p = filepath.Dir(p) {
				if _, err := os.Lstat(p); err == nil {
					break
				}
				made = append(made, p)
			}
			t.Cleanup(func() {
				for _, p := range made {
					_ = os.Remove(p)
				}
			})
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte("RUNTIME-AUTH-"+uid+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for p := f; p != "/run"; p = filepath.Dir(p) {
				if err := os.Lchown(p, s.r.uid, s.r.gid); err != nil {
					t.Fatal(err)
				}
				if p == filepath.Join("/run/user", uid) || p == filepath.Join("/run/containers", uid) {
					break
				}
			}
			files = append(files, f)
		}
		script := `cat "$@" 2>&1; echo done`
		for _, c := range []string{`{}`, `{"filesystem":{"defaultDenyRead":true,"allowRead":["."]}}`} {
			res := s.fence(append([]string{"-s", s.config("fence.json", c), "--", "sh", "-c", script, "sh"}, files...)...)
			if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
				t.Fatalf("%s: the command did not run: %v", c, res)
			}
			if strings.Contains(res.stdout, "RUNTIME-AUTH") {
				t.Errorf("%s: a podman login in the runtime directories readable inside: %v", c, res)
			}
		}
	})
}

// A credential variable with a relative value is the tools' path from the
// working directory, and one starting with "~/" from $HOME (botocore
// expands it): both are hidden where the tools would read them.
func TestFSCredentialsFromRelativeEnvironmentHidden(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("cfg/kubecfg", "KUBE-REL\n")
		s.write("cfg/other", "not-a-secret\n")
		s.write("home/aws-work/credentials", "AWS-TILDE\n")
		env := []string{"KUBECONFIG=cfg/kubecfg", "AWS_SHARED_CREDENTIALS_FILE=~/aws-work/credentials"}
		res := s.fenceWith(opts{env: env}, "--", "sh", "-c", `cat cfg/kubecfg cfg/other "$HOME"/aws-work/credentials 2>&1; echo done`)
		if !ranInside(t, res) || !strings.Contains(res.stdout, "done") || !strings.Contains(res.stdout, "not-a-secret") {
			t.Fatalf("the command did not run, or a file beside the credential is hidden: %v", res)
		}
		for _, m := range []string{"KUBE-REL", "AWS-TILDE"} {
			if strings.Contains(res.stdout, m) {
				t.Errorf("credential %s readable through a relative or ~ value: %v", m, res)
			}
		}
		// A leading NAME=value word is the command's environment too.
		s.write("gpg/private-keys-v1.d/k.key", "GPG-ASSIGNED\n")
		res = s.fence("--", "GNUPGHOME="+s.path("gpg"), "sh", "-c", `cat "$GNUPGHOME"/private-keys-v1.d/k.key 2>&1; echo done`)
		if !ranInside(t, res) || !strings.Contains(res.stdout, "done") || strings.Contains(res.stdout, "GPG-ASSIGNED") {
			t.Errorf("GNUPGHOME given as a leading assignment: want its keys hidden: %v", res)
		}
	})
}

// A GNUPGHOME that is the workspace (a test keyring kept in the
// repository) does not hide the workspace: its secret keys are hidden.
func TestFSCredentialsGnupgHomeIsWorkspace(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("private-keys-v1.d/k.key", "GPG-KEY\n")
		s.write("notes.txt", "WORK-NOTES\n")
		res := s.fenceWith(opts{env: []string{"GNUPGHOME=" + s.dir}}, "--", "sh", "-c", `cat notes.txt private-keys-v1.d/k.key 2>&1; echo done`)
		if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
			t.Fatalf("the command did not run: %v", res)
		}
		if !strings.Contains(res.stdout, "WORK-NOTES") {
			t.Errorf("GNUPGHOME=workspace hid the workspace: %v", res)
		}
		if strings.Contains(res.stdout, "GPG-KEY") {
			t.Errorf("GNUPGHOME=workspace: its secret key is readable: %v", res)
		}
	})
}

// Existing protected files and directories are read-only even in a
// writable working directory: in the working directory and in $HOME.
func TestFSProtectedExisting(t *testing.T) {
	protected := []string{
		".bashrc", ".zshrc", ".profile", ".gitconfig", ".gitmodules", ".mcp.json",
		".git/hooks/pre-commit", ".git/config",
		".vscode/settings.json", ".idea/workspace.xml",
		".claude/commands/cmd.md", ".claude/agents/agent.md",
		"home/.bashrc", "home/.profile", "home/.gitconfig", "home/.zshrc",
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		for _, p := range protected {
			// As comments: git config files (.gitmodules, .gitconfig)
			// must parse, or fence refuses to run (it could not see
			// what they include).
			s.write(p, "# orig "+p+"\n")
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		for _, p := range protected {
			res := s.fence("-s", cfg, "--", "sh", "-c", `echo evil >> "$1"`, "sh", p)
			if res.code == 0 || !writeDenied(res.stderr) {
				t.Errorf("appending to protected %s: want EROFS/EACCES: %v", p, res)
			}
			res = s.fence("-s", cfg, "--", "rm", "-f", p)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("removing protected %s succeeded: %v", p, res)
			}
			res = s.fence("-s", cfg, "--", "mv", p, p+".moved")
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("renaming protected %s succeeded: %v", p, res)
			}
			res = s.fence("-s", cfg, "--", "sh", "-c", `echo evil > replacement && mv -f replacement "$1"`, "sh", p)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("renaming a file onto protected %s succeeded: %v", p, res)
			}
			mustHaveContent(t, s.path(p), "# orig "+p+"\n", "protected "+p)
			mustNotExist(t, s.path(p+".moved"), "renamed protected "+p)
		}
		// New files in protected directories.
		for _, p := range []string{".git/hooks/post-checkout", ".vscode/tasks.json", ".idea/new.xml", ".claude/commands/new.md", ".claude/agents/new.md"} {
			s.mustFailWrite(cfg, s.path(p), "new file in a protected directory")
		}
		// The protected directories themselves cannot be moved away.
		for _, d := range []string{".git/hooks", ".vscode", ".claude/commands"} {
			res := s.fence("-s", cfg, "--", "mv", d, d+"-moved")
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("renaming protected dir %s succeeded: %v", d, res)
			}
			mustNotExist(t, s.path(d+"-moved"), "moved protected dir")
		}
		// Control: an ordinary file next to them is writable.
		s.mustRun("-s", cfg, "-c", "echo ok > .git/HEAD-test && echo ok > ordinary.txt")
		mustHaveContent(t, s.path("ordinary.txt"), "ok\n", "ordinary file in the writable dir")
	})
}

// A protected file that the host replaces while fence starts (an editor
// saving it with a rename; the record of created files, which a run ending
// meanwhile replaces) is bound where it is then: between the clone of the
// old file and its bind, the start failed with "Error: bind .../.bashrc: no
// such file or directory".
func TestFSProtectedReplacedDuringStart(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		rc := s.write(".bashrc", "# orig\n")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tmp := s.path(".bashrc.new")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if os.WriteFile(tmp, []byte("# saved\n"), 0o644) == nil {
					_ = os.Rename(tmp, rc)
				}
			}
		}()
		var failed []result
		for range 40 {
			if res := s.fence("-s", cfg, "--", "true"); res.code != 0 || res.err != nil {
				failed = append(failed, res)
			}
		}
		close(stop)
		<-done
		if len(failed) > 0 {
			t.Errorf("%d of 40 runs failed while .bashrc was saved over and over; the first: %v", len(failed), failed[0])
		}
		res := s.fence("-s", cfg, "--", "sh", "-c", `echo evil >> .bashrc`)
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("appending to the protected .bashrc succeeded: %v", res)
		}
	})
}

// allowGitConfig makes .git/config writable; .git/hooks stays protected.
func TestFSAllowGitConfig(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write(".git/config", "[core]\n")
		s.write(".git/hooks/pre-commit", "orig\n")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"allowGitConfig":true}}`)
		s.mustRun("-s", cfg, "-c", `printf '[user]\n' >> .git/config`)
		mustHaveContent(t, s.path(".git/config"), "[core]\n[user]\n", "allowGitConfig .git/config")
		res := s.fence("-s", cfg, "-c", "echo evil >> .git/hooks/pre-commit")
		if res.code == 0 || !writeDenied(res.stderr) {
			t.Errorf("allowGitConfig must not open .git/hooks: %v", res)
		}
		mustHaveContent(t, s.path(".git/hooks/pre-commit"), "orig\n", ".git/hooks with allowGitConfig")
	})
}

// A protected name that does not exist yet cannot be created later in a
// writable directory, directly or by moving its parent out of the way.
func TestFSProtectedNameCannotBeCreated(t *testing.T) {
	names := []string{
		".bashrc", ".zshrc", ".profile", ".gitconfig", ".gitmodules", ".mcp.json",
		".git/hooks/pre-commit", ".git/config",
		".vscode/settings.json", ".idea/workspace.xml", ".claude/commands/x.md", ".claude/agents/x.md",
		"home/.bashrc", "home/.zshrc", "home/.gitconfig",
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write(".git/HEAD", "ref: refs/heads/main\n") // a repository without hooks or config
		s.mkdir(".claude")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		for _, n := range names {
			res := s.fence("-s", cfg, "--", "sh", "-c", `mkdir -p "$(dirname "$1")" && echo evil > "$1"`, "sh", n)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("creating protected name %s succeeded inside: %v", n, res)
			}
			mustNotExist(t, s.path(n), "protected name created")
		}

		// Indirect ways to create a protected name that does not exist:
		// relative paths from elsewhere, symlinked parents, rename, link,
		// copy, *at() calls on a directory fd. Each runs in a fresh
		// repository (the working directory), the host must not have the
		// name afterwards.
		for i, c := range []struct{ plant, script string }{
			{".git/hooks/pre-commit", "cd .git && mkdir -p hooks && echo evil > hooks/pre-commit"},
			{".git/hooks/pre-commit", "ln -s .git g && mkdir -p g/hooks && echo evil > g/hooks/pre-commit"},
			{".git/hooks/pre-commit", "mkdir -p x/hooks && echo evil > x/hooks/pre-commit && mv x/hooks .git/hooks"},
			{".git/hooks/pre-commit", "mkdir -p n/hooks && echo evil > n/hooks/pre-commit && rm -rf .git && mv n .git"},
			{".git/config", "cd .git && echo evil > config"},
			{".bashrc", "echo evil > t && mv t .bashrc"},
			{".bashrc", "echo evil > t && ln t .bashrc"},
			{".bashrc", "echo evil > t && ln -s t .bashrc"},
			{".zshrc", "echo evil > t && cp t .zshrc"},
			{".profile", "mkdir -p sub && cd sub && echo evil > ../.profile"},
			{"home/.profile", "cd ~ && echo evil > .profile"},
			{".git/hooks/pre-commit", `python3 -c 'import os
fd = os.open(".git", os.O_RDONLY | os.O_DIRECTORY)
os.mkdir("hooks", dir_fd=fd)
f = os.open("hooks/pre-commit", os.O_CREAT | os.O_WRONLY, 0o755, dir_fd=fd)
os.write(f, b"evil")'`},
		} {
			repo := "plant" + strconv.Itoa(i)
			s.write(repo+"/.git/HEAD", "ref: refs/heads/main\n")
			host := s.path(repo + "/" + c.plant)
			if strings.HasPrefix(c.plant, "home/") {
				host = filepath.Join(s.home, strings.TrimPrefix(c.plant, "home/"))
			}
			res := s.fenceWith(opts{dir: s.path(repo)}, "-s", cfg, "-c", "echo ok > control.txt; "+c.script)
			mustHaveContent(t, s.path(repo+"/control.txt"), "ok\n", "control write before "+c.script)
			if _, err := os.Lstat(host); err == nil {
				b, _ := os.ReadFile(host)
				t.Errorf("%q created protected %s on the host (content %q); run: %v", c.script, c.plant, b, res)
				_ = os.RemoveAll(host)
			}
		}

		// Move the parent of an existing protected path aside, then plant a
		// new one under the old name: the host's next `git commit` would
		// run it.
		for i, c := range []struct{ existing, plant, script string }{
			{".git/hooks/pre-commit", ".git/hooks/pre-commit", "mv .git .git-moved; mkdir -p .git/hooks && echo evil > .git/hooks/pre-commit"},
			{".git/config", ".git/config", "mv .git .git-moved; mkdir -p .git && echo evil > .git/config"},
			{".claude/commands/x.md", ".claude/commands/x.md", "mv .claude .claude-moved; mkdir -p .claude/commands && echo evil > .claude/commands/x.md"},
		} {
			repo := "repo" + strconv.Itoa(i)
			s.write(repo+"/"+c.existing, "orig\n")
			res := s.fenceWith(opts{dir: s.path(repo)}, "-s", cfg, "-c", "echo ok > control.txt; "+c.script)
			mustHaveContent(t, s.path(repo+"/control.txt"), "ok\n", "control write before "+c.script)
			if b, err := os.ReadFile(s.path(repo + "/" + c.plant)); err != nil || string(b) != "orig\n" {
				t.Errorf("moving the parent of protected %s aside let the command plant a new one: host has %q (%v); run: %v", c.existing, b, err, res)
			}
		}
		// The same with $HOME, when it lies in the writable directory.
		s.write("home/.bashrc", "orig\n")
		res := s.fence("-s", cfg, "-c", "echo ok > control-home.txt; mv home home-moved; mkdir -p home && echo evil > home/.bashrc")
		mustHaveContent(t, s.path("control-home.txt"), "ok\n", "control write before moving $HOME")
		if b, err := os.ReadFile(filepath.Join(s.home, ".bashrc")); err != nil || string(b) != "orig\n" {
			t.Errorf("moving $HOME aside let the command plant a new ~/.bashrc: host has %q (%v); run: %v", b, err, res)
		}
	})
}

// What git reads its configuration or hooks from besides .git/config and
// .git/hooks, and the start-up files in the user's configuration
// directory, are protected too. Each of these used to let the command run
// code outside the sandbox at the user's next git status or login: a
// .git/commondir naming a directory with its own core.fsmonitor, a
// submodule's config or hooks, a linked worktree's .git file (repointed)
// and the git directory it names, ~/.config/git/config (what
// ~/.gitconfig is to git), fish's config, systemd user units, autostart.
func TestFSGitAndConfigDirsProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		// Submodules: sub and third_party/lib cloned (a name may hold
		// slashes), fresh not yet.
		s.write("repo/.gitmodules", "[submodule \"sub\"]\n\tpath = sub\n\turl = ../x\n"+
			"[submodule \"third_party/lib\"]\n\tpath = third_party/lib\n"+
			"[submodule \"fresh\"]\n\tpath = fresh\n")
		// (A submodule may be named config: its git directory is
		// modules/third_party/config, a directory, not a group's config.)
		for _, m := range []string{"sub", "third_party/lib", "third_party/config"} {
			s.write("repo/.git/modules/"+m+"/HEAD", "ref: refs/heads/main\n")
			s.write("repo/.git/modules/"+m+"/config", "orig\n")
			s.write("repo/.git/modules/"+m+"/hooks/pre-commit", "orig\n")
			s.write("repo/"+m+"/.git", "gitdir: ../.git/modules/"+m+"\n")
		}
		s.mkdir("repo/fresh")
		s.write("home/.config/git/config", "orig\n")
		// A linked worktree: its .git file names its git directory, whose
		// commondir names the main repository's.
		s.write("wt/.git", "gitdir: ../main/.git/worktrees/wt\n")
		s.write("main/.git/worktrees/wt/commondir", "../..\n")
		s.write("main/.git/worktrees/wt/HEAD", "ref: refs/heads/wt\n")
		s.write("main/.git/config", "orig\n")
		s.write("main/.git/hooks/pre-commit", "orig\n")

		tryAppend := func(dir, p string) {
			t.Helper()
			res := s.fenceWith(opts{dir: dir}, "-s", cfg, "--", "sh", "-c", `echo evil >> "$1"`, "sh", p)
			if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
				t.Errorf("appending to protected %s in %s: want EROFS/EACCES: %v", p, dir, res)
			}
		}
		tryCreate := func(dir, p string) {
			t.Helper()
			res := s.fenceWith(opts{dir: dir}, "-s", cfg, "--", "sh", "-c", `mkdir -p "$(dirname "$1")" && echo evil > "$1"`, "sh", p)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("creating protected %s in %s succeeded: %v", p, dir, res)
			}
		}
		repo, wt := s.path("repo"), s.path("wt")
		for _, p := range []string{".git/modules/sub/config", ".git/modules/sub/hooks/pre-commit",
			".git/modules/third_party/lib/config", ".git/modules/third_party/lib/hooks/pre-commit",
			".git/modules/third_party/config/config"} {
			tryAppend(repo, p)
			mustHaveContent(t, s.path("repo/"+p), "orig\n", "protected "+p)
		}
		for _, m := range []string{"sub", "third_party/lib"} {
			tryAppend(repo, m+"/.git")
			mustHaveContent(t, s.path("repo/"+m+"/.git"), "gitdir: ../.git/modules/"+m+"\n", "a submodule's .git file")
		}
		for _, p := range []string{".git/commondir", ".git/config.worktree", ".git/modules/sub/config.worktree",
			".git/modules/sub/hooks/post-checkout", ".git/modules/fresh/HEAD", "fresh/.git",
			".git/modules/unlisted/HEAD", ".git/modules/sub/modules/nested/HEAD", ".git/modules/third_party/newlib/HEAD"} {
			tryCreate(repo, p)
			mustNotExist(t, s.path("repo/"+p), "protected "+p)
		}
		tryAppend(s.dir, "home/.config/git/config")
		mustHaveContent(t, s.path("home/.config/git/config"), "orig\n", "~/.config/git/config")
		for _, p := range []string{"home/.config/fish/config.fish", "home/.config/systemd/user/x.service", "home/.config/systemd/user.control/x.service",
			"home/.config/environment.d/x.conf", "home/.config/autostart/x.desktop", "home/.local/share/systemd/user/x.service",
			"home/.config/nvim/init.lua", "home/.config/direnv/direnvrc", "home/.config/starship.toml", "home/.config/tmux/tmux.conf",
			"home/.config/sway/config", "home/.config/plasma-workspace/env/x.sh", "home/.config/Code/User/settings.json",
			"home/.config/Cursor/User/tasks.json", "home/.local/share/applications/firefox.desktop",
			"home/.local/share/dbus-1/services/x.service", "home/.local/share/direnv/allow/x",
			"home/.local/share/nvim/site/plugin/x.lua", "home/.local/share/bash-completion/completions/git",
			"home/.local/share/fish/vendor_conf.d/x.fish", "home/.local/state/mise/trusted-configs/x",
			"home/.ssh/authorized_keys", "home/.ssh/config", "home/.vim/plugin/x.vim", "home/.bash_aliases",
			"home/.config/bash_completion", "home/.config/zsh/.zshrc", "home/.zshrc.zwc", "home/.zcompdump",
			"home/.zcompdump-host-5.9", "home/.config/zsh/.zcompdump", "home/.config/Code/User/profiles/x/settings.json",
			"home/.config/Code - Insiders/User/mcp.json", "home/.local/state/nvim/trust",
			"home/.local/share/fish/generated_completions/x.fish", "home/.config/emacs/init.el", "home/.emacs.d/init.el",
			"home/.npmrc", "home/.cargo/config.toml", "home/.config/gh/config.yml",
			"home/.cache/zsh/zcompdump-5.9", "home/.cache/p10k-instant-prompt-u.zsh",
			"home/.config/go/env", "home/.config/gdb/gdbinit", "home/.config/user-dirs.dirs", "home/.config/husky/init.sh",
			"home/.local/bin/git", "home/bin/ls", "home/.cargo/env", "home/.local/lib/python3/site-packages/x.pth",
			"home/.bash_completion", "home/.xsessionrc", "home/.pam_environment", "home/.xinitrc", "home/.xserverrc",
			"home/.config/pip/pip.conf", "home/.config/uv/uv.toml", "home/.config/pnpm/rc", "home/.config/npm/npmrc",
			"home/.config/yarn/global/node_modules/x/cli.js", "home/.config/containers/containers.conf",
			"home/.config/jj/config.toml", "home/.config/lazygit/config.yml", "home/.config/bat/config",
			"home/.config/lesskey", "home/.config/.curlrc", "home/.config/readline/inputrc",
			"home/.config/helix/languages.toml", "home/.config/zed/settings.json", "home/.config/micro/init.lua",
			"home/.config/kak/kakrc", "home/.config/doom/init.el", "home/.config/sublime-text/Packages/User/x.py",
			"home/.config/JetBrains/IDE/options/x.xml", "home/.config/ipython/profile_default/startup/x.py",
			"home/.config/ranger/rc.conf", "home/.config/lf/lfrc", "home/.config/yazi/init.lua",
			"home/.config/pipewire/pipewire.conf", "home/.config/wireplumber/x.lua", "home/.config/awesome/rc.lua",
			"home/.config/qtile/config.py", "home/.config/bspwm/bspwmrc", "home/.config/sxhkd/sxhkdrc",
			"home/.config/xmonad/xmonad.hs", "home/.config/herbstluftwm/autostart", "home/.config/polybar/config.ini",
			"home/.config/waybar/config", "home/.local/share/mise/shims/node", "home/.local/share/fnm/aliases/default/bin/node",
			"home/.local/share/zinit/plugins/x/x.plugin.zsh", "home/.local/share/sheldon/repos/x/x.zsh",
			"home/.local/share/zed/languages/x/server", "home/.local/share/JetBrains/IDE/plugin/x.jar",
			"home/.local/share/gnome-shell/extensions/x/extension.js", "home/.local/share/kio/servicemenus/x.desktop",
			"home/.local/share/kservices5/x.desktop", "home/.local/share/plasma/plasmoids/x/main.qml",
			"home/.local/share/flatpak/exports/bin/x", "home/.cache/ms-playwright/chromium-1/chrome-linux/chrome",
			"home/.cache/puppeteer/chrome/x/chrome", "home/.cache/Cypress/13.0.0/Cypress/Cypress",
			"home/.yarnrc", "home/.yarnrc.yml", "home/.bunfig.toml", "home/.pip/pip.conf", "home/.irbrc", "home/.pryrc",
			"home/.psqlrc", "home/.sqliterc", "home/.my.cnf", "home/.pythonrc", "home/.pythonrc.py",
			"home/.ipython/profile_default/startup/x.py", "home/.jupyter/jupyter_server_config.py", "home/.Rprofile",
			"home/.julia/config/startup.jl", "home/.ghci", "home/.curlrc", "home/.inputrc", "home/.lesskey", "home/.less",
			"home/.screenrc", "home/.hgrc", "home/.wezterm.lua", "home/.alacritty.toml", "home/.p10k.zsh",
			"home/.fzf.bash", "home/.fzf.zsh",
			"home/.config/less", "home/.config/.bunfig.toml", "home/.config/jesseduffield/lazygit/config.yml",
			"home/.jjconfig.toml", "home/.config/micro/plug/x/x.lua", "home/.config/micro/bindings.json",
			"home/.ipython/profile_default/ipython_config.py", "home/.ipython/extensions/x.py",
			"home/.local/share/gh/extensions/gh-x/gh-x", "home/.local/share/jupyter/kernels/x/kernel.json",
			"home/.local/share/pipx/venvs/x/bin/x", "home/.local/share/uv/tools/x/lib/python3/site-packages/x.pth",
			"home/.local/share/omf/init.fish", "home/.local/share/blesh/ble.sh", "home/.local/share/zap/zap.zsh",
			"home/.local/share/code-server/User/settings.json", "home/.config/hg/hgrc", "home/.config/zellij/config.kdl",
			"home/.config/nvm/nvm.sh", "home/.cache/gitstatus/gitstatusd-linux-x86_64",
			"home/.cache/antidote/x/x.plugin.zsh", "home/.cache/oh-my-posh/init.123.zsh",
			"home/.cursor/extensions/x/extension.js", "home/.cursor/mcp.json", "home/.cursor/hooks.json",
			"home/.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
			"home/.config/ccache/ccache.conf", "home/.config/sccache/config",
			"home/.bun/bin/bun", "home/.bun/install/global/node_modules/x/cli.js",
			"home/.config/ptpython/config.py", "home/.config/irb/irbrc", "home/.config/Windsurf/User/mcp.json",
			"home/.cache/parso/CPython-312/x.pkl", "home/.cache/jedi/CPython-312-33/x.pkl",
			"home/.bashrc.d/x.sh", "home/.xsession", "home/.wgetrc", "home/.tcshrc", "home/.cshrc", "home/.login",
			"home/.config/dconf/user", "home/.local/share/konsole/x.profile",
			"home/.local/share/jupyter/labextensions/x/package.json"} {
			tryCreate(s.dir, p)
			mustNotExist(t, s.path(p), "protected "+p)
		}
		// A completion dump that is there stays as it was.
		s.write("home/.zcompdump-old", "orig\n")
		tryAppend(s.dir, "home/.zcompdump-old")
		mustHaveContent(t, s.path("home/.zcompdump-old"), "orig\n", "an existing ~/.zcompdump*")
		// With GOENV set, go's env file there is protected.
		res := s.fenceWith(opts{env: []string{"GOENV=" + s.path("goenv")}}, "-s", cfg, "--", "sh", "-c", `echo GOFLAGS=-toolexec=evil > "$1"`, "sh", s.path("goenv"))
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("creating $GOENV succeeded: %v", res)
		}
		mustNotExist(t, s.path("goenv"), "$GOENV")
		// With ZDOTDIR set, zsh's start-up files there are protected.
		res = s.fenceWith(opts{env: []string{"ZDOTDIR=" + s.path("zdot")}}, "-s", cfg, "--", "sh", "-c", `mkdir -p "$1" && echo evil > "$1/.zshrc"`, "sh", s.path("zdot"))
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("creating $ZDOTDIR/.zshrc succeeded: %v", res)
		}
		mustNotExist(t, s.path("zdot/.zshrc"), "$ZDOTDIR/.zshrc")
		// Control: their neighbours stay writable (fish's history, the
		// rest of VS Code's state, ssh's known hosts).
		s.mustRun("-s", cfg, "-c", "mkdir -p home/.local/share/fish home/.config/Code/User/globalStorage home/.ssh home/.config/other && "+
			"echo ok > home/.local/share/fish/fish_history && echo ok > home/.config/Code/User/globalStorage/state && "+
			"echo ok > home/.ssh/known_hosts && echo ok > home/.config/other/rc && echo ok > home/.zsh_history && "+
			"mkdir -p home/.cache/zsh && echo ok > home/.cache/zsh/other && "+
			"mkdir -p home/.julia/packages home/.local/share/pnpm/store && echo ok > home/.julia/packages/x && "+
			"echo ok > home/.local/share/pnpm/store/x && echo ok > home/.config/pipx && "+
			// What these tools write in normal use, beside what they run.
			"mkdir -p home/.config/micro/buffers home/.config/lazygit home/.ipython/profile_default home/.config/yarn/link && "+
			"echo ok > home/.config/micro/buffers/history && echo ok > home/.config/lazygit/state.yml && "+
			"echo ok > home/.ipython/profile_default/history.sqlite && ln -s ../../../../repo home/.config/yarn/link/x && "+
			"mkdir -p home/.local/share/jupyter/runtime home/.local/share/uv/python home/.local/share/pipx/.cache && "+
			"echo ok > home/.local/share/jupyter/runtime/kernel-1.json && echo ok > home/.local/share/uv/python/.lock && "+
			"echo ok > home/.local/share/pipx/.cache/x && mkdir -p home/.cache/oh-my-posh home/.cursor && "+
			"echo ok > home/.cache/oh-my-posh/omp.cache && echo ok > home/.cursor/cli-config.json")
		// With XDG_CONFIG_HOME elsewhere, both are protected: systemd and
		// the desktop session do not see a shell's XDG_CONFIG_HOME.
		for _, p := range []string{"home/.config/autostart/y.desktop", "xdg/autostart/y.desktop"} {
			res := s.fenceWith(opts{env: []string{"XDG_CONFIG_HOME=" + s.path("xdg")}}, "-s", cfg, "--", "sh", "-c", `mkdir -p "$(dirname "$1")" && echo evil > "$1"`, "sh", p)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("creating %s with XDG_CONFIG_HOME set succeeded: %v", p, res)
			}
			mustNotExist(t, s.path(p), "protected "+p)
		}
		tryAppend(wt, ".git")
		mustHaveContent(t, s.path("wt/.git"), "gitdir: ../main/.git/worktrees/wt\n", "a worktree's .git file")
		// The working directory is the linked worktree: its git directory
		// is protected like a .git.
		for _, p := range []string{"../main/.git/worktrees/wt/commondir", "../main/.git/config", "../main/.git/hooks/pre-commit"} {
			tryAppend(wt, p)
		}
		tryCreate(wt, "../main/.git/worktrees/wt/hooks/pre-commit")
		mustNotExist(t, s.path("main/.git/worktrees/wt/hooks/pre-commit"), "a hook in a worktree's git directory")
		mustHaveContent(t, s.path("main/.git/config"), "orig\n", "the common directory's config")
		// The working directory in a subdirectory of a repository: git
		// there runs the repository's hooks and reads its config.
		s.write("repo/src/main.c", "int main;\n")
		s.write("repo/.git/config", "orig\n")
		src := s.path("repo/src")
		tryCreate(src, "../.git/hooks/pre-commit")
		mustNotExist(t, s.path("repo/.git/hooks/pre-commit"), "a hook of the repository above the working directory")
		tryAppend(src, "../.git/config")
		mustHaveContent(t, s.path("repo/.git/config"), "orig\n", "the config of the repository above the working directory")
		// Control: the rest of those git directories stays writable.
		s.mustRun("-s", cfg, "-c", "echo ok > repo/.git/modules/sub/index && echo ok > main/.git/worktrees/wt/index")
		// A submodule git directory whose HEAD one run removed keeps its
		// config protected in the next.
		s.mustRun("-s", cfg, "-c", "rm repo/.git/modules/sub/HEAD")
		tryAppend(repo, ".git/modules/sub/config")
		mustHaveContent(t, s.path("repo/.git/modules/sub/config"), "orig\n", "a submodule's config after its HEAD was removed")
		// A .git/modules that is the user's symlink: no new git
		// directory where it leads either.
		s.write("linkrepo/.git/HEAD", "ref: refs/heads/main\n")
		s.mkdir("linkrepo/mods")
		if err := os.Symlink("../mods", s.path("linkrepo/.git/modules")); err != nil {
			t.Fatal(err)
		}
		tryCreate(s.path("linkrepo"), ".git/modules/planted/HEAD")
		mustNotExist(t, s.path("linkrepo/mods/planted"), "a git directory planted through the user's .git/modules symlink")
	})
}

// TestFSGitIncludesProtected: the files that the user's git config and
// the repository's include (include.path, includeIf.path) are part of
// git's config: they stay as they were, and a missing one cannot be
// created, wherever they are. Neighbours stay writable.
func TestFSGitIncludesProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		s.write("home/.gitconfig", "[include]\n\tpath = ~/../dotfiles/git.inc\n[includeIf \"gitdir:/\"]\n\tpath = "+s.path("dotfiles/planted.inc")+"\n")
		s.write("dotfiles/git.inc", "[include]\n\tpath = nested.inc\n")
		s.write("dotfiles/nested.inc", "orig\n")
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		s.write("repo/.git/config", "[include]\n\tpath = ../../dotfiles/repo.inc\n")
		s.write("dotfiles/repo.inc", "orig\n")
		for _, p := range []string{"dotfiles/git.inc", "dotfiles/nested.inc", "dotfiles/repo.inc"} {
			refusedAppend(t, s, s.path("repo"), cfg, s.path(p))
		}
		// ~/.config/git -> dotfiles/gitdir (a dotfile manager's link), whose
		// config includes ../shared.inc: git reads dotfiles/shared.inc.
		s.write("dotfiles/gitdir/config", "[include] path = ../shared.inc\n")
		s.mkdir("home/.config")
		s.symlink(s.path("dotfiles/gitdir"), "home/.config/git")
		for _, p := range []string{"dotfiles/planted.inc", "dotfiles/shared.inc"} {
			refusedCreate(t, s, s.path("repo"), cfg, s.path(p))
		}
		s.mustRun("-s", cfg, "-c", "echo ok > dotfiles/other && echo ok >> repo/.git/description")
	})
}

// TestFSGitHooksPathProtected: core.hooksPath moves git's hooks out of
// .git/hooks, into the work tree as husky does (".husky/_", which husky
// git-ignores, so a change there is not in git status) or elsewhere
// (~/.githooks). The hooks there run at the user's next commit outside the
// sandbox, as .git/hooks would: they stay as they were, and a missing
// hooks directory cannot be made. A relative one is the work tree's, from
// a subdirectory too. Neighbours stay writable.
func TestFSGitHooksPathProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		s.write("home/.gitconfig", "[core]\n\thooksPath = ~/.githooks\n")
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		s.write("repo/.git/config", "[core]\n\thooksPath = .husky/_\n[include]\n\tpath = ../../dotfiles/repo.inc\n")
		s.write("dotfiles/repo.inc", "[core]\n\thooksPath = \"../hooks-from-include\"\n")
		s.write("repo/.husky/_/.gitignore", "*\n")
		s.write("repo/.husky/_/pre-commit", "#!/bin/sh\n")
		s.mkdir("repo/sub")
		for _, dir := range []string{s.path("repo"), s.path("repo/sub")} {
			refusedAppend(t, s, dir, cfg, s.path("repo/.husky/_/pre-commit"))
			refusedCreate(t, s, dir, cfg, s.path("repo/.husky/_/pre-push"))
			for _, d := range []string{"home/.githooks", "hooks-from-include"} {
				res := s.fenceWith(opts{dir: dir}, "-s", cfg, "--", "mkdir", s.path(d))
				if ranInside(t, res) && res.code == 0 {
					t.Errorf("mkdir %s, a hooks directory git would use: %v", d, res)
				}
				mustNotExist(t, s.path(d), "a planted hooks directory")
			}
		}
		// Husky 9's stubs in .husky/_ run .husky/<hook>: those are
		// hooks too, existing or not.
		s.write("repo/.husky/commit-msg", "#!/bin/sh\nnpx commitlint --edit\n")
		refusedAppend(t, s, s.path("repo"), cfg, s.path("repo/.husky/commit-msg"))
		refusedCreate(t, s, s.path("repo"), cfg, s.path("repo/.husky/pre-commit"))
		s.mustRun("-s", cfg, "-c", "echo ok > repo/.husky/pre-commit-notes && mkdir repo/.husky/other")
	})
}

// Started in a directory of repositories (~/src holding proj/.git), the
// repositories one level down are protected as the working directory's
// own: their hooks, configs, core.hooksPath directories and work-tree
// files that run code (.vscode), which the next git commit or editor
// session in proj, outside the sandbox, runs. Their other files, and a
// repository the sandbox makes itself, stay writable.
func TestFSGitChildRepositoriesProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		s.write("src/proj/.git/HEAD", "ref: refs/heads/main\n")
		s.write("src/proj/.git/config", "[core]\n\thooksPath = .husky/_\n")
		s.write("src/proj/.git/hooks/pre-commit", "#!/bin/sh\n")
		s.write("src/proj/.husky/_/pre-commit", "#!/bin/sh\n")
		s.write("src/proj/main.go", "package main\n")
		src := s.path("src")
		refusedAppend(t, s, src, cfg, s.path("src/proj/.git/hooks/pre-commit"))
		refusedCreate(t, s, src, cfg, s.path("src/proj/.git/hooks/post-checkout"))
		refusedAppend(t, s, src, cfg, s.path("src/proj/.git/config"))
		refusedAppend(t, s, src, cfg, s.path("src/proj/.husky/_/pre-commit"))
		refusedCreate(t, s, src, cfg, s.path("src/proj/.vscode"))
		// A hook the user turned off (no execute bit) stays off: the
		// write guard does not see chmod, its directory is bound
		// read-only.
		off := s.write("src/proj/.git/hooks/pre-push", "#!/bin/sh\n")
		if err := os.Chmod(off, 0o644); err != nil {
			t.Fatal(err)
		}
		res := s.fenceWith(opts{dir: src}, "-s", cfg, "--", "chmod", "+x", off)
		if st, err := os.Stat(off); ranInside(t, res) && (res.code == 0 || err != nil || st.Mode()&0o111 != 0) {
			t.Errorf("chmod +x of a turned-off hook of a repository below: %v", res)
		}
		res = s.fenceWith(opts{dir: src}, "-s", cfg, "-c", "echo x >> proj/main.go && mkdir other && cd other && git init -q . && git config user.name t && echo '#!/bin/sh' > .git/hooks/pre-commit && echo ok")
		if !ranInside(t, res) || !strings.Contains(res.stdout, "ok") {
			t.Errorf("a file of a repository below, and a repository made in the sandbox, should stay writable: %v", res)
		}
	})
}

// git init and git clone into a writable working directory that has no
// .git yet make it there with all that is in it: the repository is the
// sandbox's. The working directory's .git/hooks, a protected name, was
// held by name too (the protected paths in a writable path are the write
// guard's), and every such git init failed with "mkdir .git/hooks:
// permission denied".
func TestFSGitInitInWorkingDirectory(t *testing.T) {
	need(t, "git")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence-init.json", `{"filesystem":{"allowWrite":["."]}}`)
		fresh := s.mkdir("fresh")
		res := s.fenceWith(opts{dir: fresh, env: gitEnv}, "-s", cfg, "--", "sh", "-c",
			"git init -q . && git commit -q --allow-empty -m x && echo '#!/bin/sh' > .git/hooks/pre-commit && echo inited")
		if !ranInside(t, res) || !strings.Contains(res.stdout, "inited\n") {
			t.Errorf("git init in the working directory failed: %v", res)
		}
		clone := s.mkdir("clone")
		// The workspace is under the host's /tmp, which the sandbox
		// replaces with its own: the repository cloned is listed to be
		// seen there.
		ccfg := s.config("fence-clone.json", `{"filesystem":{"allowWrite":[".", "`+fresh+`"]}}`)
		res = s.fenceWith(opts{dir: clone, env: gitEnv}, "-s", ccfg, "--", "sh", "-c",
			"git clone -q "+fresh+" . && echo cloned")
		if !ranInside(t, res) || !strings.Contains(res.stdout, "cloned\n") {
			t.Errorf("git clone into the working directory failed: %v", res)
		}
	})
}

// In a directory of the working directory's repository that was there
// before the run (src), the sandbox can make neither a .git (git init)
// nor a HEAD (with objects/ and refs/, a bare repository): git in src,
// outside, would take it for the repository, with the sandbox's
// core.fsmonitor and hooks, and git status at the top did not show the
// .git. git init in a directory the run made, and the repository's own
// work, go on.
func TestFSGitNoRepositoryInWorkTree(t *testing.T) {
	git := need(t, "git")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence-wt.json", `{"filesystem":{"allowWrite":["."]}}`)
		repo := s.mkdir("repo")
		s.write("repo/src/main.c", "int main(void) { return 0; }\n")
		s.write("repo/src/sub/x.c", "int x;\n")
		hostGit := s.committedRepo(git, repo)
		res := s.fenceWith(opts{dir: repo, env: gitEnv}, "-s", cfg, "--", "sh", "-c",
			`git init -q src 2>/dev/null && echo init-ran
mkdir src/objects src/refs && printf 'ref: refs/heads/main\n' > src/HEAD 2>/dev/null && echo head-made
mkdir fresh && git init -q fresh && echo fresh-inited
echo y >> src/main.c && git commit -qam y && echo committed`)
		if !ranInside(t, res) {
			return
		}
		for _, bad := range []string{"init-ran", "head-made"} {
			if strings.Contains(res.stdout, bad+"\n") {
				t.Errorf("%s in src, a directory of the user's work tree: %v", bad, res)
			}
		}
		for _, good := range []string{"fresh-inited", "committed"} {
			if !strings.Contains(res.stdout, good+"\n") {
				t.Errorf("%s missing: %v", good, res)
			}
		}
		mustNotExist(t, filepath.Join(repo, "src/.git"), "git init in the user's src")
		mustNotExist(t, filepath.Join(repo, "src/HEAD"), "a HEAD in the user's src")
		// Nor by moving src away and back, into the sandbox's own
		// repository and back, or by putting a new directory with a
		// repository in it where src was; a directory of the
		// repository replaced by one without (a generator's output)
		// goes on.
		s.write("repo/gen/a.go", "package gen\n")
		hostGit(repo, "add", "gen")
		hostGit(repo, "commit", "-q", "-m", "gen")
		for _, c := range []struct{ name, dir, script string }{
			// Started above the repository, whose directory x is not in.
			{"out-and-back", s.dir, "mv repo/src x && git init -q x && mv x repo/src"},
			{"via-sandbox-repo", repo, "git init -q sbx && mv src sbx/.git/x && mkdir sbx/.git/x/objects sbx/.git/x/refs && printf 'ref: refs/heads/main\\n' > sbx/.git/x/HEAD && mv sbx/.git/x src"},
			{"replaced", repo, "mkdir n && cp -a src/. n/ && git init -q n && rm -rf src && mv n src"},
			// The copy's sub lands where the user's src/sub was.
			{"replaced-init-below", repo, "mkdir n2 && cp -a src/. n2/ && rm -rf src && mv n2 src && git init -q src/sub"},
			// A new directory below where src was, then the files back.
			{"made-below", repo, "mv src x && mkdir -p src/sub && git init -q src/sub && cp -a x/. src/"},
			// A directory of src removed, src moved away, one made
			// again there with a repository, src moved back.
			{"away-made-again", repo, "rm -rf src/sub && mv src x && mkdir x/sub && git init -q x/sub && mv x src"},
			// HEAD and commondir, which git follows to a bare
			// repository of the sandbox's.
			{"replaced-commondir", repo, "git init -q --bare tmp/evil.git && mkdir n && cp -a src/. n/ && printf 'ref: refs/heads/main\\n' > n/sub/HEAD && printf '../../tmp/evil.git\\n' > n/sub/commondir && rm -rf src && mv n src"},
			{"made-below-bare", repo, "mv src x && mkdir -p src/sub/objects src/sub/refs && printf 'ref: refs/heads/main\\n' > src/sub/HEAD && cp -a x/. src/"},
		} {
			ccfg := s.config("fence-"+c.name+".json", `{"filesystem":{"allowWrite":["`+c.dir+`"]}}`)
			res := s.fenceWith(opts{dir: c.dir, env: gitEnv}, "-s", ccfg, "--", "sh", "-c", c.script+" 2>/dev/null && echo done")
			if !ranInside(t, res) {
				return
			}
			if strings.Contains(res.stdout, "done\n") {
				t.Errorf("%s: a repository of the sandbox's where a directory of the user's work tree was: %v", c.name, res)
			}
			for _, p := range []string{"src/.git", "src/HEAD", "src/sub/.git", "src/sub/HEAD"} {
				mustNotExist(t, filepath.Join(repo, p), c.name+": a repository of the sandbox's in the user's src")
			}
			// What the attempt removed or moved, back from the host.
			for _, d := range []string{"src", "x", "n", "n2", "sbx", "tmp"} {
				os.RemoveAll(filepath.Join(repo, d))
			}
			hostGit(repo, "checkout", "--", "src")
		}
		res = s.fenceWith(opts{dir: repo, env: gitEnv}, "-s", cfg, "--", "sh", "-c",
			`mkdir g2 && printf 'package gen\n' > g2/a.go && rm -rf gen && mv g2 gen && echo gen-replaced
git init -q gen 2>/dev/null && echo gen-init`)
		if !ranInside(t, res) {
			return
		}
		if !strings.Contains(res.stdout, "gen-replaced\n") || strings.Contains(res.stdout, "gen-init\n") {
			t.Errorf("gen replaced by a directory without a repository: want it done, and no git init in it after: %v", res)
		}
		mustNotExist(t, filepath.Join(repo, "gen/.git"), "git init in the replaced gen")
	})
}

// A test suite that makes a repository in the project (tmp/repo, with a
// directory in it) and, at its next run, removes it and makes it again
// goes on: the directories of the sandbox's own repository, left by the
// last run, are not the user's (git there took the sandbox's repository
// already), so their places are no user's to keep. A directory of the
// user's work tree replaced the same way still cannot get one.
func TestFSGitSandboxRepositoryMadeAgain(t *testing.T) {
	git := need(t, "git")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence-again.json", `{"filesystem":{"allowWrite":["."]}}`)
		repo := s.mkdir("repo")
		s.write("repo/src/main.c", "int main(void) { return 0; }\n")
		s.committedRepo(git, repo)
		script := `rm -rf tmp/repo && mkdir -p tmp/repo/a && git init -q tmp/repo && git init -q tmp/repo/a && echo made`
		for i := range 2 {
			res := s.fenceWith(opts{dir: repo, env: gitEnv}, "-s", cfg, "--", "sh", "-c", script)
			if !ranInside(t, res) {
				return
			}
			if !strings.Contains(res.stdout, "made\n") {
				t.Errorf("run %d: the sandbox's test repository made again: want it done: %v", i+1, res)
			}
		}
		res := s.fenceWith(opts{dir: repo, env: gitEnv}, "-s", cfg, "--", "sh", "-c",
			`rm -rf src && mkdir src && git init -q src 2>/dev/null && echo src-inited`)
		if !ranInside(t, res) {
			return
		}
		if strings.Contains(res.stdout, "src-inited\n") {
			t.Errorf("git init in a directory made where the user's src was: %v", res)
		}
		mustNotExist(t, filepath.Join(repo, "src/.git"), "git init in the user's src made again")
	})
}

// Only the places where a directory of the user's work tree was count as
// the user's once it is removed or renamed away, not every path below:
// a test suite that empties its scratch directory (tmp, gitignored, there
// before the run; git clean -fdx) and makes a repository in a new one
// below goes on, and so does a package manager's new version of a
// package whose new directory holds a HEAD (a fixture). A directory made
// again where one of the user's was below still gets none.
func TestFSGitNewDirectoryBelowFreedPath(t *testing.T) {
	git := need(t, "git")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence-freed.json", `{"filesystem":{"allowWrite":["."]}}`)
		repo := s.mkdir("repo")
		s.write("repo/src/sub/x.c", "int x;\n")
		s.write("repo/.gitignore", "tmp/\nnode_modules/\n")
		s.write("repo/tmp/cache/c", "c\n")
		s.write("repo/node_modules/pkg/lib/index.js", "1\n")
		s.write("repo/lib/a/a.c", "int a;\n")
		s.committedRepo(git, repo)
		res := s.fenceWith(opts{dir: repo, env: gitEnv}, "-s", cfg, "--", "sh", "-c",
			`rm -rf tmp && mkdir -p tmp/cache tmp/r && git init -q tmp/r && echo tmp-repo
git init -q tmp/cache 2>/dev/null && echo cache-inited
mv node_modules/pkg node_modules/.pkg-old && mkdir -p node_modules/pkg/lib node_modules/pkg/test/fx && printf 'ref: refs/heads/main\n' > node_modules/pkg/test/fx/HEAD && echo fixture-head
printf 'ref: refs/heads/main\n' > node_modules/pkg/lib/HEAD 2>/dev/null && echo lib-head
mv src x && mkdir -p src/new src/sub && git init -q src/new && echo new-inited
git init -q src/sub 2>/dev/null && echo sub-inited
mv lib y && mkdir y/new && git init -q y/new && mv y lib && echo back-with-new`)
		if !ranInside(t, res) {
			return
		}
		for _, good := range []string{"tmp-repo", "fixture-head", "new-inited", "back-with-new"} {
			if !strings.Contains(res.stdout, good+"\n") {
				t.Errorf("%s missing: a new directory below where one of the user's was: %v", good, res)
			}
		}
		for _, bad := range []string{"cache-inited", "lib-head", "sub-inited"} {
			if strings.Contains(res.stdout, bad+"\n") {
				t.Errorf("%s: a directory made again where one of the user's was: %v", bad, res)
			}
		}
		mustNotExist(t, filepath.Join(repo, "src/sub/.git"), "git init in src/sub made again")
		mustNotExist(t, filepath.Join(repo, "tmp/cache/.git"), "git init in tmp/cache made again")
	})
}

// Started in ~/src, git in a repository below must find the git directory
// it found before: not one the sandbox put at a .git file (a sibling's
// linked worktree, a repository made with --separate-git-dir), behind a
// .git that is a symlink, or at a repository's top that is a symlink
// (removed and made again); nor, once proj/.git/HEAD is broken (git
// writes it), proj itself taken for a bare repository (proj/HEAD) or a
// .git made in ~/src.
func TestFSGitChildRepositoriesNotRedirected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		s.write("src/proj/.git/HEAD", "ref: refs/heads/main\n")
		s.write("src/proj/.git/config", "[core]\n")
		s.write("gd/wt/HEAD", "ref: refs/heads/main\n")
		s.write("gd/wt/commondir", "../sep\n")
		s.write("gd/sep/HEAD", "ref: refs/heads/main\n")
		s.write("gd/sep/config", "[core]\n")
		s.mkdir("gd/sep/hooks")
		s.write("src/wt/.git", "gitdir: "+s.path("gd/wt")+"\n")
		s.write("src/sep/.git", "gitdir: "+s.path("gd/sep")+"\n")
		s.write("gd/sym/HEAD", "ref: refs/heads/main\n")
		s.mkdir("gd/sym/hooks")
		s.mkdir("src/sym")
		s.symlink(s.path("gd/sym"), "src/sym/.git")
		s.write("real/top/.git/HEAD", "ref: refs/heads/main\n")
		s.symlink(s.path("real/top"), "src/top")
		src := s.path("src")
		refusedAppend(t, s, src, cfg, s.path("src/wt/.git"))
		refusedAppend(t, s, src, cfg, s.path("src/sep/.git"))
		refusedAppend(t, s, src, cfg, s.path("gd/sep/config"))
		refusedCreate(t, s, src, cfg, s.path("gd/sep/hooks/pre-commit"))
		refusedCreate(t, s, src, cfg, s.path("src/sym/.git/hooks/pre-commit"))
		refusedCreate(t, s, src, cfg, s.path("src/proj/HEAD"))
		refusedCreate(t, s, src, cfg, s.path("src/HEAD"))
		for _, p := range []string{"src/sym/.git", "src/top", ".git"} {
			res := s.fenceWith(opts{dir: src}, "-s", cfg, "--", "sh", "-c", `rm -f "$1" || exit 1; mkdir "$1"`, "sh", s.path(p))
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%s could be removed or made: %v", p, res)
			}
		}
		res := s.fenceWith(opts{dir: src}, "-s", cfg, "-c", "mkdir .git")
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("a .git could be made in a directory of repositories: %v", res)
		}
	})
}

// Started in ~/src, the linked worktrees of a repository below are
// protected as its git directory is, wherever their checkouts are (inside
// it, as .claude/worktrees/x, or elsewhere): git in a checkout reads
// worktrees/NAME/commondir, and gets to NAME by the checkout's .git file;
// neither may lead to a repository of the sandbox's, whose fsmonitor the
// next git status in the checkout, outside, runs. git still works in a
// worktree inside.
func TestFSGitChildRepositoryWorktreesProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		proj, away, src := s.mkdir("src/proj"), s.path("away"), s.path("src")
		hostGit(proj, "init", "-q", "-b", "main", ".")
		hostGit(proj, "commit", "-q", "--allow-empty", "-m", "one")
		hostGit(proj, "worktree", "add", "-q", ".claude/worktrees/x")
		hostGit(proj, "worktree", "add", "-q", away)
		marker := s.path("planted")
		evil := `git init -q --bare "$1" && git --git-dir="$1" config core.fsmonitor "touch $2; false" && `
		for _, plant := range []string{
			`echo "$1" > proj/.git/worktrees/x/commondir`,
			`echo "$1" > proj/.git/worktrees/away/commondir`,
			`rm proj/.git/worktrees/away/commondir`,
			`echo "gitdir: $1" > proj/.claude/worktrees/x/.git`,
			`echo "gitdir: $1" > "$3/.git"`,
			`echo "$3" > proj/.git/worktrees/away/gitdir`,
			`printf '[core]\n\tfsmonitor = "touch %s; false"\n' "$2" > proj/.git/worktrees/x/config.worktree`,
			`mkdir proj/.git/worktrees/x/hooks`,
		} {
			res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "--", "sh", "-c", evil+plant, "sh", s.path("evil"), marker, away)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%s: want it refused: %v", plant, res)
			}
		}
		for _, w := range []string{s.path("src/proj/.claude/worktrees/x"), away} {
			hostGit(w, "status", "--porcelain")
		}
		mustNotExist(t, marker, "what git status in a linked worktree ran from a repository the sandbox planted")
		res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "-c", "cd proj/.claude/worktrees/x && echo x > f && git add f && git commit -q -m f && echo ok")
		if !ranInside(t, res) || !strings.Contains(res.stdout, "ok") {
			t.Errorf("a commit in a linked worktree of a repository below: %v", res)
		}
	})
}

// The .git file of a nested submodule's checkout (lib/deep, named only in
// lib/.gitmodules, a file of lib's checkout) is protected as a top-level
// submodule's is, started in the repository or in the directory above
// it: rewritten to lead to a repository of the sandbox's, git status in
// the repository, outside, recursed into it and ran its fsmonitor.
func TestFSGitNestedSubmoduleGitFileProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		deep, lib, repo := s.mkdir("up/deep"), s.mkdir("up/lib"), s.mkdir("src/repo")
		for _, d := range []string{deep, lib, repo} {
			hostGit(d, "init", "-q", "-b", "main", ".")
		}
		hostGit(deep, "commit", "-q", "--allow-empty", "-m", "deep")
		hostGit(lib, "-c", "protocol.file.allow=always", "submodule", "add", "-q", deep, "deep")
		hostGit(lib, "commit", "-q", "-m", "deep")
		hostGit(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "lib")
		hostGit(repo, "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init", "--recursive")
		hostGit(repo, "commit", "-q", "-m", "lib")
		dotGit := filepath.Join(repo, "lib/deep/.git")
		before, err := os.ReadFile(dotGit)
		if err != nil {
			t.Fatal(err)
		}
		marker := s.path("planted")
		plant := `git init -q --bare "$1" && git --git-dir="$1" config core.bare false && git --git-dir="$1" config core.worktree "$(dirname "$3")" && git --git-dir="$1" config core.fsmonitor "touch $2; false" && echo "gitdir: $1" > "$3"`
		for _, dir := range []string{repo, s.path("src")} {
			res := s.fenceWith(opts{dir: dir, env: gitEnv}, "-s", cfg, "--", "sh", "-c", plant, "sh", s.path("evil"), marker, dotGit)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("started in %s, a nested submodule's .git file rewritten: %v", dir, res)
			}
			mustHaveContent(t, dotGit, string(before), "a nested submodule's .git file")
		}
		hostGit(repo, "status", "--porcelain")
		mustNotExist(t, marker, "what git status ran from a repository the sandbox planted")
	})
}

// chmod is not guarded: one run made a repository below the working
// directory, or the working directory itself, impossible to search or
// list (chmod 000 proj, chmod 300 .), so that the next run found no
// repository there, made it searchable again and planted a hook. That
// next run now stops before the command, or finds the repository
// protected.
func TestFSGitChildRepositoryNotHiddenByChmod(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.path("src")+`"]}}`)
		s.write("src/proj/.git/HEAD", "ref: refs/heads/main\n")
		s.mkdir("src/proj/.git/hooks")
		src, hook := s.path("src"), s.path("src/proj/.git/hooks/pre-commit")
		for _, hide := range []string{"chmod 000 proj", "chmod 300 .", "chmod 100 .", "chmod 000 proj/.git"} {
			if res := s.fenceWith(opts{dir: src}, "-s", cfg, "--", "sh", "-c", hide); !ranInside(t, res) || res.code != 0 {
				t.Fatalf("%s: %v", hide, res)
			}
			res := s.fenceWith(opts{dir: src}, "-s", cfg, "--", "sh", "-c", `chmod 755 . proj proj/.git && echo evil > "$1"`, "sh", hook)
			for _, d := range []string{src, s.path("src/proj"), s.path("src/proj/.git")} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if res.code == 0 {
				t.Errorf("after %s in one run, the next planted %s: %v", hide, hook, res)
			}
			mustNotExist(t, hook, "a hook planted after the repository was hidden by chmod")
		}
	})
}

// A directory of the user's that may not be searched (mode 000: a
// test's leftover, a run's chmod) right below the working directory is
// taken for a repository whose paths fence cannot check. Where the
// command could chmod it (it is in a writable path), fence stops with the
// fix, chmod u+x on that directory; where it could not (another path is
// the writable one), fence runs. It stopped in both cases, blaming the
// directory's .gitmodules ("fix the file or use allowGitConfig"), which
// it could not read for the same reason and which may not exist.
func TestFSGitUnsearchableDirectoryBelow(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		src := s.mkdir("src")
		s.write("src/proj/.git/HEAD", "ref: refs/heads/main\n")
		other := s.mkdir("other")
		locked := s.mkdir("src/locked")
		s.own(locked, 0)
		t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
		for _, tc := range []struct{ writable, refusal string }{
			{src, "chmod u+x"},
			{other, ""},
		} {
			cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+tc.writable+`"]}}`)
			res := s.fenceWith(opts{dir: src}, "-s", cfg, "--", "echo", "RAN")
			if s.r.root() || tc.refusal == "" {
				if ranInside(t, res) && !strings.Contains(res.stdout, "RAN") {
					t.Errorf("allowWrite %s: the command did not run: %v", tc.writable, res)
				}
				continue
			}
			msg := strings.TrimSpace(res.stderr)
			if res.code != 1 || !strings.Contains(msg, locked+" searchable") || !strings.Contains(msg, tc.refusal) ||
				strings.Contains(msg, ".gitmodules") || strings.Contains(msg, "\n") {
				t.Errorf("allowWrite %s: want exit 1 and one line saying to make %s searchable (%s): %v", tc.writable, locked, tc.refusal, res)
			}
			if strings.Contains(res.stdout, "RAN") {
				t.Error("the command ran")
			}
		}
	})
}

// chmod is not guarded, and the files fence reads to know what to protect
// are protected by the write guard alone in the repositories below the
// working directory and in writable worktrees: one run made such a file
// unreadable (a config naming core.hooksPath, a worktree's gitdir, a .git
// file), so that the next run's plan missed what it leads to; that run
// made it readable again and planted a hook or rewrote a .git file. A
// file of the user's that cannot be read now stops fence.
func TestFSGitPointerFilesNotHiddenByChmod(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.path("src")+`", "`+s.path("gd")+`"]}}`)
		src, proj := s.mkdir("src"), s.mkdir("src/proj")
		s.mkdir("gd")
		hostGit(proj, "init", "-q", "-b", "main", ".")
		hostGit(proj, "commit", "-q", "--allow-empty", "-m", "one")
		hostGit(proj, "worktree", "add", "-q", ".claude/worktrees/x")
		hostGit(proj, "config", "core.hooksPath", ".husky/_")
		s.mkdir("src/proj/.husky/_")
		hostGit(src, "init", "-q", "-b", "main", "--separate-git-dir", s.path("gd/sep"), "sep")
		for _, c := range []struct{ dir, file, plant, check string }{
			{src, "proj/.git/config", `echo evil > proj/.husky/_/pre-commit`, "src/proj/.husky/_/pre-commit"},
			{src, "proj/.git/worktrees/x/gitdir", `echo "gitdir: $PWD" > proj/.claude/worktrees/x/.git`, ""},
			{proj, ".git/worktrees/x/gitdir", `echo "gitdir: $PWD" > .claude/worktrees/x/.git`, ""},
			{src, "sep/.git", `echo evil > ` + s.path("gd/sep/hooks/pre-commit"), "gd/sep/hooks/pre-commit"},
		} {
			before, err := os.ReadFile(s.path("src/proj/.claude/worktrees/x/.git"))
			if err != nil {
				t.Fatal(err)
			}
			if res := s.fenceWith(opts{dir: c.dir}, "-s", cfg, "--", "chmod", "000", c.file); !ranInside(t, res) || res.code != 0 {
				t.Fatalf("chmod 000 %s: %v", c.file, res)
			}
			res := s.fenceWith(opts{dir: c.dir}, "-s", cfg, "--", "sh", "-c", `chmod 644 "$1"; `+c.plant, "sh", c.file)
			if err := os.Chmod(filepath.Join(c.dir, c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			if res.code == 0 {
				t.Errorf("after chmod 000 %s in one run, the next ran %s: %v", c.file, c.plant, res)
			}
			// Root reads the file whatever its mode; the user is told
			// the fix.
			if !s.r.root() && strings.HasSuffix(c.file, "/config") && !strings.Contains(res.stderr, c.file+": permission denied; fence will not run without it: make it readable (chmod u+r)") {
				t.Errorf("after chmod 000 %s: want the refusal to name the fix, chmod u+r: %v", c.file, res)
			}
			if c.check != "" {
				mustNotExist(t, s.path(c.check), "a hook planted after "+c.file+" was made unreadable")
			}
			mustHaveContent(t, s.path("src/proj/.claude/worktrees/x/.git"), string(before), "a linked worktree's .git file")
			s.write("src/proj/.claude/worktrees/x/.git", string(before))
		}
	})
}

// A relative core.hooksPath (husky's .husky/_) is taken from the top of
// the checkout git runs in: a linked worktree's hooks are in its own
// .husky/_, protected as the main checkout's are, started in the
// repository or in the directory above it. Planted in
// .claude/worktrees/x/.husky/_, a hook ran at the next commit there
// outside.
func TestFSGitWorktreeRelativeHooksPathProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		repo := s.mkdir("src/repo")
		hostGit(repo, "init", "-q", "-b", "main", ".")
		hostGit(repo, "config", "core.hooksPath", ".husky/_")
		s.write("src/repo/.husky/_/pre-commit", "#!/bin/sh\nexit 0\n")
		if err := os.Chmod(s.path("src/repo/.husky/_/pre-commit"), 0o755); err != nil {
			t.Fatal(err)
		}
		hostGit(repo, "add", "-A")
		hostGit(repo, "commit", "-q", "-m", "husky")
		hostGit(repo, "worktree", "add", "-q", ".claude/worktrees/x")
		wt, marker := filepath.Join(repo, ".claude/worktrees/x"), s.path("planted")
		for _, dir := range []string{repo, s.path("src")} {
			for _, p := range []string{".husky/_/pre-commit", ".husky/pre-commit"} {
				res := s.fenceWith(opts{dir: dir}, "-s", cfg, "--", "sh", "-c", `printf '#!/bin/sh\ntouch %s\n' "$1" > "$2"`, "sh", marker, filepath.Join(wt, p))
				if ranInside(t, res) && res.code == 0 {
					t.Errorf("started in %s, a hook planted in a linked worktree's %s: %v", dir, p, res)
				}
			}
		}
		s.write("src/repo/.claude/worktrees/x/new", "x\n")
		hostGit(wt, "add", "new")
		hostGit(wt, "commit", "-q", "-m", "new")
		mustNotExist(t, marker, "what the next commit in the worktree ran from a hook the sandbox planted")
		s.mustRun("-s", cfg, "-c", "echo ok > "+filepath.Join(wt, ".husky/notes"))
	})
}

// Started in ~/src, a bare repository there (a local remote the user
// pushes to) is protected as a repository below is: its hooks, which the
// next git push to it outside runs, and its config. Pushing to it from
// inside still works.
func TestFSGitChildBareRepositoryProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.path("src")+`"]}}`)
		src, work := s.mkdir("src"), s.mkdir("work")
		hostGit(src, "init", "-q", "--bare", "-b", "main", "remote.git")
		hostGit(work, "init", "-q", "-b", "main", ".")
		hostGit(work, "commit", "-q", "--allow-empty", "-m", "one")
		marker := s.path("planted")
		for _, plant := range []string{
			`printf '#!/bin/sh\ntouch %s\n' "$1" > remote.git/hooks/post-receive && chmod +x remote.git/hooks/post-receive`,
			`printf '[alias]\n\tst = !touch %s\n' "$1" >> remote.git/config`,
			`mv remote.git old.git && mv old.git remote.git`,
		} {
			res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "--", "sh", "-c", plant, "sh", marker)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%s: want it refused: %v", plant, res)
			}
		}
		hostGit(work, "push", "-q", filepath.Join(src, "remote.git"), "main")
		mustNotExist(t, marker, "a hook the sandbox planted in a bare repository")
		res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "-c", "git init -q -b main w && cd w && git commit -q --allow-empty -m two && git push -q ../remote.git main:other && echo ok")
		if !ranInside(t, res) || !strings.Contains(res.stdout, "ok") {
			t.Errorf("a push to a bare repository below from inside: %v", res)
		}
	})
}

// With allowGitConfig, git submodule update works inside for a submodule
// checked out already (it writes the submodule's config); one not checked
// out yet cannot be (update --init): its checkout's .git file would be made
// in a directory that was there before the run. The README said only that
// update needs allowGitConfig.
func TestFSGitSubmoduleUpdateWithGitConfig(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"allowGitConfig":true}}`)
		lib, orig := s.mkdir("up/lib"), s.mkdir("up/proj")
		hostGit(lib, "init", "-q", "-b", "main", ".")
		hostGit(lib, "commit", "-q", "--allow-empty", "-m", "lib")
		hostGit(orig, "init", "-q", "-b", "main", ".")
		hostGit(orig, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "lib")
		hostGit(orig, "commit", "-q", "-m", "lib")
		hostGit(s.dir, "clone", "-q", orig, "proj")
		proj := s.path("proj")
		res := s.fenceWith(opts{env: gitEnv}, "-s", cfg, "--", "git", "-C", "proj", "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init")
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("git submodule update --init of a submodule not checked out: want it refused, as the README says: %v", res)
		}
		mustNotExist(t, filepath.Join(proj, "lib/.git"), "the .git file of a submodule checkout made inside")
		hostGit(proj, "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init")
		hostGit(lib, "commit", "-q", "--allow-empty", "-m", "lib2")
		res = s.fenceWith(opts{env: gitEnv}, "-s", cfg, "--", "git", "-C", "proj", "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--remote")
		if res.code != 0 || res.err != nil {
			t.Errorf("git submodule update --remote of a submodule checked out, with allowGitConfig: want it to work: %v", res)
		}
		if got, want := hostGit(filepath.Join(proj, "lib"), "rev-parse", "HEAD"), hostGit(lib, "rev-parse", "HEAD"); got != want {
			t.Errorf("the submodule is at %q after update --remote, want %q", got, want)
		}
	})
}

// Started in ~/src, no new submodule git directory can be made in a
// repository below, as in the working directory's: one planted in
// proj/.git/modules/lib, for a submodule not yet cloned, serves the next
// git submodule update --init in proj outside, which runs its hooks.
func TestFSGitChildRepositoryNoNewSubmoduleGitDir(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		lib, orig, src := s.mkdir("up/lib"), s.mkdir("up/proj"), s.mkdir("src")
		hostGit(lib, "init", "-q", "-b", "main", ".")
		hostGit(lib, "commit", "-q", "--allow-empty", "-m", "lib")
		hostGit(orig, "init", "-q", "-b", "main", ".")
		hostGit(orig, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "lib")
		hostGit(orig, "commit", "-q", "-m", "lib")
		hostGit(src, "clone", "-q", orig, "proj")
		marker := s.path("planted")
		for _, plant := range []string{
			`git clone -q --bare "$1" proj/.git/modules/lib`,
			`git clone -q --bare "$1" "$3/lib" && mv "$3/lib" proj/.git/modules/lib`,
			`git clone -q --bare "$1" "$3/lib" && ln -s "$3" proj/.git/modules`,
		} {
			hook := ` && m=proj/.git/modules/lib && git --git-dir=$m config core.bare false && git --git-dir=$m config core.worktree ../../../lib` +
				` && printf '#!/bin/sh\ntouch %s\n' "$2" > $m/hooks/post-checkout && chmod +x $m/hooks/post-checkout`
			res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "--", "sh", "-c", plant+hook, "sh", lib, marker, s.mkdir("evil"))
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%s: want it refused: %v", plant, res)
			}
		}
		hostGit(s.path("src/proj"), "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init")
		mustNotExist(t, marker, "the hook of a submodule git directory the sandbox planted")
	})
}

// Started in a directory of repositories that is itself in a repository
// ($HOME a dotfiles repository, ~/src a monorepo), a .git file one level
// down that leads elsewhere than that repository's git directories (a
// repository made with --separate-git-dir, a worktree of another one) is
// a repository of its own: the sandbox must not rewrite it to lead to a
// repository it made, whose fsmonitor the next git status there, outside,
// runs. The outer repository's own linked worktree there stays removable.
func TestFSGitChildRepositoryFileInsideRepository(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		s.mkdir("top/src")
		s.mkdir("gd")
		top, sep := s.path("top"), s.path("top/src/sep")
		hostGit(s.dir, "init", "-q", "-b", "main", top)
		hostGit(top, "commit", "-q", "--allow-empty", "-m", "one")
		hostGit(s.dir, "init", "-q", "-b", "main", "--separate-git-dir", s.path("gd/sep"), sep)
		hostGit(top, "worktree", "add", "-q", "src/wt")
		before, err := os.ReadFile(filepath.Join(sep, ".git"))
		if err != nil {
			t.Fatal(err)
		}
		src, marker := s.path("top/src"), s.path("planted")
		plant := `git init -q --bare "$1" && git --git-dir="$1" config core.bare false && git --git-dir="$1" config core.worktree "$2" && git --git-dir="$1" config core.fsmonitor "touch $3; false" && echo "gitdir: $1" > "$2/.git"`
		res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "--", "sh", "-c", plant, "sh", s.path("evil"), sep, marker)
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("a repository's .git file below the working directory, in a repository, rewritten: %v", res)
		}
		mustHaveContent(t, filepath.Join(sep, ".git"), string(before), "the .git file of a repository made with --separate-git-dir")
		hostGit(sep, "status", "--porcelain")
		mustNotExist(t, marker, "what git status ran from a repository the sandbox planted")
		if res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "--", "git", "worktree", "remove", "wt"); res.code != 0 {
			t.Errorf("git worktree remove of the outer repository's worktree below the working directory: %v", res)
		}
	})
}

// Started in ~/src, a repository further down (~/src/a/b/proj, which no
// scan at start finds) keeps what git runs code from: its hooks, its
// config, its .git (moved away, replaced by a .git file), its
// submodules' hooks; so the next git commit there, outside the sandbox,
// runs nothing the sandbox planted. Git works there inside, and a
// repository the sandbox makes is its own, in a later run too.
func TestFSGitDeepRepositoriesProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		s.mkdir("src/a/b/proj")
		proj := s.path("src/a/b/proj")
		hostGit(proj, "init", "-q", "-b", "main", ".")
		s.write("src/a/b/proj/f", "one\n")
		hostGit(proj, "add", "f")
		hostGit(proj, "commit", "-qm", "one")
		marker := s.path("planted-ran")
		hooks := s.path("planted-hooks")
		s.write("planted-hooks/pre-commit", "#!/bin/sh\ntouch "+marker+"\n")
		if err := os.Chmod(s.path("planted-hooks/pre-commit"), 0o755); err != nil {
			t.Fatal(err)
		}
		s.write("planted-git/HEAD", "ref: refs/heads/main\n")
		s.write("planted-git/config", "[core]\n\thooksPath = "+hooks+"\n")
		config, err := os.ReadFile(s.path("src/a/b/proj/.git/config"))
		if err != nil {
			t.Fatal(err)
		}
		src := s.path("src")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+src+`"]}}`)
		hook := `printf '#!/bin/sh\ntouch %s\n' "$1" > "$3" && chmod +x "$3"`
		for _, script := range []string{
			`p=a/b/proj/.git/hooks/pre-commit; ` + strings.ReplaceAll(hook, `"$3"`, `$p`),
			`printf '[core]\n\thooksPath = %s\n' "$2" >> a/b/proj/.git/config`,
			`git -C a/b/proj config core.hooksPath "$2"`,
			`mv a/b/proj/.git a/b/proj/.git.old && printf 'gitdir: %s\n' "$4" > a/b/proj/.git`,
			`rm -f a/b/proj/.git; printf 'gitdir: %s\n' "$4" > a/b/proj/.git`,
			`mv a/b/proj a/b/proj.old && git clone -q a/b/proj.old a/b/proj && cp -r "$2" a/b/proj/.git/hooks.new && rm -rf a/b/proj/.git/hooks && mv a/b/proj/.git/hooks.new a/b/proj/.git/hooks`,
			`mkdir -p a/b/proj/.git/modules/x/hooks && p=a/b/proj/.git/modules/x/hooks/post-checkout; ` + strings.ReplaceAll(hook, `"$3"`, `$p`),
		} {
			res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "--", "sh", "-c", script, "sh", marker, hooks, "", s.path("planted-git"))
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%s succeeded in a repository two levels down: %v", script, res)
			}
		}
		mustNotExist(t, s.path("src/a/b/proj/.git/hooks/pre-commit"), "a hook planted two levels down")
		mustNotExist(t, s.path("src/a/b/proj/.git/modules/x/hooks/post-checkout"), "a submodule's hook planted two levels down")
		mustNotExist(t, s.path("src/a/b/proj.old"), "the repository moved away")
		mustHaveContent(t, s.path("src/a/b/proj/.git/config"), string(config), "the config of a repository two levels down")

		// Git works there inside; a repository made there is the sandbox's.
		res := s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "-c", `set -e
echo two > a/b/proj/f && git -C a/b/proj commit -qam two
git -C a/b/proj checkout -q -b feature && git -C a/b/proj checkout -q main
echo wip > a/b/proj/f && git -C a/b/proj stash -q && git -C a/b/proj stash pop -q && git -C a/b/proj checkout -q -- f
git -C a/b/proj gc -q
git init -q new/deep/repo && echo x > new/deep/repo/.git/hooks/pre-commit && echo '[x]' >> new/deep/repo/.git/config
git clone -q a/b/proj new/clone
echo ok`)
		if res.code != 0 || !strings.Contains(res.stdout, "ok") {
			t.Fatalf("git in a repository two levels down, and a repository made there: %v", res)
		}
		// The clone, in a later run: the record of created files says it
		// is the sandbox's.
		res = s.fenceWith(opts{dir: src, env: gitEnv}, "-s", cfg, "-c", `echo x > new/clone/.git/hooks/pre-commit && echo '[x]' >> new/clone/.git/config && echo ok`)
		if res.code != 0 || !strings.Contains(res.stdout, "ok") {
			t.Errorf("a repository cloned in an earlier run: %v", res)
		}

		// Outside, the next commit runs nothing planted.
		s.write("src/a/b/proj/f", "three\n")
		hostGit(proj, "commit", "-qam", "three")
		mustNotExist(t, marker, "what a hook planted from the sandbox makes")
		if n := len(lines(hostGit(proj, "log", "--oneline"))); n != 3 {
			t.Errorf("%d commits in the repository two levels down, want 3", n)
		}
	})
}

// The .git files of a repository the sandbox made (a submodule's checkout,
// a linked worktree) are its own in a later run too, as the repository's
// .git directory is: git worktree remove and rm -rf of the whole
// repository worked only in the run that made them, and later left the
// .git files behind, leading nowhere. A linked worktree's .git file that
// the user made stays kept.
func TestFSGitSandboxRepositoryGitFilesLater(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		lib := s.mkdir("lib")
		hostGit(lib, "init", "-q", "-b", "main", ".")
		hostGit(lib, "commit", "-q", "--allow-empty", "-m", "lib")
		userFile := s.userWorktree(git, "w/mine", "../mine-wt")
		w := s.path("w")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+w+`"]}}`)
		res := s.fenceWith(opts{dir: w, env: gitEnv}, "-s", cfg, "-c", `set -e
git init -q -b main p && cd p && git commit -q --allow-empty -m x
git -c protocol.file.allow=always submodule add -q `+lib+` s && git commit -qm s
git worktree add -q ../p-wt && echo made`)
		if res.code != 0 || !strings.Contains(res.stdout, "made") {
			t.Fatalf("a repository with a submodule and a linked worktree, made inside: %v", res)
		}
		res = s.fenceWith(opts{dir: w, env: gitEnv}, "-s", cfg, "-c", `set -e
git -C p worktree remove ../p-wt
rm -rf p && echo removed`)
		if res.code != 0 || !strings.Contains(res.stdout, "removed") {
			t.Errorf("git worktree remove and rm -rf, in a later run, of a repository an earlier run made: %v", res)
		}
		mustNotExist(t, s.path("w/p"), "a repository an earlier run made, removed")
		mustNotExist(t, s.path("w/p-wt"), "its linked worktree, removed")
		for _, script := range []string{`rm -f mine-wt/.git`, `echo "gitdir: $PWD/p" > mine-wt/.git`} {
			res := s.fenceWith(opts{dir: w, env: gitEnv}, "-s", cfg, "-c", script)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%s, the user's linked worktree's .git file: %v", script, res)
			}
		}
		mustHaveContent(t, s.path("w/mine-wt/.git"), userFile, "the user's linked worktree's .git file")
	})
}

// TestFSGitHookSymlinkTargets: a hook that is a symlink to a script in the
// work tree (ln -s ../../tools/pre-commit .git/hooks/pre-commit) runs
// that script: it is protected as the hook is, in the working directory's
// repository and in one below it, and one that leads nowhere yet cannot
// be made. So is a target that is a symlink itself (commit-msg ->
// ../../tools/commit-msg -> msg.sh), and an included config that is one
// (include.path ../inc.cfg, inc.cfg -> real.cfg), which in the repository
// below could be removed and made again as a script or config of the
// sandbox's: each was kept by a path with "..", which the write guard
// never matches, and by what the link leads to.
func TestFSGitHookSymlinkTargets(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		marker := s.path("planted-ran")
		for _, top := range []string{".", "proj"} {
			s.mkdir(top + "/sub")
			root := s.path(top)
			hostGit(root, "init", "-q", "-b", "main", ".")
			s.write(top+"/tools/pre-commit", "#!/bin/sh\nexit 0\n")
			s.own(s.path(top+"/tools/pre-commit"), 0o755)
			s.symlink("../../tools/pre-commit", top+"/.git/hooks/pre-commit")
			s.symlink("../../tools/post-commit", top+"/.git/hooks/post-commit")
			s.write(top+"/tools/msg.sh", "#!/bin/sh\nexit 0\n")
			s.own(s.path(top+"/tools/msg.sh"), 0o755)
			s.symlink("msg.sh", top+"/tools/commit-msg")
			s.symlink("../../tools/commit-msg", top+"/.git/hooks/commit-msg")
			s.write(top+"/real.cfg", "[user]\n\tname = x\n")
			s.symlink("real.cfg", top+"/inc.cfg")
			hostGit(root, "config", "include.path", "../inc.cfg")
			hostGit(root, "add", "tools")
			hostGit(root, "commit", "-qm", "one")
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		plant := `rm -f "$2"; printf '#!/bin/sh\ntouch %s\n' "$1" > "$2" && chmod +x "$2"`
		for _, p := range []string{"tools/pre-commit", "tools/post-commit", "tools/commit-msg", "proj/tools/pre-commit", "proj/tools/post-commit", "proj/tools/commit-msg"} {
			res := s.fenceWith(opts{dir: s.dir}, "-s", cfg, "--", "sh", "-c", plant, "sh", marker, p)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("planting %s, where a hook's symlink leads: %v", p, res)
			}
		}
		for _, p := range []string{"inc.cfg", "proj/inc.cfg"} {
			res := s.fenceWith(opts{dir: s.dir}, "-s", cfg, "--", "sh", "-c", `rm -f "$1"; echo '[core] fsmonitor = x' > "$1"`, "sh", p)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("replacing %s, an included config that is a symlink: %v", p, res)
			}
			if st, err := os.Lstat(s.path(p)); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("%s on the host is no longer the symlink (%v)", p, err)
			}
		}
		// The rest of the work tree stays writable.
		s.mustRun("-s", cfg, "-c", "echo x > tools/other && echo x > proj/tools/other")
		for _, top := range []string{".", "proj"} {
			s.write(top+"/sub/f", "two\n")
			hostGit(s.path(top), "add", "sub")
			hostGit(s.path(top), "commit", "-qm", "two")
		}
		mustNotExist(t, marker, "what a hook's target planted from the sandbox makes")
	})
}

// Started at a repository's top whose parent is writable too, no .git or
// HEAD can be made above it: git in the repository, its .git/HEAD broken
// (git writes it), would go on up and take that one, and run its
// fsmonitor or pager outside the sandbox.
func TestFSGitNothingPlantedAboveRepository(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		s.write("src/proj/.git/HEAD", "ref: refs/heads/main\n")
		s.mkdir("src/proj/.git/objects")
		s.mkdir("src/proj/.git/refs")
		proj := s.path("src/proj")
		for _, p := range []string{"src/.git", "src/HEAD", ".git", "HEAD"} {
			refusedCreate(t, s, proj, cfg, s.path(p))
			res := s.fenceWith(opts{dir: proj}, "-s", cfg, "--", "mkdir", s.path(p))
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("mkdir %s above the repository: %v", p, res)
			}
			mustNotExist(t, s.path(p), "a .git or HEAD above the repository")
		}
		s.mustRun("-s", cfg, "-c", "mkdir -p "+s.path("src/other")+" && git init -q "+s.path("src/other"))
	})
}

// The same when what makes the directories above the repository writable
// is the host's /tmp (allowWrite "/tmp", as -t code has it) and the
// project is under it (a home in /tmp, a checkout in /tmp/x): the
// directories above were taken for read-only, and $HOME/.git, its config's
// fsmonitor, ran at the next git status in the project, its .git/HEAD
// broken from inside.
func TestFSGitNothingPlantedAboveRepositoryInHostTmp(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		if !strings.HasPrefix(s.dir, "/tmp/") {
			t.Skipf("the workspace %s is not under /tmp (TMPDIR)", s.dir)
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":[".","/tmp"]}}`)
		s.write("src/proj/.git/HEAD", "ref: refs/heads/main\n")
		s.mkdir("src/proj/.git/objects")
		s.mkdir("src/proj/.git/refs")
		proj := s.path("src/proj")
		for _, p := range []string{"src/.git", "src/HEAD", ".git", "HEAD"} {
			res := s.fenceWith(opts{dir: proj}, "-s", cfg, "--", "mkdir", s.path(p))
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("mkdir %s above the repository, in the host's /tmp: %v", p, res)
			}
			mustNotExist(t, s.path(p), "a .git or HEAD above the repository")
		}
		// The rest of /tmp stays writable.
		if res := s.fenceWith(opts{dir: proj}, "-s", cfg, "-c", "mkdir -p "+s.path("src/other")+" && git init -q "+s.path("src/other")); res.code != 0 {
			t.Errorf("git init beside the repository: %v", res)
		}
	})
}

// TestFSGitBareRepoNotPlanted: a directory holding HEAD, objects/ and
// refs/ is a (bare) repository to git, which git takes when the .git
// beside it is broken; its config would then be what git reads outside
// the sandbox (a pager command runs at the next git status). HEAD cannot
// be created where .git cannot: the working directory up to the
// repository's root.
func TestFSGitBareRepoNotPlanted(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		s.write("repo/.git/config", "[core]\n\tbare = false\n")
		s.mkdir("repo/.git/objects")
		s.mkdir("repo/.git/refs")
		s.mkdir("repo/sub")
		plant := `echo garbage > "$1"/.git/HEAD; mkdir -p objects refs; printf '[core]\n\tbare = true\n[pager]\n\tstatus = touch planted\n' > config; echo "ref: refs/heads/main" > HEAD`
		for _, dir := range []string{s.path("repo"), s.path("repo/sub")} {
			res := s.fenceWith(opts{dir: dir}, "-s", cfg, "--", "sh", "-c", plant, "sh", s.path("repo"))
			if !ranInside(t, res) {
				continue
			}
			mustNotExist(t, filepath.Join(dir, "HEAD"), "a HEAD planted in "+dir)
			mustNotExist(t, s.path("repo/HEAD"), "a HEAD planted at the repository's root")
			s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		}
		// A HEAD elsewhere (a directory the sandbox made) is its own.
		s.mustRun("-s", cfg, "-c", "mkdir -p other && echo x > other/HEAD")
		// rm -f of the missing protected names goes on (ENOENT), as a
		// cleanup script under set -e expects.
		if res := s.fenceWith(opts{dir: s.path("repo")}, "-s", cfg, "--", "sh", "-ec", "rm -f HEAD .mcp.json fence.json; echo cleaned"); !strings.Contains(res.stdout, "cleaned") {
			t.Errorf("rm -f of missing protected names: %v", res)
		}
	})
}

// refusedAppend runs, in dir under config cfg, a command that appends to
// the file p, and fails t unless the write was refused and p is as it was.
func refusedAppend(t *testing.T, s *sandbox, dir, cfg, p string) {
	t.Helper()
	before, _ := os.ReadFile(p)
	res := s.fenceWith(opts{dir: dir}, "-s", cfg, "--", "sh", "-c", `echo evil >> "$1"`, "sh", p)
	if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
		t.Errorf("appending to %s: want EROFS/EACCES: %v", p, res)
	}
	mustHaveContent(t, p, string(before), p)
}

// refusedCreate runs, in dir under config cfg, a command that creates the
// missing file p, and fails t unless p is still missing.
func refusedCreate(t *testing.T, s *sandbox, dir, cfg, p string) {
	t.Helper()
	res := s.fenceWith(opts{dir: dir}, "-s", cfg, "--", "sh", "-c", `echo evil > "$1"`, "sh", p)
	if ranInside(t, res) && res.code == 0 {
		t.Errorf("creating %s succeeded: %v", p, res)
	}
	mustNotExist(t, p, p)
}

// TestFSSSHIncludesProtected: what ~/.ssh/config includes is part of
// ssh's config (ProxyCommand runs code at the next ssh): an included file
// stays as it was wherever it is, a missing one cannot be created, and no
// new file can match an included glob. Neighbours stay writable.
func TestFSSSHIncludesProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`/dotfiles"]}}`)
		s.write("home/.ssh/config", "Include "+s.path("dotfiles/ssh/*.conf")+" "+s.path("dotfiles/hosts")+" "+s.path("dotfiles/missing")+"\n")
		s.write("dotfiles/ssh/a.conf", "Host a\n")
		s.write("dotfiles/hosts", "Include "+s.path("dotfiles/nested")+"\n")
		for _, p := range []string{"dotfiles/ssh/a.conf", "dotfiles/hosts"} {
			refusedAppend(t, s, s.dir, cfg, s.path(p))
		}
		for _, p := range []string{"dotfiles/missing", "dotfiles/nested", "dotfiles/ssh/b.conf"} {
			refusedCreate(t, s, s.dir, cfg, s.path(p))
		}
		s.mustRun("-s", cfg, "-c", "echo ok > dotfiles/ssh/notes.txt && echo ok > dotfiles/other")

		// A glob in a directory of the include, or a directory that is
		// missing: no symlink (or directory renamed) there may lead the
		// included files where the guard does not look. The user's own
		// symlink there is followed.
		s.write("home/.ssh/config", "Include "+s.path("dotfiles/sub")+"/*/conf "+s.path("dotfiles/inc.d")+"/*\n")
		s.write("dotfiles/sub/a/conf", "orig\n")
		s.write("elsewhere/conf", "evil\n")
		if err := os.Symlink(s.path("dotfiles/users"), s.path("dotfiles/sub/u")); err != nil {
			t.Fatal(err)
		}
		s.write("dotfiles/users/conf", "orig\n")
		for _, c := range []string{`ln -s "$1/elsewhere" dotfiles/sub/b`, `mkdir dotfiles/e && mv dotfiles/e dotfiles/sub/c`, `ln -s "$1/elsewhere" dotfiles/inc.d`} {
			res := s.fenceWith(opts{dir: s.dir}, "-s", cfg, "--", "sh", "-c", c, "sh", s.dir)
			if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
				t.Errorf("%s: want it refused: %v", c, res)
			}
		}
		refusedAppend(t, s, s.dir, cfg, s.path("dotfiles/users/conf"))
		s.mustRun("-s", cfg, "-c", "mkdir dotfiles/inc.d && mkdir dotfiles/sub/d")

		// ssh's own glob syntax ("[!_]" is negation there, not in Go),
		// over the whole path: in a home whose name holds glob
		// characters, ssh reads what the home's name matches as a glob
		// (home "h[1]": h1/.ssh/...), which is what must stay as it was.
		hcfg := s.config("h.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		for _, h := range [][2]string{{"hplain", "hplain"}, {"h[1]", "h1"}, {"h*x", "hAx"}, {"h*x", "h*x"}, {`h\z`, `h\z`}} {
			home, read := s.mkdir(h[0]), h[1]
			s.write(h[0]+"/.ssh/config", "Include extra.conf ~/.ssh/other.conf hosts/[!_]*.conf\n")
			s.write(read+"/.ssh/other.conf", "orig\n")
			s.write(read+"/.ssh/hosts/a.conf", "orig\n")
			r := s.path(read)
			for _, c := range []string{`echo x > "$1"/.ssh/extra.conf`, `echo x >> "$1"/.ssh/other.conf`, `echo x >> "$1"/.ssh/hosts/a.conf`, `echo x > "$1"/.ssh/hosts/b.conf`} {
				res := s.fenceWith(opts{dir: home, env: []string{"HOME=" + home}}, "-s", hcfg, "--", "sh", "-c", c, "sh", r)
				if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
					t.Errorf("home %q, ssh reads %q: %s: want it refused: %v", h[0], read, c, res)
				}
			}
			mustNotExist(t, filepath.Join(r, ".ssh/extra.conf"), "a missing included file, home "+h[0])
			mustNotExist(t, filepath.Join(r, ".ssh/hosts/b.conf"), "a new file an included glob matches, home "+h[0])
			mustHaveContent(t, filepath.Join(r, ".ssh/hosts/a.conf"), "orig\n", "an included file, home "+h[0])
			// Control: a name the glob does not match.
			res := s.fenceWith(opts{dir: home, env: []string{"HOME=" + home}}, "-s", hcfg, "--", "sh", "-c", `echo x > "$1"/.ssh/hosts/_draft.conf && echo ok`, "sh", r)
			if res.code != 0 || !strings.Contains(res.stdout, "ok") {
				t.Errorf("home %q: a file the include does not match: %v", h[0], res)
			}
		}
	})
}

// Everyday git keeps working in a repository whose git paths fence
// protects: commits, linked worktrees added and removed (a protected
// file in .git/worktrees/* made the removal fail with EBUSY), gc.
func TestFSGitWorkflowsInside(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		repo := s.path("repo")
		s.mkdir("repo")
		env := gitEnv
		hostGit := s.hostGit(git)
		hostGit(s.dir, "init", "-q", "-b", "main", repo)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		res := s.fenceWith(opts{dir: repo, env: env}, "-s", cfg, "-c", `set -e
echo a > a.txt && git add a.txt && git commit -qm one
git worktree add -q ../wt2 && git worktree add -q ../wt3`)
		if res.code != 0 {
			t.Fatalf("git inside, first run: %v", res)
		}
		// A second run, which finds the worktrees there at its start.
		res = s.fenceWith(opts{dir: repo, env: env}, "-s", cfg, "-c", `set -e
git -C ../wt2 status --short
git worktree remove ../wt2
rm -rf ../wt3 && git worktree prune
git gc -q
git log --oneline | wc -l`)
		if res.code != 0 || strings.TrimSpace(res.stdout) != "1" {
			t.Errorf("git inside, second run: %v", res)
		}
		// Branches named modules/... in a submodule: refs, not nested
		// submodules (a protected pattern with "**" refused them).
		s.mkdir("sub")
		hostGit(s.path("sub"), "init", "-q", "-b", "main", ".")
		hostGit(s.path("sub"), "commit", "-q", "--allow-empty", "-m", "s")
		hostGit(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", "../sub", "s")
		res = s.fenceWith(opts{dir: repo, env: env}, "-s", cfg, "-c", `set -e
cd s && git branch modules/foo && git checkout -q -b feature/modules/x && git submodule status && echo branches`)
		if res.code != 0 || !strings.Contains(res.stdout, "branches") {
			t.Errorf("branches named modules/... in a submodule: %v", res)
		}
		// git removes the worktrees directory once empty.
		mustNotExist(t, s.path("repo/.git/worktrees"), "the removed worktrees' directory")
		// A linked worktree made outside, the only writable path (the
		// usual layout for agents working in parallel): git commits
		// there, and the main repository's hooks, config and files stay
		// as they were, and so does the git directory of a sibling
		// worktree (its commondir pointed at a planted repository would
		// run its config at the next git status there).
		hostGit(repo, "worktree", "add", "-q", "../wt4")
		hostGit(repo, "worktree", "add", "-q", "../wt5")
		wcfg := s.config("wt.json", `{"filesystem":{"allowWrite":["."]}}`)
		res = s.fenceWith(opts{dir: s.path("wt4"), env: env}, "-s", wcfg, "-c", `set -e
echo b > b.txt && git add b.txt && git commit -qm two && echo committed
echo evil > ../repo/.git/hooks/pre-commit || true
echo evil >> ../repo/.git/config || true
echo evil > ../repo/a.txt || true
echo /tmp > ../repo/.git/worktrees/wt5/commondir || true
echo '[core]' > ../repo/.git/worktrees/wt5/config.worktree || true`)
		if res.code != 0 || !strings.Contains(res.stdout, "committed") {
			t.Errorf("a commit in a linked worktree made outside: %v", res)
		}
		mustNotExist(t, s.path("repo/.git/hooks/pre-commit"), "the main repository's hook")
		mustHaveContent(t, s.path("repo/a.txt"), "a\n", "the main checkout's file")
		if b, _ := os.ReadFile(s.path("repo/.git/config")); strings.Contains(string(b), "evil") {
			t.Error("the main repository's config was written from a linked worktree")
		}
		mustHaveContent(t, s.path("repo/.git/worktrees/wt5/commondir"), "../..\n", "a sibling worktree's commondir")
		mustNotExist(t, s.path("repo/.git/worktrees/wt5/config.worktree"), "a sibling worktree's config.worktree")
		// A .git file is the checkout's content: one an archive forged
		// ("gitdir: <a directory of the user's>", or a worktree's git
		// directory that does not name this checkout back) makes nothing
		// writable.
		s.mkdir("victim")
		for i, target := range []string{s.path("victim"), s.path("repo/.git/worktrees/wt4")} {
			dir := fmt.Sprintf("forged%d", i)
			s.write(dir+"/.git", "gitdir: "+target+"\n")
			res = s.fenceWith(opts{dir: s.path(dir)}, "-s", wcfg, "--", "sh", "-c", `echo evil > "$1/planted"; echo evil > "$2/planted"`, "sh", s.path("victim"), s.path("repo/.git"))
			if ranInside(t, res) {
				mustNotExist(t, s.path("victim/planted"), "a file in the directory a forged .git names")
				mustNotExist(t, s.path("repo/.git/planted"), "a file in a repository a forged .git names")
			}
		}
	})
}

// Submodules' git directories whose modules directories are symlinks back
// up (planted by an earlier run: nothing stops a symlink named modules
// there) used to send fence's walk of them round for ever: every later run
// in the repository hung.
func TestFSGitModulesLoop(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		for _, d := range []string{"a", "a/x", "a/y"} {
			s.write("repo/.git/modules/"+d+"/HEAD", "ref: refs/heads/main\n")
		}
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		for _, l := range [][2]string{{"a/x/modules", ".."}, {"a/y/modules", ".."}, {"a/modules", "."}} {
			if err := os.Symlink(l[1], s.path("repo/.git/modules/"+l[0])); err != nil {
				t.Fatal(err)
			}
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		res := s.fenceWith(opts{dir: s.path("repo")}, "-s", cfg, "--", "sh", "-c", "echo x >> .git/modules/a/config; echo done")
		if res.code != 0 || !strings.Contains(res.stdout, "done") {
			t.Fatalf("a run in a repository whose submodules' modules directories loop: %v", res)
		}
		mustNotExist(t, s.path("repo/.git/modules/a/config"), "a submodule's config")
	})
}

// A working directory or home whose name holds glob characters ("proj
// [old]") is a directory like any other: every config path relative to it
// and every protection under it used to be read as a glob that matched
// nothing, so denyRead hid nothing, and .env, .bashrc, .git/hooks and
// .git/config were writable (and "." was not). A class in a denyWrite
// glob ("**/secret[12].txt") covers files deep down too: the write guard
// used to take it as literal text.
func TestFSGlobCharactersInDirectoryNames(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		for _, name := range []string{"p[1]", "a*b?", `back\slash[x]`, `only\back]slash`, `just\backslash`} {
			dir := s.mkdir(name)
			home := s.mkdir(name + "-home[h]")
			s.hostGit(git)(dir, "init", "-q", ".")
			s.write(name+"/secret.txt", "SECRET-A\n")
			s.write(name+"/k.key", "SECRET-B\n")
			s.write(name+"/sub/user.pem", "orig\n")
			s.write(name+"/sub/deep/secret1.txt", "orig\n")
			s.write(name+"/sub/deep/secret3.txt", "orig\n")
			s.write(name+"-home[h]/.ssh/id_ed25519", "SECRET-C\n")
			// The settings file there too: fence's own, protected.
			s.write(name+"/cfg.json", `{"filesystem":{"allowWrite":["."],"denyRead":["secret.txt","*.key"],"denyWrite":[".env","**/*.pem","**/secret[12].txt"]}}`)
			cfg := filepath.Join(dir, "cfg.json")
			res := s.fenceWith(opts{dir: dir, env: []string{"HOME=" + home}}, "-s", cfg, "--", "sh", "-c", `
echo x >> cfg.json && echo WROTE-settings
cat secret.txt k.key ~/.ssh/id_ed25519 2>/dev/null
echo x > .env && echo WROTE-env
echo x > .bashrc && echo WROTE-bashrc
echo x > .git/hooks/pre-commit && echo WROTE-hook
echo x >> .git/config && echo WROTE-config
mkdir -p .git/modules/m && echo WROTE-module
echo x >> sub/user.pem && echo WROTE-pem
echo x >> sub/deep/secret1.txt && echo WROTE-class
mkdir -p sub2 && echo {} > sub2/fence.json && echo WROTE-fencejson
echo x >> sub/deep/secret3.txt || echo REFUSED-secret3
echo ok > plain && echo wrote-plain`)
			if !ranInside(t, res) {
				continue
			}
			if strings.Contains(res.stdout, "SECRET") || strings.Contains(res.stdout, "WROTE") || strings.Contains(res.stdout, "REFUSED") || !strings.Contains(res.stdout, "wrote-plain") {
				t.Errorf("in %q: want the secrets hidden, the protected paths refused, the directory writable: %v", name, res)
			}
			for _, p := range []string{".env", ".bashrc", ".git/hooks/pre-commit", ".git/modules/m"} {
				mustNotExist(t, filepath.Join(dir, p), "protected "+p+" in "+name)
			}
			mustHaveContent(t, filepath.Join(dir, "sub/user.pem"), "orig\n", "a file denyWrite's **/*.pem covers in "+name)
			mustHaveContent(t, filepath.Join(dir, "sub/deep/secret1.txt"), "orig\n", "a file denyWrite's **/secret[12].txt covers in "+name)
			mustNotExist(t, filepath.Join(dir, "sub2/fence.json"), "a fence.json in "+name)
		}
	})
}

// -t code in a fresh home (a container's): the cache directory the
// template makes writable is made first, so go build and the like can
// write their caches; before, ~/.cache was missing, so nothing was bound
// and mkdir failed with EROFS.
func TestFSFreshHomeCodeTemplate(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		proj := s.mkdir("proj")
		// A home outside /tmp, which the template makes writable whole.
		home := s.outsideDir("fence-e2e-home-")
		res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "--", "sh", "-c", `mkdir -p "$GOCACHE" && echo ok > "$GOCACHE/f" && mkdir -p ~/.local/state/x && echo made`)
		if res.code != 0 || !strings.Contains(res.stdout, "made") {
			t.Fatalf("-t code in a fresh home: %v", res)
		}
		// go's cache is the sandbox's own (TestFSToolCachesOwnInSandbox).
		mustHaveContent(t, filepath.Join(home, ".cache/fence-sandbox/go-build/f"), "ok\n", "a cache file in a fresh home")
		// A tool's own directory is not made...
		mustNotExist(t, filepath.Join(home, ".claude"), "~/.claude")
		// ...unless fence runs that tool, which makes it at its first
		// start: an agent in a fresh home (codex stopped at its start,
		// Claude Code's every shell call failed).
		s.write("proj/bin/claude", "#!/bin/sh\nmkdir -p ~/.claude/todos && echo started\n")
		if err := os.Chmod(s.path("proj/bin/claude"), 0o755); err != nil {
			t.Fatal(err)
		}
		path := "PATH=" + s.path("proj/bin") + ":" + strings.Join(stdPath, ":")
		for _, args := range [][]string{{"--", "claude"}, {"-c", "claude --resume"}, {"--", "AGENT_X=1", "claude"}} {
			os.RemoveAll(filepath.Join(home, ".claude"))
			res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home, path}}, append([]string{"-t", "code"}, args...)...)
			if res.code != 0 || res.stdout != "started\n" {
				t.Errorf("fence -t code %q in a fresh home: want its own ~/.claude made: %v", args, res)
			}
			if st, err := os.Stat(filepath.Join(home, ".claude/todos")); err != nil || !st.IsDir() {
				t.Errorf("~/.claude/todos after %q: %v", args, err)
			}
			if st, err := os.Stat(filepath.Join(home, ".claude")); err == nil && st.Mode().Perm() != 0o700 {
				t.Errorf("~/.claude made with mode %v, want 0700", st.Mode().Perm())
			}
		}
		mustNotExist(t, filepath.Join(home, ".codex"), "~/.codex (another tool's)")
		// A program that is not there (a typo, an agent not installed)
		// gets nothing made for it.
		cfg := s.config("missing.json", `{"filesystem":{"allowWrite":[".", "~/.fence-e2e-missing/**"]}}`)
		res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home, path}}, "-s", cfg, "--", "fence-e2e-missing")
		if res.code != 127 {
			t.Errorf("fence -- fence-e2e-missing (not installed): want exit 127: %v", res)
		}
		mustNotExist(t, filepath.Join(home, ".fence-e2e-missing"), "~/.fence-e2e-missing for a program that is not installed")
	})
}

// ~/.local/bin is protected, but what its symlinks lead to was not:
// Claude Code's native install is ~/.local/bin/claude ->
// ~/.local/share/claude/versions/V, one executable, and -t code makes
// ~/.local/share writable, so the sandbox could rewrite the program the
// user's next `claude`, outside, ran. The targets of the bin directories'
// links are protected where they are writable; the rest of the directory
// they are in is not.
func TestFSHomeBinLinkTargetsProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		proj := s.mkdir("proj")
		home := s.outsideDir("fence-e2e-home-")
		bin := filepath.Join(home, ".local/share/claude/versions/2.1.197")
		s.write(bin, "#!/bin/sh\necho claude\n")
		s.write(filepath.Join(home, "tools/tool.sh"), "#!/bin/sh\necho tool\n")
		s.symlink(bin, filepath.Join(home, ".local/bin/claude"))
		s.symlink("../tools/tool.sh", filepath.Join(home, "bin/tool")) // relative, in ~/bin
		s.symlink("/usr/bin/env", filepath.Join(home, ".local/bin/env"))
		s.symlink(filepath.Join(home, "missing"), filepath.Join(home, ".local/bin/gone"))
		for _, script := range []string{
			`echo "echo pwned" >> ~/.local/share/claude/versions/2.1.197`,
			`echo evil > ~/.local/share/x && mv ~/.local/share/x ~/.local/share/claude/versions/2.1.197`,
			`rm ~/.local/share/claude/versions/2.1.197`,
			`mv ~/.local/share/claude ~/.local/share/claude.old`,
			`mv ~/.local/share/claude/versions ~/.local/share/claude/v2`,
		} {
			res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "-c", script)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%q succeeded: %v", script, res)
			}
		}
		mustHaveContent(t, bin, "#!/bin/sh\necho claude\n", "what ~/.local/bin/claude leads to")
		// A symlink on the way there (~/.local/bin/cursor-agent ->
		// ~/.local/share/cursor-agent/current/cursor-agent, current ->
		// versions/1), and a file a link leads to that is not there yet,
		// are held as the file is: made again leading elsewhere, or made,
		// they were what the user's next run of the program ran.
		s.write(filepath.Join(home, ".local/share/cursor-agent/versions/1/cursor-agent"), "#!/bin/sh\necho cursor\n")
		s.symlink("versions/1", filepath.Join(home, ".local/share/cursor-agent/current"))
		s.symlink("../share/cursor-agent/current/cursor-agent", filepath.Join(home, ".local/bin/cursor-agent"))
		s.symlink(filepath.Join(home, ".local/share/later/v1/later"), filepath.Join(home, ".local/bin/later"))
		for _, script := range []string{
			`mkdir -p ~/.local/share/evil && echo evil > ~/.local/share/evil/cursor-agent && ln -sfn ../evil ~/.local/share/cursor-agent/current`,
			`rm ~/.local/share/cursor-agent/current`,
			`mv ~/.local/share/cursor-agent/current ~/.local/share/cursor-agent/old`,
			`mkdir -p ~/.local/share/later/v1 && echo evil > ~/.local/share/later/v1/later`,
		} {
			res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "-c", script)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%q succeeded: %v", script, res)
			}
		}
		mustHaveContent(t, filepath.Join(home, ".local/bin/cursor-agent"), "#!/bin/sh\necho cursor\n", "what ~/.local/bin/cursor-agent leads to")
		mustNotExist(t, filepath.Join(home, ".local/share/later/v1/later"), "what the dangling ~/.local/bin/later leads to")
		// The rest of ~/.local/share stays writable: a new version
		// beside it, another tool's data.
		res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "-c",
			`echo v > ~/.local/share/claude/versions/2.1.198 && mkdir -p ~/.local/share/other && echo ok > ~/.local/share/other/f && echo written`)
		if res.code != 0 || !strings.Contains(res.stdout, "written") {
			t.Errorf("the rest of ~/.local/share: %v", res)
		}
		// Started in $HOME, which is writable then: the target of a
		// relative link in ~/bin.
		res = s.fenceWith(opts{dir: home, env: []string{"HOME=" + home}}, "-t", "code", "-c", `echo "echo pwned" >> tools/tool.sh`)
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("what ~/bin/tool leads to was written: %v", res)
		}
		mustHaveContent(t, filepath.Join(home, "tools/tool.sh"), "#!/bin/sh\necho tool\n", "what ~/bin/tool leads to")
	})
}

// -t code started in $HOME: Claude Code saves ~/.claude.json by writing
// ~/.claude.json.tmp.PID.HEX and renaming it over the file, under a lock
// directory ~/.claude.json.lock. The home is writable there, but the
// template's ~/.claude* made the existing file a bind of its own, a mount
// point, and the rename failed with EBUSY (Claude Code fell back to an
// unlocked write in place). A path in a writable directory is not bound
// again; the rules for a name a later run grants still hold.
func TestFSCodeTemplateSaveByRenameInHome(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		home := s.outsideDir("fence-e2e-home-")
		s.mkdir(filepath.Join(home, ".claude"))
		s.write(filepath.Join(home, ".claude.json"), "{}\n")
		s.write(filepath.Join(home, ".claude/settings.json"), "{}\n")
		res := s.fenceWith(opts{dir: home, env: []string{"HOME=" + home}}, "-t", "code", "-c", `mkdir ~/.claude.json.lock &&
echo '{"numStartups":2}' > ~/.claude.json.tmp.7.ab && mv ~/.claude.json.tmp.7.ab ~/.claude.json &&
rmdir ~/.claude.json.lock && echo saved
echo '{"model":"x"}' > ~/.claude/settings.json.tmp && mv ~/.claude/settings.json.tmp ~/.claude/settings.json && echo saved-inside
ln -s /etc ~/.claude.json.bak 2>/dev/null || echo refused-link
echo evil >> ~/.bashrc 2>/dev/null || echo refused-bashrc`)
		for _, want := range []string{"saved", "saved-inside", "refused-link", "refused-bashrc"} {
			if !strings.Contains(res.stdout, want+"\n") {
				t.Errorf("want %s: %v", want, res)
			}
		}
		mustHaveContent(t, filepath.Join(home, ".claude.json"), "{\"numStartups\":2}\n", "~/.claude.json saved by rename")
		mustHaveContent(t, filepath.Join(home, ".claude/settings.json"), "{\"model\":\"x\"}\n", "a file saved by rename in ~/.claude")
		mustNotExist(t, filepath.Join(home, ".claude.json.bak"), "a symlink at a name ~/.claude* grants")
	})
}

// Codex's project configuration, .codex/config.toml (hooks, MCP servers,
// the sandbox mode), is taken by the next codex run in the repository,
// outside fence: it is protected in the working directory and in the
// repositories one level below it, as .vscode is, and cannot be made
// where it is missing. Codex's own home stays writable: ~/.codex with
// fence started in $HOME, and $CODEX_HOME in the project.
func TestFSCodexProjectConfig(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		proj := s.mkdir("proj")
		s.write("proj/.codex/config.toml", "# orig\n")
		child := s.mkdir("src/child")
		hostGit(child, "init", "-q", "-b", "main", ".")
		s.write("src/child/.codex/config.toml", "# orig\n")
		empty := s.mkdir("empty")
		s.mustRefuseIn(cfg, []dirScript{
			{proj, `echo 'notify = ["sh", "-c", "evil"]' >> .codex/config.toml`},
			{proj, `echo '[hooks]' > .codex/hooks.toml`},
			{proj, `rm .codex/config.toml`},
			{proj, `mv .codex codex-moved`},
			{proj, `echo evil > x && mv -f x .codex/config.toml`},
			{s.path("src"), `echo 'notify = ["sh", "-c", "evil"]' >> child/.codex/config.toml`},
			{s.path("src"), `mv child/.codex child/codex-moved`},
			{empty, `mkdir .codex`},
			{empty, `mkdir made && mv made .codex`},
		})
		mustHaveContent(t, s.path("proj/.codex/config.toml"), "# orig\n", "the project's .codex/config.toml")
		mustHaveContent(t, s.path("src/child/.codex/config.toml"), "# orig\n", "a child repository's .codex/config.toml")
		mustNotExist(t, s.path("proj/.codex/hooks.toml"), "a new file in .codex")
		mustNotExist(t, s.path("empty/.codex"), "a new .codex")
		// Codex's own state: started in $HOME, and with $CODEX_HOME in
		// the project (from fence's environment or the command's words).
		s.mkdir("home/.codex")
		s.mustRun("-s", cfg, "-c", `cd ~ && mkdir -p .codex/sessions && echo ok > .codex/sessions/s`)
		res := s.fenceWith(opts{dir: s.home}, "-s", cfg, "-c", `mkdir -p .codex/sessions && echo ok > .codex/sessions/t && echo made`)
		if res.code != 0 || !strings.Contains(res.stdout, "made") {
			t.Errorf("started in $HOME, ~/.codex is codex's: %v", res)
		}
		res = s.fenceWith(opts{dir: empty, env: []string{"CODEX_HOME=" + filepath.Join(empty, ".codex")}}, "-s", cfg, "-c", `mkdir .codex && echo ok > .codex/auth.json && echo made`)
		if res.code != 0 || !strings.Contains(res.stdout, "made") {
			t.Errorf("CODEX_HOME=$PWD/.codex is codex's: %v", res)
		}
		res = s.fenceWith(opts{dir: proj}, "-s", cfg, "--", "CODEX_HOME=.codex", "sh", "-c", `echo ok > .codex/state && echo made`)
		if res.code != 0 || !strings.Contains(res.stdout, "made") {
			t.Errorf("fence -- CODEX_HOME=.codex: %v", res)
		}
	})
}

// dirScript is a script and the directory fence runs it in.
type dirScript struct{ dir, script string }

// mustRefuseIn runs each script with fence -s cfg -c in its directory and
// fails the test for each that ran and succeeded.
func (s *sandbox) mustRefuseIn(cfg string, cases []dirScript) {
	s.t.Helper()
	for _, c := range cases {
		res := s.fenceWith(opts{dir: c.dir}, "-s", cfg, "-c", c.script)
		if ranInside(s.t, res) && res.code == 0 {
			s.t.Errorf("in %s, %q succeeded: %v", c.dir, c.script, res)
		}
	}
}

// The project settings of Claude Code and Gemini CLI (hooks run commands
// at the agent's events), Cursor's project MCP servers and aider's config
// (its lint and test commands) are taken by the next agent run in the
// project, outside fence too: protected in the working directory and the
// repositories one level below, like .codex. Claude Code's own local
// settings (the permissions one allows) and the agents' homes, fence
// started in $HOME or $CLAUDE_CONFIG_DIR in the project, stay writable.
func TestFSAgentProjectSettings(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		hostGit := s.hostGit(git)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+s.dir+`"]}}`)
		proj := s.mkdir("proj")
		s.write("proj/.claude/settings.json", "{}\n")
		child := s.mkdir("src/child")
		hostGit(child, "init", "-q", "-b", "main", ".")
		s.write("src/child/.gemini/settings.json", "{}\n")
		s.mustRefuseIn(cfg, []dirScript{
			{proj, `echo '{"hooks":{}}' > .claude/settings.json`},
			{proj, `rm .claude/settings.json`},
			{proj, `mv .claude claude-moved`},
			{proj, `mkdir -p .gemini && echo '{}' > .gemini/settings.json`},
			{proj, `mkdir -p .cursor && echo '{}' > .cursor/mcp.json`},
			{proj, `echo 'lint-cmd: evil' > .aider.conf.yml`},
			{s.path("src"), `echo '{"hooks":{}}' > child/.gemini/settings.json`},
			{s.path("src"), `echo '{}' > child/.claude/settings.json`},
		})
		mustHaveContent(t, s.path("proj/.claude/settings.json"), "{}\n", "the project's .claude/settings.json")
		mustHaveContent(t, s.path("src/child/.gemini/settings.json"), "{}\n", "a child repository's .gemini/settings.json")
		for _, p := range []string{"proj/.gemini/settings.json", "proj/.cursor/mcp.json", "proj/.aider.conf.yml", "src/child/.claude/settings.json"} {
			mustNotExist(t, s.path(p), "a new "+p)
		}
		// What the agents write: Claude Code's local settings in the
		// project, their homes with fence started in $HOME, and
		// $CLAUDE_CONFIG_DIR in the project.
		s.mustRun("-s", cfg, "-c", `cd proj && echo '{}' > .claude/settings.local.json`)
		res := s.fenceWith(opts{dir: s.home}, "-s", cfg, "-c", `mkdir -p .claude .gemini && echo '{}' > .claude/settings.json && echo '{}' > .gemini/settings.json && echo made`)
		if res.code != 0 || !strings.Contains(res.stdout, "made") {
			t.Errorf("started in $HOME, ~/.claude and ~/.gemini are the agents': %v", res)
		}
		res = s.fenceWith(opts{dir: proj, env: []string{"CLAUDE_CONFIG_DIR=" + filepath.Join(proj, ".claude")}}, "-s", cfg, "-c", `echo '{}' > .claude/settings.json && echo made`)
		if res.code != 0 || !strings.Contains(res.stdout, "made") {
			t.Errorf("CLAUDE_CONFIG_DIR=$PWD/.claude is Claude Code's: %v", res)
		}
		// A home at or above the project holds it, not the agent's own
		// files: the project's settings stay protected.
		for _, e := range []string{"CLAUDE_CONFIG_DIR=.", "CODEX_HOME=" + s.dir} {
			res = s.fenceWith(opts{dir: proj, env: []string{e}}, "-s", cfg, "-c", `echo '{"hooks":{}}' > .claude/settings.json && echo wrote-claude
echo x > .aider.conf.yml && echo wrote-aider
mkdir -p .codex 2>/dev/null && echo x > .codex/config.toml && echo wrote-codex
echo ran`)
			if ranInside(t, res) && (res.stdout != "ran\n") {
				t.Errorf("with %s, the project's agent settings were writable: %v", e, res)
			}
		}
		mustHaveContent(t, s.path("proj/.claude/settings.json"), "{}\n", "the project's .claude/settings.json")
		mustNotExist(t, s.path("proj/.aider.conf.yml"), "a new .aider.conf.yml")
		mustNotExist(t, s.path("proj/.codex"), "a new .codex")
	})
}

// -t code runs aider: its version check, at every start once a day,
// creates its caches directory and touches a file there outside any
// try (aider/versioncheck.py), so an unwritable ~/.aider/caches ended
// aider with an uncaught PermissionError before its prompt. Its caches
// and run records are writable now; its oauth-keys.env, which aider
// loads as its environment, is not.
func TestFSCodeTemplateAider(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		proj := s.mkdir("proj")
		// A home outside /tmp, which the template makes writable whole.
		home := s.outsideDir("fence-e2e-home-")
		for _, d := range []string{".aider", ".aider/caches"} {
			s.mkdir(filepath.Join(home, d))
		}
		s.write(filepath.Join(home, ".aider/oauth-keys.env"), "OPENROUTER_API_KEY=orig\n")
		s.write(filepath.Join(home, ".aider/installs.json"), "{}\n")
		// aider's own calls: versioncheck.py's finally block, models.py's
		// cache, main.py's installs.json.
		script := `from pathlib import Path
f = Path.home() / ".aider" / "caches" / "versioncheck"
f.parent.mkdir(parents=True, exist_ok=True)
f.touch()
(Path.home() / ".aider" / "caches" / "model_prices_and_context_window.json").write_text("{}")
(Path.home() / ".aider" / "installs.json").write_text('{"v": true}')
try:
    with open(Path.home() / ".aider" / "oauth-keys.env", "a") as k:
        k.write("AIDER_LINT_CMD=evil\n")
    print("WROTE-KEYS")
except OSError:
    pass
print("started")
`
		res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "--", "python3", "-c", script)
		if res.code != 0 || !strings.Contains(res.stdout, "started") || strings.Contains(res.stdout, "WROTE-KEYS") {
			t.Fatalf("aider's start under -t code: %v", res)
		}
		if _, err := os.Stat(filepath.Join(home, ".aider/caches/versioncheck")); err != nil {
			t.Errorf("the version check's file: %v", err)
		}
		mustHaveContent(t, filepath.Join(home, ".aider/installs.json"), `{"v": true}`, "aider's installs.json")
		mustHaveContent(t, filepath.Join(home, ".aider/oauth-keys.env"), "OPENROUTER_API_KEY=orig\n", "aider's oauth-keys.env")
	})
}

// -t code hides shell and REPL histories (commands typed with a token in
// them) as it hides credentials, fish's in the writable ~/.local/share
// too, which then cannot be written either; other files there stay
// readable and writable.
func TestFSCodeTemplateHistories(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		proj := s.mkdir("proj")
		home := s.outsideDir("fence-e2e-home-")
		s.mkdir(filepath.Join(home, ".local"))
		s.mkdir(filepath.Join(home, ".local/share"))
		s.mkdir(filepath.Join(home, ".local/share/fish"))
		hist := []string{".bash_history", ".zsh_history", ".python_history", ".psql_history", ".local/share/fish/fish_history"}
		for _, h := range hist {
			s.write(filepath.Join(home, h), "export TOKEN=secret\n")
		}
		s.write(filepath.Join(home, ".local/share/fish/other"), "visible\n")
		res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "--", "sh", "-c",
			`cat ~/.bash_history ~/.zsh_history ~/.python_history ~/.psql_history ~/.local/share/fish/fish_history ~/.local/share/fish/other
echo x >> ~/.local/share/fish/fish_history || echo refused
echo y >> ~/.local/share/fish/other && echo wrote`)
		if res.code != 0 || strings.Contains(res.stdout, "secret") || !strings.Contains(res.stdout, "visible") ||
			!strings.Contains(res.stdout, "refused") || !strings.Contains(res.stdout, "wrote") {
			t.Errorf("histories under -t code: want hidden and fish's unwritable, the rest as usual: %v", res)
		}
		mustHaveContent(t, filepath.Join(home, ".local/share/fish/fish_history"), "export TOKEN=secret\n", "fish's history")
	})
}

// Tools outside the sandbox take code from their caches without checking
// it against anything the sandbox cannot forge (go's build cache checks a
// go run executable by its size). Where -t code makes the cache directory
// writable, those caches are read-only in the sandbox and the tools get
// caches of the sandbox's own; the rest of ~/.cache stays writable, and a
// cache the user moved with the tool's variable is protected where it
// points. Without a writable cache directory nothing changes.
func TestFSToolCachesOwnInSandbox(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		proj := s.mkdir("proj")
		home := s.outsideDir("fence-e2e-home-")
		for _, d := range []string{".cache", ".cache/go-build", ".cache/go-build/00"} {
			s.mkdir(filepath.Join(home, d))
		}
		s.write(filepath.Join(home, ".cache/go-build/00/x-d"), "orig\n")
		own := filepath.Join(home, ".cache", "fence-sandbox")
		script := `printenv GOCACHE PIP_CACHE_DIR UV_CACHE_DIR PRE_COMMIT_HOME CCACHE_DIR SCCACHE_DIR DENO_DIR COREPACK_HOME BLACK_CACHE_DIR PYLINTHOME BAZELISK_HOME SE_CACHE_PATH TREE_SITTER_LIBDIR
mkdir -p ~/.cache/node/corepack/v1 2>/dev/null || echo refused-corepack
mkdir -p ~/.cache/black/24.1.0 2>/dev/null || echo refused-black
mkdir -p ~/.cache/parso/CPython-312 2>/dev/null || echo refused-parso
mkdir -p ~/.cache/jedi/CPython-312-33 2>/dev/null || echo refused-jedi
echo "YARN_CACHE_FOLDER=$YARN_CACHE_FOLDER"
mkdir -p ~/.cache/yarn/v6 2>/dev/null || echo refused-yarn
echo evil > ~/.cache/go-build/00/x-d || echo refused-write
mkdir -p ~/.cache/pip/wheels 2>/dev/null || echo refused-pip
mkdir -p ~/.cache/pre-commit 2>/dev/null || echo refused-pre-commit
mkdir -p "$GOCACHE" && echo ok > "$GOCACHE/x" && echo own-writable
mkdir -p ~/.cache/other && echo ok > ~/.cache/other/x && echo other-writable`
		res := s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "--", "sh", "-c", script)
		want := strings.Join([]string{own + "/go-build", own + "/pip", own + "/uv", own + "/pre-commit", own + "/ccache", own + "/sccache",
			own + "/deno", own + "/node/corepack", own + "/black", own + "/pylint", own + "/bazelisk", own + "/selenium",
			own + "/tree-sitter/lib", "refused-corepack", "refused-black", "refused-parso", "refused-jedi", "YARN_CACHE_FOLDER=", "refused-yarn", "refused-write", "refused-pip", "refused-pre-commit", "own-writable", "other-writable"}, "\n") + "\n"
		if res.code != 0 || res.stdout != want {
			t.Errorf("tool caches under -t code: want\n%s%v", want, res)
		}
		mustHaveContent(t, filepath.Join(home, ".cache/go-build/00/x-d"), "orig\n", "go's build cache")
		mustNotExist(t, filepath.Join(home, ".cache/pip"), "pip's cache")
		mustNotExist(t, filepath.Join(home, ".cache/node/corepack"), "corepack's cache")
		// bun's, in ~/.bun (-t code's ~/.bun/**), not in ~/.cache.
		for _, d := range []string{".bun", ".bun/install", ".bun/install/cache"} {
			s.mkdir(filepath.Join(home, d))
		}
		res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "--", "sh", "-c",
			`printenv BUN_INSTALL_CACHE_DIR; echo evil > ~/.bun/install/cache/x || echo refused`)
		if res.code != 0 || res.stdout != own+"/bun\nrefused\n" {
			t.Errorf("bun's cache under -t code: %v", res)
		}
		// GOCACHE of the user's in the project, which is writable.
		moved := filepath.Join(proj, "gocache")
		s.mkdir(filepath.Join("proj", "gocache"))
		res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home, "GOCACHE=" + moved}}, "-t", "code", "--", "sh", "-c",
			`echo "$GOCACHE"; echo evil > gocache/x || echo refused`)
		if res.code != 0 || res.stdout != own+"/go-build\nrefused\n" {
			t.Errorf("GOCACHE moved into the project: %v", res)
		}
		// bazelisk takes BAZELISK_HOME_LINUX before BAZELISK_HOME.
		bz := filepath.Join(proj, "bazelisk")
		s.mkdir(filepath.Join("proj", "bazelisk"))
		res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home, "BAZELISK_HOME_LINUX=" + bz}}, "-t", "code", "--", "sh", "-c",
			`printenv BAZELISK_HOME_LINUX BAZELISK_HOME; echo evil > bazelisk/x || echo refused`)
		if res.code != 0 || res.stdout != own+"/bazelisk\n"+own+"/bazelisk\nrefused\n" {
			t.Errorf("BAZELISK_HOME_LINUX in the project: %v", res)
		}
		// A file where the sandbox's own caches go (a run may make one):
		// the host's stay read-only, fence says what to remove, and no
		// tool is pointed below a file.
		if err := os.RemoveAll(filepath.Join(home, ".cache/fence-sandbox")); err != nil {
			t.Fatal(err)
		}
		s.write(filepath.Join(home, ".cache/fence-sandbox"), "")
		res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "--", "sh", "-c",
			`echo "GOCACHE=$GOCACHE"; echo evil > ~/.cache/go-build/00/x-d || echo refused`)
		if res.code != 0 || res.stdout != "GOCACHE=\nrefused\n" || !strings.Contains(res.stderr, "fence-sandbox is not a directory") {
			t.Errorf("a file at ~/.cache/fence-sandbox: %v", res)
		}
		if err := os.Remove(filepath.Join(home, ".cache/fence-sandbox")); err != nil {
			t.Fatal(err)
		}
		// GOCACHE set with go env -w, in go's env file: protected too.
		s.mkdir(filepath.Join(home, ".config"))
		s.mkdir(filepath.Join(home, ".config/go"))
		s.mkdir(filepath.Join(home, ".cache/mygo"))
		s.write(filepath.Join(home, ".config/go/env"), "GOCACHE="+filepath.Join(home, ".cache/mygo")+"\n")
		res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "--", "sh", "-c",
			`echo evil > ~/.cache/mygo/x || echo refused`)
		if res.code != 0 || res.stdout != "refused\n" {
			t.Errorf("GOCACHE from go env -w: %v", res)
		}
		mustNotExist(t, filepath.Join(home, ".cache/mygo/x"), "a file in the go env file's GOCACHE")
		// A cache moved to another disk, ~/.cache/pip a symlink there:
		// the link cannot be replaced by a directory of the sandbox's,
		// which pip outside would then read.
		elsewhere := s.outsideDir("fence-e2e-pipcache-")
		if err := os.Symlink(elsewhere, filepath.Join(home, ".cache/pip")); err != nil {
			t.Fatal(err)
		}
		res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "-t", "code", "--", "sh", "-c",
			`echo "$PIP_CACHE_DIR"; { rm ~/.cache/pip && mkdir ~/.cache/pip && echo evil > ~/.cache/pip/x; } 2>/dev/null || echo refused`)
		if res.code != 0 || res.stdout != own+"/pip\nrefused\n" {
			t.Errorf("a symlinked host cache: want it kept and PIP_CACHE_DIR set: %v", res)
		}
		if fi, err := os.Lstat(filepath.Join(home, ".cache/pip")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("~/.cache/pip, a symlink to the user's cache, replaced: %v %v", fi, err)
		}
		os.Remove(filepath.Join(home, ".cache/pip"))
		// Nothing writable: the environment is the caller's.
		res = s.fenceWith(opts{dir: proj, env: []string{"HOME=" + home}}, "--", "sh", "-c", `echo "GOCACHE=$GOCACHE"`)
		if res.code != 0 || res.stdout != "GOCACHE=\n" {
			t.Errorf("default config: want no GOCACHE: %v", res)
		}
	})
}

// The host caches stay read-only whatever the sandbox's own cache
// directory is: a run could make ~/.cache/fence-sandbox a symlink out of
// the writable paths, and the next run, finding it not writable, left go's
// build cache writable (a planted go run executable). The own directories
// are held (no symlink there), and a symlink left there anyway (by a run
// of an older fence) no longer lifts the protection. Nor does an
// XDG_CACHE_HOME or a GOCACHE of fence's that is not writable: the
// default place, ~/.cache/go-build, is what the user's go uses without
// them, and the command's go still gets a cache of its own there.
func TestFSToolCachesOwnNotRedirected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		proj := s.mkdir("proj")
		home := s.outsideDir("fence-e2e-home-")
		s.mkdir(filepath.Join(home, ".cache/go-build/00"))
		entry := s.write(filepath.Join(home, ".cache/go-build/00/x-d"), "orig\n")
		own := filepath.Join(home, ".cache", "fence-sandbox")
		elsewhere := s.outsideDir("fence-e2e-elsewhere-")
		env := []string{"HOME=" + home}
		poison := `echo evil > ~/.cache/go-build/00/x-d && echo POISONED; echo "GOCACHE=$GOCACHE"`
		res := s.fenceWith(opts{dir: proj, env: env}, "-t", "code", "--", "sh", "-c",
			`mkdir -p "$GOCACHE" && rm -rf ~/.cache/fence-sandbox && ln -s `+elsewhere+` ~/.cache/fence-sandbox && echo planted-own;
mkdir -p ~/.cache/fence-sandbox/x && ln -s `+elsewhere+` ~/.cache/fence-sandbox/go-build && echo planted-go-build; true`)
		if strings.Contains(res.stdout, "planted") {
			t.Errorf("the sandbox's own cache directory made a symlink: %v", res)
		}
		// Left by an older fence: the next run still protects the host's.
		os.RemoveAll(own)
		s.symlink(elsewhere, own)
		res = s.fenceWith(opts{dir: proj, env: env}, "-t", "code", "--", "sh", "-c", poison)
		if strings.Contains(res.stdout, "POISONED") {
			t.Errorf("with ~/.cache/fence-sandbox a symlink out of the writable paths: %v", res)
		}
		os.Remove(own)
		for _, e := range []string{"XDG_CACHE_HOME=" + elsewhere, "GOCACHE=" + filepath.Join(elsewhere, "go")} {
			res = s.fenceWith(opts{dir: proj, env: append(env, e)}, "-t", "code", "--", "sh", "-c", poison)
			if res.code != 0 || res.stdout != "GOCACHE="+own+"/go-build\n" {
				t.Errorf("%s, not writable: want ~/.cache/go-build read-only and GOCACHE the sandbox's own: %v", e, res)
			}
		}
		mustHaveContent(t, entry, "orig\n", "go's build cache")
		// An allowWrite of the cache alone shares it on purpose.
		cfg := s.config("gocache.json", `{"filesystem":{"allowWrite":["~/.cache/go-build"]}}`)
		res = s.fenceWith(opts{dir: proj, env: env}, "-s", cfg, "--", "sh", "-c", `echo "GOCACHE=$GOCACHE"; echo new > ~/.cache/go-build/00/y-d && echo shared`)
		if res.code != 0 || res.stdout != "GOCACHE=\nshared\n" {
			t.Errorf("allowWrite ~/.cache/go-build alone: want it writable, GOCACHE unset: %v", res)
		}
	})
}

// An allowWrite path inside another writable path cannot be made a
// symlink, or have a directory renamed there, by the command: every run
// resolves allowWrite through symlinks, so the next run would grant where
// the link leads (a directory of the user's outside every writable path)
// read-write. The name can still be made a directory, as a tool does on
// its first run.
func TestFSAllowWriteNotRedirected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		victim := s.outsideDir("fence-e2e-victim-")
		// The home is in the writable working directory, as it is
		// under -t code started in $HOME.
		if err := os.WriteFile(filepath.Join(victim, "theirs"), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := s.config("write.json", `{"filesystem":{"allowWrite":[".", "~/.tool/**", "~/.tool-*", "~/deep/er/dir", "~/.tool.json"]}}`)
		res := s.fence("-s", cfg, "-c", `ln -s `+victim+` ~/.tool || echo refused-link
ln -s `+victim+` ~/.tool-x || echo refused-glob
mkdir ~/deep && ln -s `+victim+` ~/deep/er || echo refused-above
mkdir d && mv d ~/.tool || echo refused-rename
mkdir ~/.tool-y && echo made-dir
echo saved > ~/.tool.json.tmp && mv ~/.tool.json.tmp ~/.tool.json && echo saved-by-rename
echo saved > ~/.tool-z.tmp && mv ~/.tool-z.tmp ~/.tool-z && mv ~/.tool-z ~/.tool-z.old && echo glob-saved-by-rename
ln `+victim+`/theirs ~/.tool-h 2>/dev/null || ln ~/.tool-z.old ~/.tool-h || echo refused-hardlink
mv ~/.tool-y ~/.tool-moved || echo refused-dir-away`)
		if !ranInside(t, res) {
			return
		}
		for _, want := range []string{"refused-link", "refused-glob", "refused-above", "refused-rename", "made-dir", "saved-by-rename", "glob-saved-by-rename", "refused-hardlink", "refused-dir-away"} {
			if !strings.Contains(res.stdout, want+"\n") {
				t.Errorf("want %s: %v", want, res)
			}
		}
		mustNotExist(t, filepath.Join(s.home, ".tool"), "a symlink or renamed directory at an allowWrite path")
		mustNotExist(t, filepath.Join(s.home, ".tool-x"), "a symlink at a match of an allowWrite glob")
		// Had one been planted, the next run would write here.
		s.fence("-s", cfg, "-c", `for d in ~/.tool ~/.tool-x ~/deep/er/dir; do echo pwned > $d/f; done 2>/dev/null`)
		mustNotExist(t, filepath.Join(victim, "f"), "a write through a planted allowWrite path")
		mustNotExist(t, filepath.Join(victim, "dir"), "a write through a planted allowWrite path")

		// The same for allowRead: with defaultDenyRead, a planted link
		// would make the next run read where it leads.
		if err := os.WriteFile(filepath.Join(victim, "secret"), []byte("TOPSECRET\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		rcfg := s.config("read.json", `{"filesystem":{"defaultDenyRead":true,"allowRead":["~/.reads"],"allowWrite":["."]}}`)
		res = s.fence("-s", rcfg, "-c", `ln -s `+victim+` ~/.reads || echo refused-read-link
ln -s `+victim+` ~/.rustup || echo refused-system-link`)
		if ranInside(t, res) && (!strings.Contains(res.stdout, "refused-read-link\n") || !strings.Contains(res.stdout, "refused-system-link\n")) {
			t.Errorf("want refused-read-link and refused-system-link (~/.rustup, shown by defaultDenyRead): %v", res)
		}
		res = s.fence("-s", rcfg, "-c", `cat ~/.reads/secret 2>/dev/null`)
		if strings.Contains(res.stdout, "TOPSECRET") {
			t.Errorf("a planted allowRead link read %s in the next run: %v", victim, res)
		}
	})
}

// A name a later run grants (an allowWrite path inside a writable path)
// cannot be made a symlink by exchanging it with one either: renameat2's
// RENAME_EXCHANGE puts the new name's file at the old name, and with the
// granted name given as the old one, only its own file (a plain file the
// command had just made) was checked. The next run bound where the
// symlink led read-write.
func TestFSAllowWriteNotExchanged(t *testing.T) {
	python := need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		victim := s.outsideDir("fence-e2e-victim-")
		cfg := s.config("write.json", `{"filesystem":{"allowWrite":[".", "~/.tool-*", "~/.tool.json"]}}`)
		exchange := `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2) != 0:
    print("refused-" + sys.argv[3])
`
		res := s.fence("-s", cfg, "--", "sh", "-c", `ln -s "$1" ~/evil && echo x > ~/.tool-z && echo x > ~/.tool.json || exit 1
"$2" -c "$3" ~/.tool-z ~/evil glob
"$2" -c "$3" ~/.tool.json ~/evil literal
"$2" -c "$3" ~/evil ~/.tool-z glob-new`, "sh", victim, python, exchange)
		if !ranInside(t, res) {
			return
		}
		for _, want := range []string{"refused-glob", "refused-literal", "refused-glob-new"} {
			if !strings.Contains(res.stdout, want+"\n") {
				t.Errorf("want %s: %v", want, res)
			}
		}
		for _, n := range []string{".tool-z", ".tool.json"} {
			if st, err := os.Lstat(filepath.Join(s.home, n)); err != nil || !st.Mode().IsRegular() {
				t.Errorf("~/%s is no longer the plain file made: %v", n, err)
			}
		}
		// Had one been swapped in, the next run would write here.
		s.fence("-s", cfg, "-c", `echo pwned > ~/.tool-z/f; echo pwned > ~/.tool.json/f; true`)
		mustNotExist(t, filepath.Join(victim, "f"), "a write through an allowWrite path exchanged with a symlink")
	})
}

// An allowWrite path that is the user's symlink inside a writable path (a
// dotfiles manager's ~/.tool -> dotfiles/tool), or that leads through
// one, is held by every name its resolution looks up: only where it ended
// was, so the command could remove the symlink and make it again leading
// anywhere, and the next run bound that read-write.
func TestFSAllowWriteUserSymlinkNotRedirected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		victim := s.outsideDir("fence-e2e-victim-")
		for _, d := range []string{"home/dotfiles/tool", "home/dotfiles/tool2", "home/dotfiles/a"} {
			s.mkdir(d)
		}
		for link, to := range map[string]string{".tool": "dotfiles/tool", ".tool2": "l1", "l1": "dotfiles/tool2", ".tool-a": "l2", "l2": "dotfiles/a"} {
			if err := os.Symlink(to, filepath.Join(s.home, link)); err != nil {
				t.Fatal(err)
			}
		}
		cfg := s.config("write.json", `{"filesystem":{"allowWrite":[".", "~/.tool/**", "~/.tool2/**", "~/.tool-*"]}}`)
		res := s.fence("-s", cfg, "--", "sh", "-c", `rm ~/.tool && ln -s "$1" ~/.tool || echo refused-direct
rm ~/l1 && ln -s "$1" ~/l1 || echo refused-chain
rm ~/l2 && ln -s "$1" ~/l2 || echo refused-glob-chain`, "sh", victim)
		if !ranInside(t, res) {
			return
		}
		for _, want := range []string{"refused-direct", "refused-chain", "refused-glob-chain"} {
			if !strings.Contains(res.stdout, want+"\n") {
				t.Errorf("want %s: %v", want, res)
			}
		}
		// Had one been planted, the next run would write here.
		s.fence("-s", cfg, "-c", `for d in ~/.tool ~/.tool2 ~/.tool-a; do echo pwned > $d/f; done 2>/dev/null; true`)
		mustNotExist(t, filepath.Join(victim, "f"), "a write through a symlink of the user's replaced on the way to an allowWrite path")
	})
}

// An allowWrite entry with a glob above its last name (~/.tool*/x) inside
// a writable path is held as one with a glob in its last name is: a
// directory made there holding a symlink x, a symlink that matches the
// glob, or a directory renamed there, each made the next run grant
// where the link led. A directory made there, and in it, still can be.
func TestFSAllowWriteGlobAboveNotRedirected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		victim := s.outsideDir("fence-e2e-victim-")
		s.mkdir(filepath.Join(victim, "x"))
		cfg := s.config("write.json", `{"filesystem":{"allowWrite":[".", "~/.tool*/x"]}}`)
		res := s.fence("-s", cfg, "--", "sh", "-c", `mkdir ~/.toolA && ln -s "$1" ~/.toolA/x || echo refused-link-below
ln -s "$1" ~/.toolB || echo refused-link-above
mkdir d && ln -s "$1" d/x && mv d ~/.toolC || echo refused-rename
mkdir -p ~/.toolD/x && echo made-dirs`, "sh", victim)
		if !ranInside(t, res) {
			return
		}
		for _, want := range []string{"refused-link-below", "refused-link-above", "refused-rename", "made-dirs"} {
			if !strings.Contains(res.stdout, want+"\n") {
				t.Errorf("want %s: %v", want, res)
			}
		}
		// Had one been planted, the next run would write here.
		s.fence("-s", cfg, "-c", `for d in ~/.toolA/x ~/.toolB/x ~/.toolC/x; do echo pwned > $d/f; done 2>/dev/null; true`)
		mustNotExist(t, filepath.Join(victim, "f"), "a write through a planted match of an allowWrite glob")
		mustNotExist(t, filepath.Join(victim, "x/f"), "a write through a planted match of an allowWrite glob")
	})
}

// A rename to a name a later run grants moves the plain file the guard
// checked, not what another sandbox writing the same directory put at the
// old name meanwhile: two runs in the same writable home, one renaming a
// file it makes to ~/.tool-race over and over, the other renaming a
// symlink over that file's name, got the symlink to ~/.tool-race within a
// few hundred tries (each guard answers its own sandbox's calls one at a
// time, not the other's).
func TestFSAllowWriteRenameRace(t *testing.T) {
	python := need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("write.json", `{"filesystem":{"allowWrite":[".", "~/.tool-*"]}}`)
		mover := `import os, sys, time
h = os.environ["HOME"]; p, g = h + "/racep", h + "/.tool-race"
moved = 0
end = time.time() + 2
for i in range(20000):
    if time.time() > end: break
    try: os.unlink(p)
    except OSError: pass
    try: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError: pass
    try: os.rename(p, g); moved += 1
    except OSError: continue
    if os.path.islink(g):
        print("symlink at the granted name after", i); break
    os.unlink(g)
print("moved", moved)
open(h + "/race-done", "w").close()
`
		swapper := `import os, time
h = os.environ["HOME"]; p, s = h + "/racep", h + "/races"
end = time.time() + 10
while not os.path.exists(h + "/race-done") and time.time() < end:
    try: os.symlink("/", s); os.rename(s, p)
    except OSError: pass
`
		done := make(chan result)
		go func() { done <- s.fence("-s", cfg, "--", python, "-c", swapper) }()
		res := s.fence("-s", cfg, "--", python, "-c", mover)
		<-done
		if !ranInside(t, res) {
			return
		}
		if strings.Contains(res.stdout, "symlink at") || !strings.Contains(res.stdout, "moved ") || strings.Contains(res.stdout, "moved 0\n") {
			t.Errorf("want files renamed to the granted name, never a symlink: %v", res)
		}
		if st, err := os.Lstat(filepath.Join(s.home, ".tool-race")); err == nil && st.Mode()&os.ModeSymlink != 0 {
			t.Errorf("~/.tool-race is a symlink on the host")
		}
	})
}

// A command in the main checkout cannot change the git directory of a
// linked worktree (.git/worktrees/NAME): its commondir or config.worktree,
// rewritten or created, and a config or hooks used once commondir is gone,
// ran the command's code at the user's next git status in that worktree.
// Where the worktree is writable, the command can remove them with it, as
// git worktree prune does (remove: TestFSGitWorkflowsInside), and they
// cannot come back in that run by any name; where it is not, they are
// protected as the repository's own.
func TestFSLinkedWorktreeGitDirsProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		env := gitEnv
		hostGit := s.hostGit(git)
		repo := s.path("repo")
		s.mkdir("repo")
		s.mkdir("open")
		hostGit(s.dir, "init", "-q", "-b", "main", repo)
		hostGit(repo, "commit", "-q", "--allow-empty", "-m", "one")
		hostGit(repo, "worktree", "add", "-q", "../wt")
		hostGit(repo, "worktree", "add", "-q", "../open/wt2")
		s.write("evil/.keep", "")
		// The main checkout is writable, as in fence -t code there, and
		// so is wt2's checkout; wt's is not.
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+repo+`", "`+s.path("evil")+`", "`+s.path("open")+`"]}}`)
		run := func(script string) result {
			t.Helper()
			return s.fenceWith(opts{dir: repo, env: env}, "-s", cfg, "--", "sh", "-c", script, "sh", s.path("evil"))
		}
		refused := func(what, script string) {
			t.Helper()
			res := run(script)
			if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr) && !strings.Contains(res.stderr, "cross-device")) {
				t.Errorf("%s: want it refused (EACCES, EROFS): %v", what, res)
			}
		}
		contents := map[string]string{}
		for _, w := range []string{"wt", "wt2"} {
			for _, n := range []string{"commondir", "gitdir"} {
				b, err := os.ReadFile(s.path("repo/.git/worktrees/" + w + "/" + n))
				if err != nil {
					t.Fatal(err)
				}
				contents[w+"/"+n] = string(b)
			}
		}
		for _, w := range []string{"wt", "wt2"} {
			d := ".git/worktrees/" + w
			for _, c := range []struct{ what, script string }{
				{"rewriting commondir", `echo "$1" > ` + d + `/commondir`},
				{"appending to commondir", `echo "$1" >> ` + d + `/commondir`},
				{"truncating commondir", `truncate -s 0 ` + d + `/commondir`},
				{"writing commondir through /proc/self/fd", `exec 3<` + d + `/commondir && echo "$1" > /proc/self/fd/3`},
				{"hard-linking commondir", `rm -f "$1/cd"; ln ` + d + `/commondir "$1/cd" && echo "$1" > "$1/cd"`}, // onto a free name: one taken is EEXIST
				{"renaming over commondir", `echo "$1" > "$1/cd" && mv -f "$1/cd" ` + d + `/commondir`},
				{"renaming commondir away", `mv ` + d + `/commondir "$1/cd"`},
				{"rewriting gitdir", `echo "$1/.git" > ` + d + `/gitdir`},
				{"creating config.worktree", `echo '[core]' > ` + d + `/config.worktree`},
				{"creating config", `echo '[core]' > ` + d + `/config`},
				{"creating hooks", `mkdir ` + d + `/hooks`},
				{"renaming the worktree's git directory", `mv ` + d + ` .git/worktrees/moved`},
				{"renaming the worktrees directory", `mv .git/worktrees .git/moved`},
			} {
				refused(w+": "+c.what, c.script)
			}
		}
		refused("wt2: rewriting the worktree's .git file", `echo "gitdir: $1" > ../open/wt2/.git`)
		for k, v := range contents {
			mustHaveContent(t, s.path("repo/.git/worktrees/"+k), v, "a linked worktree's "+k)
		}
		for _, w := range []string{"wt", "wt2"} {
			for _, n := range []string{"config.worktree", "config", "hooks"} {
				mustNotExist(t, s.path("repo/.git/worktrees/"+w+"/"+n), "a linked worktree's "+n)
			}
			if out := hostGit(s.path(map[string]string{"wt": "wt", "wt2": "open/wt2"}[w]), "status", "--porcelain", "--branch"); !strings.Contains(out, "## "+w) {
				t.Errorf("git status in %s after the runs: %q", w, out)
			}
		}
		// Control: the rest of their git directories stays writable (git
		// status in a worktree writes its index).
		s.mustRun("-s", cfg, "-c", "echo ok > "+s.path("repo/.git/worktrees/wt/logs-new")+" && echo ok > "+s.path("repo/.git/worktrees/wt2/logs-new"))
		// wt, not writable, cannot be removed: what git reads there stays
		// (the rest, HEAD, index, logs, goes: destroyed, not planted).
		refused("wt: removing its git directory", `rm -r .git/worktrees/wt`)
		mustHaveContent(t, s.path("repo/.git/worktrees/wt/commondir"), contents["wt/commondir"], "commondir of a worktree that is not writable, after rm -r")

		// wt2, writable, can be removed by git. Its commondir, removed,
		// cannot come back; nor its git directory, under its name or by a
		// rename or a symlink; the worktrees directory may be removed and
		// made again (git worktree add makes it).
		wt2 := s.path("repo/.git/worktrees/wt2")
		res := run(`rm .git/worktrees/wt2/commondir && echo "$1" > .git/worktrees/wt2/commondir`)
		if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
			t.Errorf("commondir removed and made again: want it refused (EACCES): %v", res)
		}
		mustNotExist(t, filepath.Join(wt2, "commondir"), "a linked worktree's commondir, removed and made again")
		// (git worktree remove: TestFSGitWorkflowsInside; it refuses a
		// worktree without commondir.) In the same run: once pruned, the
		// directory cannot come back.
		res = run(`rm -r ../open/wt2 && git worktree prune && test ! -e .git/worktrees/wt2 && echo pruned
mkdir .git/worktrees/new && echo made-new
mkdir .git/worktrees/wt2 && echo MADE-mkdir
mkdir -p "$1/wt2" && mv "$1/wt2" .git/worktrees/wt2 && echo MADE-rename
echo "$1" > .git/worktrees/new/commondir && mv .git/worktrees/new .git/worktrees/wt2 && echo MADE-rename-new
ln -s new .git/worktrees/wt2 && echo MADE-symlink`)
		if !strings.Contains(res.stdout, "pruned") || !strings.Contains(res.stdout, "made-new") {
			t.Errorf("git worktree prune of a removed writable worktree, then a new worktree directory: %v", res)
		}
		if strings.Contains(res.stdout, "MADE") || strings.Count(res.stderr, "Permission denied") < 4 {
			t.Errorf("a pruned worktree's git directory made again in the same run: want each refused (EACCES): %v", res)
		}
		mustNotExist(t, wt2, "a removed worktree's git directory, made again")
	})
}

// Ways around the protection of linked worktrees' git directories that a
// review found (each ran the sandbox's code at a later git command
// outside): a .git/worktrees made a symlink to a repository of the
// sandbox's (in a repository without worktrees, at the next git worktree
// add; or replacing one that is a symlink), the git directories of a
// sibling worktree's submodules (.git/worktrees/NAME/modules), and the
// main checkout's index from a linked worktree inside it (a gitlink to a
// repository planted there).
func TestFSLinkedWorktreeEscapes(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		env := gitEnv
		hostGit := s.hostGit(git)
		refused := func(dir, what, script string) {
			t.Helper()
			cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
			res := s.fenceWith(opts{dir: dir, env: env}, "-s", cfg, "--", "sh", "-c", script)
			if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
				t.Errorf("%s: want it refused (EACCES, EROFS): %v", what, res)
			}
		}
		for _, r := range []string{"plain", "linked", "sub"} {
			s.mkdir(r)
			hostGit(s.path(r), "init", "-q", "-b", "main", ".")
			hostGit(s.path(r), "commit", "-q", "--allow-empty", "-m", "one")
		}

		// A repository without worktrees: .git/worktrees can be made,
		// not as a symlink, nor by a rename.
		plain := s.path("plain")
		refused(plain, "a symlink at .git/worktrees", `mkdir -p .git/x/worktrees && ln -s x/worktrees .git/worktrees`)
		refused(plain, "a directory renamed to .git/worktrees", `mkdir -p .git/y && mv .git/y .git/worktrees`)
		// Nor .git/modules as a symlink to a directory of the
		// sandbox's, where a planted submodule git directory (hooks) would
		// serve the next git submodule update --init outside.
		refused(plain, "a symlink at .git/modules", `mkdir -p "$HOME/evil" 2>/dev/null; ln -s /tmp .git/modules`)
		mustNotExist(t, s.path("plain/.git/modules"), "a planted .git/modules")
		mustNotExist(t, s.path("plain/.git/worktrees"), "a planted .git/worktrees")
		s.mustRun("-s", s.config("fence.json", `{"filesystem":{"allowWrite":["`+plain+`"]}}`), "-c", "mkdir "+plain+"/.git/worktrees && rmdir "+plain+"/.git/worktrees")

		// A .git/worktrees that is a symlink (made outside): the worktree
		// through it is protected, and the symlink cannot be swapped for
		// a directory of the sandbox's.
		linked := s.path("linked")
		hostGit(linked, "worktree", "add", "-q", "../wtl")
		if err := os.Rename(s.path("linked/.git/worktrees"), s.path("linked/.git/wtreal")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("wtreal", s.path("linked/.git/worktrees")); err != nil {
			t.Fatal(err)
		}
		refused(linked, "writing commondir through a symlinked .git/worktrees", `echo /tmp > .git/worktrees/wtl/commondir`)
		refused(linked, "replacing a symlinked .git/worktrees", `rm .git/worktrees && mkdir -p .git/worktrees/wtl && echo /tmp > .git/worktrees/wtl/commondir`)
		if fi, err := os.Lstat(s.path("linked/.git/worktrees")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the symlinked .git/worktrees was replaced: %v", err)
		}
		mustHaveContent(t, s.path("linked/.git/wtreal/wtl/commondir"), "../..\n", "commondir through a symlinked .git/worktrees")

		// The git directory of a sibling worktree's submodule.
		hostGit(plain, "-c", "protocol.file.allow=always", "submodule", "add", "-q", "../sub", "sub")
		hostGit(plain, "commit", "-q", "-m", "sub")
		hostGit(plain, "worktree", "add", "-q", "../wtm")
		hostGit(s.path("wtm"), "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init")
		mod := ".git/worktrees/wtm/modules/sub"
		if _, err := os.Stat(s.path("plain/" + mod + "/config")); err != nil {
			t.Fatalf("git did not put the worktree's submodule in %s: %v", mod, err)
		}
		refused(plain, "a sibling worktree's submodule config", `echo '[core]' >> `+mod+`/config`)
		refused(plain, "a sibling worktree's submodule hooks", `mkdir -p `+mod+`/hooks && echo evil > `+mod+`/hooks/post-checkout`)
		refused(plain, "a new submodule git directory of a sibling worktree", `mkdir -p .git/worktrees/wtm/modules/other && echo '[core]' > .git/worktrees/wtm/modules/other/config`)
		mustNotExist(t, s.path("plain/"+mod+"/hooks/post-checkout"), "a hook of a sibling worktree's submodule")
		mustNotExist(t, s.path("plain/.git/worktrees/wtm/modules/other"), "a new submodule git directory of a sibling worktree")
		if b, _ := os.ReadFile(s.path("plain/" + mod + "/config")); strings.Contains(string(b), "[core]\n[core]") || strings.HasSuffix(string(b), "[core]\n") {
			t.Errorf("a sibling worktree's submodule config was written: %q", b)
		}

		// A linked worktree inside the main checkout, as the working
		// directory: the main checkout's index stays as it was.
		hostGit(s.path("sub"), "worktree", "add", "-q", ".claude/worktrees/w1")
		index := s.path("sub/.git/index")
		before, err := os.ReadFile(index)
		if err != nil {
			t.Fatal(err)
		}
		refused(s.path("sub/.claude/worktrees/w1"), "the main checkout's index from a linked worktree", `echo x >> "$(git rev-parse --git-common-dir)/index"`)
		mustHaveContent(t, index, string(before), "the main checkout's index")
		// Nor a rebase's state there, whose exec lines git runs at the
		// next git rebase --continue in the main checkout.
		refused(s.path("sub/.claude/worktrees/w1"), "a rebase's state in the main checkout's git directory", `mkdir "$(git rev-parse --git-common-dir)/rebase-merge"`)
		mustNotExist(t, s.path("sub/.git/rebase-merge"), "a rebase's state in the main checkout's git directory")
		// Control: commits and a rebase in that worktree work.
		res := s.fenceWith(opts{dir: s.path("sub/.claude/worktrees/w1"), env: env}, "-s", s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`), "-c", `set -e
echo b > b && git add b && git commit -qm two && echo c > c && git add c && git commit -qm three
git rebase -q HEAD~2 --exec true && echo rebased`)
		if res.code != 0 || !strings.Contains(res.stdout, "rebased") {
			t.Errorf("commits and a rebase in a linked worktree inside the main checkout: %v", res)
		}

		// A worktree away for now (a disk not mounted) and not writable:
		// git worktree prune inside does not remove its git directory,
		// which would let a later run make one of its own for it.
		hostGit(s.path("linked"), "worktree", "add", "-q", "../away")
		if err := os.Rename(s.path("away"), s.path("away-unmounted")); err != nil {
			t.Fatal(err)
		}
		res = s.fenceWith(opts{dir: s.path("linked"), env: env}, "-s", s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`), "-c", `git worktree prune; echo /tmp > .git/worktrees/away/commondir; true`)
		if !ranInside(t, res) {
			return
		}
		mustHaveContent(t, s.path("linked/.git/wtreal/away/commondir"), "../..\n", "the commondir of a worktree away for now")
	})
}

// A file matching a denyWrite pattern that one run created stays free for
// the next run to change or remove (a virtualenv's cacert.pem under -t
// code's "**/*.pem"): fence records it, pinned by inode and birth time.
// It used to be protected from the second run on. A file of the user's
// stays protected, also one put at a recorded path later, and the record
// itself cannot be written from inside.
func TestFSCreatedFilesStayFreeAcrossRuns(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["**/*.pem"]}}`)
		s.write("user.pem", "orig\n")
		s.mustRun("-s", cfg, "-c", "mkdir -p venv && echo one > venv/cacert.pem && echo one > venv/later.pem")
		s.mustRun("-s", cfg, "-c", "echo two >> venv/cacert.pem && mv venv/cacert.pem venv/moved.pem")
		mustHaveContent(t, s.path("venv/moved.pem"), "one\ntwo\n", "a file an earlier run created")
		s.mustRun("-s", cfg, "-c", "rm venv/moved.pem")
		mustNotExist(t, s.path("venv/moved.pem"), "a file an earlier run created, removed")

		// The user replaces a recorded file with one of their own: it is
		// theirs now, whatever its inode number.
		if err := os.Remove(s.path("venv/later.pem")); err != nil {
			t.Fatal(err)
		}
		s.write("venv/later.pem", "users\n")
		for _, p := range []string{"user.pem", "venv/later.pem"} {
			res := s.fence("-s", cfg, "--", "sh", "-c", `echo evil >> "$1"`, "sh", p)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("appending to the user's %s succeeded: %v", p, res)
			}
		}
		mustHaveContent(t, s.path("user.pem"), "orig\n", "the user's file")
		mustHaveContent(t, s.path("venv/later.pem"), "users\n", "the user's file at a recorded path")

		// A directory of the user's moved to where the sandbox created
		// a file, in an earlier run or in this one: what it holds is
		// still the user's (the record and the guard know files by
		// identity, not by path).
		s.write("secrets/server.pem", "secret\n")
		s.mustRun("-s", cfg, "-c", "mkdir -p fixtures && echo f > fixtures/server.pem")
		for _, script := range []string{
			"rm -rf fixtures && mv secrets fixtures && echo evil > fixtures/server.pem; mv fixtures secrets",
			"mkdir -p fx && echo f > fx/server.pem && rm -rf fx && mv secrets fx && echo evil > fx/server.pem; mv fx secrets",
			// Moved in and out in one run, the next run writes it.
			"mv secrets fixtures2 && mv fixtures2 secrets",
		} {
			s.fence("-s", cfg, "-c", script)
			mustHaveContent(t, s.path("secrets/server.pem"), "secret\n", "the user's file in a directory moved to a created file's path")
		}

		// A file the user saves while the sandbox runs may get the inode
		// number of one the sandbox created and removed: it is the user's.
		s.write("app/key.pem", "key=1\n")
		go func() {
			if waitUntil(runTimeout, func() bool { _, err := os.Stat(s.path("freed")); return err == nil }) {
				_ = os.WriteFile(s.path("app/key.pem.new"), []byte("key=2\n"), 0o644)
				_ = os.Rename(s.path("app/key.pem.new"), s.path("app/key.pem"))
				_ = os.WriteFile(s.path("saved"), nil, 0o644)
			}
		}()
		res0 := s.fence("-s", cfg, "-c", `mkdir -p many && for i in $(seq 200); do echo x > many/$i.pem; done
stat -c %i many/*.pem > inodes && rm -rf many && touch freed
while [ ! -e saved ]; do sleep 0.05; done
stat -c %i app/key.pem >> inodes; echo evil >> app/key.pem`)
		if b, _ := os.ReadFile(s.path("app/key.pem")); string(b) != "key=2\n" {
			inodes, _ := os.ReadFile(s.path("inodes"))
			t.Errorf("the user's key.pem saved during the run holds %q; run %v; inodes %s", b, res0, inodes)
		}

		record := filepath.Join(s.home, ".local/state/fence/created.json")
		if _, err := os.Stat(record); err != nil {
			t.Fatalf("no record of created files: %v", err)
		}
		res := s.fence("-s", cfg, "--", "sh", "-c", `printf '{"files":[]}' > "$1"`, "sh", record)
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("the sandbox rewrote the record of created files: %v", res)
		}
		if err := os.Remove(record); err != nil {
			t.Fatal(err)
		}
		res = s.fence("-s", cfg, "--", "sh", "-c", `printf '{"files":[]}' > "$1"`, "sh", record)
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("the sandbox created the record of created files: %v", res)
		}
		// With XDG_STATE_HOME and XDG_CONFIG_HOME elsewhere, the default
		// record, and the default config directory, which a later run
		// without them reads, are protected all the same.
		xdg := opts{env: []string{"XDG_STATE_HOME=" + s.path("xdg-state"), "XDG_CONFIG_HOME=" + s.path("xdg-config")}}
		res = s.fenceWith(xdg, "-s", cfg, "--", "sh", "-c", `mkdir -p "$(dirname "$1")" && printf '{"files":[]}' > "$1"`, "sh", record)
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("with XDG_STATE_HOME elsewhere the sandbox created the default record: %v", res)
		}
		res = s.fenceWith(xdg, "-s", cfg, "--", "mkdir", "-p", filepath.Join(s.home, ".config/fence"))
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("with XDG_CONFIG_HOME elsewhere the sandbox created ~/.config/fence: %v", res)
		}
	})
}

// A file that one run created and that a one-level denyWrite glob matches
// in a writable directory (test.key for "*.key" in the working directory)
// stays free for later runs to change and remove, as one deeper does: the
// glob's matches there were bound read-only at each start, the sandbox's
// with the user's. The user's stay protected.
func TestFSCreatedFilesMatchingOneLevelGlob(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["*.key"]}}`)
		s.write("user.key", "orig\n")
		s.mustRun("-s", cfg, "-c", "echo one > test.key")
		s.mustRun("-s", cfg, "-c", "echo two >> test.key")
		mustHaveContent(t, s.path("test.key"), "one\ntwo\n", "a file an earlier run created, changed")
		s.mustRun("-s", cfg, "-c", "rm test.key")
		mustNotExist(t, s.path("test.key"), "a file an earlier run created, removed")
		res := s.fence("-s", cfg, "-c", "echo evil >> user.key")
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("appending to the user's user.key succeeded: %v", res)
		}
		mustHaveContent(t, s.path("user.key"), "orig\n", "the user's file")

		// Listed by name too, a file the sandbox made stays protected
		// in later runs, as it was (a review's find in this change's
		// first version, which let the guard take it for the sandbox's).
		named := s.config("named.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["*.key", "lit.key"]}}`)
		s.mustRun("-s", cfg, "-c", "echo sandbox > lit.key") // made, and recorded, under the glob alone
		s.write("lit.key", "users\n")
		res = s.fence("-s", named, "-c", "echo evil > lit.key")
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("writing lit.key, listed by name in denyWrite, succeeded: %v", res)
		}
		mustHaveContent(t, s.path("lit.key"), "users\n", "a file listed by name in denyWrite")
	})
}

// fence's state directory (the record of created files, the trust store)
// is read-only inside, also where the home is writable: a command that
// chmod'ed it 000 made every later run fail, and one that could make it
// (or a file in it) would choose what later runs read.
func TestFSStateDirReadOnly(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		state := filepath.Join(s.home, ".local/state/fence")
		res := s.fence("-s", cfg, "-c", `mkdir -p ~/.local/state/fence && echo made-dir; touch ~/.local/state/fence/x && echo made-file; true`)
		if ranInside(t, res) && strings.Contains(res.stdout, "made") {
			t.Errorf("the sandbox made fence's state directory or a file in it: %v", res)
		}
		mustNotExist(t, filepath.Join(state, "x"), "a file made in fence's state directory")
		if err := os.MkdirAll(state, 0o700); err != nil {
			t.Fatal(err)
		}
		s.own(state, 0o700)
		res = s.fence("-s", cfg, "-c", `chmod 000 ~/.local/state/fence && echo chmodded; touch ~/.local/state/fence/x && echo made-file; true`)
		if ranInside(t, res) && (strings.Contains(res.stdout, "chmodded") || strings.Contains(res.stdout, "made-file")) {
			t.Errorf("the sandbox changed fence's state directory: %v", res)
		}
		if st, err := os.Stat(state); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("fence's state directory after the run: %v %v, want mode 0700", st.Mode(), err)
		}
		// And the next run starts.
		s.mustRun("-s", cfg, "-c", "true")
	})
}

// The files that decide fence's policy stay unwritable inside when the
// host replaces them during the run: the record of created files, which
// another run ending meanwhile rewrites, the trusted project configs
// (`fence config trust`), and the user config saved by an editor that
// renames. Their read-only binds went with the old files, and
// the sandbox could then write the new ones (planting entries in the
// record makes the user's files and repositories the sandbox's in later
// runs).
func TestFSPolicyFilesReplacedDuringRun(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["**/.env"]}}`)
		s.mustRun("-s", cfg, "-c", "mkdir -p app && echo A=1 > app/.env")
		record := filepath.Join(s.home, ".local/state/fence/created.json")
		if _, err := os.Stat(record); err != nil {
			t.Fatalf("no record of created files: %v", err)
		}
		user := s.write("home/.config/fence/fence.json", "{}\n")
		trust := s.write("home/.local/state/fence/trusted.json", `{"projects":{}}`+"\n")
		replaced := map[string]string{}
		for _, p := range []string{record, user, trust} {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			replaced[p] = string(b)
		}
		// The host's side, once the command started; the test waits for
		// it (t.Error from a goroutine after the test ended panics), and
		// it gives up when fence ended without starting the command.
		done, stop := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			if !s.waitStarted(stop) {
				return
			}
			defer func() { _ = os.WriteFile(s.path("replaced"), nil, 0o644) }()
			for p, content := range replaced {
				tmp := p + ".new"
				if err := s.writeFromGoroutine(tmp, content); err != nil {
					t.Error(err)
				} else if err := os.Rename(tmp, p); err != nil {
					t.Error(err)
				}
			}
		}()
		res := s.fence("-s", cfg, "--", "sh", "-c", `touch started
while [ ! -e replaced ]; do sleep 0.05; done
for f in "$@"; do printf '{"files":[]}' > "$f" && echo "wrote $f"; done
true`, "sh", record, user, trust)
		close(stop)
		<-done
		if ranInside(t, res) && strings.Contains(res.stdout, "wrote") {
			t.Errorf("the sandbox wrote a policy file the host replaced during the run: %v", res)
		}
		for p, content := range replaced {
			mustHaveContent(t, p, content, "a policy file replaced during the run")
		}
	})
}

// A protected file in a writable directory stays unwritable inside when the
// host replaces or creates it during the run: an editor saving .bashrc or
// a denyWrite file by a rename, git on the host checking out a .mcp.json
// or a .vscode/tasks.json where there was none. The read-only bind went
// with the old file and the creation guard only stops the sandbox's own
// creations, so the sandbox wrote the new files (a .mcp.json runs its
// servers at the user's next agent session).
func TestFSProtectedReplacedOnHostDuringRun(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write(".bashrc", "# orig\n")
		s.write("home/.profile", "# orig\n")
		s.write("secret.txt", "orig\n")
		s.mkdir(".vscode")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["secret.txt"]}}`)
		files := []string{".bashrc", "home/.profile", "secret.txt", ".mcp.json", ".vscode/tasks.json"}
		// The host's side, once the command started; the test waits for
		// it (t.Error from a goroutine after the test ended panics), and
		// it gives up when fence ended without starting the command.
		done, stop := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			if !s.waitStarted(stop) {
				return
			}
			defer func() { _ = os.WriteFile(s.path("replaced"), nil, 0o644) }()
			for _, f := range files {
				if err := s.writeFromGoroutine(s.path(f+".new"), "# host\n"); err != nil {
					t.Error(err)
				} else if err := os.Rename(s.path(f+".new"), s.path(f)); err != nil {
					t.Error(err)
				}
			}
		}()
		res := s.fence(append([]string{"-s", cfg, "--", "sh", "-c", `touch started
while [ ! -e replaced ]; do sleep 0.05; done
for f in "$@"; do echo evil >> "$f" && echo "wrote $f"; done
echo x > ordinary.txt && echo "wrote ordinary"`, "sh"}, files...)...)
		close(stop)
		<-done
		if !ranInside(t, res) {
			return
		}
		if strings.Contains(strings.ReplaceAll(res.stdout, "wrote ordinary", ""), "wrote") || !strings.Contains(res.stdout, "wrote ordinary") {
			t.Errorf("protected files the host replaced or created during the run: want them unwritable, an ordinary file written: %v", res)
		}
		for _, f := range files {
			mustHaveContent(t, s.path(f), "# host\n", "a protected file the host replaced during the run")
		}
	})
}

// A run that creates nothing leaves the record of created files as it is,
// the same file: every run with a record to load replaced it on exit,
// which took the read-only bind of it away from a run going on meanwhile
// (two agents, or an agent and a test run) and made a run starting then
// fail with "bind .../created.json: no such file or directory".
func TestFSCreatedRecordKeptByIdleRun(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["**/.env"]}}`)
		s.mustRun("-s", cfg, "-c", "mkdir -p app && echo A=1 > app/.env")
		record := filepath.Join(s.home, ".local/state/fence/created.json")
		before, err := os.Stat(record)
		if err != nil {
			t.Fatalf("no record of created files: %v", err)
		}
		s.mustRun("-s", cfg, "--", "true")
		s.mustRun("-s", cfg, "-c", "echo A=2 >> app/.env")
		after, err := os.Stat(record)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(before, after) {
			t.Errorf("runs that created nothing replaced the record of created files")
		}
		mustHaveContent(t, s.path("app/.env"), "A=1\nA=2\n", "a .env an earlier run created")
	})
}

// Runs that end together each add what they created to the record: each
// wrote what it had read with its own entries, and the last rename won,
// so that of 20 runs started at once (parallel agents, a test matrix)
// about 3 had their files recorded, the others' .env files then taken for
// the user's and kept from the next run.
func TestFSCreatedRecordConcurrentRuns(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["**/.env"]}}`)
		const n = 16
		var wg sync.WaitGroup
		results := make([]result, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = s.fence("-s", cfg, "-c", fmt.Sprintf("mkdir d%d && echo A=1 > d%d/.env", i, i))
			}()
		}
		wg.Wait()
		for _, res := range results {
			if res.code != 0 || res.err != nil {
				t.Fatalf("want exit 0: %v", res)
			}
		}
		res := s.fence("-s", cfg, "-c", fmt.Sprintf(`for i in $(seq 0 %d); do echo A=2 >> d$i/.env || echo "kept: d$i/.env"; done`, n-1))
		if res.code != 0 || strings.Contains(res.stdout, "kept") {
			t.Errorf("files concurrent runs created, not free for the next run: %v", res)
		}
	})
}

// A file that the code template's denyWrite keeps (*.pem, .env), created by
// a run without that pattern (plain fence, a venv's cacert.pem), is the
// sandbox's under the template too: rm -rf venv with -t code failed on it.
// A file of the user's of that name stays kept.
func TestFSCreatedFilesRecordedWithoutPattern(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		plain := s.config("plain.json", `{"filesystem":{"allowWrite":["."]}}`)
		code := s.config("code.json", `{"extends":"code"}`)
		s.write("user.pem", "orig\n")
		s.mustRun("-s", plain, "-c", "mkdir -p venv/certifi && echo one > venv/certifi/cacert.pem && echo A=1 > venv/.env")
		res := s.fence("-s", code, "-c", "echo two >> venv/.env && rm -rf venv && echo removed")
		if res.code != 0 || !strings.Contains(res.stdout, "removed") {
			t.Errorf("under the code template, files a plain run created (venv/certifi/cacert.pem, venv/.env): want them changed and removed: %v", res)
		}
		mustNotExist(t, s.path("venv"), "a venv a plain run made, removed under the code template")
		res = s.fence("-s", code, "-c", "echo evil >> user.pem")
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("under the code template, appending to the user's user.pem succeeded: %v", res)
		}
		mustHaveContent(t, s.path("user.pem"), "orig\n", "the user's file under the code template")
	})
}

// Only a file the sandbox made is recorded for its name alone (RecordNames,
// or a .git file): not a file of the user's that a run without the code
// template's patterns opened with O_CREAT (touch, >>), renamed away and
// back, or gave a second name by a hard link (one of those names, or
// .git in a directory the run made). Recorded, the user's file was the
// sandbox's under -t code in every later run, whatever the user wrote in
// it meanwhile. A file the sandbox wrote under a temporary name and
// renamed into place is still its own.
func TestFSUserFilesNotRecordedByName(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		plain := s.config("plain.json", `{"filesystem":{"allowWrite":["."]}}`)
		code := s.config("code.json", `{"extends":"code"}`)
		files := []string{"sub/.env", "sub/x.key", "sub/k.pem", "sub/l.p12", "sub/g.pfx"}
		for _, f := range files {
			s.write(f, "orig\n")
		}
		s.mustRun("-s", plain, "-c", `touch sub/.env; : >> sub/x.key
mv sub/k.pem sub/t && mv sub/t sub/k.pem
ln sub/l.p12 sub/l2.p12
mkdir n && ln sub/g.pfx n/.git
echo A=1 > sub/.env.tmp && mv sub/.env.tmp sub/.env.mine`)
		for _, f := range files {
			// The user's edit after the plain run.
			s.write(f, "user\n")
		}
		for _, f := range files {
			res := s.fence("-s", code, "-c", "echo evil >> "+f)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("under the code template, after a plain run touched it, appending to the user's %s succeeded: %v", f, res)
			}
			mustHaveContent(t, s.path(f), "user\n", "the user's "+f+" under the code template")
		}
		res := s.fence("-s", code, "-c", "echo B=2 >> sub/.env.mine && echo changed")
		if res.code != 0 || !strings.Contains(res.stdout, "changed") {
			t.Errorf("under the code template, a .env a plain run wrote under a temporary name: want it changeable: %v", res)
		}
	})
}

// A hard link cannot give a .git file of the user's a second name in a
// directory the sandbox made (ln -L through a symlink to it): written
// there, the user's file led git to a repository of the sandbox's, whose
// hooks and core.fsmonitor run at the user's next git status; recorded as
// a .git file the sandbox made, it was the sandbox's to change directly,
// in later runs too.
func TestFSGitFileNotHardLinked(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		userFile := s.userWorktree(git, "w/deep/main", "../wt")
		w := s.path("w")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+w+`"]}}`)
		res := s.fenceWith(opts{dir: w}, "-s", cfg, "-c", `sleep 0.1; mkdir n && ln -s ../deep/wt/.git n/lnk
ln -L n/lnk n/.git && echo linked
echo "gitdir: $PWD/evil/.git" > n/.git
ln -L n/lnk n/other && echo linked-other
echo "gitdir: $PWD/evil/.git" > n/other`)
		if strings.Contains(res.stdout, "linked") {
			t.Errorf("ln -L of the user's .git file: want it refused: %v", res)
		}
		res = s.fenceWith(opts{dir: w}, "-s", cfg, "-c", `echo "gitdir: $PWD/evil/.git" > deep/wt/.git && echo wrote`)
		if strings.Contains(res.stdout, "wrote") {
			t.Errorf("writing the user's .git file in a later run: want it refused: %v", res)
		}
		mustHaveContent(t, s.path("w/deep/wt/.git"), userFile, "the user's linked worktree's .git file")
	})
}

// A .git file of the user's (here a linked worktree's, deeper than the
// planner looks) cannot be written through a /proc magic link to a
// descriptor the command opened for reading: the guard checked the name
// (/proc/self/fd/3), and the file's path only against the patterns.
func TestFSGitFileNotWrittenThroughProc(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		git := need(t, "git")
		userFile := s.userWorktree(git, "w/deep/main", "../wt")
		w := s.path("w")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["`+w+`"]}}`)
		for _, script := range []string{
			`exec 3<deep/wt/.git; echo "gitdir: $PWD/evil/.git" > /proc/self/fd/3 && echo wrote`,
			`exec 3<deep/wt/.git; truncate -s 0 /proc/self/fd/3 && echo wrote`,
		} {
			res := s.fenceWith(opts{dir: w}, "-s", cfg, "-c", script)
			if strings.Contains(res.stdout, "wrote") {
				t.Errorf("%s: want it refused: %v", script, res)
			}
		}
		mustHaveContent(t, s.path("w/deep/wt/.git"), userFile, "the user's linked worktree's .git file")
	})
}

// bind(2) of a unix socket creates a name like open does: not a protected
// one, with or without allowAllUnixSockets (which used to leave bind
// unguarded; without it bind was checked only for where sockets may go).
func TestFSBindCannotCreateProtectedNames(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		s.write("repo/fence.json", "{}\n")
		s.mkdir("repo/pkg/sub")
		for _, net := range []string{``, `,"network":{"allowAllUnixSockets":true}`} {
			cfg := s.config("bind.json", `{"filesystem":{"allowWrite":["`+s.path("repo")+`"]}`+net+`}`)
			res := s.fenceWith(opts{dir: s.path("repo/pkg")}, "-s", cfg, "--", "python3", "-c", `import socket
for p in (".git", ".mcp.json", "sub/fence.json", "ok.sock"):
    try:
        socket.socket(socket.AF_UNIX).bind(p)
        print("bound", p)
    except OSError as e:
        pass`)
			if !ranInside(t, res) {
				continue
			}
			if res.stdout != "bound ok.sock\n" {
				t.Errorf("bind %s: want only ok.sock bound: %v", net, res)
			}
			for _, p := range []string{".git", ".mcp.json", "ok.sock"} {
				_ = os.Remove(s.path("repo/pkg/" + p))
			}
		}
	})
}

// A working directory whose name is not UTF-8: the write guard works there
// (a denyWrite glob used to make it panic, and every write failed with
// ENOSYS), and the glob still protects.
func TestFSDenyWriteNonUTF8Names(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		dir := s.mkdir("caf\xe9")
		s.write("caf\xe9/k.pem", "user\n")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["**/*.pem"]}}`)
		res := s.fenceWith(opts{dir: dir}, "-s", cfg, "-c", "echo hi > x && cat x; echo evil >> k.pem")
		if res.stdout != "hi\n" || !writeDenied(res.stderr) {
			t.Errorf("in a non-UTF-8 directory: want the write, and k.pem refused: %v", res)
		}
		mustHaveContent(t, s.path("caf\xe9/k.pem"), "user\n", "a protected file in a non-UTF-8 directory")
	})
}

// denyWrite makes a file (or dir) read-only inside a writable directory,
// still readable.
func TestFSDenyWrite(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("locked.txt", "locked\n")
		s.write("lockeddir/f.txt", "f\n")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["locked.txt","lockeddir"]}}`)
		res := s.fence("-s", cfg, "-c", "cat locked.txt; echo evil >> locked.txt")
		if res.code == 0 || !writeDenied(res.stderr) || !strings.HasPrefix(res.stdout, "locked\n") {
			t.Errorf("denyWrite file: want readable and EROFS/EACCES on write: %v", res)
		}
		mustHaveContent(t, s.path("locked.txt"), "locked\n", "denyWrite file")
		s.mustFailWrite(cfg, s.path("lockeddir/new.txt"), "denyWrite dir")
		res = s.fence("-s", cfg, "--", "rm", "-f", "locked.txt")
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("removing denyWrite file succeeded: %v", res)
		}
		mustHaveContent(t, s.path("locked.txt"), "locked\n", "denyWrite file after rm")
		s.mustRun("-s", cfg, "-c", "echo ok > free.txt")
		mustHaveContent(t, s.path("free.txt"), "ok\n", "writable file next to denyWrite")
	})
}

// A trailing "/**" means the directory itself, whole. "newdir/**" keeps a
// missing newdir from being created, as "newdir" does (it once became a
// pattern for the write guard, which lets the sandbox create what it
// matches); a directory that matches "**/secret*/**" cannot be renamed or
// removed, which would carry its files out of the pattern's reach. A match
// the sandbox creates itself is its own, as for every denyWrite glob.
func TestFSDenyWriteWholeDir(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("x/secretC/f", "orig\n")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["newdir/**","a/b/**","lit","**/secret*/**"]}}`)
		for _, c := range []struct{ script, missing string }{
			{"mkdir newdir && echo x > newdir/f", "newdir"},
			{"mkdir -p newdir/sub", "newdir"},
			{"mkdir n && echo x > n/f && mv n newdir", "newdir"},
			{"ln -s x newdir && echo x > newdir/f", "newdir"},
			{"mkdir -p a/b && echo x > a/b/f", "a/b"},
			{"mkdir lit", "lit"}, // the literal form, for comparison
		} {
			res := s.fence("-s", cfg, "-c", "echo ok > control.txt; "+c.script)
			mustHaveContent(t, s.path("control.txt"), "ok\n", "control write before "+c.script)
			if ranInside(t, res) && (res.code == 0 || !writeDenied(res.stderr)) {
				t.Errorf("%q: want EACCES creating denyWrite %s: %v", c.script, c.missing, res)
			}
			mustNotExist(t, s.path(c.missing), c.script)
		}
		for _, script := range []string{
			"mv x/secretC x/plain && echo evil > x/plain/f",
			"rm -rf x/secretC; mkdir -p x/secretC && echo evil > x/secretC/f",
		} {
			res := s.fence("-s", cfg, "-c", script)
			mustHaveContent(t, s.path("x/secretC/f"), "orig\n", script)
			if ranInside(t, res) && res.code == 0 {
				t.Errorf("%q succeeded: %v", script, res)
			}
		}
		res := s.mustRun("-s", cfg, "-c", "mkdir x/secretNew && echo mine > x/secretNew/f && echo again > x/secretNew/f && mv x/secretNew x/moved")
		mustHaveContent(t, s.path("x/moved/f"), "again\n", "a glob's new match is the sandbox's own: "+res.stderr)
	})
}

// Symlinks never widen what is writable: writing through a link (made on
// the host or inside) to /etc, $HOME or a read-only sibling fails.
func TestFSSymlinkEscape(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("w")
		s.mkdir("outside")
		for name, target := range map[string]string{"w/etc-link": "/etc", "w/out-link": "../outside", "w/home-link": s.home} {
			if err := os.Symlink(target, s.path(name)); err != nil {
				t.Fatal(err)
			}
			if os.Geteuid() == 0 {
				_ = os.Lchown(s.path(name), s.r.uid, s.r.gid)
			}
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`)
		etcName := unique("fence-e2e-")
		defer os.Remove("/etc/" + etcName)
		for _, c := range []struct{ via, host string }{
			{"w/etc-link/" + etcName, "/etc/" + etcName},
			{"w/out-link/new.txt", s.path("outside/new.txt")},
			{"w/home-link/new.txt", filepath.Join(s.home, "new.txt")},
		} {
			res := s.tryWrite(cfg, c.via)
			if res.code == 0 || !writeDenied(res.stderr) {
				t.Errorf("writing through %s: want EROFS/EACCES: %v", c.via, res)
			}
			mustNotExist(t, c.host, "write through symlink "+c.via)
		}
		// A link made inside the sandbox.
		name2 := unique("fence-e2e-")
		defer os.Remove("/etc/" + name2)
		res := s.fence("-s", cfg, "-c", "ln -s /etc w/made-inside && echo x > w/made-inside/"+name2)
		if res.code == 0 || !writeDenied(res.stderr) {
			t.Errorf("writing through a symlink made inside: want EROFS/EACCES: %v", res)
		}
		mustNotExist(t, "/etc/"+name2, "write through a symlink made inside")
	})
}

// `..` never leaves the writable area.
func TestFSDotDotTraversal(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("w/sub")
		s.mkdir("outside")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`)
		for _, c := range []struct{ via, host string }{
			{"w/../outside/a.txt", s.path("outside/a.txt")},
			{"w/sub/../../escaped.txt", s.path("escaped.txt")},
			{"w/../../" + filepath.Base(s.dir) + "/escaped2.txt", s.path("escaped2.txt")},
		} {
			res := s.tryWrite(cfg, c.via)
			if res.code == 0 || !writeDenied(res.stderr) {
				t.Errorf("writing %s: want EROFS/EACCES: %v", c.via, res)
			}
			mustNotExist(t, c.host, "write via "+c.via)
		}
		res := s.fence("-s", cfg, "-c", "cd w/sub && echo x > ../../escaped3.txt")
		if res.code == 0 || !writeDenied(res.stderr) {
			t.Errorf("cd w/sub; write ../../escaped3.txt: want EROFS/EACCES: %v", res)
		}
		mustNotExist(t, s.path("escaped3.txt"), "write via cd + ..")

		// Working directory = the writable dir; its parent is not. (The
		// parent lies under the host's /tmp, which the sandbox replaces
		// with its private tmpfs, so the write may succeed there; it must
		// not reach the host.)
		cfg2 := s.config("w/fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		res = s.fenceWith(opts{dir: s.path("w")}, "-s", cfg2, "-c", "echo ok > in.txt; echo x > ../escaped4.txt")
		t.Logf("write ../escaped4.txt from the writable cwd: %v", res)
		mustHaveContent(t, s.path("w/in.txt"), "ok\n", "write in the writable cwd")
		mustNotExist(t, s.path("escaped4.txt"), "write via ../ from the cwd")
	})
}

// A hard link from the writable area to a file outside it fails, or at
// least grants no write to the target.
func TestFSHardLink(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("w")
		target := s.write("outside/target.txt", "original\n")
		cfg := s.config("link.json", `{"filesystem":{"allowWrite":["w"]}}`)
		res := s.fence("-s", cfg, "-c", "ln outside/target.txt w/hl && echo linked; echo pwned > w/hl")
		t.Logf("hard link attempt: %v", res)
		if strings.Contains(res.stdout, "linked") {
			t.Logf("note: the hard link was created (the issue asks for it to fail)")
		}
		mustHaveContent(t, target, "original\n", "hard-link target outside the writable area")
		// A system file: the link alone must not succeed (nothing is
		// written through it here, to keep the host safe if it did).
		res = s.fence("-s", cfg, "--", "ln", "/etc/passwd", "w/passwd-link")
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("hard link to /etc/passwd from the writable area succeeded: %v", res)
		}
		mustNotExist(t, s.path("w/passwd-link"), "hard link to /etc/passwd")

		// Inside a writable directory: links to its protected and
		// denyWrite files must not open them for writing.
		s.write(".bashrc", "orig-bashrc\n")
		s.write("locked.txt", "orig-locked\n")
		cfg2 := s.config("fence2.json", `{"filesystem":{"allowWrite":["."],"denyWrite":["locked.txt"]}}`)
		res = s.fence("-s", cfg2, "-c", "echo ok > control.txt; ln .bashrc hl1; echo evil >> hl1; ln locked.txt hl2; echo evil >> hl2")
		t.Logf("hard links to protected files: %v", res)
		mustHaveContent(t, s.path("control.txt"), "ok\n", "control write")
		mustHaveContent(t, s.path(".bashrc"), "orig-bashrc\n", "protected .bashrc via a hard link")
		mustHaveContent(t, s.path("locked.txt"), "orig-locked\n", "denyWrite file via a hard link")
	})
}

// TestFSDefaultDenyRead: with defaultDenyRead only system paths, allowRead
// and allowWrite are visible; programs still run (merged-/usr symlinks such
// as /lib64 are recreated), and everything else is hidden.
func TestFSDefaultDenyRead(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("visible.txt", "seen\n")
		s.write("home/private.txt", "secret\n")
		cfg := s.config("ddr.json", `{"filesystem": {"defaultDenyRead": true, "allowRead": ["."], "allowWrite": ["./out"]}}`)
		s.mkdir("out")
		res := s.fence("-s", cfg, "-c", `cat visible.txt; cat "$HOME/private.txt" 2>/dev/null || echo private-hidden; ls /var/log >/dev/null 2>&1 || echo varlog-hidden; echo w > out/f && echo wrote; /usr/bin/env true && echo exec-ok`)
		if !ranInside(t, res) {
			return
		}
		for _, want := range []string{"seen\n", "exec-ok\n", "wrote\n", "varlog-hidden\n"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("output lacks %q\n%v", want, res)
			}
		}
		// HOME is inside the workspace here (allowRead "."), so it is
		// visible; a path outside every allowed one is not.
		if strings.Contains(res.stdout, "private-hidden") {
			t.Errorf("allowRead \".\" should make the workspace (and HOME inside it) readable\n%v", res)
		}
		mustHaveContent(t, s.path("out/f"), "w\n", "allowWrite under defaultDenyRead")
	})
}

// Under defaultDenyRead fence also runs in a directory above a listed
// path, which the scaffold holds with only what is listed below it: the
// workspace with only ./proj listed, and "/". Such runs were refused
// ("working directory ... is not readable") once fence started refusing
// unlisted working directories.
func TestFSDefaultDenyReadCwdAboveListed(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("proj/f.txt", "in proj\n")
		s.write("other.txt", "hidden\n")
		cfg := s.config("ddr-above.json", `{"filesystem": {"defaultDenyRead": true, "allowRead": ["./proj"]}}`)
		res := s.fence("-s", cfg, "-c", `cat proj/f.txt; cat other.txt 2>/dev/null || echo other-hidden`)
		if !ranInside(t, res) {
			return
		}
		for _, want := range []string{"in proj\n", "other-hidden\n"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("output lacks %q\n%v", want, res)
			}
		}
		res = s.fenceWith(opts{dir: "/"}, "-s", cfg, "-c", `pwd; test -d /usr && echo usr-there`)
		if res.code != 0 || !strings.Contains(res.stdout, "/\nusr-there\n") {
			t.Errorf("run from /: want it to run there\n%v", res)
		}
	})
}

// The working directory and what hides it. allowRead "/" under
// defaultDenyRead shows a working directory in the host's /tmp (the
// workspace is there), which the private /tmp covered ("enter working
// directory ...: no such file or directory"). One inside a directory that
// denyRead hides is refused before the start, naming the entry; one that
// denyRead hides itself is there, empty. denyRead "/" is refused: its mask
// hid nothing, and the command read everything.
func TestFSWorkingDirectoryShownOrHidden(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		if !strings.HasPrefix(s.dir, "/tmp/") {
			t.Skipf("the workspace %s is not in /tmp (TMPDIR is set elsewhere): this test needs one there", s.dir)
		}
		s.write("sub/visible.txt", "seen\n")
		sub := s.path("sub")
		all := s.config("all.json", `{"filesystem":{"defaultDenyRead":true,"allowRead":["/"]}}`)
		res := s.fenceWith(opts{dir: sub}, "-s", all, "-c", `pwd; cat visible.txt`)
		if res.code != 0 || res.stdout != sub+"\nseen\n" {
			t.Errorf("defaultDenyRead with allowRead \"/\", run in %s: want it shown and readable\n%v", sub, res)
		}
		above := s.config("above.json", `{"filesystem":{"denyRead":["`+s.dir+`"]}}`)
		res = s.fenceWith(opts{dir: sub}, "-s", above, "-c", `echo ran`)
		want := "working directory " + sub + " is inside " + s.dir + ", which filesystem.denyRead (from " + above + ") hides in the sandbox; run fence from another directory, or remove the entry"
		if res.code == 0 || strings.Contains(res.stdout, "ran") || !strings.Contains(res.stderr, want) {
			t.Errorf("run inside a denyRead directory: want the refusal %q\n%v", want, res)
		}
		itself := s.config("itself.json", `{"filesystem":{"denyRead":["."]}}`)
		res = s.fenceWith(opts{dir: sub}, "-s", itself, "-c", `pwd; ls -A; echo listed`)
		if res.code != 0 || res.stdout != sub+"\nlisted\n" {
			t.Errorf("run in a denyRead directory: want it there, empty\n%v", res)
		}
		root := s.config("root.json", `{"filesystem":{"denyRead":["/"]}}`)
		res = s.fence("-s", root, "-c", `cat sub/visible.txt`)
		if res.code == 0 || strings.Contains(res.stdout, "seen") || !strings.Contains(res.stderr, `filesystem.denyRead "/" (from `+root+`) hides "/", every file`) {
			t.Errorf("denyRead \"/\": want a refusal\n%v", res)
		}
	})
}

// A $HOME reached through a symlink (Fedora Atomic's /home -> /var/home)
// keeps its protections: the protected names and policy files that do not
// exist yet cannot be created there, and denyWrite's "~" paths and globs
// hold, as they do for a $HOME given as it resolves. The protections were
// computed from the unresolved path, which the guard, comparing the paths
// the kernel resolved, never saw.
func TestFSSymlinkedHomeProtected(t *testing.T) {
	names := []string{
		".bashrc", ".zshrc", ".profile", ".gitconfig", ".mcp.json", ".fence.json",
		".config/fence/fence.json", "nothere.txt",
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		real := s.mkdir("realhome")
		s.mkdir("realhome/.config/fence")
		s.write("realhome/k/a.pem", "key\n")
		link := s.symlink("realhome", "homelink")
		cfg := s.config("home-cfg.json", `{"filesystem":{"allowWrite":["~"],"denyWrite":["~/**/*.pem","~/nothere.txt"]}}`)
		script := `try() { "$@" 2>/dev/null; case $? in 0) echo "WROTE:$*";; 127) echo "WROTE:$* (exit 127, not run: this check proves nothing)";; esac; }
echo ok > ~/control.txt
for n in "$@"; do try sh -c 'echo evil > "$1"' sh ~/"$n"; done
try sh -c 'echo evil >> ~/k/a.pem'
try rm ~/k/a.pem`
		res := s.fenceWith(opts{env: []string{"HOME=" + link}}, append([]string{"-s", cfg, "--", "bash", "-c", script, "bash"}, names...)...)
		if !ranInside(t, res) {
			return
		}
		mustHaveContent(t, filepath.Join(real, "control.txt"), "ok\n", "control write in the symlinked $HOME")
		if strings.Contains(res.stdout, "WROTE:") {
			t.Errorf("a protected path in the symlinked $HOME was written: %v", res)
		}
		for _, n := range names {
			mustNotExist(t, filepath.Join(real, n), "protected ~/"+n+" through a symlinked $HOME")
		}
		mustHaveContent(t, filepath.Join(real, "k/a.pem"), "key\n", "denyWrite ~/**/*.pem through a symlinked $HOME")
	})
}

// mountOverlay mounts an overlay with opts at dst for the test (skipping
// it where overlays cannot be mounted), and unmounts it at the end.
func mountOverlay(t *testing.T, dst, opts string) {
	t.Helper()
	if err := unix.Mount("overlay", dst, "overlay", 0, opts); err != nil {
		t.Skipf("overlay at %s: %v", dst, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dst, unix.MNT_DETACH) })
}

// mustNotReveal runs cat of path in s and fails t if the command did not
// run or printed one of markers.
func mustNotReveal(t *testing.T, s *sandbox, path string, markers ...string) {
	t.Helper()
	res := s.fence("-c", "cat "+path+"; echo done")
	if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
		t.Fatalf("the command did not run: %v", res)
	}
	for _, m := range markers {
		if strings.Contains(res.stdout, m) {
			t.Errorf("%s readable at %s: %v", m, path, res)
		}
	}
}

// waitStarted waits until the command has made the workspace's file
// "started", and reports whether it has; it gives up when stop is closed
// (fence ended without starting the command) or after runTimeout.
func (s *sandbox) waitStarted(stop <-chan struct{}) bool {
	started := func() bool { _, err := os.Stat(s.path("started")); return err == nil }
	return waitUntil(runTimeout, func() bool {
		select {
		case <-stop:
			return true
		default:
			return started()
		}
	}) && started()
}

// A symlink put where a directory of the user's work tree was is followed
// by git outside: it may not lead to a repository of the sandbox's, and
// the directory it leads to takes the removed one's place, so none can be
// made there (or where the user's directories below were) later. A link
// to a plain directory, as pnpm makes for a package, goes on.
func TestFSGitSymlinkWhereUserDirWas(t *testing.T) {
	git := need(t, "git")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("fence-link.json", `{"filesystem":{"allowWrite":["."]}}`)
		repo := s.mkdir("repo")
		s.write("repo/src/main.c", "int main(void) { return 0; }\n")
		s.write("repo/src/sub/x.c", "int x;\n")
		s.write("repo/.gitignore", "node_modules/\nvendor/\n")
		s.write("repo/node_modules/pkg/index.js", "1\n")
		s.write("repo/node_modules/mylib/index.js", "1\n")
		s.write("repo/vendor/mylib/index.js", "3\n")
		hostGit := s.committedRepo(git, repo)
		s.committedRepo(git, filepath.Join(repo, "vendor/mylib")) // a checkout of the user's own
		for _, c := range []struct{ name, script string }{
			{"to-repo", "mkdir -p tmp/e1 && cp -a src/. tmp/e1/ && git init -q tmp/e1 && rm -rf src && ln -s tmp/e1 src"},
			{"init-after", "mkdir -p tmp/e2 && cp -a src/. tmp/e2/ && rm -rf src && ln -s tmp/e2 src && git init -q tmp/e2"},
			{"renamed-there", "mkdir -p tmp/e3 && git init -q tmp/e3 && ln -s tmp/e3 l && rm -rf src && mv l src"},
			{"not-yet", "rm -rf src && ln -s tmp/e4 src && mkdir -p tmp/e4 && git init -q tmp/e4"},
			{"below", "mkdir -p tmp/e5 && cp -a src/. tmp/e5/ && rm -rf src && ln -s tmp/e5 src && rm -rf tmp/e5/sub && mkdir tmp/e5/sub && git init -q tmp/e5/sub"},
			// Where it leads as the kernel resolves it: d/.. is tmp/d6.
			{"dotdot", "mkdir -p tmp/d6/inner tmp/d6/e e && git init -q tmp/d6/e && ln -s tmp/d6/inner d && rm -rf src && ln -s d/../e src"},
			// git outside resolves /proc/self for itself.
			{"proc", "rm -rf src && ln -s /proc/self/cwd/tmp/e7 src && mkdir -p tmp/e7 && git init -q tmp/e7"},
			// What is on the way, changed later.
			{"parent-renamed", "mkdir -p tmp/e8 && rm -rf src && ln -s tmp/e8 src && mv tmp t2 && mkdir -p tmp/e8 && git init -q tmp/e8"},
			{"chain-changed", "mkdir -p p r && git init -q r && ln -s p l2 && rm -rf src && ln -s l2 src && ln -sfn r l2"},
			{"file-then-dir", "mkdir tmp && touch tmp/f && rm -rf src && ln -s tmp/f src && rm tmp/f && mkdir tmp/f && git init -q tmp/f"},
			// Where the user's sub was, below where it leads.
			{"below-there", "mkdir -p tmp/e9/sub && git init -q tmp/e9/sub && rm -rf src && ln -s tmp/e9 src"},
			// Above where it leads: git outside looks there too.
			{"init-above", "mkdir -p tmp/e10 && rm -rf src && ln -s tmp/e10 src && git init -q tmp"},
		} {
			res := s.fenceWith(opts{dir: repo, env: gitEnv}, "-s", cfg, "--", "sh", "-c", c.script+" 2>/dev/null && echo done")
			if !ranInside(t, res) {
				return
			}
			if strings.Contains(res.stdout, "done\n") {
				t.Errorf("%s: a symlink where the user's src was leads to a repository of the sandbox's: %v", c.name, res)
			}
			for _, d := range []string{"src", "tmp", "l", "d", "e", "t2", "p", "r", "l2"} {
				os.RemoveAll(filepath.Join(repo, d))
			}
			hostGit(repo, "checkout", "--", "src")
		}
		res := s.fenceWith(opts{dir: repo, env: gitEnv}, "-s", cfg, "--", "sh", "-c",
			`rm -rf node_modules/pkg && mkdir -p node_modules/.pnpm/pkg && echo 2 > node_modules/.pnpm/pkg/index.js && ln -s .pnpm/pkg node_modules/pkg && cat node_modules/pkg/index.js`)
		if !ranInside(t, res) {
			return
		}
		if res.code != 0 || res.stdout != "2\n" {
			t.Errorf("a package directory replaced by a link, as pnpm does: %v", res)
		}
		// npm link: to a repository of the user's, not the sandbox's.
		res = s.fenceWith(opts{dir: repo, env: gitEnv}, "-s", cfg, "--", "sh", "-c",
			`rm -rf node_modules/mylib && ln -s ../vendor/mylib node_modules/mylib && cat node_modules/mylib/index.js`)
		if !ranInside(t, res) {
			return
		}
		if res.code != 0 || res.stdout != "3\n" {
			t.Errorf("a package directory replaced by a link to a repository of the user's, as npm link does: %v", res)
		}
	})
}

// committedRepo makes repo, with what the test wrote in it, a repository
// of the runner's, made and committed on the host, and returns the
// runner's host git (hostGit).
func (s *sandbox) committedRepo(git, repo string) func(dir string, args ...string) string {
	s.t.Helper()
	hostGit := s.hostGit(git)
	hostGit(repo, "init", "-q", "-b", "main", ".")
	hostGit(repo, "add", "-A")
	hostGit(repo, "commit", "-q", "-m", "one")
	return hostGit
}

// needRootFor skips t unless the tests run as root, which what needs.
func needRootFor(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip(what + " need root: run the tests as root")
	}
}

// Files and directories made in a writable directory get the modes of the
// umask fence was started with, in the command and in the processes it
// starts, as they would outside: PID 1, which creates them for the
// command, knows that mask without reading it from each process.
func TestFSCreateModesFollowUmask(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("w")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`)
		for _, tc := range []struct{ mask, want string }{
			{"027", "640 750 640 750"},
			{"002", "664 775 664 775"},
			{"077", "600 700 600 700"},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			script := `cd w && : > f$1 && mkdir d$1 && sh -c ': > g$0 && mkdir e$0' $1 && stat -c %a f$1 d$1 g$1 e$1`
			cmd := s.command(ctx, opts{}, "-s", cfg, "--", "sh", "-c", script, "sh", tc.mask)
			cmd.Args = append([]string{"sh", "-c", `umask "$0" && exec "$@"`, tc.mask}, cmd.Args...)
			cmd.Path = "/bin/sh"
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			cancel()
			if got := strings.Join(strings.Fields(string(out)), " "); err != nil || got != tc.want {
				t.Errorf("under umask %s: %v, modes %q; want %q (f, d made by the command, g, e by its child); stderr %q", tc.mask, err, out, tc.want, stderr.String())
			}
		}
	})
}

// A read-only place below a writable one (the working directory, kept
// readable in the sandbox's private /tmp) refuses every change alike, as
// a refusal that -m shows: PID 1's guard, which makes the changes for the
// command, trusts no read-only mount it has seen before.
func TestFSReadOnlyBelowWritableRefusesEveryTime(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("w")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["w"]}}`)
		res := s.fence("-m", "-s", cfg, "--", "sh", "-c", `true > w/ok; true > x1; true > x2; mkdir x3; true > x4; ls w`)
		if res.code != 0 || res.stdout != "ok\n" {
			t.Fatalf("want the write in w to work: %v", res)
		}
		for _, want := range []string{"✗ write " + s.path("x1"), "✗ write " + s.path("x2"), "✗ mkdir " + s.path("x3"), "✗ write " + s.path("x4")} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("-m shows no %q: %v", want, res)
			}
		}
		if strings.Contains(res.stderr, "Read-only file system") {
			t.Errorf("a change refused by the file system, not by fence: %v", res)
		}
		for _, n := range []string{"x1", "x2", "x3", "x4"} {
			mustNotExist(t, s.path(n), "made in the read-only working directory")
		}
	})
}

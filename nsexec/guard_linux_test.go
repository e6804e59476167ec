package nsexec_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nsfence/fence/nsexec"
	"golang.org/x/sys/unix"
)

// TestCreationGuard: names that do not exist yet but are protected cannot be
// created by any syscall that creates a directory entry, while everything
// else in the writable directory keeps working.
func TestCreationGuard(t *testing.T) {
	bash := requireBash(t)
	ws := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "src"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
cd "$WS"
try() { "$@" 2>/dev/null; case $? in 0) echo "CREATED:$*";; 127) echo "CREATED:$* (exit 127, not run: this check proves nothing)";; esac; }
try touch .bashrc
try sh -c 'echo x > .mcp.json'
try mkdir .vscode
try ln -s /etc .idea
ln -s .bashrc trick                # the link itself is allowed ...
try sh -c 'echo x > trick'         # ... but writing through it creates .bashrc
mkdir -p stage/commands
try mv stage .claude               # a tree put at an ancestor of .claude/commands
mkdir .claude
try mkdir .claude/commands
echo data > tmp && try mv tmp .zprofile
try ln "$OUT/src" .profile         # hard link to a protected name
try python3 -c 'import os; os.close(os.open(".gitconfig", os.O_CREAT|os.O_EXCL|os.O_WRONLY))'
# Ordinary work goes on.
echo ok > plain && mkdir -p d/e && ln -s plain lnk && mv plain moved && cat lnk 2>/dev/null; cat moved
(umask 077 && echo p > private) && stat -c %a private
mkfifo fifo && (echo through-fifo > fifo &) && cat fifo
echo done
`
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", script},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin:" + os.Getenv("PATH"), "WS=" + ws, "OUT=" + outside},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable: []string{ws},
			Guarded: []string{
				filepath.Join(ws, ".bashrc"), filepath.Join(ws, ".mcp.json"), filepath.Join(ws, ".vscode"),
				filepath.Join(ws, ".idea"), filepath.Join(ws, ".claude/commands"), filepath.Join(ws, ".zprofile"),
				filepath.Join(ws, ".profile"), filepath.Join(ws, ".gitconfig"),
			},
		},
	}
	got := runOK(t, o)
	if strings.Contains(got, "CREATED:") {
		t.Errorf("a protected name was created:\n%s", got)
	}
	for _, want := range []string{"ok\n", "600\n", "through-fifo\n", "done\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, n := range []string{".bashrc", ".mcp.json", ".vscode", ".idea", ".claude/commands", ".zprofile", ".profile", ".gitconfig"} {
		if _, err := os.Lstat(filepath.Join(ws, n)); err == nil {
			t.Errorf("%s exists on the host", n)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "d/e")); err != nil {
		t.Errorf("ordinary mkdir -p did not reach the host: %v", err)
	}
}

// TestUnixSocketGuard: a host unix socket in a readable directory (standing
// in for docker.sock or an ssh-agent) is unreachable unless the policy lists
// it; sockets the sandbox binds itself and socketpair keep working.
func TestUnixSocketGuard(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: needed for the socket client")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "host.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "host-secret\n")
			c.Close()
		}
	}()
	ws := t.TempDir()
	client := `
import socket, os, sys
def host():
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print("host:" + s.recv(100).decode().strip())
    except OSError as e:
        print("host-refused:%d" % e.errno)
host()
a, b = socket.socketpair(); a.sendall(b"pair"); print("socketpair:" + b.recv(4).decode())
os.chdir(sys.argv[2])
srv = socket.socket(socket.AF_UNIX); srv.bind("inner.sock"); srv.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect(os.path.join(sys.argv[2], "inner.sock"))
conn, _ = srv.accept(); c.sendall(b"inner"); print("inside:" + conn.recv(5).decode())
os.umask(0o077); m = socket.socket(socket.AF_UNIX); m.bind("masked.sock")
print("sockmode:%o" % (os.stat("masked.sock").st_mode & 0o777))
t = socket.socket(socket.AF_INET); t.bind(("127.0.0.1", 0)); t.listen(1)
u = socket.socket(socket.AF_INET); u.connect(t.getsockname()); print("tcp:ok")
`
	run := func(up nsexec.UnixPolicy) string {
		o := &nsexec.Options{
			Path: py, Args: []string{"python3", "-c", client, sock, ws},
			Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
			// dir is under the host /tmp, hidden by the private /tmp unless
			// bound: read-only, as a socket directory would be.
			FS:   nsexec.FSPolicy{Writable: []string{ws}, ReadOnly: []string{dir}},
			Unix: up,
		}
		p, out := start(t, o)
		defer out.Close()
		code, err := p.Wait()
		b, _ := io.ReadAll(out)
		if err != nil || code != 0 {
			t.Fatalf("exit %d %v\n%s", code, err, b)
		}
		return string(b)
	}
	got := run(nsexec.UnixPolicy{})
	for _, want := range []string{"host-refused:13\n", "socketpair:pair\n", "inside:inner\n", "sockmode:700\n", "tcp:ok\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("default policy: output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "host-secret") {
		t.Errorf("default policy reached the host socket:\n%s", got)
	}
	os.Remove(filepath.Join(ws, "inner.sock"))
	os.Remove(filepath.Join(ws, "masked.sock"))
	if got := run(nsexec.UnixPolicy{Allow: []string{dir}}); !strings.Contains(got, "host:host-secret\n") {
		t.Errorf("allowUnixSockets did not open the host socket:\n%s", got)
	}
	os.Remove(filepath.Join(ws, "inner.sock"))
	os.Remove(filepath.Join(ws, "masked.sock"))
	if got := run(nsexec.UnixPolicy{AllowAll: true}); !strings.Contains(got, "host:host-secret\n") {
		t.Errorf("allowAllUnixSockets did not open the host socket:\n%s", got)
	}
}

// TestWriteGuardPatterns: denyWrite globs keep the user's matching files as
// they are, however deep in the tree, against every way of writing,
// truncating, renaming or removing them; files the sandbox creates itself
// (pip's cacert.pem, a fixture in node_modules) stay free to change.
func TestWriteGuardPatterns(t *testing.T) {
	bash := requireBash(t)
	ws := t.TempDir()
	for _, d := range []string{"a/b", "keys"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/b/.env", "keys/old.pem"} {
		if err := os.WriteFile(filepath.Join(ws, f), []byte("orig\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `
cd "$WS"
try() { "$@" 2>/dev/null; case $? in 0) echo "WROTE:$*";; 127) echo "WROTE:$* (exit 127, not run: this check proves nothing)";; esac; }
try sh -c 'echo x >> a/b/.env'
try sh -c 'echo x > a/b/.env'
try truncate -s 0 a/b/.env
try rm a/b/.env
try mv a/b/.env moved
echo y > tmpfile && try mv tmpfile a/b/.env
try sh -c 'echo x >> keys/old.pem'
ln -s b/.env a/lnk && try sh -c 'echo x > a/lnk'
# Through a magic link: an O_PATH fd, then /proc/self/fd/N for writing.
try python3 -c 'import os; fd = os.open("a/b/.env", os.O_PATH); os.close(os.open("/proc/self/fd/%d" % fd, os.O_WRONLY|os.O_TRUNC))'
try python3 -c 'import os; fd = os.open("a/b/.env", os.O_PATH); os.truncate("/proc/self/fd/%d" % fd, 0)'
# A second name for a protected file, to write it through.
try sh -c 'ln a/b/.env hard && echo x > hard'
ln -s b/.env a/slnk && try sh -c 'ln -L a/slnk hard2 && echo x > hard2'
try sh -c 'exec 4<a/b/.env; ln -L /proc/self/fd/4 hard3 && echo x > hard3'
# Files the sandbox creates are its own.
echo new > .env && echo more >> .env && echo created-env
ln .env env2 && echo mine > mine.txt && ln mine.txt mine2 && ln -s mine.txt ms && ln ms ms2 && test -L ms2 && echo linked
echo cert > keys/new.pem && mv keys/new.pem keys/renamed.pem && echo again >> keys/renamed.pem && echo created-pem
# Ordinary work goes on.
echo ok > a/b/plain && cat a/b/plain && rm a/b/plain && echo removed
echo dev > /dev/null && echo devnull
exec 3>/dev/tty 2>/dev/null && echo TTY-OPENED || echo no-tty
echo done
`
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", script},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "WS=" + ws},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable:          []string{ws},
			DenyWritePatterns: []string{filepath.Join(ws, "**/.env"), filepath.Join(ws, "**/*.pem")},
		},
	}
	p, out := start(t, o)
	defer out.Close()
	code, err := p.Wait()
	b, _ := io.ReadAll(out)
	got := string(b)
	if err != nil || code != 0 {
		t.Fatalf("exit %d %v\n%s", code, err, got)
	}
	if strings.Contains(got, "WROTE:") {
		t.Errorf("a protected file was written:\n%s", got)
	}
	for _, want := range []string{"created-env\n", "linked\n", "created-pem\n", "ok\n", "removed\n", "devnull\n", "no-tty\n", "done\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for f, want := range map[string]string{"a/b/.env": "orig\n", "keys/old.pem": "orig\n"} {
		if b, err := os.ReadFile(filepath.Join(ws, f)); err != nil || string(b) != want {
			t.Errorf("%s on the host: %q %v", f, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, ".env")); string(b) != "new\nmore\n" {
		t.Errorf("a .env the sandbox created: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(ws, "moved")); err == nil {
		t.Error("a protected file was renamed away")
	}
}

// TestWriteGuardManyCreated: a policy naming many files earlier sandboxes
// created, and a run that creates thousands more, cross the control socket
// whole. Each went as one packet: a policy over the socket's send buffer
// (~208 KiB) failed to start ("message too long"), and a msgExit over the
// supervisor's 64 KiB read was cut, the run's created files lost from the
// record (a later run could not remove them under -t code). The files the
// policy named are not sent back: the supervisor has them.
func TestWriteGuardManyCreated(t *testing.T) {
	ws := t.TempDir()
	var loaded []string
	for i := range 20000 {
		// Identities no file has: loaded, reported back, never matched.
		loaded = append(loaded, nsexec.FormatCreated(1<<40, uint64(i+1), filepath.Join(ws, fmt.Sprintf("old/node_modules/pkg%05d/test/fixtures/key.pem", i))))
	}
	const n = 3000
	o := &nsexec.Options{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", `mkdir k && cd k && i=0; while [ $i -lt "$n" ]; do : > f$i.pem; i=$((i+1)); done; echo done`},
		Env:  []string{"PATH=/usr/bin:/bin", "n=" + strconv.Itoa(n)},
		Dir:  ws,
		FS: nsexec.FSPolicy{
			Writable:          []string{ws},
			DenyWritePatterns: []string{filepath.Join(ws, "**/*.pem")},
			Created:           loaded,
		},
	}
	p, out := start(t, o)
	defer out.Close()
	code, err := p.Wait()
	b, _ := io.ReadAll(out)
	if err != nil || code != 0 || string(b) != "done\n" {
		t.Fatalf("exit %d %v\n%s", code, err, b)
	}
	got := map[string]bool{}
	for _, c := range p.Created() {
		_, _, path, _ := nsexec.ParseCreated(c)
		got[path] = true
	}
	if len(got) != n {
		t.Errorf("%d created files reported, want the %d made (not the %d loaded)", len(got), n, len(loaded))
	}
	for i := range n {
		if path := filepath.Join(ws, "k", fmt.Sprintf("f%d.pem", i)); !got[path] {
			t.Fatalf("%s, created, not reported (%d reported)", path, len(got))
		}
	}
}

// TestWriteGuardHeldPatternDirs: the directory of a no-write pattern
// without "**" (config/*.yml) cannot be renamed away and replaced by one
// of the sandbox's holding a new config/app.yml in place of the user's.
func TestWriteGuardHeldPatternDirs(t *testing.T) {
	bash := requireBash(t)
	ws := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ws, "config", "d1"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config/app.yml", "config/d1/x.yml", "config/notes.txt"} {
		if err := os.WriteFile(filepath.Join(ws, f), []byte("orig\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `
cd "$WS"
try() { "$@" 2>/dev/null; case $? in 0) echo "DONE:$*";; 127) echo "DONE:$* (exit 127, not run: this check proves nothing)";; esac; }
try sh -c 'mv config old && mkdir config && echo evil > config/app.yml'
try sh -c 'ln -s . link'
mv config/notes.txt config/notes2.txt && echo renamed-plain
mv config/d1 config/d2 && echo renamed-globdir
echo done
`
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", script},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "WS=" + ws},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable:          []string{ws},
			DenyWritePatterns: []string{filepath.Join(ws, "config/*.yml"), filepath.Join(ws, "config/*/x.yml")},
		},
	}
	got := runOK(t, o)
	for _, bad := range []string{"DONE:sh -c mv config old"} {
		if strings.Contains(got, bad) {
			t.Errorf("a pattern's directory was replaced:\n%s", got)
		}
	}
	// A directory that only a glob of a pattern names (config/*/x.yml)
	// is not held: renames in config/ stay free.
	for _, want := range []string{"renamed-plain\n", "renamed-globdir\n", "done\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, f := range []string{"config/app.yml"} {
		if b, err := os.ReadFile(filepath.Join(ws, f)); err != nil || string(b) != "orig\n" {
			t.Errorf("%s on the host: %q %v", f, b, err)
		}
	}
}

// TestGuardProtectedPatterns: a name matching a protected pattern can be
// neither created (by any syscall) nor changed, removed or renamed, whoever
// made it; a guarded name that exists but is not bound read-only (a .git
// that decides which config applies) can be neither removed nor renamed.
// Everything else in the writable directory keeps working.
func TestGuardProtectedPatterns(t *testing.T) {
	bash := requireBash(t)
	ws := t.TempDir()
	for _, d := range []string{"a", "b", "repo/.git"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ws, "a/fence.json"), []byte("orig\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
cd "$WS"
try() { "$@" 2>/dev/null; case $? in 0) echo "DONE:$*";; 127) echo "DONE:$* (exit 127, not run: this check proves nothing)";; esac; }
try sh -c 'echo x > b/fence.json'
try sh -c 'echo x > fence.json'
try mkdir b/fence.json
try mknod b/fence.json p
try ln -s x b/fence.json
echo x > t && try ln t b/fence.json
echo x > t2 && try mv t2 b/fence.json
ln -s fence.json b/lnk && try sh -c 'echo x > b/lnk'
try sh -c 'echo x >> a/fence.json'
try truncate -c -s 0 a/fence.json
try python3 -c 'import os; os.close(os.open("a/fence.json", os.O_WRONLY))'
try python3 -c 'import os; fd = os.open("a/fence.json", os.O_PATH); os.close(os.open("/proc/self/fd/%d" % fd, os.O_WRONLY))'
try rm a/fence.json
try mv a/fence.json a/moved
try ln a/fence.json hard
try rm -rf repo/.git
try mv repo/.git repo/moved
# Ordinary work goes on.
echo ok > b/fence.jsonx && echo ok > b/x.json && mkdir -p repo/.git/objects && echo obj > repo/.git/objects/o && rm b/x.json && echo plain
cat a/fence.json
echo done
`
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", script},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "WS=" + ws},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable:          []string{ws},
			Guarded:           []string{filepath.Join(ws, "repo/.git")},
			ProtectedPatterns: []string{filepath.Join(ws, "**/fence.json")},
		},
	}
	got := runOK(t, o)
	if strings.Contains(got, "DONE:") {
		t.Errorf("a protected name was created, changed or removed:\n%s", got)
	}
	for _, want := range []string{"plain\n", "orig\n", "done\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, n := range []string{"fence.json", "b/fence.json", "a/moved", "hard", "repo/moved"} {
		if _, err := os.Lstat(filepath.Join(ws, n)); err == nil {
			t.Errorf("%s exists on the host", n)
		}
	}
	if b, err := os.ReadFile(filepath.Join(ws, "a/fence.json")); err != nil || string(b) != "orig\n" {
		t.Errorf("a/fence.json on the host: %q %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(ws, "repo/.git")); err != nil || !st.IsDir() {
		t.Errorf("repo/.git on the host: %v", err)
	}
}

// TestGuardGitDirs: with GitDirs, what git runs code from in a .git that
// existed before the run, at any depth, can be neither created, changed,
// renamed, linked nor removed, by any syscall; nor can that .git, or the
// directory holding it, be moved, nor a .git file be made or changed in a
// directory that was there before. Git's own work there goes on, and a
// .git the sandbox makes (or one the record says an earlier run made) is
// its own.
func TestGuardGitDirs(t *testing.T) {
	bash := requireBash(t)
	ws := t.TempDir()
	for _, f := range []string{
		"a/b/proj/.git/HEAD", "a/b/proj/.git/config", "a/b/proj/.git/hooks/pre-commit.sample",
		"a/b/proj/.git/modules/x/HEAD", "a/b/proj/.git/modules/x/config", "a/b/proj/.git/modules/x/hooks/keep",
		"a/b/proj/.git/worktrees/w/gitdir", "a/b/proj/.git/worktrees/w/HEAD", "a/b/proj/.git/refs/heads/main",
		"a/b/proj/.git/objects/keep", "a/b/wt/.git", "a/notes/n", "rec/.git/config",
	} {
		p := filepath.Join(ws, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("orig\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(ws, "rec/.git"), &st); err != nil {
		t.Fatal(err)
	}
	script := `
cd "$WS/a/b"
try() { "$@" 2>/dev/null; case $? in 0) echo "DONE:$*";; 127) echo "DONE:$* (exit 127, not run: this check proves nothing)";; esac; }
try sh -c 'echo x > proj/.git/hooks/pre-commit'
try sh -c 'echo x >> proj/.git/hooks/pre-commit.sample'
try truncate -s 0 proj/.git/hooks/pre-commit.sample
try rm proj/.git/hooks/pre-commit.sample
try mv proj/.git/hooks/pre-commit.sample proj/.git/hooks/pre-commit
try ln -s /bin/true proj/.git/hooks/post-checkout
echo '#!/bin/sh' > ../hook && try ln ../hook proj/.git/hooks/post-merge
try mv ../hook proj/.git/hooks/post-merge
try mv proj/.git/hooks proj/.git/hooks2
try sh -c 'echo x >> proj/.git/config'
echo x > proj/.git/config.lock && try mv proj/.git/config.lock proj/.git/config
try ln proj/.git/config ../config-link
try python3 -c 'import os; fd = os.open("proj/.git/config", os.O_PATH); os.close(os.open("/proc/self/fd/%d" % fd, os.O_WRONLY))'
try sh -c 'echo x > proj/.git/commondir'
try sh -c 'echo x > proj/.git/config.worktree'
try mkdir -p proj/.git/modules/y/hooks
try sh -c 'echo x > proj/.git/modules/x/hooks/post-checkout'
try sh -c 'echo x >> proj/.git/modules/x/config'
try mv proj/.git/modules/x ../x
try mv proj/.git/modules ../modules
mkdir ../prepared && try mv ../prepared proj/.git/modules/z
try sh -c 'echo x > proj/.git/worktrees/w/gitdir'
try sh -c 'echo x > proj/.git/worktrees/w/commondir'
try mkdir -p proj/.git/worktrees/w/modules/s/hooks
try mv proj/.git proj/moved
try mv proj proj2
try rmdir proj/.git
try sh -c 'echo gitdir: /tmp > wt/.git'
try rm wt/.git
try mv wt wt2
try sh -c 'echo gitdir: /tmp > ../notes/.git'
try ln -s /tmp ../notes/.git
try mkfifo ../notes/.git
# Git's own work goes on.
echo obj > proj/.git/objects/o && echo ref > proj/.git/refs/heads/feat && echo h > proj/.git/HEAD.lock && mv proj/.git/HEAD.lock proj/.git/HEAD &&
echo m > proj/.git/COMMIT_EDITMSG && echo i > proj/.git/index && rm proj/.git/refs/heads/feat && echo x > proj/.git/modules/x/index && echo git-work
# A worktree of the sandbox's: its git directory and .git file.
mkdir proj/.git/worktrees/n new && echo g > proj/.git/worktrees/n/gitdir && mkdir -p proj/.git/worktrees/n/modules/s/hooks && echo x > proj/.git/worktrees/n/modules/s/hooks/post-checkout && echo gitdir: x > new/.git && rm new/.git && echo new-worktree
# Repositories of the sandbox's: made here, or recorded.
mkdir -p c/d/.git/hooks && echo x > c/d/.git/hooks/pre-commit && echo x > c/d/.git/config && mv c/d/.git c/d/g && mv c/d/g c/d/.git && rm -rf c && echo made-here
mkdir tmpgit made && mv tmpgit made/.git && echo x > made/.git/config && echo renamed-in
echo x > "$WS/rec/.git/hooks-not-yet" && mkdir "$WS/rec/.git/hooks" && echo x > "$WS/rec/.git/hooks/pre-commit" && echo x >> "$WS/rec/.git/config" && echo recorded
# Last: it removes what git's own files it can.
try rm -rf proj/.git
echo done
`
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", script},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "WS=" + ws},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable: []string{ws},
			GitDirs:  true,
			Created:  []string{nsexec.FormatCreated(uint64(st.Dev), st.Ino, filepath.Join(ws, "rec/.git"))},
		},
	}
	got := runOK(t, o)
	if strings.Contains(got, "DONE:") {
		t.Errorf("what git runs in a repository that was there was changed:\n%s", got)
	}
	for _, want := range []string{"git-work\n", "new-worktree\n", "made-here\n", "renamed-in\n", "recorded\n", "done\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, n := range []string{"a/b/proj/.git/hooks/pre-commit", "a/b/proj/.git/hooks/post-checkout", "a/b/proj/.git/hooks/post-merge",
		"a/b/proj/.git/modules/y/hooks", "a/b/proj/.git/modules/z", "a/b/proj/.git/worktrees/w/modules/s/hooks", "a/b/proj/.git/modules/x/hooks/post-checkout", "a/b/proj/.git/commondir", "a/notes/.git", "a/b/proj2"} {
		if _, err := os.Lstat(filepath.Join(ws, n)); err == nil {
			t.Errorf("%s exists on the host", n)
		}
	}
	for _, f := range []string{"a/b/proj/.git/config", "a/b/proj/.git/hooks/pre-commit.sample", "a/b/proj/.git/modules/x/config", "a/b/proj/.git/worktrees/w/gitdir", "a/b/wt/.git"} {
		if b, err := os.ReadFile(filepath.Join(ws, f)); err != nil || string(b) != "orig\n" {
			t.Errorf("%s on the host: %q %v", f, b, err)
		}
	}
	// Without GitDirs, the same hook is written: the test sees the guard.
	o.FS.GitDirs = false
	o.Args = []string{"bash", "-c", `echo x > "$WS/a/b/proj/.git/hooks/pre-commit" && echo written`}
	if got := runOK(t, o); !strings.Contains(got, "written") {
		t.Errorf("without GitDirs: %s", got)
	}
}

// TestGuardGitDirsCopiedUp: on overlayfs (a container's root, the
// repository in its image), a directory of the lower layer that anything
// changes is copied up, and reads as born then: "made in this run" is
// what the guard made, not a birth time. Else touch lib/x made the user's
// submodule checkout lib new, and its .git file could then lead to a
// repository of the sandbox's (git status in the repository recurses
// into it and runs its fsmonitor); so for a worktree's git directory.
// Mounting needs root.
func TestGuardGitDirsCopiedUp(t *testing.T) {
	bash := requireBash(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting an overlayfs needs root")
	}
	d := t.TempDir()
	lower, upper, work, ws := filepath.Join(d, "lower"), filepath.Join(d, "upper"), filepath.Join(d, "work"), filepath.Join(d, "ws")
	for _, f := range []string{"a/b/proj/.git/HEAD", "a/b/proj/.git/worktrees/w/gitdir", "a/b/proj/lib/.git"} {
		p := filepath.Join(lower, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("orig\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{upper, work, ws} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("overlay", ws, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		t.Skipf("mount overlayfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(ws, unix.MNT_DETACH) })
	script := `
cd "$WS/a/b"
try() { "$@" 2>/dev/null; case $? in 0) echo "DONE:$*";; 127) echo "DONE:$* (exit 127, not run: this check proves nothing)";; esac; }
touch proj/lib/x proj/.git/worktrees/w/x
try sh -c 'echo gitdir: /tmp > proj/lib/.git'
try rm proj/lib/.git
try mv proj/lib lib2
try sh -c 'echo x > proj/.git/worktrees/w/commondir'
try sh -c 'echo x > proj/.git/worktrees/w/gitdir'
mkdir new && echo gitdir: x > new/.git && echo new-dir
`
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", script},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "WS=" + ws},
		Dir:  "/",
		FS:   nsexec.FSPolicy{Writable: []string{ws}, GitDirs: true},
	}
	var before unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, filepath.Join(ws, "a/b/proj/lib"), 0, unix.STATX_BTIME, &before); err != nil || before.Mask&unix.STATX_BTIME == 0 {
		t.Skipf("no birth times on overlayfs here: %v", err)
	}
	got := runOK(t, o)
	if strings.Contains(got, "DONE:") || !strings.Contains(got, "new-dir\n") {
		t.Errorf("a directory copied up was taken for one made in the run:\n%s", got)
	}
	for _, f := range []string{"a/b/proj/lib/.git", "a/b/proj/.git/worktrees/w/gitdir"} {
		if b, err := os.ReadFile(filepath.Join(ws, f)); err != nil || string(b) != "orig\n" {
			t.Errorf("%s on the host: %q %v", f, b, err)
		}
	}
	var after unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, filepath.Join(ws, "a/b/proj/lib"), 0, unix.STATX_BTIME, &after); err != nil || after.Btime == before.Btime {
		t.Errorf("the copy-up kept lib's birth time (%v): the test proves nothing", err)
	}
}

// TestGuardRemovable: a removable path can be removed, with its
// directories, and nothing else: not written (by open, truncate, a /proc
// magic link or a hard link), renamed, replaced, or made again by any
// syscall; its directories can be neither renamed nor replaced, but made
// again once removed. A protected pattern on a removable path keeps it.
func TestGuardRemovable(t *testing.T) {
	bash := requireBash(t)
	ws := t.TempDir()
	wt := filepath.Join(ws, "wts/w")
	for _, f := range []string{"wts/w/commondir", "wts/w/index", "wts/w/fence.json", "other"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(ws, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, f), []byte("orig\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `
cd "$WS"
try() { "$@" 2>/dev/null; case $? in 0) echo "DONE:$*";; 127) echo "DONE:$* (exit 127, not run: this check proves nothing)";; esac; }
try sh -c 'echo x > wts/w/commondir'
try sh -c 'echo x >> wts/w/commondir'
try truncate -s 0 wts/w/commondir
try python3 -c 'import os; fd = os.open("wts/w/commondir", os.O_PATH); os.close(os.open("/proc/self/fd/%d" % fd, os.O_WRONLY))'
try ln wts/w/commondir hard
echo x > t && try mv t wts/w/commondir
try mv wts/w/commondir moved
try python3 -c 'import os; os.rename("other", "wts/w/commondir", )' 
try python3 -c 'import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); r = libc.renameat2(-100, b"other", -100, b"wts/w/commondir", 2); assert r == 0, os.strerror(ctypes.get_errno())'
try sh -c 'echo x > wts/w/config'
try mkdir wts/w/hooks
try mv wts/w wts/moved
try mv wts moved
try ln -s x wts/w/config
echo x > wts/w/index && echo index-written
try rm wts/w/fence.json
rm wts/w/commondir && echo commondir-removed
try sh -c 'echo x > wts/w/commondir'
try mknod wts/w/commondir p
rm wts/w/index && rm -f wts/w/fence.json; rmdir wts/w 2>/dev/null || echo w-kept
rm -r wts/w 2>/dev/null; test -e wts/w/fence.json && echo pattern-kept
`
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", script},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "WS=" + ws},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable:          []string{ws},
			ProtectedPatterns: []string{filepath.Join(ws, "**/fence.json")},
			Removable:         []string{wt, filepath.Join(wt, "commondir"), filepath.Join(wt, "config"), filepath.Join(wt, "hooks"), filepath.Join(wt, "fence.json")},
		},
	}
	got := runOK(t, o)
	if strings.Contains(got, "DONE:") {
		t.Errorf("a removable path was written, made or renamed:\n%s", got)
	}
	for _, want := range []string{"index-written\n", "commondir-removed\n", "w-kept\n", "pattern-kept\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, n := range []string{"hard", "moved", "wts/moved", "wts/w/commondir", "wts/w/config", "wts/w/hooks"} {
		if _, err := os.Lstat(filepath.Join(ws, n)); err == nil {
			t.Errorf("%s exists on the host", n)
		}
	}
	if b, err := os.ReadFile(filepath.Join(ws, "other")); err != nil || string(b) != "orig\n" {
		t.Errorf("other on the host: %q %v", b, err)
	}

	// Without the pattern's file, the directory goes, and cannot come
	// back; its parent can be removed and made again.
	script = `
cd "$WS"
try() { "$@" 2>/dev/null; case $? in 0) echo "DONE:$*";; 127) echo "DONE:$* (exit 127, not run: this check proves nothing)";; esac; }
rm -r wts/w && echo w-removed
try mkdir wts/w
mkdir new && try mv new wts/w
try ln -s new wts/w
rmdir wts && mkdir wts && echo wts-remade
try mkdir wts/w
`
	if err := os.Remove(filepath.Join(wt, "fence.json")); err != nil {
		t.Fatal(err)
	}
	o.Args = []string{"bash", "-c", script}
	got = runOK(t, o)
	if strings.Contains(got, "DONE:") {
		t.Errorf("a removed removable path was made again:\n%s", got)
	}
	for _, want := range []string{"w-removed\n", "wts-remade\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if _, err := os.Lstat(wt); err == nil {
		t.Errorf("%s exists on the host", wt)
	}
}

// TestGuardUnderSignals: guarded syscalls keep their native results while
// signals fly. The caller has a restarting (SA_RESTART) handler on a fast
// timer, as Go programs (SIGURG) and libuv (SIGCHLD) do: a signal after PID
// 1 has created the directory or file must not restart the syscall into
// EEXIST. A child keeps signalling PID 1 (SIGURG, which its runtime
// handles), so that PID 1 serves while it takes signals; an open must
// never return a descriptor the caller did not ask for (see addfdSend).
func TestGuardUnderSignals(t *testing.T) {
	if !kernelAtLeast(5, 19) {
		t.Skip("kernel older than 5.19: no SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, a signal restarts a guarded syscall PID 1 already performed")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: needed to drive the syscalls with a signal timer")
	}
	ws := t.TempDir()
	script := `
import os, signal, sys
d = sys.argv[1]
pid = os.fork()
if pid == 0:
    while True:
        os.kill(1, signal.SIGURG)
signal.signal(signal.SIGALRM, lambda *a: None)
signal.siginterrupt(signal.SIGALRM, False)
signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
bad = []
for i in range(1500):
    try:
        os.mkdir("%s/m%d" % (d, i))
        fd = os.open("%s/f%d" % (d, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if fd < 3:
            bad.append("open returned fd %d" % fd)
        else:
            os.close(fd)
    except OSError as e:
        bad.append(repr(e))
signal.setitimer(signal.ITIMER_REAL, 0)
os.kill(pid, signal.SIGKILL)
print("%d failures" % len(bad))
print("\n".join(bad[:5]))
`
	b, code, err := runGuarded(t, ws, []string{"python3", "-c", script, ws}, python)
	got := string(b)
	if err != nil || code != 0 {
		t.Fatalf("exit %d %v\n%s", code, err, got)
	}
	if !strings.HasPrefix(got, "0 failures\n") {
		t.Errorf("guarded syscalls failed under signals:\n%s", got)
	}
}

// TestGuardUmask: files and directories PID 1 creates for the command get
// the modes the command's own umask would give, as it changes: in the same
// process, set by another thread, inherited and changed by a child.
func TestGuardUmask(t *testing.T) {
	script := `
import os, sys, threading, stat
d = sys.argv[1]
def mode(p): return "%o" % stat.S_IMODE(os.stat(p).st_mode)
out = []
os.umask(0o077); open(d + "/a", "w").close(); out.append(mode(d + "/a"))
os.umask(0o022); open(d + "/b", "w").close(); out.append(mode(d + "/b"))
os.umask(0o027); os.mkdir(d + "/c"); out.append(mode(d + "/c"))
t = threading.Thread(target=lambda: os.umask(0o007)); t.start(); t.join()
open(d + "/e", "w").close(); out.append(mode(d + "/e"))
def mk(): open(d + "/f", "w").close()
t = threading.Thread(target=mk); t.start(); t.join(); out.append(mode(d + "/f"))
pid = os.fork()
if pid == 0:
    open(d + "/g", "w").close(); os.umask(0o000); os.mkdir(d + "/h"); os._exit(0)
os.waitpid(pid, 0)
out.append(mode(d + "/g")); out.append(mode(d + "/h"))
os.mknod(d + "/i", 0o666 | stat.S_IFIFO); out.append(mode(d + "/i"))
print(" ".join(out))
`
	sameAsOutside(t, script, "modes")
}

// sameAsOutside runs a Python script with a directory of its own as its
// argument, outside and in a guarded sandbox where that directory is
// writable, and fails unless both print the same (what it prints).
func sameAsOutside(t *testing.T, script, what string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: needed to run the syscalls under test outside and in the sandbox")
	}
	native, err := exec.Command(python, "-c", script, t.TempDir()).Output()
	if err != nil {
		t.Fatalf("script outside the sandbox: %v", err)
	}
	ws := t.TempDir()
	b, code, err := runGuarded(t, ws, []string{"python3", "-c", script, ws}, python)
	if err != nil || code != 0 {
		t.Fatalf("exit %d %v\n%s", code, err, b)
	}
	if string(b) != string(native) {
		t.Errorf("%s in the sandbox %q, outside %q", what, b, native)
	}
}

// umaskRaceC changes the umask from threads and checks the modes of files
// the main thread creates afterwards:
//   - two threads setting different masks at once (the kernel may run the
//     two umask calls in either order after PID 1 lets them through);
//   - one thread setting a mask while the main thread keeps creating files
//     (PID 1 must not cache a value the pending umask overtakes);
//   - a thread cloned without CLONE_FS (its own umask, which must not leak
//     into the main thread's);
//   - such a thread's exec, which makes its umask the process's under the
//     process's id (the new image checks, with "after" as argument).
const umaskRaceC = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir, *self;
static pthread_barrier_t bar;
static void *set077(void *a) { pthread_barrier_wait(&bar); umask(077); return 0; }
static void *set002(void *a) { pthread_barrier_wait(&bar); umask(002); return 0; }
static volatile int go;
static unsigned mask;
static void *setOnce(void *a) { while (!go) ; umask(mask); return 0; }
static volatile int done;
static int ownfs(void *a) { umask(0); __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST); return 0; }

static unsigned current(void) {
	char line[256]; unsigned m = 0777;
	FILE *f = fopen("/proc/thread-self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Umask: %o", &m) == 1) break;
	if (f) fclose(f);
	return m;
}

static int check(const char *name) {
	char p[4096]; struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	unsigned want = 0666 & ~current();
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0666);
	if (fd < 0 || close(fd) || stat(p, &st)) { perror(p); return 1; }
	if ((st.st_mode & 0777) != want) { printf("%s: mode %o, want %o\n", name, st.st_mode & 0777, want); return 1; }
	return 0;
}

static int execer(void *a) {
	umask(077);
	check("thread");
	usleep(200000);
	char *argv[] = {self, dir, "after", 0};
	execv(self, argv);
	perror("execv");
	_exit(2);
}

int main(int argc, char **argv) {
	int bad = 0; char name[64];
	setvbuf(stdout, 0, _IONBF, 0);
	dir = argv[1];
	if (argc > 2) { printf("exec: %d wrong\n", check("after-exec")); return 0; }
	for (int i = 0; i < 200; i++) {
		pthread_t a, b;
		pthread_barrier_init(&bar, 0, 2);
		pthread_create(&a, 0, set077, 0); pthread_create(&b, 0, set002, 0);
		pthread_join(a, 0); pthread_join(b, 0);
		pthread_barrier_destroy(&bar);
		snprintf(name, sizeof name, "race%d", i);
		bad += check(name);
	}
	for (int i = 0; i < 100; i++) {
		pthread_t t; char p[4096];
		mask = i & 1 ? 077 : 022; go = 0;
		pthread_create(&t, 0, setOnce, 0);
		go = 1;
		for (int k = 0; k < 10; k++) {
			snprintf(p, sizeof p, "%s/busy%d_%d", dir, i, k);
			int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0666);
			if (fd >= 0) close(fd);
		}
		pthread_join(t, 0);
		usleep(200);
		snprintf(name, sizeof name, "pending%d", i);
		bad += check(name);
	}
	umask(022);
	bad += check("before");
	static char stack[65536];
	if (clone(ownfs, stack + sizeof stack, CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, 0) < 0) { perror("clone"); return 2; }
	while (!__atomic_load_n(&done, __ATOMIC_SEQ_CST)) sched_yield();
	bad += check("after");
	printf("race: %d wrong\n", bad);
	self = realpath("/proc/self/exe", 0);
	umask(0);
	check("main0");
	static char stack2[65536];
	if (clone(execer, stack2 + sizeof stack2, CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, 0) < 0) { perror("clone"); return 2; }
	usleep(50000);
	check("main1");
	for (;;) pause();
}
`

// TestGuardUmaskThreads: umask changes from other threads, at the same time
// or in a filesystem context of their own, never leave PID 1 creating files
// with another mode than the caller's umask gives.
func TestGuardUmaskThreads(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed: needed to build the threaded umask helper")
	}
	src := filepath.Join(t.TempDir(), "umask.c")
	bin := strings.TrimSuffix(src, ".c")
	if err := os.WriteFile(src, []byte(umaskRaceC), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-O2", "-pthread", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("build helper: %v\n%s", err, out)
	}
	const want = "race: 0 wrong\nexec: 0 wrong\n"
	if out, err := exec.Command(bin, t.TempDir()).Output(); err != nil || string(out) != want {
		t.Fatalf("helper outside the sandbox: %v\n%s", err, out)
	}
	ws := t.TempDir()
	b, code, err := runGuarded(t, ws, []string{"umask", ws}, bin, filepath.Dir(bin))
	if err != nil || code != 0 || string(b) != want {
		t.Errorf("exit %d %v:\n%s", code, err, b)
	}
}

// kernelAtLeast reports whether the running kernel is version major.minor or
// later.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// TestGuardNonDumpable: a process that made itself non-dumpable (ssh-agent,
// gpg-agent) still creates files and binds and connects sockets through the
// guard, by absolute and relative paths and from a directory fd; another
// process of the sandbox still cannot reach its file descriptors through
// the guard.
func TestGuardNonDumpable(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: needed to make a process non-dumpable")
	}
	script := `
import ctypes, errno, os, socket, sys
d = sys.argv[1]
r, w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(go_r, 1)
    try:
        os.close(os.open("/proc/%d/fd/%d" % (os.getppid(), w), os.O_WRONLY | os.O_CREAT))
        print("other: opened")
    except OSError as e:
        print("other: " + errno.errorcode[e.errno])
    sys.stdout.flush()
    os._exit(0)
if ctypes.CDLL(None).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
    sys.exit("prctl failed")
os.write(go_w, b"x")
os.waitpid(pid, 0)
out = []
os.mkdir(d + "/abs"); out.append("abs")
os.chdir(d); os.mkdir("rel"); out.append("rel")
dfd = os.open(d, os.O_RDONLY)
os.close(os.open("at", os.O_WRONLY | os.O_CREAT, dir_fd=dfd)); out.append("at")
s = socket.socket(socket.AF_UNIX); s.bind(d + "/sock"); s.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect(d + "/sock"); out.append("connected")
print(" ".join(out))
`
	ws := t.TempDir()
	b, code, err := runGuarded(t, ws, []string{"python3", "-c", script, ws}, python)
	got := string(b)
	if err != nil || code != 0 {
		t.Fatalf("exit %d %v\n%s", code, err, got)
	}
	if !strings.HasPrefix(got, "other: EACCES\n") && !strings.HasPrefix(got, "other: EPERM\n") {
		t.Errorf("another sandboxed process reached a non-dumpable one's fd through the guard:\n%s", got)
	}
	if !strings.HasSuffix(got, "abs rel at connected\n") {
		t.Errorf("a non-dumpable process could not create or connect:\n%s", got)
	}
}

// runGuarded runs path with args in a sandbox where ws is writable and its
// .bashrc a protected name (so the creation guard is on), with extra
// writable directories, and returns the output and exit status.
func runGuarded(t *testing.T, ws string, args []string, path string, writable ...string) ([]byte, int, error) {
	t.Helper()
	o := &nsexec.Options{
		Path: path,
		Args: args,
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable: append([]string{ws}, writable...),
			Guarded:  []string{filepath.Join(ws, ".bashrc")},
		},
	}
	p, out := start(t, o)
	defer out.Close()
	code, err := p.Wait()
	b, _ := io.ReadAll(out)
	return b, code, err
}

// TestGuardOpenEdgeCases: the guard performs O_CREAT opens itself, so it
// must answer as the kernel would where a name is not a new file (EISDIR,
// EEXIST, ENOENT for an empty name), and an open that waits (a FIFO without
// a reader, reached through /proc/self/fd) must not hold up every other
// guarded syscall of the sandbox.
func TestGuardOpenEdgeCases(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: needed for the syscalls under test")
	}
	ws := t.TempDir()
	script := `
import errno, os, threading, time
os.chdir(os.environ["WS"])
os.mkdir("adir")
open("reg", "w").close()
def want(name, e, f):
    try:
        fd = f()
        os.close(fd) if isinstance(fd, int) else None
        print(name, "ok")
    except OSError as x:
        print(name, errno.errorcode[x.errno] if x.errno != e else "as-kernel")
want("creat-dir", errno.EISDIR, lambda: os.open("adir", os.O_RDONLY|os.O_CREAT))
want("creat-dot", errno.EISDIR, lambda: os.open(".", os.O_RDONLY|os.O_CREAT))
want("creat-slash-new", errno.EISDIR, lambda: os.open("newname/", os.O_WRONLY|os.O_CREAT))
want("creat-slash-reg", errno.EISDIR, lambda: os.open("reg/", os.O_WRONLY|os.O_CREAT))
want("excl-dir", errno.EEXIST, lambda: os.open("adir", os.O_RDONLY|os.O_CREAT|os.O_EXCL))
os.mkfifo("xfifo")
want("excl-fifo", errno.EEXIST, lambda: os.open("xfifo", os.O_WRONLY|os.O_CREAT|os.O_EXCL|os.O_NONBLOCK))
want("excl-magic", errno.EEXIST, lambda: os.open("/proc/self/fd/1", os.O_WRONLY|os.O_CREAT|os.O_EXCL))
want("symlink-empty", errno.ENOENT, lambda: os.symlink("x", ""))
want("rename-empty", errno.ENOENT, lambda: os.rename("reg", ""))
print("newname exists:", os.path.lexists("newname"))
os.mkfifo("fifo")
p = os.open("fifo", os.O_PATH)
done = []
def writer():
    fd = os.open("/proc/self/fd/%d" % p, os.O_WRONLY|os.O_CREAT)  # waits for a reader
    os.close(fd)
    done.append(1)
threading.Thread(target=writer, daemon=True).start()
time.sleep(0.3)
after = threading.Thread(target=lambda: os.close(os.open("after", os.O_WRONLY|os.O_CREAT)), daemon=True)
after.start()
after.join(5)
print("guard while a FIFO open waits:", "alive" if not after.is_alive() else "HUNG")
r = os.open("fifo", os.O_RDONLY|os.O_NONBLOCK)
for _ in range(50):
    if done: break
    time.sleep(0.1)
print("fifo writer:", "opened" if done else "STUCK", flush=True)
os._exit(0)  # a writer still stuck must not keep the process
`
	o := &nsexec.Options{
		Path: py, Args: []string{"python3", "-c", script},
		Env: []string{"PATH=/usr/bin:/bin", "WS=" + ws}, Dir: "/",
		FS: nsexec.FSPolicy{Writable: []string{ws}, Guarded: []string{filepath.Join(ws, ".bashrc")}},
	}
	got := runOK(t, o)
	for _, want := range []string{
		"creat-dir as-kernel", "creat-dot as-kernel", "creat-slash-new as-kernel", "creat-slash-reg as-kernel",
		"excl-dir as-kernel", "excl-fifo as-kernel", "excl-magic as-kernel", "symlink-empty as-kernel", "rename-empty as-kernel", "newname exists: False",
		"guard while a FIFO open waits: alive", "fifo writer: opened",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestGuardOpenFileFlags: a file the guard creates for the command has the
// file status flags (F_GETFL) the command's own open would give it: the
// caller's, without the guard's own (O_NOFOLLOW, O_NONBLOCK). (An existing
// file opened with O_CREAT still shows the guard's O_NOFOLLOW, which keeps
// a symlink put there meanwhile from redirecting the open, and which
// F_SETFL cannot clear.)
func TestGuardOpenFileFlags(t *testing.T) {
	script := `
import fcntl, os, sys
d = sys.argv[1]
open(d + "/old", "w").close()
out = []
for name, flags in [("new1", os.O_WRONLY|os.O_CREAT), ("new2", os.O_RDWR|os.O_CREAT|os.O_APPEND),
                    ("new3", os.O_WRONLY|os.O_CREAT|os.O_EXCL|os.O_NONBLOCK), ("new4", os.O_WRONLY|os.O_CREAT|os.O_NOFOLLOW),
                    ("old", os.O_WRONLY|os.O_APPEND)]:
    fd = os.open(d + "/" + name, flags, 0o644)
    out.append("%s:%o" % (name, fcntl.fcntl(fd, fcntl.F_GETFL)))
    os.close(fd)
print(" ".join(out))
`
	sameAsOutside(t, script, "file status flags")
}

// TestGuardDevNullAsKernel: /dev/null, which PID 1 opens for the command
// through a descriptor it keeps (the sandbox's /dev is read-only), opens
// with the kernel's own answers and file status flags, the first time and
// every time after.
func TestGuardDevNullAsKernel(t *testing.T) {
	script := `
import errno, fcntl, os
out = []
for _ in range(2):
    for flags in (os.O_WRONLY|os.O_CREAT|os.O_TRUNC, os.O_RDWR, os.O_WRONLY|os.O_APPEND|os.O_NONBLOCK,
                  os.O_WRONLY|os.O_CREAT|os.O_EXCL, os.O_WRONLY|os.O_DIRECTORY, os.O_RDWR|os.O_CREAT|os.O_EXCL|os.O_DIRECTORY):
        try:
            fd = os.open("/dev/null", flags)
            out.append("%o" % fcntl.fcntl(fd, fcntl.F_GETFL))
            os.write(fd, b"x") if flags & 3 else None
            os.close(fd)
        except OSError as e:
            out.append(errno.errorcode[e.errno])
print(" ".join(out))
`
	sameAsOutside(t, script, "opens of /dev/null")
}

// TestGuardUnixAddressTooLong: a unix socket address longer than
// sockaddr_un fails as the kernel fails it (EINVAL), not resolved by the
// guard beyond the 108 bytes the kernel would read.
func TestGuardUnixAddressTooLong(t *testing.T) {
	script := `
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
out = []
for n in (108, 150, 4000):
    b = (sys.argv[1] + "/" + "s" * n)[:n].encode()
    sa = ctypes.create_string_buffer(2 + len(b))
    sa[0:2] = socket.AF_UNIX.to_bytes(2, "little")
    sa[2:] = b
    for call in (libc.connect, libc.bind):
        c = socket.socket(socket.AF_UNIX)
        r = call(c.fileno(), sa, len(sa))
        out.append("%d:%d" % (len(sa), 0 if r == 0 else ctypes.get_errno()))
        c.close()
print(" ".join(out))
`
	sameAsOutside(t, script, "errors")
}

// TestGuardOpenThatWaitsNotInline: an open that waits must not hold up
// every other guarded syscall of the sandbox when nothing said so before
// the guard opened it: a file the sandbox holds a lease on (F_SETLEASE),
// whose open to write waits up to lease-break-time (45 s), again and
// again; and /proc/self/fd/N that another thread swaps from a regular
// file, when the guard looks, to a FIFO without a reader, when it opens
// (it waited for good).
func TestGuardOpenThatWaitsNotInline(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: needed for the syscalls under test")
	}
	ws := t.TempDir()
	script := `
import errno, fcntl, os, signal, threading, time
os.chdir(os.environ["WS"])
signal.signal(signal.SIGIO, signal.SIG_IGN)
def probe():
    # An unrelated guarded syscall: answered at once while the guard is free.
    t = threading.Thread(target=lambda: os.close(os.open("probe", os.O_WRONLY|os.O_CREAT)), daemon=True)
    t.start()
    t.join(3)
    return not t.is_alive()

os.close(os.open("leased", os.O_WRONLY|os.O_CREAT))
fd = os.open("leased", os.O_RDONLY)
for _ in range(1000):
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        break
    except OSError as e:
        if e.errno != errno.EAGAIN:
            raise
        time.sleep(0.001)  # the guard's copy of the descriptor it opened, not yet closed
done = []
w = threading.Thread(target=lambda: (os.close(os.open("leased", os.O_WRONLY)), done.append(1)), daemon=True)
w.start()
time.sleep(0.3)
print("guard while a lease is broken:", "alive" if probe() else "HUNG", flush=True)
os.close(fd)  # gives the lease up
w.join(5)
print("writer of the leased file:", "opened" if done else "STUCK", flush=True)

os.mkfifo("fifo")
fifo = os.open("fifo", os.O_PATH)
reg = os.open("reg", os.O_RDWR|os.O_CREAT)
N = 50
stop = []
def flip():
    while not stop:
        os.dup2(reg, N); os.dup2(fifo, N)
threading.Thread(target=flip, daemon=True).start()
opened = []
def opener():
    for _ in range(5000):
        if stop: return
        try:
            os.close(os.open("/proc/self/fd/%d" % N, os.O_WRONLY))
        except OSError:
            pass
        opened.append(1)
threading.Thread(target=opener, daemon=True).start()
result = "alive"
for _ in range(40):
    before = len(opened)
    time.sleep(0.05)
    if len(opened) == before:
        # The opener waits for a reader: in a goroutine of the guard's,
        # or in the guard itself.
        if not probe():
            result = "HUNG"
            break
        r = os.open("fifo", os.O_RDONLY|os.O_NONBLOCK)
        time.sleep(0.01)
        os.close(r)
stop.append(1)
print("guard with a FIFO swapped in:", result, flush=True)
r = os.open("fifo", os.O_RDONLY|os.O_NONBLOCK)  # frees whatever still waits
time.sleep(0.1)
os._exit(0)
`
	got := runOK(t, &nsexec.Options{
		Path: py, Args: []string{"python3", "-c", script},
		Env: []string{"PATH=/usr/bin:/bin", "WS=" + ws}, Dir: "/",
		FS: nsexec.FSPolicy{Writable: []string{ws}, ProtectedPatterns: []string{filepath.Join(ws, "**", "fence.json")}},
	})
	for _, want := range []string{"guard while a lease is broken: alive", "writer of the leased file: opened", "guard with a FIFO swapped in: alive"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// runOK runs o to its end and returns its output; it fails the test unless
// the sandbox exits 0.
func runOK(t *testing.T, o *nsexec.Options) string {
	t.Helper()
	p, out := start(t, o)
	defer out.Close()
	code, err := p.Wait()
	b, _ := io.ReadAll(out)
	if err != nil || code != 0 {
		t.Fatalf("sandbox exited %d, %v; output:\n%s", code, err, b)
	}
	return string(b)
}

// TestGuardMagicLinkTruncRace: an O_TRUNC open through /proc/self/fd/N is
// checked against the no-write patterns before anything is cut, also when
// another thread swaps what N is (a FIFO when the guard looks, the
// protected file when it opens).
func TestGuardMagicLinkTruncRace(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: needed for the racing threads")
	}
	ws := t.TempDir()
	secret := filepath.Join(ws, "a.secret")
	if err := os.WriteFile(secret, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import os, threading
os.chdir(os.environ["WS"])
os.mkfifo("fifo")
fifo = os.open("fifo", os.O_PATH)
sec = os.open("a.secret", os.O_RDONLY)
N = 50
os.dup2(fifo, N)
stop = []
def flip():
    while not stop:
        os.dup2(sec, N); os.dup2(fifo, N)
threading.Thread(target=flip, daemon=True).start()
for i in range(3000):
    try:
        os.close(os.open("/proc/self/fd/%d" % N, os.O_RDWR|os.O_TRUNC))
    except OSError:
        pass
    if os.fstat(sec).st_size == 0:
        print("TRUNCATED after", i)
        break
else:
    print("intact")
stop.append(1)
`
	got := runOK(t, &nsexec.Options{
		Path: py, Args: []string{"python3", "-c", script},
		Env: []string{"PATH=/usr/bin:/bin", "WS=" + ws}, Dir: "/",
		FS: nsexec.FSPolicy{Writable: []string{ws}, DenyWritePatterns: []string{filepath.Join(ws, "**/*.secret")}},
	})
	if got != "intact\n" {
		t.Errorf("output %q, want %q", got, "intact\n")
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "precious\n" {
		t.Errorf("the protected file on the host: %q, %v", b, err)
	}
}

// TestGuardCallerWritesNeedsWriteMode: the guard reopens a caller's
// /proc/self/fd/N to write only when the caller holds it open for writing.
// An open with O_ACCMODE 3 (O_WRONLY|O_RDWR: neither read nor write, only
// ioctls) is not one: Landlock and a read-only mount let it through, as it
// can write nothing, and it must not vouch for a reopen that can. Here
// stdin is a host file outside the writable places, opened read-only.
func TestGuardCallerWritesNeedsWriteMode(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ws, outside := t.TempDir(), t.TempDir()
	input := filepath.Join(outside, "input")
	if err := os.WriteFile(input, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	script := `
import os
try:
    fd = os.open("/proc/self/fd/0", 3)
except OSError as e:
    print("no-mode-3:%d" % e.errno)
    fd = 0
try:
    w = os.open("/proc/self/fd/%d" % fd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(w, b"pwned\n")
    print("WROTE")
except OSError as e:
    print("refused:%d" % e.errno)
`
	for _, fs := range []nsexec.FSPolicy{
		{Writable: []string{ws}, Guarded: []string{filepath.Join(ws, ".bashrc")}},                    // creation guard
		{Writable: []string{ws}, ProtectedPatterns: []string{filepath.Join(ws, "**", "fence.json")}}, // write guard
	} {
		o := &nsexec.Options{
			Path:  py,
			Args:  []string{"python3", "-c", script},
			Env:   []string{"PATH=/usr/bin:/bin"},
			Dir:   "/",
			FS:    fs,
			Stdin: in,
		}
		got := runOK(t, o)
		if strings.Contains(got, "WROTE") || !strings.Contains(got, "refused:") {
			t.Errorf("reopening stdin (read-only) to write through an O_ACCMODE 3 descriptor: %s", got)
		}
	}
	if b, _ := os.ReadFile(input); string(b) != "original\n" {
		t.Errorf("the read-only stdin file now holds %q", b)
	}
}

// TestGuardNoDeviceNodes: the guard makes no device node, not even the
// whiteout (char 0:0) the kernel lets a caller without CAP_MKNOD make: the
// command's Landlock rules allow none (no make_char, make_block), and the
// guard must not make what the command could not. FIFOs and sockets, which
// those rules allow, still work.
func TestGuardNoDeviceNodes(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ws := t.TempDir()
	script := `
import os, stat
for name, mode in (("wh", stat.S_IFCHR), ("blk", stat.S_IFBLK), ("fifo", stat.S_IFIFO), ("reg", stat.S_IFREG)):
    try:
        os.mknod(name, mode | 0o600, os.makedev(0, 0))
        print("made:" + name)
    except OSError as e:
        print("refused:%s:%d" % (name, e.errno))
# renameat2(RENAME_WHITEOUT) leaves a whiteout at the old name.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
open("wsrc", "w").close()
if libc.syscall(316 if os.uname().machine == "x86_64" else 276, -100, b"wsrc", -100, b"wdst", 4) == 0:
    print("made:wrename")
else:
    print("refused:wrename:%d" % ctypes.get_errno())
`
	for _, fs := range []nsexec.FSPolicy{
		{Writable: []string{ws}, Guarded: []string{filepath.Join(ws, ".bashrc")}},
		{Writable: []string{ws}, ProtectedPatterns: []string{filepath.Join(ws, "**", "fence.json")}},
	} {
		o := &nsexec.Options{
			Path: py,
			Args: []string{"python3", "-c", script},
			Env:  []string{"PATH=/usr/bin:/bin"},
			Dir:  ws,
			FS:   fs,
		}
		got := runOK(t, o)
		if st, err := os.Lstat(filepath.Join(ws, "wsrc")); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			t.Errorf("rename with RENAME_WHITEOUT left a whiteout on the host:\n%s", got)
		}
		for _, n := range []string{"wsrc", "wdst"} {
			os.Remove(filepath.Join(ws, n))
		}
		for _, n := range []string{"wh", "blk", "wrename"} {
			if strings.Contains(got, "made:"+n+"\n") {
				t.Errorf("the guard made the device node %s:\n%s", n, got)
			}
			if _, err := os.Lstat(filepath.Join(ws, n)); err == nil {
				t.Errorf("%s exists on the host", n)
			}
		}
		for _, n := range []string{"fifo", "reg"} {
			if !strings.Contains(got, "made:"+n+"\n") {
				t.Errorf("mknod of a %s failed:\n%s", n, got)
			}
			os.Remove(filepath.Join(ws, n))
		}
	}
}

package fence

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/nsexec"

	"golang.org/x/sys/unix"
)

// dacWritable reads the permission bits as the kernel does for a process
// without capabilities: the owner's, else the group's, else the others'
// (never a union), and a directory needs search as well as write.
func TestDACWritable(t *testing.T) {
	dir, file := uint32(unix.S_IFDIR), uint32(unix.S_IFREG)
	for _, c := range []struct {
		typ, mode, uid, gid uint32
		want                bool
	}{
		{dir, 0o755, 0, 5, true},
		{dir, 0o755, 1000, 1000, false},
		{dir, 0o775, 1000, 0, true},
		{dir, 0o757, 1000, 1000, true},
		{dir, 0o577, 0, 0, false}, // the owner's bits, not the others'
		{dir, 0o1777, 1000, 1000, true},
		{dir, 0o752, 1000, 1000, false}, // write without search
		{dir, 0o733, 1000, 1000, true},
		{file, 0o644, 1000, 1000, false},
		{file, 0o646, 1000, 1000, true},
		{file, 0o464, 1000, 0, true},
		{file, 0o444, 0, 0, false},
	} {
		st := unix.Stat_t{Mode: c.typ | c.mode, Uid: c.uid, Gid: c.gid}
		if got := dacWritable(&st, 0, []int{0, 4}); got != c.want {
			t.Errorf("mode %#o owner %d:%d: writable by uid 0 without capabilities = %v, want %v", c.typ|c.mode, c.uid, c.gid, got, c.want)
		}
	}
}

// Procfs mounts other than /proc are found in the mount table, whatever
// their mount point's escapes; /proc and what is mounted under it are not.
func TestParseForeignProcs(t *testing.T) {
	mi := `22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw
23 22 0:22 / /proc/sys/fs/binfmt_misc rw - autofs systemd-1 rw
40 1 0:21 / /mnt/host\040proc rw - proc proc rw
41 1 0:23 / /srv/chroot/proc rw shared:7 master:3 - proc none rw
42 1 8:1 / /home rw - ext4 /dev/sda1 rw
43 1 0:21 / /proc/self/x rw - proc proc rw
`
	got := parseForeignProcs(mi)
	want := []string{"/mnt/host proc", "/srv/chroot/proc"}
	if !slices.Equal(got, want) {
		t.Errorf("parseForeignProcs = %q, want %q", got, want)
	}
}

// An overlay's layers are read from its super options: lowerdir's list
// (escaped colons kept in a name), lowerdir+, upperdir; not workdir nor
// datadir+, nor another file system's options.
func TestOverlayLayers(t *testing.T) {
	for _, c := range []struct {
		post string
		want []string
	}{
		{"overlay overlay rw,lowerdir=/a:/b\\:c:/d\\072e,upperdir=/u,workdir=/w,uuid=on", []string{"/a", "/b:c", "/d:e", "/u"}},
		{"overlay none ro,lowerdir+=/l1,lowerdir+=/l\\0542,datadir+=/data", []string{"/l1", "/l,2"}},
		{"overlay overlay rw,lowerdir=rel:/abs", []string{"/abs"}},
		// As the kernel shows names given escaped to mount(8): a colon
		// ("\:"), a backslash ("\\") and a space, in lowerdir's list and
		// in upperdir; lowerdir+ is not unescaped by the kernel.
		{`overlay overlay rw,lowerdir=/o/l\134:1:/o/l\0402:/o/back\134\134sl,upperdir=/o/u\134\134x,workdir=/o/w,uuid=on`,
			[]string{"/o/l:1", "/o/l 2", `/o/back\sl`, `/o/u\x`}},
		{`overlay none ro,lowerdir+=/o/a\134b`, []string{`/o/a\b`}},
		{"ext4 /dev/sda1 rw,lowerdir=/x", nil},
	} {
		if got := overlayLayers(c.post); !slices.Equal(got, c.want) {
			t.Errorf("overlayLayers(%q) = %q, want %q", c.post, got, c.want)
		}
	}
}

// The credential files of the account's own home are hidden when $HOME is
// elsewhere (HOME=$(mktemp -d) for an agent, sudo -E for root): the command
// runs as that user and could read them. Lifted by a grant of their own
// directory there, as at $HOME; not by a grant of the home.
func TestFSPolicyAccountHomeCredentials(t *testing.T) {
	ws, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	account, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		".ssh/id_ed25519": "k", ".aws/credentials": "a", ".git-credentials": "g",
		".ssh/keys/work": "-----BEGIN OPENSSH PRIVATE KEY-----\n", ".ssh/known_hosts": "h",
	}
	for f, c := range files {
		p := filepath.Join(account, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	prev := lookupAccountHome
	t.Cleanup(func() { lookupAccountHome = prev })
	plan := func(accountHome string, allowRead ...string) []string {
		t.Helper()
		lookupAccountHome = func() string { return accountHome }
		c := config.Default()
		c.Filesystem.AllowRead = allowRead
		s := &Spec{Config: c, Cwd: ws, Home: home, Env: []string{}}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		fp, err := s.fsPolicy(c)
		if err != nil {
			t.Fatal(err)
		}
		return fp.Masked
	}
	hidden := []string{".ssh/id_ed25519", ".aws/credentials", ".git-credentials", ".ssh/keys/work"}
	masked := plan(account)
	for _, f := range hidden {
		if p := filepath.Join(account, f); !slices.Contains(masked, p) {
			t.Errorf("%s in the account's home not hidden: masked %q", p, masked)
		}
	}
	if p := filepath.Join(account, ".ssh/known_hosts"); slices.Contains(masked, p) {
		t.Errorf("%s hidden: masked %q", p, masked)
	}
	masked = plan(account, account)
	if p := filepath.Join(account, ".ssh/id_ed25519"); !slices.Contains(masked, p) {
		t.Errorf("a grant of the account's home lifted %s: masked %q", p, masked)
	}
	masked = plan(account, filepath.Join(account, ".ssh"))
	if p := filepath.Join(account, ".ssh/id_ed25519"); slices.Contains(masked, p) {
		t.Errorf("a grant of the account's ~/.ssh did not lift %s: masked %q", p, masked)
	}
	if p := filepath.Join(account, ".aws/credentials"); !slices.Contains(masked, p) {
		t.Errorf("a grant of the account's ~/.ssh lifted %s: masked %q", p, masked)
	}
	// $HOME itself: nothing twice.
	masked = plan(home)
	for _, f := range hidden {
		if p := filepath.Join(account, f); slices.Contains(masked, p) {
			t.Errorf("%s hidden with the account's home at $HOME: masked %q", p, masked)
		}
	}
}

// The start-up files and the rest of fence's protected names in the
// account's own home are protected where $HOME is elsewhere and that home
// is writable (HOME=$(mktemp -d) fence -t code started in it): an existing
// one is bound read-only, a missing one cannot be made. With the account's
// home at $HOME nothing is added twice.
func TestFSPolicyAccountHomeProtected(t *testing.T) {
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	account, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".profile", ".npmrc", ".ssh/authorized_keys", ".config/git/config"} {
		p := filepath.Join(account, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	prev := lookupAccountHome
	t.Cleanup(func() { lookupAccountHome = prev })
	plan := func(accountHome string) nsexec.FSPolicy {
		t.Helper()
		lookupAccountHome = func() string { return accountHome }
		c := config.Default()
		c.Filesystem.AllowWrite = []string{"."}
		s := &Spec{Config: c, Cwd: filepath.Join(account, ".ssh"), Home: home, Env: []string{}}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		fp, err := s.fsPolicy(c)
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}
	// The working directory is the account's ~/.ssh, writable: none of
	// these is among the working directory's own protected names.
	fp := plan(account)
	for _, f := range []string{".ssh/authorized_keys"} {
		if p := filepath.Join(account, f); !slices.Contains(fp.Protected, p) {
			t.Errorf("%s in the writable account's home not bound read-only: protected %q", p, fp.Protected)
		}
	}
	for _, f := range []string{".ssh/config", ".ssh/rc"} {
		if p := filepath.Join(account, f); !slices.Contains(fp.Guarded, p) {
			t.Errorf("%s (missing) in the writable account's home can be made: guarded %q", p, fp.Guarded)
		}
	}
	fp = plan(home)
	if p := filepath.Join(account, ".ssh/authorized_keys"); slices.Contains(fp.Protected, p) {
		t.Errorf("%s protected with the account's home at $HOME and the working directory elsewhere in it: protected %q", p, fp.Protected)
	}
}

// An allowWrite path that a credential mask or denyRead covers whole grants
// nothing, and fence says so (as for one a protection covers); with the
// mask lifted by allowRead it is writable, and nothing is said.
func TestFSPolicyWarnsOfHiddenWritable(t *testing.T) {
	home, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(home, ".ssh", "id_rsa")
	if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		allowRead []string
		warned    bool
	}{{nil, true}, {[]string{"~/.ssh/id_rsa"}, false}} {
		var log strings.Builder
		c := config.Default()
		c.Filesystem.AllowWrite = []string{"~/.ssh/id_rsa"}
		c.Filesystem.AllowRead = tc.allowRead
		s := &Spec{Config: c, Cwd: home, Home: home, Env: []string{}, Log: &log}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.fsPolicy(c); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(log.String(), "Warning: allowWrite "+key+" is hidden"); got != tc.warned {
			t.Errorf("allowRead %q: warned %v, want %v: %q", tc.allowRead, got, tc.warned, log.String())
		}
	}
}

// A denyRead entry that comes to "/" (written so, a home of "/", "." run
// from "/", "/**", a symlink to "/") is refused, naming the entry: a mask
// on the root mount hid nothing, and the command ran with every file
// readable.
func TestFSPolicyRefusesDenyReadOfRoot(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "root-link")
	if err := os.Symlink("/", link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		deny      string
		cwd, home string
	}{
		{"/", dir, dir}, {"//", dir, dir}, {"/.", dir, dir}, {"/**", dir, dir},
		{".", "/", dir}, {"~", dir, "/"}, {link, dir, dir},
	} {
		c := config.Default()
		c.Filesystem.DenyRead = []string{"/etc/shadow-not-here", tc.deny}
		s := &Spec{Config: c, Cwd: tc.cwd, Home: tc.home, Env: []string{}, Log: io.Discard}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		fp, err := s.fsPolicy(c)
		want := fmt.Sprintf("filesystem.denyRead %q hides \"/\", every file", tc.deny)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "defaultDenyRead") {
			t.Errorf("denyRead %q (cwd %s, home %s): error %v, masked %q; want a refusal with %q and the fix", tc.deny, tc.cwd, tc.home, err, fp.Masked, want)
		}
	}
}

// denyRead of the sandbox's own /dev/null, or of its /dev, hides nothing of
// the host's and breaks every redirection to /dev/null: fence warns, and
// does not for another device.
func TestFSPolicyWarnsOfHiddenDevNull(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		deny   string
		warned bool
	}{{"/dev/null", true}, {"/dev", true}, {"/dev/urandom", false}} {
		var log strings.Builder
		c := config.Default()
		c.Filesystem.DenyRead = []string{tc.deny}
		s := &Spec{Config: c, Cwd: home, Home: home, Env: []string{}, Log: &log}
		if err := s.defaults(); err != nil {
			t.Fatal(err)
		}
		fp, err := s.fsPolicy(c)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(fp.Masked, tc.deny) {
			t.Errorf("denyRead %q: not masked (%q)", tc.deny, fp.Masked)
		}
		if got := strings.Contains(log.String(), "Warning: filesystem.denyRead hides "+tc.deny+", the sandbox's own"); got != tc.warned {
			t.Errorf("denyRead %q: warned %v, want %v: %q", tc.deny, got, tc.warned, log.String())
		}
	}
}

// passwdHome reads the password file as os/user does without cgo: the
// same answers as os/user for every account of this machine's /etc/passwd
// (through the C library's lookup in a cgo test build, whose "files"
// source is that file), and, in a
// file of its own, comments, blank lines, NIS entries, lines of fewer than
// seven fields, a group id that is not a number and another account's uid
// in a later field are not taken for the account.
func TestPasswdHome(t *testing.T) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		want := ""
		if u, err := user.LookupId(f[2]); err == nil {
			want = u.HomeDir
		}
		if got := passwdHome("/etc/passwd", uid); got != want {
			t.Errorf("uid %d: %q, os/user says %q", uid, got, want)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no account in /etc/passwd")
	}
	p := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(p, []byte(strings.Join([]string{
		"# alice:x:1000:1000::/comment:/bin/sh",
		"",
		"+bob:x:1000:1000::/nis:/bin/sh",
		"-carol:x:1000:1000::/nis2:/bin/sh",
		"short:x:1000:1000",
		":x:1000:1000::/noname:/bin/sh",
		"dave:x:1001:1000::/home/dave:/bin/sh",
		"shell-less:x:1003:1000::/home/shellless",
		"badgid:x:1000:staff::/badgid:/bin/sh",
		"  erin:x:1000:1000:Erin:/home/erin:/bin/sh  ",
		"frank:x:1000:1000::/home/frank:/bin/sh",
	}, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	for uid, want := range map[int]string{1000: "/home/erin", 1001: "/home/dave", 1002: "", 1003: ""} {
		if got := passwdHome(p, uid); got != want {
			t.Errorf("uid %d in %s: %q, want %q", uid, p, got, want)
		}
	}
	if got := passwdHome(filepath.Join(t.TempDir(), "none"), 1000); got != "" {
		t.Errorf("a missing file: %q, want nothing", got)
	}
}

// With writable paths, a plan that Run makes (lateNoExec) leaves the
// denied programs to Options.NoExecLater, which looks them up with the
// plan's writable paths: it finds a denied program in a PATH directory,
// and refuses a PATH directory of the user's that may not be searched in
// a writable home (the command could chmod it and run what is there).
func TestLateNoExecWithWritablePaths(t *testing.T) {
	home, _ := filepath.EvalSymlinks(t.TempDir())
	bin := filepath.Join(home, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "reboot"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plan := func() *nsexec.Options {
		t.Helper()
		c := config.Default()
		c.Filesystem.AllowWrite = []string{"~"}
		s := &Spec{Config: c, Cwd: home, Home: home, Env: []string{"PATH=" + bin + ":/usr/bin:/bin"}, Args: []string{"true"}, lateNoExec: true}
		o, err := s.Plan()
		if err != nil {
			t.Fatal(err)
		}
		if o.NoExecLater == nil || len(o.FS.NoExec) != 0 {
			t.Fatalf("the plan looked the denied programs up (%q) or left nothing for later", o.FS.NoExec)
		}
		return o
	}
	got, err := plan().NoExecLater()
	if err != nil || !slices.Contains(got, filepath.Join(bin, "reboot")) {
		t.Errorf("NoExecLater: %q, %v; want %s among them", got, err, filepath.Join(bin, "reboot"))
	}
	o := plan()
	real := lstatAt
	defer func() { lstatAt = real }()
	lstatAt = func(fd int, name *byte, st *unix.Stat_t) unix.Errno {
		if d, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil && d == bin {
			return unix.EACCES
		}
		return real(fd, name, st)
	}
	if _, err := o.NoExecLater(); err == nil || !strings.Contains(err.Error(), "chmod") {
		t.Errorf("NoExecLater with %s unsearchable in the writable home: %v; want the error", bin, err)
	}
}

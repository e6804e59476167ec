package fence

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/seatbelt"
)

// macSpec is a Spec for planSeatbelt in fresh home and work directories.
func macSpec(t *testing.T, c *config.Config) (*Spec, string, string) {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	home, cwd := filepath.Join(root, "home"), filepath.Join(root, "work")
	for _, d := range []string{home, cwd} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &Spec{Config: c, Args: []string{"true"}, Cwd: cwd, Home: home, Env: []string{"PATH=/usr/bin:/bin"}, Log: &strings.Builder{}}, home, cwd
}

func planMac(t *testing.T, s *Spec) *macPlan {
	t.Helper()
	mp, err := s.planSeatbelt()
	if err != nil {
		t.Fatal(err)
	}
	return mp
}

func TestSeatbeltPlanDefaults(t *testing.T) {
	s, home, cwd := macSpec(t, nil)
	mp := planMac(t, s)
	o := mp.opts
	for _, want := range []string{filepath.Join(home, ".ssh/id_*"), filepath.Join(home, ".aws/credentials"), filepath.Join(home, ".gnupg")} {
		if !slices.Contains(o.Hidden, want) {
			t.Errorf("credential %s not hidden: %q", want, o.Hidden)
		}
	}
	for _, want := range []string{filepath.Join(cwd, ".bashrc"), filepath.Join(home, ".zshrc"), filepath.Join(cwd, ".vscode"), filepath.Join(cwd, ".mcp.json"),
		filepath.Join(home, ".zcompdump*"), filepath.Join(home, ".config/zsh/.zshrc.zwc"), filepath.Join(home, ".config/Code/User/profiles")} {
		if !slices.Contains(o.DenyWrite, want) {
			t.Errorf("%s not protected: %q", want, o.DenyWrite)
		}
	}
	// No repository: a command may git init one.
	if slices.Contains(o.DenyWrite, filepath.Join(cwd, ".git/hooks")) {
		t.Errorf(".git/hooks protected without a repository")
	}
	if len(o.Writable) != 0 {
		t.Errorf("default policy writable: %q", o.Writable)
	}
	if !slices.Contains(o.DenyExec, "reboot") || !slices.Contains(o.DenyExec, "chroot") {
		t.Errorf("default denied programs missing: %q", o.DenyExec)
	}
	if o.Network.Unrestricted || o.Network.LocalOutbound || o.Network.LocalBinding {
		t.Errorf("default network %+v", o.Network)
	}
	if !strings.HasPrefix(mp.np.credential, "fence:") {
		t.Errorf("proxies on the host loopback without a credential")
	}
	if !slices.Contains(mp.env, "FENCE_SANDBOX=1") || mp.path != "true" {
		t.Errorf("env %q path %q", mp.env, mp.path)
	}
	// It renders.
	mp.opts.Network.ProxyPorts = []int{40000, 40001}
	if _, err := seatbelt.Profile(mp.opts); err != nil {
		t.Fatal(err)
	}
}

func TestSeatbeltPlanRepository(t *testing.T) {
	c := &config.Config{}
	s, _, cwd := macSpec(t, c)
	if err := os.Mkdir(filepath.Join(cwd, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := planMac(t, s).opts
	for _, want := range []string{".git/hooks", ".git/config", ".git/commondir", ".git/config.worktree"} {
		if !slices.Contains(o.DenyWrite, filepath.Join(cwd, want)) {
			t.Errorf("%s not protected in a repository: %q", want, o.DenyWrite)
		}
	}
	if err := os.MkdirAll(filepath.Join(cwd, ".git/modules/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cwd, ".git/modules/sub/HEAD"), []byte("ref: refs/heads/main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o = planMac(t, s).opts
	for _, want := range []string{".git/modules/sub/config", ".git/modules/sub/hooks"} {
		if !slices.Contains(o.DenyWrite, filepath.Join(cwd, want)) {
			t.Errorf("%s not protected with a submodule: %q", want, o.DenyWrite)
		}
	}
	c.Filesystem.AllowGitConfig = true
	o = planMac(t, s).opts
	for _, lifted := range []string{".git/config", ".git/config.worktree", ".git/modules/sub/config"} {
		if slices.Contains(o.DenyWrite, filepath.Join(cwd, lifted)) {
			t.Errorf("%s protected with allowGitConfig", lifted)
		}
	}
	if !slices.Contains(o.DenyWrite, filepath.Join(cwd, ".git/commondir")) {
		t.Errorf(".git/commondir lifted by allowGitConfig")
	}
}

// TestSeatbeltPlanNoNewSubmoduleGitDir: as on Linux (fsPolicy), no new
// submodule git directory can be made in a writable repository without
// allowGitConfig: a planted .git/modules/NAME (hooks, core.hooksPath) would
// serve the user's next "git submodule update --init" outside the sandbox.
// The existing ones stay writable (git fetches and commits there).
func TestSeatbeltPlanNoNewSubmoduleGitDir(t *testing.T) {
	c := &config.Config{Filesystem: config.FilesystemConfig{AllowWrite: []string{"."}}}
	s, _, cwd := macSpec(t, c)
	for f, body := range map[string]string{".git/HEAD": "ref: refs/heads/main\n", ".git/modules/sub/HEAD": "ref: refs/heads/main\n",
		".git/modules/libs/b/HEAD": "ref: refs/heads/main\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(cwd, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cwd, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	profile := func() string {
		o := planMac(t, s).opts
		o.Network.ProxyPorts = []int{1, 2}
		p, err := seatbelt.Profile(o)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	created := func(p, path string) bool {
		return deniedBy(p, "deny file-write-create", path) || deniedBy(p, "deny file-write-unlink file-write-create", path) || deniedBy(p, "deny file-write*", path)
	}
	p := profile()
	for _, planted := range []string{".git/modules/evil", ".git/modules/EVIL", ".git/modules/sub/modules/evil", ".git/modules/libs/c", ".git/modules/libs/b/modules/x"} {
		if !created(p, filepath.Join(cwd, planted)) {
			t.Errorf("%s can be created:\n%s", planted, p)
		}
	}
	for _, kept := range []string{".git/modules/sub/objects/ab/cd", ".git/modules/sub/index", ".git/modules/libs/b/refs/heads/main"} {
		if deniedBy(p, "deny file-write*", filepath.Join(cwd, kept)) || deniedBy(p, "deny file-write-create", filepath.Join(cwd, kept)) {
			t.Errorf("%s in an existing submodule git directory is not writable", kept)
		}
	}
	c.Filesystem.AllowGitConfig = true
	if p := profile(); created(p, filepath.Join(cwd, ".git/modules/evil")) {
		t.Errorf("a new submodule git directory refused with allowGitConfig")
	}
}

// A linked worktree as the working directory: its .git file and the git
// directories it leads to are protected.
func TestSeatbeltPlanWorktree(t *testing.T) {
	s, home, cwd := macSpec(t, &config.Config{})
	main := filepath.Join(filepath.Dir(cwd), "main")
	if err := os.MkdirAll(filepath.Join(main, ".git/worktrees/wt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cwd, ".git"), []byte("gitdir: ../main/.git/worktrees/wt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(main, ".git/worktrees/wt/commondir"), []byte("../..\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := planMac(t, s).opts
	for _, want := range []string{
		filepath.Join(cwd, ".git"),
		filepath.Join(main, ".git/worktrees/wt/hooks"), filepath.Join(main, ".git/worktrees/wt/commondir"),
		filepath.Join(main, ".git/config"), filepath.Join(main, ".git/hooks"),
		filepath.Join(home, ".config/git"), filepath.Join(home, ".config/fish"),
	} {
		if !slices.Contains(o.DenyWrite, want) {
			t.Errorf("%s not protected: %q", want, o.DenyWrite)
		}
	}
}

// The linked worktrees of the working directory's repository: the git
// directory of one that is not writable is protected, that of a writable
// one only removable (as on Linux: TestLinkedWorktreesPolicy).
func TestSeatbeltPlanLinkedWorktrees(t *testing.T) {
	s, _, cwd := macSpec(t, &config.Config{Filesystem: config.FilesystemConfig{AllowWrite: []string{"."}}})
	out := filepath.Join(filepath.Dir(cwd), "out")
	files := map[string]string{
		".git/HEAD":                 "ref: refs/heads/main\n",
		".git/worktrees/out/gitdir": out + "/.git\n",
		".git/worktrees/in/gitdir":  cwd + "/in/.git\n",
		"in/.git":                   "gitdir: ../.git/worktrees/in\n",
	}
	for f, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(cwd, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cwd, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, ".git"), []byte("gitdir: "+cwd+"/.git/worktrees/out\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := planMac(t, s).opts
	for _, n := range []string{"commondir", "config", "hooks", "gitdir", "config.worktree"} {
		if p := filepath.Join(cwd, ".git/worktrees/out", n); !slices.Contains(o.DenyWrite, p) || slices.Contains(o.RemoveOnly, p) {
			t.Errorf("%s: want it protected: deny %q, remove-only %q", p, o.DenyWrite, o.RemoveOnly)
		}
		if p := filepath.Join(cwd, ".git/worktrees/in", n); slices.Contains(o.DenyWrite, p) || !slices.Contains(o.RemoveOnly, p) {
			t.Errorf("%s: want it remove-only: deny %q, remove-only %q", p, o.DenyWrite, o.RemoveOnly)
		}
	}
	if p := filepath.Join(cwd, "in/.git"); !slices.Contains(o.RemoveOnly, p) {
		t.Errorf("a writable worktree's .git file: want it remove-only: %q", o.RemoveOnly)
	}
}

// TestSeatbeltPlanSymlinks: Seatbelt sees resolved paths, so every path is
// given in both forms; but a built-in name must not drag a writable
// directory into a denial through a symlink.
func TestSeatbeltPlanSymlinks(t *testing.T) {
	c := &config.Config{}
	s, home, cwd := macSpec(t, c)
	real := filepath.Join(home, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(home, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(cwd, ".vscode")); err != nil {
		t.Fatal(err)
	}
	idea := filepath.Join(home, "idea")
	if err := os.Mkdir(idea, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(idea, filepath.Join(cwd, ".idea")); err != nil {
		t.Fatal(err)
	}
	// .claude -> ~/real holds the writable ~/real/out.
	if err := os.Symlink(real, filepath.Join(cwd, ".claude")); err != nil {
		t.Fatal(err)
	}
	// .zshrc -> ~/zdir, itself writable: protected, as on Linux.
	zdir := filepath.Join(home, "zdir")
	if err := os.Mkdir(zdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(zdir, filepath.Join(cwd, ".zshrc")); err != nil {
		t.Fatal(err)
	}
	c.Filesystem.AllowWrite = []string{".", "~/link/out", "~/zdir"}
	c.Filesystem.DenyRead = []string{"~/link/*.key", "~/link/sub/**"}
	o := planMac(t, s).opts
	for _, want := range []string{cwd, filepath.Join(home, "link/out"), filepath.Join(real, "out")} {
		if !slices.Contains(o.Writable, want) {
			t.Errorf("writable %s missing: %q", want, o.Writable)
		}
	}
	for _, want := range []string{filepath.Join(home, "link/*.key"), filepath.Join(real, "*.key"), filepath.Join(real, "sub/**")} {
		if !slices.Contains(o.DenyRead, want) {
			t.Errorf("denyRead %s missing: %q", want, o.DenyRead)
		}
	}
	// .vscode -> .. holds the workspace: only the name is protected.
	if slices.Contains(o.DenyWrite, filepath.Dir(cwd)) {
		t.Errorf("the workspace's parent is denied through .vscode -> ..: %q", o.DenyWrite)
	}
	if !slices.Contains(o.DenyWrite, filepath.Join(cwd, ".vscode")) {
		t.Errorf(".vscode itself not protected")
	}
	if !slices.Contains(o.DenyWrite, zdir) {
		t.Errorf(".zshrc's writable target %s not protected: %q", zdir, o.DenyWrite)
	}
	// .idea -> ~/idea holds nothing writable: its target is protected.
	if !slices.Contains(o.DenyWrite, idea) {
		t.Errorf(".idea's target %s not protected: %q", idea, o.DenyWrite)
	}
	// .claude/commands -> ~/real/commands is outside every writable path
	// too; ~/real itself is not denied.
	if !slices.Contains(o.DenyWrite, filepath.Join(real, "commands")) || slices.Contains(o.DenyWrite, real) {
		t.Errorf(".claude/commands' target: %q", o.DenyWrite)
	}
}

func TestSeatbeltPlanCredentialsLifted(t *testing.T) {
	c := &config.Config{}
	s, home, _ := macSpec(t, c)
	c.Filesystem.AllowRead = []string{"~/.ssh/id_ed25519.pub", "~/.aws"}
	o := planMac(t, s).opts
	if !slices.Contains(o.Hidden, filepath.Join(home, ".ssh/id_*")) {
		t.Errorf("~/.ssh/id_* not hidden: %q", o.Hidden)
	}
	if !slices.Equal(o.Unhidden, []string{filepath.Join(home, ".ssh/id_ed25519.pub")}) {
		t.Errorf("unhidden %q", o.Unhidden)
	}
	if slices.Contains(o.Hidden, filepath.Join(home, ".aws/credentials")) {
		t.Errorf("~/.aws/credentials hidden although allowRead lists ~/.aws")
	}
	if !slices.Contains(o.Hidden, filepath.Join(home, "Library/Keychains")) {
		t.Errorf("the login keychain is not hidden: %q", o.Hidden)
	}
	// A grant above a credential's own directory lifts nothing: the
	// home, ~/.config or ~/Library asked for, not their keys.
	c.Filesystem.AllowRead = []string{"~", "~/.config", "~/Library", "/"}
	o = planMac(t, s).opts
	for _, want := range []string{".ssh/id_*", ".aws/credentials", ".gnupg", ".netrc", ".config/gh/hosts.yml", "Library/Keychains"} {
		if !slices.Contains(o.Hidden, filepath.Join(home, want)) {
			t.Errorf("allowRead of the home, ~/.config, ~/Library and /: ~/%s not hidden: %q", want, o.Hidden)
		}
	}
	// Where the environment moves credentials, they are hidden there.
	s.Env = append(s.Env, "DOCKER_CONFIG=/Volumes/ci/dock", "KUBECONFIG=/Volumes/ci/k1:relative/k2")
	o = planMac(t, s).opts
	for _, want := range []string{"/Volumes/ci/dock/config.json", "/Volumes/ci/k1"} {
		if !slices.Contains(o.Hidden, want) {
			t.Errorf("credential from the environment %s not hidden: %q", want, o.Hidden)
		}
	}
	// A value with glob characters is a path too.
	s.Env = append(s.Env, "GNUPGHOME=/Volumes/ci [1]/gpg*")
	o = planMac(t, s).opts
	if want := `/Volumes/ci \[1]/gpg\*`; !slices.ContainsFunc(o.Hidden, func(h string) bool { return strings.HasPrefix(h, want) }) {
		t.Errorf("GNUPGHOME with glob characters not hidden: %q", o.Hidden)
	}
	// A denyRead entry is not lifted by allowRead: the profile puts
	// denyRead after the lifted credential (seatbelt's TestDenialsComeLast).
	c.Filesystem.AllowRead = []string{"~/.ssh/id_ed25519.pub", "~/.aws"}
	c.Filesystem.DenyRead = []string{"~/.ssh"}
	o = planMac(t, s).opts
	if !slices.Contains(o.DenyRead, filepath.Join(home, ".ssh")) || !slices.Contains(o.Unhidden, filepath.Join(home, ".ssh/id_ed25519.pub")) {
		t.Errorf("denyRead %q, unhidden %q", o.DenyRead, o.Unhidden)
	}
}

// TestSeatbeltPlanGlobCharactersInNames: a working directory or home whose
// name has glob characters is taken literally; before, "proj [old]" turned
// every built-in protection into a class that never matched it.
func TestSeatbeltPlanGlobCharactersInNames(t *testing.T) {
	c := &config.Config{}
	s, home, _ := macSpec(t, c)
	cwd := filepath.Join(home, "proj [old]*?")
	if err := os.Mkdir(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	s.Cwd = cwd
	s.PolicyFiles = []string{filepath.Join(cwd, "fence.json")}
	c.Filesystem.AllowWrite = []string{"."}
	c.Filesystem.DenyWrite = []string{"*.pem"}
	o := planMac(t, s).opts
	o.Network.ProxyPorts = []int{1, 2}
	p, err := seatbelt.Profile(o)
	if err != nil {
		t.Fatal(err)
	}
	denied := func(path string) bool { return deniedBy(p, "deny file-write*", path) }
	for _, want := range []string{cwd + "/.bashrc", cwd + "/.vscode/settings.json", cwd + "/key.pem", cwd + "/fence.json"} {
		if !denied(want) {
			t.Errorf("%s is writable:\n%s", want, p)
		}
	}
	if denied(cwd + "/main.go") {
		t.Errorf("%s/main.go is not writable", cwd)
	}
}

// TestSeatbeltPlanDeniedPrograms: Seatbelt checks the resolved path of an
// executable, so a denied name that is a symlink in PATH is denied at its
// target too; a relative path token is taken from the working directory
// (it made every profile fail before).
func TestSeatbeltPlanDeniedPrograms(t *testing.T) {
	c := &config.Config{}
	s, home, cwd := macSpec(t, c)
	bin := filepath.Join(home, "bin")
	cellar := filepath.Join(home, "cellar")
	for _, d := range []string{bin, cellar} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cellar, "python3.13"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	// A denied program that is a regular file in PATH: Linux masks it,
	// so it can be neither copied nor run through an interpreter.
	if err := os.WriteFile(filepath.Join(bin, "terraform"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../cellar/python3.13", filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	s.Env = []string{"PATH=" + bin + ":/usr/bin"}
	c.Command.Deny = []string{"python3", "./deploy.sh", "terraform"}
	o := planMac(t, s).opts
	for _, want := range []string{"python3", filepath.Join(cellar, "python3.13"), filepath.Join(cwd, "deploy.sh")} {
		if !slices.Contains(o.DenyExec, want) {
			t.Errorf("%s not denied: %q", want, o.DenyExec)
		}
	}
	// A path token cannot be read either: sh ./deploy.sh. A name's
	// target can: python3.13 is still a file other programs read.
	if !slices.Contains(o.DenyRead, filepath.Join(cwd, "deploy.sh")) || !slices.Contains(o.DenyRead, filepath.Join(bin, "terraform")) ||
		slices.Contains(o.DenyRead, filepath.Join(cellar, "python3.13")) {
		t.Errorf("denyRead %q: want deploy.sh and terraform, not python3.13", o.DenyRead)
	}
	if _, err := seatbelt.Profile(o); err != nil {
		t.Fatal(err)
	}
}

func TestSeatbeltPlanNetwork(t *testing.T) {
	c := &config.Config{}
	s, _, _ := macSpec(t, c)
	s.Ports = []int{8080}
	c.Network.AllowLocalBinding = true
	c.Network.AllowLocalOutboundPorts = []int{5432}
	n := planMac(t, s).opts.Network
	if !n.LocalBinding || !slices.Equal(n.BindPorts, []int{8080}) || n.LocalOutbound || !slices.Equal(n.LocalOutboundPorts, []int{5432}) {
		t.Errorf("network %+v", n)
	}
	c.Network.AllowLocalOutboundPorts = nil
	if n := planMac(t, s).opts.Network; !n.LocalOutbound {
		t.Errorf("allowLocalBinding without ports: local outbound %v, want true (its default)", n.LocalOutbound)
	}
	c.Network.AllowedDomains = []string{"*"}
	if n := planMac(t, s).opts.Network; !n.Unrestricted {
		t.Errorf("allowedDomains [\"*\"] not unrestricted")
	}
}

// TestSeatbeltPlanGrantsHeld: as on Linux (heldGrants), an allowWrite or
// allowRead path inside another writable path (-t code run in $HOME:
// ~/.codex/**) cannot be made a symlink by the command, and the
// directories above it there can be neither made nor removed: the next
// run resolves the entry through symlinks, and would grant where a planted
// link leads. A glob's matches are not resolved, only its fixed part. Not
// held: what is not inside a writable path (the home, with the workspace
// elsewhere), and the writable path itself.
func TestSeatbeltPlanGrantsHeld(t *testing.T) {
	c := &config.Config{Filesystem: config.FilesystemConfig{
		AllowWrite: []string{".", "~/.tool/**", "~/.tool-*", "~/deep/er/dir", "~/.tool.json", "~/link/x", "~/d/*.json"},
		AllowRead:  []string{"~/.reads"}, AllowExecute: []string{"~/.exec/bin"},
	}}
	s, home, cwd := macSpec(t, c)
	if err := os.MkdirAll(filepath.Join(home, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(home, "link")); err != nil { // the user's own
		t.Fatal(err)
	}
	// Started in $HOME: the home is writable.
	s.Cwd = home
	mp := planMac(t, s)
	o := mp.opts
	for _, want := range []string{".tool", "deep/er/dir", ".tool.json", ".reads", ".exec/bin", "link/x", "real/x", "d"} {
		if !slices.Contains(o.Grants, filepath.Join(home, want)) {
			t.Errorf("grant ~/%s not held: %q", want, o.Grants)
		}
	}
	for _, want := range []string{"deep/er", "deep", "link", "real", ".exec"} {
		if !slices.Contains(o.Held, filepath.Join(home, want)) {
			t.Errorf("~/%s, above a grant, not held: %q", want, o.Held)
		}
	}
	if slices.Contains(o.Grants, home) || slices.Contains(o.Held, home) || slices.ContainsFunc(o.Grants, func(g string) bool { return strings.Contains(g, "tool-") }) {
		t.Errorf("the writable home, or a glob's match, held: grants %q, held %q", o.Grants, o.Held)
	}
	mp.opts.Network.ProxyPorts = []int{40000, 40001}
	p, err := seatbelt.Profile(mp.opts)
	if err != nil {
		t.Fatal(err)
	}
	// A symlink at ~/.tool: its creation is denied unless a directory or
	// a file; ~/deep, above a grant, cannot be created at all.
	if !grantDenied(p, filepath.Join(home, ".tool")) || !grantDenied(p, filepath.Join(home, ".reads")) {
		t.Errorf("a symlink can be planted at ~/.tool or ~/.reads:\n%s", p)
	}
	if !deniedBy(p, "deny file-write-unlink file-write-create", filepath.Join(home, "deep")) {
		t.Errorf("~/deep can be made (a directory renamed there, holding a symlink er):\n%s", p)
	}
	if grantDenied(p, home) || grantDenied(p, filepath.Join(home, ".tool-x")) || grantDenied(p, filepath.Join(home, "other")) {
		t.Errorf("more than the grants held:\n%s", p)
	}

	// Started in a workspace: the home is not writable, nothing there is
	// held.
	s.Cwd = cwd
	o = planMac(t, s).opts
	if len(o.Grants) != 0 || slices.ContainsFunc(o.Held, func(h string) bool { return strings.HasPrefix(h, home+"/") }) {
		t.Errorf("grants in a read-only home held: grants %q, held %q", o.Grants, o.Held)
	}
}

// grantDenied reports whether profile p has a grant's rule, a denial of
// file-write-create unless a directory or a regular file, for path.
func grantDenied(p, path string) bool {
	return deniedBy(p, "deny file-write-create (require-all", path)
}

// TestSeatbeltPlanAccountHomeCredentials: on macOS as on Linux, the
// credential files of the account's own home (directory services') are
// hidden when $HOME is elsewhere (HOME=$(mktemp -d) for an agent, sudo -E
// for root), the login keychain with them; lifted by a grant of their own
// directory there, not by one of that home.
func TestSeatbeltPlanAccountHomeCredentials(t *testing.T) {
	if !accountHomeOS("darwin") {
		t.Errorf("the account's home is not looked up on macOS")
	}
	account, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(account, ".ssh/keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(account, ".ssh/keys/work"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	prev := lookupAccountHome
	t.Cleanup(func() { lookupAccountHome = prev })
	lookupAccountHome = func() string { return account }
	c := &config.Config{}
	s, home, _ := macSpec(t, c)
	o := planMac(t, s).opts
	for _, f := range []string{".ssh/id_*", ".aws/credentials", ".git-credentials", ".azure/msal_token_cache.json", ".ssh/keys/work", "Library/Keychains"} {
		if p := filepath.Join(account, f); !slices.Contains(o.Hidden, p) {
			t.Errorf("%s in the account's home not hidden: %q", p, o.Hidden)
		}
	}
	if p := filepath.Join(home, "Library/Keychains"); !slices.Contains(o.Hidden, p) {
		t.Errorf("$HOME's keychains not hidden: %q", o.Hidden)
	}
	c.Filesystem.AllowRead = []string{account}
	if o = planMac(t, s).opts; !slices.Contains(o.Hidden, filepath.Join(account, "Library/Keychains")) {
		t.Errorf("a grant of the account's home lifted its keychains: %q", o.Hidden)
	}
	c.Filesystem.AllowRead = []string{filepath.Join(account, "Library/Keychains")}
	if o = planMac(t, s).opts; slices.Contains(o.Hidden, filepath.Join(account, "Library/Keychains")) {
		t.Errorf("a grant of the account's keychains did not lift them: %q", o.Hidden)
	}
	// The account's home at $HOME: nothing twice.
	lookupAccountHome = func() string { return home }
	c.Filesystem.AllowRead = nil
	if o = planMac(t, s).opts; slices.ContainsFunc(o.Hidden, func(h string) bool { return strings.HasPrefix(h, account+"/") }) {
		t.Errorf("another home's credentials hidden: %q", o.Hidden)
	}
}

// TestSeatbeltPlanSystemCredentials: as on Linux, the system's root-only
// secrets are hidden (fence run as root runs the command as root): the
// local accounts' password hashes, master.passwd, kcpassword, the System
// keychain's key and the ssh host keys, not their public halves. A grant
// of the path, or of /etc/ssh for the host keys, lifts one; one of /etc
// does not.
func TestSeatbeltPlanSystemCredentials(t *testing.T) {
	c := &config.Config{}
	s, _, _ := macSpec(t, c)
	mp := planMac(t, s)
	mp.opts.Network.ProxyPorts = []int{40000, 40001}
	p, err := seatbelt.Profile(mp.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/var/db/dslocal/nodes/Default/users/u.plist", "/etc/master.passwd", "/etc/kcpassword", "/var/db/SystemKey",
		"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"} {
		if !deniedBy(p, "deny file-read* file-write*", f) {
			t.Errorf("%s readable:\n%s", f, p)
		}
	}
	for _, f := range []string{"/etc/ssh/ssh_host_ed25519_key.pub", "/etc/ssh/ssh_config", "/etc/passwd", "/var/db/dslocal/nodes/Default/groups/staff.plist"} {
		if deniedBy(p, "deny file-read* file-write*", f) {
			t.Errorf("%s hidden", f)
		}
	}
	c.Filesystem.AllowRead = []string{"/etc"}
	if o := planMac(t, s).opts; !slices.Contains(o.Hidden, "/etc/ssh/ssh_host_*_key") || !slices.Contains(o.Hidden, "/etc/master.passwd") {
		t.Errorf("allowRead /etc lifted a system secret: %q", o.Hidden)
	}
	c.Filesystem.AllowRead = []string{"/etc/ssh", "/var/db/SystemKey"}
	if o := planMac(t, s).opts; slices.Contains(o.Hidden, "/etc/ssh/ssh_host_*_key") || slices.Contains(o.Hidden, "/var/db/SystemKey") {
		t.Errorf("a grant of /etc/ssh or of the key did not lift it: %q", o.Hidden)
	}
}

// TestSeatbeltPlanSharedCredentials: macOS hides every entry of the
// shared credential list (Azure's, Vault's, Terraform's and RubyGems'
// tokens among them) and the files the environment moves them to, as
// Linux does.
func TestSeatbeltPlanSharedCredentials(t *testing.T) {
	c := &config.Config{}
	s, home, cwd := macSpec(t, c)
	az := filepath.Join(cwd, "..", "az")
	s.Env = append(s.Env, "AZURE_CONFIG_DIR="+az)
	o := planMac(t, s).opts
	for _, cp := range credentialPaths {
		if p := filepath.Join(home, strings.TrimPrefix(cp, "~/")); !slices.Contains(o.Hidden, p) {
			t.Errorf("credential %s not hidden: %q", p, o.Hidden)
		}
	}
	for _, f := range []string{"msal_token_cache.json", "msal_token_cache.bin", "accessTokens.json", "service_principal_entries.json"} {
		if p := filepath.Join(filepath.Clean(az), f); !slices.Contains(o.Hidden, p) {
			t.Errorf("AZURE_CONFIG_DIR's %s not hidden: %q", p, o.Hidden)
		}
	}
}

// TestSeatbeltPlanHiddenAncestorsHeld: the directories above a hidden
// path (a credential, a denyRead entry) in a writable path cannot be
// removed or renamed on macOS either (Linux holds them since 28fbbcd): mv
// ~/.aws ~/.aws2 would carry ~/.aws/credentials out of its rule's reach.
// They may be made (a first aws configure).
func TestSeatbeltPlanHiddenAncestorsHeld(t *testing.T) {
	c := &config.Config{Filesystem: config.FilesystemConfig{AllowWrite: []string{"."}, DenyRead: []string{"conf/prod/key.txt"}}}
	s, home, _ := macSpec(t, c)
	s.Cwd = home
	mp := planMac(t, s)
	mp.opts.Network.ProxyPorts = []int{40000, 40001}
	p, err := seatbelt.Profile(mp.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{".aws", "conf", "conf/prod", ".config/gcloud"} {
		if !deniedBy(p, "deny file-write-unlink", filepath.Join(home, d)) {
			t.Errorf("~/%s, above a hidden path, can be renamed:\n%s", d, p)
		}
		if deniedBy(p, "deny file-write-unlink file-write-create", filepath.Join(home, d)) {
			t.Errorf("~/%s, above a hidden path, cannot be made", d)
		}
	}
	// A hidden directory itself: its own rule.
	if !deniedBy(p, "deny file-read* file-write*", filepath.Join(home, ".gnupg")) {
		t.Errorf("~/.gnupg can be renamed:\n%s", p)
	}
}

// TestSeatbeltPlanTemplates: every built-in template renders a profile,
// and defaultDenyRead keeps the system readable.
func TestSeatbeltPlanTemplates(t *testing.T) {
	tpls := config.Templates()
	if len(tpls) < 5 {
		t.Fatalf("%d templates", len(tpls))
	}
	for _, tpl := range tpls {
		name := tpl.Name
		t.Run(name, func(t *testing.T) {
			c, _, err := config.Resolve(config.LoadOptions{Template: name})
			if err != nil {
				t.Fatal(err)
			}
			s, _, _ := macSpec(t, c)
			mp := planMac(t, s)
			mp.opts.Network.ProxyPorts = []int{40000, 40001}
			if _, err := seatbelt.Profile(mp.opts); err != nil {
				t.Fatal(err)
			}
			if c.Filesystem.DefaultDenyRead {
				for _, want := range []string{"/usr", "/System", "/Library", "/private/var/db"} {
					if !slices.Contains(mp.opts.Readable, want) {
						t.Errorf("%s not readable under defaultDenyRead: %q", want, mp.opts.Readable)
					}
				}
			}
		})
	}
}

// TestSeatbeltPlanGlobSymlinks: a key a credential glob matches that is a
// symlink (dotfile managers) is denied at its target, which is what
// Seatbelt checks.
func TestSeatbeltPlanGlobSymlinks(t *testing.T) {
	c := &config.Config{}
	s, home, _ := macSpec(t, c)
	for _, d := range []string{".ssh", "dotfiles"} {
		if err := os.Mkdir(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(home, "dotfiles", "ssh-key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(key, filepath.Join(home, ".ssh", "id_ed25519")); err != nil {
		t.Fatal(err)
	}
	c.Filesystem.DenyWrite = []string{"~/.ssh/*"}
	o := planMac(t, s).opts
	if !slices.Contains(o.Hidden, key) {
		t.Errorf("the key's target %s is not hidden: %q", key, o.Hidden)
	}
	if !slices.Contains(o.DenyWrite, key) {
		t.Errorf("the key's target %s is not write-protected: %q", key, o.DenyWrite)
	}
}

// TestSeatbeltPlanGlobThroughDirectoryLinks: a glob whose match lies in a
// symlinked directory (~/projects/foo -> ~/code/foo) is denied where it
// resolves, which is what Seatbelt checks; Linux masks the resolved path.
func TestSeatbeltPlanGlobThroughDirectoryLinks(t *testing.T) {
	c := &config.Config{}
	s, home, _ := macSpec(t, c)
	code := filepath.Join(home, "code", "foo")
	if err := os.MkdirAll(code, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, "projects"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(code, filepath.Join(home, "projects", "foo")); err != nil {
		t.Fatal(err)
	}
	c.Filesystem.DenyRead = []string{"~/projects/*/.env"}
	c.Filesystem.DenyWrite = []string{"~/projects/*"}
	o := planMac(t, s).opts
	if !slices.Contains(o.DenyRead, code+"/.env") || !slices.Contains(o.DenyWrite, code) {
		t.Errorf("denyRead %q, denyWrite %q: want %s/.env and %s", o.DenyRead, o.DenyWrite, code, code)
	}
}

// TestSeatbeltPlanLinkScanDepthAndKinds: "**" also stands for no
// directory (ws/**/.env covers ws/.env), names match without regard to
// case as in the profile, and a FIFO or socket among the entries is
// neither opened (which would hang) nor an error.
func TestSeatbeltPlanLinkScanDepthAndKinds(t *testing.T) {
	c := &config.Config{}
	s, home, cwd := macSpec(t, c)
	secret := filepath.Join(home, "secret.env")
	key := filepath.Join(home, "real.pem")
	for _, f := range []string{secret, key} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(secret, filepath.Join(cwd, ".env")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(key, filepath.Join(cwd, "KEY.PEM")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(cwd, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Filesystem.DenyWrite = []string{"**/.env", "*.pem"}
	done := make(chan *macPlan, 1)
	go func() { done <- planMac(t, s) }()
	var o *seatbelt.Options
	select {
	case mp := <-done:
		o = mp.opts
	case <-time.After(10 * time.Second):
		t.Fatal("the plan hangs on a FIFO in the workspace")
	}
	for _, want := range []string{secret, key} {
		if !slices.Contains(o.DenyWrite, want) {
			t.Errorf("link target %s not protected: %q", want, o.DenyWrite)
		}
	}
	// As on Linux, "**" inside a denyRead pattern is refused.
	c.Filesystem.DenyRead = []string{"**/.env"}
	if _, err := s.planSeatbelt(); err == nil || !strings.Contains(err.Error(), "not supported for reads") {
		t.Errorf("denyRead **/.env: err %v, want a refusal", err)
	}
}

// TestSeatbeltPlanLinkScanFailsClosed: a directory a glob must look into
// that can be searched but not listed stops the plan (a link in it could
// lead anywhere, and the command could name it); one that cannot be
// searched, or that macOS's privacy protection closes (EPERM), holds
// nothing reachable and is skipped.
func TestSeatbeltPlanLinkScanFailsClosed(t *testing.T) {
	c := &config.Config{}
	s, home, _ := macSpec(t, c)
	locked := filepath.Join(home, "locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	c.Filesystem.DenyRead = []string{"~/locked/*.key"}
	defer func(l func(string) ([]string, error), sr func(string) error) { listLinkDir, searchable = l, sr }(listLinkDir, searchable)
	fail := syscall.EACCES
	listLinkDir = func(d string) ([]string, error) {
		if d == locked {
			return nil, &os.PathError{Op: "open", Path: d, Err: fail}
		}
		return listDir(d)
	}
	if _, err := s.planSeatbelt(); err == nil || !strings.Contains(err.Error(), locked) {
		t.Errorf("searchable, unlistable %s: err %v, want an error naming it", locked, err)
	}
	searchable = func(d string) error {
		if d == locked {
			return syscall.EACCES
		}
		return nil
	}
	if _, err := s.planSeatbelt(); err != nil {
		t.Errorf("unsearchable %s: %v, want it skipped", locked, err)
	}
	// Unless the command could chmod it back: the user's own, writable.
	c.Filesystem.AllowWrite = []string{"~"}
	if _, err := s.planSeatbelt(); err == nil || !strings.Contains(err.Error(), locked) {
		t.Errorf("unsearchable %s in a writable home: err %v, want an error naming it", locked, err)
	}
	c.Filesystem.AllowWrite = nil
	searchable = func(string) error { return nil }
	fail = syscall.EPERM
	if _, err := s.planSeatbelt(); err != nil {
		t.Errorf("%s closed by privacy protection: %v, want it skipped", locked, err)
	}
}

// TestSeatbeltPlanLinkTargetsLiteral: link targets and the directories
// they are found in keep glob characters in their names literal.
func TestSeatbeltPlanLinkTargetsLiteral(t *testing.T) {
	c := &config.Config{}
	s, home, _ := macSpec(t, c)
	s.Home = filepath.Join(home, "h[1]")
	target := filepath.Join(home, "vault*", "k")
	for _, d := range []string{filepath.Join(s.Home, ".ssh"), filepath.Dir(target)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(s.Home, ".ssh", "id_rsa")); err != nil {
		t.Fatal(err)
	}
	o := planMac(t, s).opts
	if !slices.Contains(o.Hidden, seatbelt.Literal(target)) {
		t.Errorf("the key's target %s is not hidden (literally): %q", target, o.Hidden)
	}
	c.Filesystem.DenyRead = []string{`~/a\b`}
	o = planMac(t, s).opts
	if !slices.Contains(o.DenyRead, seatbelt.Literal(s.Home+`/a\b`)) {
		t.Errorf("~/a\\b not taken literally: %q", o.DenyRead)
	}
}

// TestSeatbeltPlanLiteralPaths: a home with glob characters, and a config
// path without globs but with a backslash, are taken literally.
func TestSeatbeltPlanLiteralPaths(t *testing.T) {
	c := &config.Config{}
	s, home, _ := macSpec(t, c)
	s.Home = filepath.Join(home, "u[1]")
	c.Filesystem.DenyRead = []string{`/srv/a\b`}
	o := planMac(t, s).opts
	p, err := seatbelt.Profile(o)
	if err != nil {
		t.Fatal(err)
	}
	readDenied := func(path string) bool { return deniedBy(p, "deny file-read* file-write*", path) }
	for _, want := range []string{s.Home + "/.ssh/id_rsa", s.Home + "/.aws/credentials", `/srv/a\b`} {
		if !readDenied(want) {
			t.Errorf("%s is readable", want)
		}
	}
}

func TestSeatbeltForms(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "real/d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(root, "ln")); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string][]string{
		root + "/real/d/x":       {root + "/real/d/x"},
		root + "/ln/d/x":         {root + "/ln/d/x", root + "/real/d/x"},
		root + "/ln/missing/a/b": {root + "/ln/missing/a/b", root + "/real/missing/a/b"},
		root + "/ln/d/*.pem":     {root + "/ln/d/*.pem", root + "/real/d/*.pem"},
		root + "/ln/**/*.key":    {root + "/ln/**/*.key", root + "/real/**/*.key"},
		root + "/ln":             {root + "/ln", root + "/real"},
		"/":                      {"/"},
		"/*.pem":                 {"/*.pem"},
		// Escaped names stay escaped, in both forms.
		root + `/ln/d/\*x\[1]/*.pem`: {root + `/ln/d/\*x\[1]/*.pem`, root + `/real/d/\*x\[1]/*.pem`},
	} {
		if got := seatbeltForms(in); !slices.Equal(got, want) {
			t.Errorf("seatbeltForms(%q) = %q, want %q", in, got, want)
		}
	}
}

// deniedBy reports whether a rule "(RULE (regex "..."))" of profile p
// matches path: the regex read back from its SBPL string.
func deniedBy(p, rule, path string) bool {
	for _, line := range strings.Split(p, "\n") {
		rest, ok := strings.CutPrefix(line, "("+rule+` (regex "`)
		if !ok {
			continue
		}
		var re strings.Builder
		for i := 0; rest[i] != '"'; i++ {
			if rest[i] == '\\' {
				i++
			}
			re.WriteByte(rest[i])
		}
		if regexp.MustCompilePOSIX(re.String()).MatchString(path) {
			return true
		}
	}
	return false
}

// TestSeatbeltPlanToolCaches: on macOS as on Linux, where ~/.cache is
// writable the tools' caches there are read-only and the command gets
// its own (GOCACHE, ...), held as grants; nothing changes where it is not.
func TestSeatbeltPlanToolCaches(t *testing.T) {
	c := &config.Config{Filesystem: config.FilesystemConfig{AllowWrite: []string{".", "~/.cache/**"}}}
	s, home, _ := macSpec(t, c)
	if err := os.Mkdir(filepath.Join(home, ".cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	mp := planMac(t, s)
	own := filepath.Join(home, ".cache", "fence-sandbox")
	if got := getenv(mp.env, "GOCACHE"); got != filepath.Join(own, "go-build") {
		t.Errorf("GOCACHE = %q, want the sandbox's own under %s", got, own)
	}
	if got := getenv(mp.env, "PRE_COMMIT_HOME"); got != filepath.Join(own, "pre-commit") {
		t.Errorf("PRE_COMMIT_HOME = %q", got)
	}
	for _, d := range []string{"go-build", "pre-commit", "uv"} {
		if !slices.Contains(mp.opts.DenyWrite, filepath.Join(home, ".cache", d)) {
			t.Errorf("~/.cache/%s not read-only: %q", d, mp.opts.DenyWrite)
		}
	}
	if !slices.Contains(mp.opts.Grants, own) {
		t.Errorf("%s not held: %q", own, mp.opts.Grants)
	}
	s.Config = &config.Config{Filesystem: config.FilesystemConfig{AllowWrite: []string{"."}}}
	if mp := planMac(t, s); getenv(mp.env, "GOCACHE") != "" || slices.Contains(mp.opts.Grants, own) {
		t.Errorf("no writable cache directory: want the caller's environment, got GOCACHE=%q", getenv(mp.env, "GOCACHE"))
	}
}

// TestSeatbeltPlanMacToolCaches: macOS's user cache directory,
// ~/Library/Caches, holds go's build cache by default (os.UserCacheDir),
// pip's, deno's: where it is writable (a writable home, or itself), those
// are read-only as ~/.cache's are, and the tools inside get their own.
func TestSeatbeltPlanMacToolCaches(t *testing.T) {
	for _, tc := range []struct {
		allow []string
		own   string // relative to the home
	}{
		{[]string{"~"}, ".cache/fence-sandbox"},
		{[]string{".", "~/Library/Caches"}, "Library/Caches/fence-sandbox"},
	} {
		c := &config.Config{Filesystem: config.FilesystemConfig{AllowWrite: tc.allow}}
		s, home, _ := macSpec(t, c)
		if err := os.MkdirAll(filepath.Join(home, "Library", "Caches"), 0o755); err != nil {
			t.Fatal(err)
		}
		mp := planMac(t, s)
		own := filepath.Join(home, tc.own)
		if got := getenv(mp.env, "GOCACHE"); got != filepath.Join(own, "go-build") {
			t.Errorf("%q: GOCACHE = %q, want the sandbox's own under %s", tc.allow, got, own)
		}
		mp.opts.Network.ProxyPorts = []int{40000, 40001}
		p, err := seatbelt.Profile(mp.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"go-build/ab/abcdef-a", "pip/wheels/x.whl", "deno/remote/x.js"} {
			if path := filepath.Join(home, "Library", "Caches", d); !deniedBy(p, "deny file-write*", path) {
				t.Errorf("%q: %s writable", tc.allow, path)
			}
		}
		if path := filepath.Join(own, "go-build", "ab"); deniedBy(p, "deny file-write*", path) {
			t.Errorf("%q: the sandbox's own cache %s denied", tc.allow, path)
		}
	}
}

// TestSeatbeltPlanMacHomePaths: with a writable home, what macOS runs
// from there outside the sandbox stays read-only as its XDG counterparts
// do: the launch agents (started at the next login), and the protected
// configuration, data and cache directories where macOS keeps them
// (go's env file, VS Code's settings, Playwright's browsers).
func TestSeatbeltPlanMacHomePaths(t *testing.T) {
	c := &config.Config{Filesystem: config.FilesystemConfig{AllowWrite: []string{"~"}}}
	s, home, _ := macSpec(t, c)
	mp := planMac(t, s)
	mp.opts.Network.ProxyPorts = []int{40000, 40001}
	p, err := seatbelt.Profile(mp.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"Library/LaunchAgents/com.evil.plist", "Library/LaunchAgents", "Library/Application Support/go/env",
		"Library/Application Support/Code/User/settings.json", "Library/Application Support/Code/User/tasks.json",
		"Library/Application Support/jj/config.toml", "Library/Application Support/fnm/node-versions/v22/bin/node",
		"Library/Caches/ms-playwright/chromium-1/chrome"} {
		if !deniedBy(p, "deny file-write*", filepath.Join(home, rel)) {
			t.Errorf("~/%s writable", rel)
		}
	}
	for _, rel := range []string{"Library/Application Support/other/state.json", "Library/Caches/other/x", "notes.txt"} {
		if deniedBy(p, "deny file-write*", filepath.Join(home, rel)) {
			t.Errorf("~/%s denied", rel)
		}
	}
}

package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/seatbelt"
)

// macSystemReadPaths stay readable in defaultDenyRead mode on macOS: what
// the dynamic loader, the shells and the developer tools read at start
// (the dyld cache is under /System, /bin/sh's target under
// /private/var/select), beside the Linux list's entries that exist there.
var macSystemReadPaths = []string{
	"/System", "/Library", "/Applications/Xcode.app", "/private/var/db", "/private/var/select",
	"/dev", "/opt/homebrew", "/usr/local",
}

// macPlan is what Run needs on macOS, before the per-run parts (the
// temporary directory, the proxies' ports) are known.
type macPlan struct {
	opts *seatbelt.Options
	path string
	args []string
	env  []string
	np   *netPlan
}

// planSeatbelt resolves s into a Seatbelt policy. Seatbelt checks every
// access as it happens, so unlike the Linux plan nothing here depends on
// which paths exist: a glob stays a glob (a regular expression in the
// profile) and covers files created later, and a "**" anywhere works.
// What the file system is asked is where symlinks lead, because Seatbelt
// matches the path a lookup resolved to.
func (s *Spec) planSeatbelt() (*macPlan, error) {
	s.paths = resolver{} // a plan sees the filesystem as it is now (as planFS)
	s.ssh, s.children, s.childErr, s.git = nil, nil, nil, nil
	env, path, args, err := s.prepare()
	if err != nil {
		return nil, err
	}
	c := s.Config
	f := &c.Filesystem
	o := &seatbelt.Options{DefaultDenyRead: f.DefaultDenyRead, AllowPty: c.AllowPty}

	// A path of the config in every form Seatbelt may see it; "~" without
	// a home names nothing.
	forms := func(ps []string) []string {
		var out []string
		for _, p := range ps {
			if e := s.seatbeltPattern(p); e != "" {
				out = append(out, seatbeltForms(e)...)
			}
		}
		return out
	}
	o.Writable = forms(f.AllowWrite)
	readable := forms(append(slices.Clone(f.AllowRead), f.AllowExecute...))
	if f.DefaultDenyRead {
		o.Readable = append(forms(systemReadPaths), forms(macSystemReadPaths)...)
		o.Readable = append(o.Readable, readable...)
	}
	// The granting entries' names inside a writable path, as on Linux
	// (heldGrants): a symlink planted there would be resolved by the next
	// run's forms, which would grant where it leads.
	o.Grants, o.Held = seatbeltGrants(slices.Concat(o.Writable, readable), o.Writable)
	o.DenyWrite = forms(f.DenyWrite)
	// The config files are paths, not patterns.
	for _, p := range s.PolicyFiles {
		o.DenyWrite = append(o.DenyWrite, seatbeltForms(seatbelt.Literal(p))...)
	}
	// fence's own protected names: start-up files and tool configs in the
	// working directory and $HOME. Their literal form always; the form a
	// symlink leads to unless a writable path lies below it: a checkout's
	// ".vscode -> .." must not make the workspace read-only (as on Linux,
	// where a target that is itself writable is protected, one above a
	// writable path is not).
	// .git/hooks and .git/config only in an existing repository: one the
	// command creates (git init) needs them.
	repo := false
	if st, err := os.Stat(filepath.Join(s.Cwd, ".git")); err == nil && st.IsDir() {
		repo = true
	}
	var builtin []string
	for _, p := range s.dangerousPaths() {
		if repo || !strings.HasPrefix(p, filepath.Join(s.Cwd, ".git")+"/") {
			builtin = append(builtin, p)
		}
	}
	builtin = append(builtin, s.macDangerousPaths()...)
	gp, unlistable, err := s.gitPaths(f.AllowGitConfig)
	if err != nil {
		return nil, err
	}
	// The repositories one level down: denials here, which cost no
	// mounts (Linux makes them the write guard's patterns).
	cps, cus, err := s.childRepoPaths(f.AllowGitConfig)
	if err != nil {
		return nil, err
	}
	builtin, unlistable = append(builtin, cps...), append(unlistable, cus...)
	// The linked worktrees' git directories, as on Linux.
	wp, err := s.linkedWorktrees(f.AllowGitConfig, s.expandGrants(f.AllowWrite), append(s.expandGrants(f.DenyWrite), gp...))
	if err != nil {
		return nil, err
	}
	gp = append(gp, wp.strict...)
	for _, p := range wp.patterns {
		dir, base := filepath.Split(p)
		o.DenyWrite = append(o.DenyWrite, seatbeltForms(filepath.Join(seatbelt.Literal(filepath.Clean(dir)), base))...)
	}
	for _, p := range wp.removable {
		o.RemoveOnly = append(o.RemoveOnly, seatbeltForms(seatbelt.Literal(p))...)
	}
	for _, p := range wp.held {
		o.Held = append(o.Held, seatbeltForms(seatbelt.Literal(p))...)
	}
	// No new submodule git directory, as on Linux (fsPolicy): a planted
	// .git/modules/NAME (hooks, core.hooksPath in its config) serves the
	// user's next git submodule update --init, outside the sandbox. Those
	// there are protected (gitPaths) but stay writable inside, for git:
	// only making a new one is refused, in modules/ of each git directory
	// and of the submodules' (and in the directories that group them:
	// modules/libs for libs/b), and modules itself is held.
	if !f.AllowGitConfig {
		all := func(string) bool { return true }
		s.eachModulesDir(all, func(_, mdir string, mods []string) {
			o.Held = append(o.Held, seatbeltForms(seatbelt.Literal(mdir))...)
			o.NoCreate = append(o.NoCreate, seatbeltForms(seatbelt.Literal(mdir)+"/*")...)
			for _, g := range moduleGroups(mdir, mods) {
				o.NoCreate = append(o.NoCreate, seatbeltForms(seatbelt.Literal(g)+"/*")...)
			}
		})
	}
	builtin = append(builtin, gp...)
	// The tool caches, as on Linux (toolCacheEnv): the host's read-only,
	// the command's own a grant, made as a directory only (a symlink
	// planted there would lead the next run's tools out of the writable
	// paths).
	// Beside the XDG cache directories, macOS's own, where go's build
	// cache is by default (~/Library/Caches/go-build).
	var macCaches []string
	if s.Home != "" {
		macCaches = append(macCaches, filepath.Join(s.Home, "Library", "Caches"))
	}
	cacheProt, cacheEnv, cacheOwn := s.toolCacheEnv(s.expandGrants(f.AllowWrite), macCaches...)
	builtin = append(builtin, cacheProt...)
	for _, p := range cacheOwn {
		o.Grants = append(o.Grants, seatbeltForms(seatbelt.Literal(p))...)
	}
	env = setEnv(env, cacheEnv...)
	for _, u := range unlistable {
		// A directory gitPaths could not list: what can be seen of it.
		m, _ := filepath.Glob(filepath.Join(seatbelt.Literal(u), "*"))
		builtin = append(builtin, m...)
	}
	for _, p := range builtin {
		p = seatbelt.Literal(p)
		for _, form := range seatbeltForms(p) {
			if form != p && slices.ContainsFunc(o.Writable, func(w string) bool { return w != form && underAny(w, []string{form}) }) {
				s.logf("protected %s leads to %s, which holds a writable path: only the name itself is protected", p, form)
				continue
			}
			o.DenyWrite = append(o.DenyWrite, form)
		}
	}
	// What ssh's config includes, and zsh's completion dumps: patterns,
	// which Seatbelt matches itself.
	sshPaths, sshPatterns, err := s.sshIncludes()
	if err != nil {
		return nil, err
	}
	for _, p := range sshPaths {
		o.DenyWrite = append(o.DenyWrite, seatbeltForms(seatbelt.Literal(p))...)
	}
	for _, p := range append(lastGlobs(s.zshDumpPatterns()), sshPatterns...) {
		o.DenyWrite = append(o.DenyWrite, seatbeltForms(p)...)
	}

	for _, p := range f.DenyRead {
		if recursive(p) {
			// As on Linux: a symlink deep under the "**" would lead
			// where no rule reaches, and finding them all would need a
			// walk of the tree at every start.
			return nil, fmt.Errorf("filesystem.denyRead %q: a \"**\" inside a pattern is not supported for reads; list a directory (dir/**) or a one-level glob (dir/*.pem) instead", p)
		}
	}
	o.DenyRead = forms(f.DenyRead)
	// Credential paths, unless allowRead lifts them: a parent of the
	// pattern within its own directory drops it (credentialLifted), a
	// path under it is let through.
	lifted := readable
	creds := s.credentials()
	// The account's own home too, where $HOME is elsewhere, as
	// credentials does for the shared list.
	account := s.accountHome()
	for _, cp := range macCredentialPaths {
		creds = append(creds, credential{cp, credentialOwnDir(cp)})
		if account != "" {
			creds = append(creds, credential{account + cp[1:], account + credentialOwnDir(cp)[1:]})
		}
	}
	creds = append(creds, macSystemCredentials...)
	for _, cr := range creds {
		e := s.seatbeltPattern(cr.pattern)
		if e == "" {
			continue
		}
		lit, _ := seatbelt.StaticPrefix(e)
		if credentialLifted(seatbelt.Literal(lit), lifted, forms([]string{cr.own})) {
			continue
		}
		o.Hidden = append(o.Hidden, seatbeltForms(e)...)
		for _, l := range lifted {
			if underAny(l, []string{seatbelt.Literal(lit)}) {
				o.Unhidden = append(o.Unhidden, l)
			}
		}
	}
	exec, unreadable := s.seatbeltDeniedPrograms(config.RuntimeDenyTokens(c), getenv(env, "PATH"))
	o.DenyExec = exec
	for _, p := range unreadable {
		o.DenyRead = append(o.DenyRead, seatbeltForms(seatbelt.Literal(p))...)
	}
	// Seatbelt checks resolved paths: what a glob matches through a
	// symlink is denied where it resolves too.
	for _, l := range []*[]string{&o.Hidden, &o.DenyRead, &o.DenyWrite} {
		if *l, err = withLinkTargets(*l, o.Writable); err != nil {
			return nil, err
		}
	}

	np, err := planNetwork(&c.Network, s.from)
	if err != nil {
		return nil, err
	}
	// The proxies always listen on the host's loopback here.
	if np.credential == "" {
		if np.credential, err = newCredential(); err != nil {
			return nil, err
		}
	}
	n := &c.Network
	o.Network = seatbelt.Network{
		Unrestricted:   np.hostNet,
		LocalBinding:   n.AllowLocalBinding,
		BindPorts:      slices.Clone(s.Ports),
		AllUnixSockets: n.AllowAllUnixSockets,
		UnixSockets:    forms(n.AllowUnixSockets),
	}
	if len(n.AllowLocalOutboundPorts) > 0 {
		o.Network.LocalOutboundPorts = slices.Clone(n.AllowLocalOutboundPorts)
	} else {
		o.Network.LocalOutbound = n.LocalOutbound()
	}
	return &macPlan{opts: o, path: path, args: args, env: env, np: np}, nil
}

// seatbeltGrants returns what of the granting patterns ps (allowWrite,
// allowRead, allowExecute, in every form: seatbeltForms) lies strictly
// inside a path writable in the sandbox (writable, the profile's): the
// fixed part of each pattern (the path itself, dir for dir/** or for a
// glob dir/*.json) as a grant (seatbelt.Options.Grants), and the
// directories above it there as held (seatbelt.Options.Held). Every start
// resolves that fixed part through symlinks (seatbeltForms), so a symlink
// the command made there where the name did not exist yet (~/.codex or
// ~/.npm/_cacache with a writable home, ~/x under a writable /tmp) would
// make the next run grant where it leads: any directory of the user's,
// read-write, or readable with defaultDenyRead, or a credential file
// unmasked. What a glob matches below it is not resolved: Seatbelt matches
// the resolved path of an access against the pattern, and a match that is
// a symlink leads out of it. A grant can still be made a directory or a
// file; a directory above one can be neither made nor removed (Seatbelt
// cannot tell mkdir from a directory renamed there, which could hold a
// symlink at the next name down).
func seatbeltGrants(ps, writable []string) (grants, held []string) {
	var covers []func(string) bool
	for _, w := range writable {
		if c, err := seatbelt.Covers(w); err == nil {
			covers = append(covers, c) // (Profile refuses the others)
		}
	}
	// inside: strictly below a writable path, where the command makes
	// and renames names.
	inside := func(p string) bool {
		return p != "/" && slices.ContainsFunc(covers, func(c func(string) bool) bool { return c(filepath.Dir(p)) })
	}
	for _, p := range ps {
		dir, _ := seatbelt.StaticPrefix(strings.TrimSuffix(p, "/**"))
		if !filepath.IsAbs(dir) || !inside(dir) {
			continue
		}
		if g := seatbelt.Literal(dir); !slices.Contains(grants, g) {
			grants = append(grants, g)
		}
		for d := filepath.Dir(dir); d != "/" && inside(d); d = filepath.Dir(d) {
			if h := seatbelt.Literal(d); !slices.Contains(held, h) {
				held = append(held, h)
			}
		}
	}
	return grants, held
}

// macDangerousPaths returns fence's protected names in $HOME where macOS
// keeps them, beside dangerousPaths' (which has the XDG directories): the
// user's launch agents, which launchd starts at the next login outside
// any sandbox (Linux's systemd and autostart directories); and
// DangerousConfigDirs, vscodeUserFiles and DangerousDataDirs in
// ~/Library/Application Support, DangerousCacheDirs in ~/Library/Caches,
// where the tools that follow the platform's conventions keep them on
// macOS (Go's os.UserConfigDir, the dirs crate, Electron): go's env file
// (GOFLAGS=-toolexec), VS Code's settings and tasks, jj's and lazygit's
// configs, pip's, fnm's Node.js versions, Playwright's browsers. A
// writable home (fence started in $HOME, -t code there) writes them
// otherwise.
func (s *Spec) macDangerousPaths() []string {
	if s.Home == "" {
		return nil
	}
	lib := filepath.Join(s.Home, "Library")
	out := []string{filepath.Join(lib, "LaunchAgents")}
	for _, n := range slices.Concat(DangerousConfigDirs, vscodeUserFiles(), DangerousDataDirs) {
		out = append(out, filepath.Join(lib, "Application Support", n))
	}
	for _, n := range DangerousCacheDirs {
		out = append(out, filepath.Join(lib, "Caches", n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// macCredentialPaths are hidden on macOS beside credentialPaths: the login
// keychain holds the tokens other platforms keep in files (gh, through
// go-keyring, among them).
var macCredentialPaths = []string{"~/Library/Keychains"}

// macSystemCredentials are hidden on macOS beside the credential paths, as
// systemCredentials are on Linux: the system's secrets that only root may
// read. fence run as root (sudo fence) runs the command as root, which
// Seatbelt leaves its permissions, so their owner bits let it read them:
// the local accounts' password hashes (ShadowHashData in directory
// services' local node; master.passwd is the BSD file, which macOS keeps
// beside it), the automatic login's password (kcpassword, obfuscated, not
// encrypted), the key of the System keychain, and the ssh host keys. Only
// a grant of the path itself (or of /etc/ssh for the host keys) lifts one.
// Programs look accounts up through directory services' daemon, outside
// the sandbox, not in these files.
var macSystemCredentials = []credential{
	{"/var/db/dslocal/nodes/Default/users", "/var/db/dslocal/nodes/Default/users"},
	{"/etc/master.passwd", "/etc/master.passwd"}, {"/etc/kcpassword", "/etc/kcpassword"},
	{"/var/db/SystemKey", "/var/db/SystemKey"}, {"/etc/ssh/ssh_host_*_key", "/etc/ssh"},
}

// macBinDirs are searched for denied programs beside the command's PATH.
var macBinDirs = []string{"/opt/homebrew/bin", "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"}

// seatbeltPattern turns a config path into an absolute seatbelt pattern:
// Seatbelt's patterns are written as fence's (configPattern).
func (s *Spec) seatbeltPattern(p string) string { return s.configPattern(p) }

// seatbeltDeniedPrograms returns the runtime-denied programs for the
// profile: each name (refused in any directory), and what the name
// resolves to through symlinks in the PATH directories, since Seatbelt
// checks the executable's resolved path (Homebrew's python3 is
// .../python3.13). A token that is a path is taken as one, relative to the
// working directory. unreadable are the files that must not be read
// either, as Linux masks them: path tokens, and the regular files a name
// finds in PATH (so that neither "sh $(command -v deploy)" nor a copy runs
// them); a symlink's target stays readable, other programs share it.
func (s *Spec) seatbeltDeniedPrograms(tokens []string, path string) (out, unreadable []string) {
	dirs := append(filepath.SplitList(path), macBinDirs...)
	for _, t := range tokens {
		if strings.Contains(t, "/") {
			p := t
			if !filepath.IsAbs(p) {
				p = filepath.Join(s.Cwd, p)
			}
			out = append(out, filepath.Clean(p))
			unreadable = append(unreadable, filepath.Clean(p))
			if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
				out = append(out, r)
			}
			continue
		}
		out = append(out, t)
		for _, d := range dirs {
			if d == "" || d == "." || !filepath.IsAbs(d) {
				d = filepath.Join(s.Cwd, d)
			}
			p := filepath.Join(d, t)
			fi, err := os.Lstat(p)
			switch {
			case err != nil:
			case fi.Mode().IsRegular():
				unreadable = append(unreadable, p)
			case fi.Mode()&os.ModeSymlink != 0:
				if r, err := filepath.EvalSymlinks(p); err == nil && filepath.Base(r) != t {
					out = append(out, r)
				}
			}
		}
	}
	slices.Sort(out)
	slices.Sort(unreadable)
	return slices.Compact(out), slices.Compact(unreadable)
}

// withLinkTargets returns ps with, for each glob, what its existing
// matches resolve to wherever that differs, with the rest of the pattern
// re-attached: ~/.ssh/id_ed25519 -> ~/dotfiles/..., or, for
// ~/projects/*/.env, ~/projects/foo -> ~/code/foo gives ~/code/foo/.env,
// also before that file exists. Each directory level of the pattern from
// its first glob on is listed, matching names without regard to ASCII case
// as the profile does. A "**" stands for zero directories or one here: a
// symlink two or more levels under it is not followed (the pattern itself
// still covers every depth; see docs/macos.md). A directory that can be
// searched but not listed is an error, as on Linux: the command could name
// a link in it that leads anywhere; so is one that cannot be searched
// but is the user's own in a writable place, which the command could
// chmod. Otherwise one that cannot be searched (mode bits, or macOS's
// privacy protection, which holds for the command as much as for fence)
// is skipped: nothing in it is reachable. A match whose link cannot be
// followed for want of permission is an error too.
func withLinkTargets(ps, writable []string) ([]string, error) {
	out := ps
	for _, p := range ps {
		dir, rest := seatbelt.StaticPrefix(p)
		if rest == "" {
			continue // seatbeltForms resolved it whole
		}
		parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
		level := []string{dir}
		for k, part := range parts {
			tail := ""
			if k+1 < len(parts) {
				tail = "/" + strings.Join(parts[k+1:], "/")
			}
			var next []string
			if part == "**" {
				next = append(next, level...) // zero directories
			}
			for _, d := range level {
				names, err := listLinkDir(d)
				if errors.Is(err, syscall.EPERM) {
					continue
				}
				if errors.Is(err, syscall.EACCES) {
					if blk := firstUnsearchable(d); blk != "" && !changeableDir(blk, writable) {
						continue
					}
				}
				if err != nil {
					return nil, fmt.Errorf("filesystem: list %s to see what %q matches: %w; fix its permissions (chmod u+rx) or remove the entry", d, p, err)
				}
				for _, n := range names {
					if ok, _ := filepath.Match(strings.ToLower(part), strings.ToLower(n)); !ok {
						continue
					}
					m := filepath.Join(d, n)
					r, err := filepath.EvalSymlinks(m)
					if errors.Is(err, syscall.EACCES) {
						// Where the link leads cannot be seen: fine if
						// the command cannot get there either.
						if t, lerr := os.Readlink(m); lerr == nil {
							if !filepath.IsAbs(t) {
								t = filepath.Join(d, t)
							}
							if blk := firstUnsearchable(t); blk != "" && changeableDir(blk, writable) {
								return nil, fmt.Errorf("filesystem: follow %s to see what %q protects: %w; %s is yours and writable in the sandbox: fix its permissions (chmod u+rx) or remove the entry", m, p, err, blk)
							}
						}
						continue
					}
					if err != nil {
						continue
					}
					st, err := os.Stat(r)
					isDir := err == nil && st.IsDir()
					if isDir {
						next = append(next, m)
					}
					// A target with the rest of the pattern after it must
					// be a directory to hold anything.
					if r != m && (tail == "" || isDir) {
						out = append(out, seatbelt.Literal(r)+tail)
					}
				}
			}
			level = next
		}
	}
	return out, nil
}

// firstUnsearchable returns the first directory on the way to p (p
// included) that cannot be searched, or "" if there is none or the way
// ends before (a missing name).
func firstUnsearchable(p string) string {
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		err := searchable(p[:i])
		switch {
		case err == nil:
		case errors.Is(err, syscall.EACCES):
			return p[:i]
		default:
			return ""
		}
	}
	return ""
}

// changeableDir reports whether the command could chmod dir back: it is
// the user's own and under a writable pattern's fixed part.
func changeableDir(dir string, writable []string) bool {
	st, err := os.Stat(dir)
	if err != nil {
		return false
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != os.Geteuid() {
		return false
	}
	for _, w := range writable {
		if fixed, _ := seatbelt.StaticPrefix(w); underAny(dir, []string{fixed}) {
			return true
		}
	}
	return false
}

// listLinkDir lists a directory for withLinkTargets; tests replace it.
var listLinkDir = listDir

// listDir returns the names in dir; nothing if dir does not exist or is
// not a directory.
func listDir(dir string) ([]string, error) {
	// O_DIRECTORY|O_NONBLOCK: a FIFO or socket where a directory was
	// expected is not opened, and nothing waits.
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
	if err == nil {
		var names []string
		names, err = f.Readdirnames(-1)
		f.Close()
		if err == nil {
			return names, nil
		}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	return nil, err
}

// seatbeltForms returns pattern p and, if the part of p before its first
// glob resolves through symlinks to another path, that path with the rest
// of p re-attached: /tmp/x is also /private/tmp/x on macOS. The longest
// prefix that exists is resolved; the rest is kept as written.
func seatbeltForms(p string) []string {
	static, rest := seatbelt.StaticPrefix(p)
	head, tail := filepath.Clean(static), ""
	for {
		if r, err := filepath.EvalSymlinks(head); err == nil {
			head = r
			break
		}
		if head == "/" {
			return []string{p}
		}
		tail = "/" + filepath.Base(head) + tail
		head = filepath.Dir(head)
	}
	resolved := seatbelt.Literal(strings.TrimSuffix(head, "/")+tail) + rest
	if resolved == "" {
		resolved = "/"
	}
	if resolved == p {
		return []string{p}
	}
	return []string{p, resolved}
}

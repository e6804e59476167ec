package fence

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

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
			e := config.ExpandPath(p, s.Home, s.Cwd)
			if filepath.IsAbs(e) {
				out = append(out, seatbeltForms(e)...)
			}
		}
		return out
	}
	o.Writable = forms(f.AllowWrite)
	readable := append(slices.Clone(f.AllowRead), f.AllowExecute...)
	if f.DefaultDenyRead {
		o.Readable = append(forms(systemReadPaths), forms(macSystemReadPaths)...)
		o.Readable = append(o.Readable, forms(readable)...)
	}
	o.DenyWrite = append(forms(f.DenyWrite), forms(s.PolicyFiles)...)
	// fence's own protected names: start-up files and tool configs in the
	// working directory and $HOME. Their literal form always; the form a
	// symlink leads to unless a writable path lies below it: a checkout's
	// ".vscode -> .." must not make the workspace read-only (as on Linux,
	// where a target that is itself writable is protected, one above a
	// writable path is not).
	var builtin []string
	for _, base := range []string{s.Cwd, s.Home} {
		if base == "" {
			continue
		}
		for _, n := range DangerousFiles {
			builtin = append(builtin, filepath.Join(base, n))
		}
	}
	for _, d := range DangerousDirs {
		if !strings.HasPrefix(d, ".git/") {
			builtin = append(builtin, filepath.Join(s.Cwd, d))
		}
	}
	// .git/hooks and .git/config only in an existing repository: one the
	// command creates (git init) needs them.
	if st, err := os.Stat(filepath.Join(s.Cwd, ".git")); err == nil && st.IsDir() {
		builtin = append(builtin, filepath.Join(s.Cwd, ".git/hooks"))
		if !f.AllowGitConfig {
			builtin = append(builtin, filepath.Join(s.Cwd, ".git/config"))
		}
	}
	for _, p := range builtin {
		for _, form := range seatbeltForms(p) {
			if form != p && slices.ContainsFunc(o.Writable, func(w string) bool { return w != form && underAny(w, []string{form}) }) {
				s.logf("protected %s leads to %s, which holds a writable path: only the name itself is protected", p, form)
				continue
			}
			o.DenyWrite = append(o.DenyWrite, form)
		}
	}

	o.DenyRead = forms(f.DenyRead)
	// Credential paths, unless allowRead lifts them: a parent of the
	// pattern drops it, a path under it is let through.
	lifted := forms(readable)
	for _, cp := range credentialPaths {
		e := config.ExpandPath(cp, s.Home, s.Cwd)
		if !filepath.IsAbs(e) {
			continue
		}
		lit := e
		if i := strings.IndexAny(lit, "*?["); i >= 0 {
			lit = lit[:strings.LastIndexByte(lit[:i], '/')]
		}
		if underAny(lit, lifted) {
			continue
		}
		o.Hidden = append(o.Hidden, seatbeltForms(e)...)
		for _, l := range lifted {
			if underAny(l, []string{lit}) {
				o.Unhidden = append(o.Unhidden, l)
			}
		}
	}
	o.DenyExec = config.RuntimeDenyTokens(c)

	np, err := planNetwork(&c.Network)
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

// seatbeltForms returns p and, if the part of p before its first glob
// resolves through symlinks to another path, that path with the rest of p
// re-attached: /tmp/x is also /private/tmp/x on macOS. The longest prefix
// that exists is resolved; the rest is kept as written.
func seatbeltForms(p string) []string {
	static, rest := p, ""
	if i := strings.IndexAny(p, "*?["); i >= 0 {
		j := strings.LastIndexByte(p[:i], '/')
		static, rest = p[:j], p[j:]
		if static == "" {
			static = "/"
		}
	}
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
	resolved := strings.TrimSuffix(head, "/") + tail + rest
	if resolved == "" {
		resolved = "/"
	}
	if resolved == p {
		return []string{p}
	}
	return []string{p, resolved}
}

package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nsfence/fence/internal/cfgfile"
)

// A project fence.json comes with the checkout it sits in, that is, from
// whoever wrote the code fence is there to contain. It may tighten the
// policy as it likes; one that loosens it (Loosening) applies only after the
// user has trusted it as it is now (`fence config trust`), the way direnv
// and mise treat the files a checkout brings. The trust store records, per
// project file, the digest of the config it resolves to (its extends chain
// included), so any later change asks again.

// TrustFileName is the trust store's file name in fence's state directory.
const TrustFileName = "trusted.json"

// TrustPath returns the trust store for home: $XDG_STATE_HOME/fence/
// trusted.json if XDG_STATE_HOME is absolute, else ~/.local/state/fence/
// trusted.json; "" when neither is known.
func TrustPath(home string) string {
	if p := TrustPaths(home); len(p) > 0 {
		return p[0]
	}
	return ""
}

// TrustPaths returns the trust store in use (TrustPath) and the default one
// under home when XDG_STATE_HOME points elsewhere. Both decide a policy: a
// sandbox must write neither, or a run with the other setting would read
// what it planted.
func TrustPaths(home string) []string {
	var out []string
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		out = append(out, filepath.Join(filepath.Clean(x), "fence", TrustFileName))
	}
	if home != "" {
		if d := filepath.Join(home, ".local", "state", "fence", TrustFileName); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// trustFile is the trust store's JSON form.
type trustFile struct {
	// Projects maps a project file's absolute path to the Digest of the
	// config it resolved to when it was trusted.
	Projects map[string]string `json:"projects"`
	// Files maps the same key to the files of its extends chain (the
	// project file included) as they were when it was trusted: trustKey of
	// the path to fileDigest of the contents. It only serves to name the file that
	// changed; Projects decides. Stores written before it have none.
	Files map[string]map[string]string `json:"files,omitempty"`
}

// fileDigest identifies a config file's contents.
func fileDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fileDigests maps each file among sources (by trustKey, so that the
// files are the same through a symlink to the project's directory) to the
// digest of its contents as it was read.
func fileDigests(sources []Source) map[string]string {
	m := map[string]string{}
	for _, s := range sources {
		if s.digest != "" {
			m[trustKey(s.Path)] = s.digest
		}
	}
	return m
}

// changedFiles lists the files of sources (in chain order) whose contents
// differ from what was recorded, or that were not in the chain then.
func changedFiles(recorded map[string]string, sources []Source) []string {
	var out []string
	for _, s := range sources {
		if s.digest != "" && recorded[trustKey(s.Path)] != s.digest && !slices.Contains(out, s.Path) {
			out = append(out, s.Path)
		}
	}
	return out
}

// Digest identifies a resolved config (extends applied): the SHA-256 of its
// JSON form.
func Digest(c *Config) string {
	b, err := json.Marshal(c)
	if err != nil {
		// A Config is plain data; Marshal cannot fail on it.
		panic(fmt.Sprintf("config: marshal for digest: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// readTrust reads the trust store at path; a missing store is empty.
func readTrust(path string) (trustFile, error) {
	var tf trustFile
	if path == "" {
		return tf, nil
	}
	data, err := cfgfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tf, nil
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return tf, fmt.Errorf("read trusted project configs %s: %w; make it (and the directories above it) readable by this user, or set HOME (or XDG_STATE_HOME) to a directory of this user's", path, errnoOf(err))
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// An I/O error, a loop of links: without the path repeated.
			return tf, fmt.Errorf("read trusted project configs %s: %w; fix or remove it, then trust your projects again", path, pe.Err)
		}
		return tf, fmt.Errorf("read trusted project configs %s: %w", path, err) // it names its fix
	}
	if err := json.Unmarshal(data, &tf); err != nil {
		return trustFile{}, fmt.Errorf("read trusted project configs %s: %w; remove the file and trust your projects again", path, err)
	}
	return tf, nil
}

// TrustProject records (trusted) or removes the trust of the project
// config at project as it resolves now, with its extends chain, in the
// store at store, as `fence config trust` does. Beside the digest of the
// resolved config (what Resolve checks), it records each file of the
// chain, so that a later refusal can name the one that changed. It
// returns what it read: the resolved config and the files of the chain.
func TrustProject(store, project, home string, trusted bool) (*TrustedProject, error) {
	project, err := filepath.Abs(project)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", project, err)
	}
	l := chainLoader{home: home}
	c, err := l.file(project, SourceProject, "", 0)
	if err != nil {
		return nil, err
	}
	if err := setTrust(store, project, Digest(c), fileDigests(l.sources), trusted); err != nil {
		return nil, err
	}
	tp := &TrustedProject{Config: c}
	for _, s := range l.sources {
		switch {
		case s.Kind == SourceTemplate:
			tp.Extends = append(tp.Extends, fmt.Sprintf("template %q", s.Path))
		case s.Path != project:
			tp.Extends = append(tp.Extends, Shown(s.Path))
		}
	}
	return tp, nil
}

// TrustedProject is what TrustProject read, for `fence config trust` to
// show what the user trusted: the config as it resolved, which the
// digest recorded stands for, and the files and templates of its extends
// chain (base first, a template as "template \"NAME\"", a file as Shown),
// the project file left out.
type TrustedProject struct {
	Config  *Config
	Extends []string
}

// SetTrust records (trusted) or removes the trust of the project file
// project, whose config resolves to digest, in the store at store. The
// store and its directory are created (0600 and 0700) as needed; it is
// replaced whole, never written in place. It records no file of the
// chain (TrustProject does).
func SetTrust(store, project, digest string, trusted bool) error {
	return setTrust(store, project, digest, nil, trusted)
}

func setTrust(store, project, digest string, files map[string]string, trusted bool) error {
	if store == "" {
		return errors.New("trust project config: no home directory or XDG_STATE_HOME to keep the list of trusted projects in")
	}
	tf, err := readTrust(store)
	if err != nil {
		return err
	}
	m := tf.Projects
	if m == nil {
		m = map[string]string{}
	}
	fm := tf.Files
	if fm == nil {
		fm = map[string]map[string]string{}
	}
	key := trustKey(project)
	delete(fm, key)
	if trusted {
		m[key] = digest
		if len(files) > 0 {
			fm[key] = files
		}
	} else {
		delete(m, key)
		delete(m, project) // recorded before trustKey
		delete(fm, project)
	}
	data, err := json.MarshalIndent(trustFile{Projects: m, Files: fm}, "", "  ")
	if err != nil {
		return fmt.Errorf("write trusted project configs: %w", err)
	}
	dir := filepath.Dir(store)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write trusted project configs: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".trusted-*.json")
	if err != nil {
		return fmt.Errorf("write trusted project configs: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write trusted project configs %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write trusted project configs %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), store); err != nil {
		return fmt.Errorf("write trusted project configs: %w", err)
	}
	return nil
}

// trustKey is the trust store's key for the project file p: where the
// symlinks of its directory lead, so that trust given in a directory holds
// where a symlink to it is the working directory, and the other way round
// (fence counts the working directory where its symlinks lead). Not where
// the file itself leads, if it is a symlink: another checkout's fence.json
// that is a symlink to a trusted project's would take that project's
// trust, the loosening the user allowed for that project alone. A
// directory that cannot be resolved is its own.
func trustKey(p string) string {
	if r, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		return filepath.Join(r, filepath.Base(p))
	}
	return p
}

// UntrustedProjectError is Resolve's refusal of a project config that
// loosens the policy and is not trusted as it is.
type UntrustedProjectError struct {
	// Path is the project file.
	Path string
	// Loosens is what it would allow (Loosening).
	Loosens []string
	// Changed says the file was trusted, but resolved to another config.
	Changed bool
	// FilesKnown says the trust recorded the files of its extends chain
	// (stores written before fence recorded them did not), and
	// ChangedFiles lists those whose contents changed since, or that are
	// new in the chain: the project file, the files it extends, both,
	// or none (a template it extends changed with fence).
	FilesKnown   bool
	ChangedFiles []string
}

func (e *UntrustedProjectError) Error() string {
	what := e.Loosens
	more := ""
	if len(what) > 4 {
		what, more = what[:4], fmt.Sprintf(" and %d more", len(e.Loosens)-4)
	}
	self := slices.Contains(e.ChangedFiles, e.Path)
	var others []string
	for _, f := range e.ChangedFiles {
		if f != e.Path {
			others = append(others, Shown(f))
		}
	}
	review := "it"
	var state string
	switch {
	case !e.Changed:
		state = "is not trusted and loosens the policy"
	case !e.FilesKnown:
		state, review = "or a file it extends changed since you trusted it, and it loosens the policy", "them"
	case len(others) == 0 && self:
		state = "changed since you trusted it and loosens the policy"
	case len(others) == 0:
		state = "is trusted, but the config it resolves to changed (its files did not: a template it extends changed with fence), and it loosens the policy"
	case self:
		state, review = "changed since you trusted it, and so did "+joinAnd(others)+", which it extends; it loosens the policy", "them"
	default:
		state, review = "is trusted, but "+joinAnd(others)+", which it extends, changed since; it loosens the policy", "them"
	}
	return fmt.Sprintf("project config %s %s (%s%s); review %s, then run `fence config trust` in %s to apply it, or run fence with --no-project",
		Shown(e.Path), state, strings.Join(what, ", "), more, review, Shown(filepath.Dir(e.Path)))
}

// joinAnd joins names as "a", "a and b", "a, b and c".
func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Loosening lists what merged allows that base does not, one entry per
// field and value ("filesystem.allowWrite \"/\""), in field order; nil when
// merged is base or stricter. A nil base is the empty config. It compares
// the configs as fence enforces them: an entry merged repeats from base
// loosens nothing, and neither do additions that base already allows in
// full (domains with allowedDomains "*", ssh rules while base has no ssh
// policy at all).
func Loosening(base, merged *Config) []string {
	if base == nil {
		base = &Config{}
	}
	var out []string
	flag := func(name string, b, m bool) {
		if m && !b {
			out = append(out, name)
		}
	}
	list := func(name string, b, m []string) {
		for _, v := range m {
			if !slices.Contains(b, v) {
				out = append(out, fmt.Sprintf("%s %q", name, v))
			}
		}
	}
	b, m := base, merged
	flag("allowPty", b.AllowPty, m.AllowPty)

	if !b.Network.AllowsAllDomains() {
		list("network.allowedDomains", b.Network.AllowedDomains, m.Network.AllowedDomains)
	}
	list("network.allowUnixSockets", b.Network.AllowUnixSockets, m.Network.AllowUnixSockets)
	flag("network.allowAllUnixSockets", b.Network.AllowAllUnixSockets, m.Network.AllowAllUnixSockets)
	flag("network.allowLocalBinding", b.Network.AllowLocalBinding, m.Network.AllowLocalBinding)
	flag("network.allowLocalOutbound", b.Network.LocalOutbound(), m.Network.LocalOutbound())
	for _, p := range m.Network.AllowLocalOutboundPorts {
		if !slices.Contains(b.Network.AllowLocalOutboundPorts, p) {
			out = append(out, fmt.Sprintf("network.allowLocalOutboundPorts %d", p))
		}
	}
	list("network.hosts", b.Network.Hosts, m.Network.Hosts)

	isTrue := func(p *bool) bool { return p != nil && *p }
	flag("filesystem.wslInterop", isTrue(b.Filesystem.WSLInterop), isTrue(m.Filesystem.WSLInterop))
	list("filesystem.allowRead", b.Filesystem.AllowRead, m.Filesystem.AllowRead)
	list("filesystem.allowExecute", b.Filesystem.AllowExecute, m.Filesystem.AllowExecute)
	list("filesystem.allowWrite", b.Filesystem.AllowWrite, m.Filesystem.AllowWrite)
	flag("filesystem.allowGitConfig", b.Filesystem.AllowGitConfig, m.Filesystem.AllowGitConfig)

	list("command.allow", b.Command.Allow, m.Command.Allow)
	if b.Command.DefaultsEnabled() && !m.Command.DefaultsEnabled() {
		out = append(out, "command.useDefaults false")
	}

	// Without host lists the ssh policy is off: everything is allowed, and
	// any rule added only narrows that. With only deniedHosts, every other
	// host is allowed, and a first allowedHosts narrows it too.
	if sshPolicyActive(b) {
		if len(b.SSH.AllowedHosts) > 0 {
			list("ssh.allowedHosts", b.SSH.AllowedHosts, m.SSH.AllowedHosts)
		}
		if !b.SSH.AllowAllCommands {
			list("ssh.allowedCommands", b.SSH.AllowedCommands, m.SSH.AllowedCommands)
		}
		flag("ssh.allowAllCommands", b.SSH.AllowAllCommands, m.SSH.AllowAllCommands)
	}
	return out
}

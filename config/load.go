package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nsfence/fence/internal/cfgfile"
)

// maxExtendsDepth bounds extends chains, as upstream does: a deeper chain is
// almost certainly a mistake, and the bound keeps resolution cheap.
const maxExtendsDepth = 10

// Source kinds, in the order Resolve applies them.
const (
	SourceTemplate = "template" // a built-in template, from -t or from extends
	SourceExtends  = "extends"  // a file named by another file's extends
	SourceSettings = "settings" // the -s/--settings file
	SourceUser     = "user"     // the user's default config file (§1.6)
	SourceProject  = "project"  // the nearest fence.json up to the repository root
	SourceDefault  = "default"  // nothing applied; Default() is in effect
)

// Source names one file or template that contributed to a resolved config.
type Source struct {
	// Kind is one of the Source* constants.
	Kind string
	// Path is the file's absolute path, or the template's name.
	Path string
	// ExtendedBy is the file or template whose extends named this source,
	// "" for a source the user selected directly.
	ExtendedBy string
	// Warnings are problems that did not stop loading, e.g. "*" in
	// allowedDomains. Templates never carry warnings.
	Warnings []string
	// Loosens is what a project config allows beyond the sources before
	// it (Loosening); it applies only if trusted.
	Loosens []string
	// Untrusted marks a project config with Loosens that is not trusted
	// as it is; only LoadOptions.Inspect resolves with one.
	Untrusted bool
	// digest is fileDigest of a file's contents as read ("" for a
	// template), for the trust store.
	digest string
	// own is the file's or template's own config, before merging, for
	// SetBy.
	own *Config
}

// Denials returns the denyRead and denyWrite entries of the source's own
// config, as written (not what it extends), or nil for a source not from
// Resolve.
func (s Source) Denials() (denyRead, denyWrite []string) {
	if s.own == nil {
		return nil, nil
	}
	return s.own.Filesystem.DenyRead, s.own.Filesystem.DenyWrite
}

// String describes s for `fence config show`.
func (s Source) String() string {
	var d string
	switch s.Kind {
	case SourceTemplate:
		d = fmt.Sprintf("template %q", s.Path)
	case SourceExtends:
		d = "file " + Shown(s.Path)
	case SourceSettings:
		d = "settings file " + Shown(s.Path)
	case SourceUser:
		d = "user config " + Shown(s.Path)
	case SourceProject:
		d = "project config " + Shown(s.Path)
		switch {
		case s.Untrusted:
			d += " (NOT TRUSTED: it loosens the policy, and fence refuses to run commands here until you review it and run `fence config trust`)"
		case len(s.Loosens) > 0:
			d += " (trusted; loosens the policy)"
		}
	case SourceDefault:
		return "built-in defaults (no config file found)"
	default:
		d = s.Kind + " " + Shown(s.Path)
	}
	if s.ExtendedBy != "" {
		d += " (extended by " + Shown(s.ExtendedBy) + ")"
	}
	return d
}

// Warnings collects the warnings of sources, each prefixed with its source.
func Warnings(sources []Source) []string {
	var out []string
	for _, s := range sources {
		for _, w := range s.Warnings {
			out = append(out, fmt.Sprintf("%s: %s", Shown(s.Path), w))
		}
	}
	return out
}

// Parse decodes and validates one config document (JSONC). It does not
// resolve extends: the returned Config keeps its Extends value. Empty or
// whitespace-only data is an empty config.
func Parse(data []byte) (*Config, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	return doc.cfg, nil
}

// parseDocument decodes and validates data, naming the line of a bad value.
func parseDocument(data []byte) (*document, error) {
	doc, err := decode(data, true)
	if err != nil {
		return nil, err
	}
	if err := doc.cfg.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			if l := doc.line(ve.path()); l > 0 {
				return nil, fmt.Errorf("invalid configuration: %w (line %d)", err, l)
			}
		}
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	return doc, nil
}

// LoadProject reads the project config at path with its extends chain, as
// Resolve applies it, for SetTrust's digest.
func LoadProject(path, home string) (*Config, error) {
	l := chainLoader{home: home}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return l.file(abs, SourceProject, "", 0)
}

// LoadFile reads the config file at path, resolves its extends chain and
// returns the merged result. A missing file is an error.
func LoadFile(path string) (*Config, error) {
	home, _ := os.UserHomeDir()
	l := chainLoader{home: home}
	c, err := l.file(path, SourceSettings, "", 0)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// chainLoader resolves one top-level source and its extends chain, appending
// every contributing source, base first.
type chainLoader struct {
	home    string
	sources []Source
	// stack holds the chain being resolved, for cycle detection.
	stack []frame
}

// frame is one file or template of the extends chain being resolved.
type frame struct {
	// key identifies it: "file:" and where the file's symlinks lead
	// (two names of one file are one file), or "template:" and the name.
	key string
	// path is the file's absolute path as named, or the template's name;
	// real is where path leads (path for a template).
	path, real string
	// link says path itself is a symlink.
	link bool
}

// name is f as a cycle's message shows it.
func (f frame) name() string {
	if f.link {
		return f.path + " (a symlink to " + f.real + ")"
	}
	return f.path
}

// fileFrame is the frame of the config file at abs.
func fileFrame(abs string) frame {
	f := frame{path: abs, real: abs}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		f.real = r
	}
	if fi, err := os.Lstat(abs); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		f.link = true
	}
	f.key = "file:" + f.real
	return f
}

// fileError marks an error that already names its file, so outer levels of
// an extends chain pass it through instead of wrapping it again.
type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

func wrapFile(path, extendedBy string, err error) error {
	var fe *fileError
	if errors.As(err, &fe) {
		return err
	}
	if extendedBy != "" {
		return &fileError{fmt.Errorf("config %s (extended by %s): %w", path, extendedBy, err)}
	}
	return &fileError{fmt.Errorf("config %s: %w", path, err)}
}

// file loads the config file at path with its extends chain.
func (l *chainLoader) file(path, kind, extendedBy string, depth int) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := l.push(fileFrame(abs)); err != nil {
		return nil, wrapFile(extendedByOr(extendedBy, abs), "", err)
	}
	defer l.pop()
	// The -s file is the user's choice, and may be a pipe (-s <(...));
	// files found on their own (the user's, the project's) and extends
	// targets, which a checkout can name, must be regular files.
	read := cfgfile.Read
	if kind == SourceSettings && extendedBy == "" {
		read = readSettings
	}
	data, err := read(abs)
	if err != nil {
		switch {
		case extendedBy != "" && errors.Is(err, fs.ErrNotExist):
			return nil, wrapFile(extendedBy, "", fmt.Errorf("extends file not found: %s", abs))
		case errors.Is(err, fs.ErrNotExist):
			return nil, &fileError{fmt.Errorf("config file %s does not exist", abs)}
		case errors.Is(err, fs.ErrPermission):
			return nil, wrapFile(abs, extendedBy, fmt.Errorf("%w; %s", errnoOf(err), unreadableFix(kind, extendedBy)))
		}
		return nil, wrapFile(abs, extendedBy, err)
	}
	if extendedBy != "" && len(bytes.TrimSpace(data)) == 0 {
		return nil, wrapFile(extendedBy, "", fmt.Errorf("extends file is empty: %s", abs))
	}
	doc, err := parseDocument(data)
	if err != nil {
		return nil, wrapFile(abs, extendedBy, err)
	}
	base, err := l.extends(doc, abs, depth)
	if err != nil {
		return nil, err
	}
	src := Source{Kind: kind, Path: abs, ExtendedBy: extendedBy, Warnings: doc.cfg.warnings(), digest: fileDigest(data), own: doc.cfg}
	if extendedBy != "" {
		src.Kind = SourceExtends
	}
	l.sources = append(l.sources, src)
	return Merge(base, doc.cfg), nil
}

// unreadableFix says how to get past a config file of kind that this user
// may not read (the file's mode, or a directory above it that it may not
// search).
func unreadableFix(kind, extendedBy string) string {
	const fix = "make it (and the directories above it) readable by this user with chmod or chown"
	switch {
	case extendedBy != "":
		return fix
	case kind == SourceSettings:
		return fix + ", or give another file with -s"
	case kind == SourceUser:
		// sudo -u and su without -l keep another user's HOME.
		return fix + ", give another file with -s, or set HOME (or XDG_CONFIG_HOME) to a directory of this user's"
	}
	return fix // the project config: Resolve adds --no-project
}

// extends resolves doc's extends value, if any, for the file at abs.
func (l *chainLoader) extends(doc *document, abs string, depth int) (*Config, error) {
	ext := doc.cfg.Extends
	if ext == "" {
		return nil, nil
	}
	if depth+1 > maxExtendsDepth {
		return nil, wrapFile(abs, "", fmt.Errorf("extends chain too deep (max %d)", maxExtendsDepth))
	}
	if !IsExtendsPath(ext) {
		c, err := l.template(ext, abs, depth+1)
		if err != nil {
			var fe *fileError
			if errors.As(err, &fe) {
				return nil, err
			}
			if errors.Is(err, ErrTemplateNotFound) {
				// "base.json" names a template, as upstream reads it;
				// the user most likely meant the file beside the config.
				err = fmt.Errorf("%w: fence --list-templates lists the templates; a file is named with a / or a leading dot (%q)", err, "./"+ext)
			}
			if l := doc.line("extends"); l > 0 {
				return nil, wrapFile(abs, "", fmt.Errorf("extends (line %d): %w", l, err))
			}
			return nil, wrapFile(abs, "", fmt.Errorf("extends: %w", err))
		}
		return c, nil
	}
	return l.file(extendsTarget(ext, abs, l.home), SourceExtends, abs, depth+1)
}

// extendsTarget is the file that ext, an extends path (IsExtendsPath), names
// in the config file at abs: "~" and "~/..." under home, a relative path
// in abs's directory. A pipe (-s <(generate-config)) is in no directory:
// its relative extends stay relative, to the working directory
// (filepath.Abs).
func extendsTarget(ext, abs, home string) string {
	p := ext
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		p = filepath.Join(home, p[1:])
	} else if dir := filepath.Dir(abs); !filepath.IsAbs(p) && !fdDir(dir) {
		p = filepath.Join(dir, p)
	}
	return p
}

// extendsFiles lists the config file at path (absolute) and the files its
// extends chain names, as far as it can be followed: a file that cannot
// be read or parsed ends the list (it is listed itself, missing or not:
// whoever could create or rewrite it would choose the rest of the chain).
// It is for PolicyFiles, for configs that a run does not load (the user
// config under -t or -s, the project config under --no-project), and
// that a later run will: it never fails.
func extendsFiles(path, home string) []string {
	var out []string
	for range maxExtendsDepth + 1 {
		if slices.Contains(out, path) {
			break // a cycle, which Resolve refuses
		}
		out = append(out, path)
		data, err := cfgfile.Read(path)
		if err != nil {
			break
		}
		doc, err := decode(data, false)
		if err != nil || !IsExtendsPath(doc.cfg.Extends) {
			break // no extends, or a template: no file of the chain follows
		}
		next, err := filepath.Abs(extendsTarget(doc.cfg.Extends, path, home))
		if err != nil {
			break
		}
		path = next
	}
	return out
}

// fdDir reports whether dir holds descriptors rather than files: /dev/fd,
// /proc/self/fd, /proc/PID/fd (where a shell's <(...) lives).
func fdDir(dir string) bool {
	if dir == "/dev/fd" || dir == "/proc/self/fd" || dir == "/proc/thread-self/fd" {
		return true
	}
	rest, ok := strings.CutPrefix(dir, "/proc/")
	if !ok {
		return false
	}
	pid, fd, ok := strings.Cut(rest, "/")
	return ok && fd == "fd" && pid != "" && strings.Trim(pid, "0123456789") == ""
}

// template loads a built-in template with its extends chain.
func (l *chainLoader) template(name, extendedBy string, depth int) (*Config, error) {
	name = strings.TrimSuffix(name, ".json")
	if err := l.push(frame{key: "template:" + name, path: name, real: name}); err != nil {
		return nil, err
	}
	defer l.pop()
	c, err := templateDoc(name)
	if err != nil {
		return nil, err
	}
	var base *Config
	if c.Extends != "" {
		if depth+1 > maxExtendsDepth {
			return nil, fmt.Errorf("extends chain too deep (max %d)", maxExtendsDepth)
		}
		if IsExtendsPath(c.Extends) {
			return nil, bug("template %q extends a path", name)
		}
		if base, err = l.template(c.Extends, name, depth+1); err != nil {
			return nil, err
		}
	}
	l.sources = append(l.sources, Source{Kind: SourceTemplate, Path: name, ExtendedBy: extendedBy, own: c})
	return Merge(base, c), nil
}

// loadTemplate resolves a template as a top-level source.
func loadTemplate(name string, sources []Source, depth int) (*Config, []Source, error) {
	l := chainLoader{sources: sources}
	c, err := l.template(name, "", depth)
	return c, l.sources, err
}

// push adds f to the chain, or returns the error of the cycle it closes,
// naming the files as they were named and, through a symlink, where they
// lead: "a.json -> b.json (a symlink to a.json)", not "b.json -> b.json".
func (l *chainLoader) push(f frame) error {
	for i, g := range l.stack {
		if g.key != f.key {
			continue
		}
		chain := make([]string, 0, len(l.stack)-i+1)
		for _, s := range l.stack[i:] {
			chain = append(chain, s.name())
		}
		last := f.name()
		switch {
		case f.path == g.path:
			last = f.path // named in full where the cycle starts
		case !f.link && f.real != f.path:
			last = f.path + " (which is " + f.real + ")" // through a linked directory
		}
		chain = append(chain, last)
		return fmt.Errorf("circular extends detected: %s", strings.Join(chain, " -> "))
	}
	l.stack = append(l.stack, f)
	return nil
}

func (l *chainLoader) pop() { l.stack = l.stack[:len(l.stack)-1] }

func extendedByOr(extendedBy, path string) string {
	if extendedBy != "" {
		return extendedBy
	}
	return path
}

// IsExtendsPath reports whether an extends value names a file rather than a
// template: it contains / or \, or starts with a dot (reference §2.7).
func IsExtendsPath(v string) bool {
	return strings.ContainsAny(v, `/\`) || strings.HasPrefix(v, ".")
}

// readSettings reads the -s file: a regular file or a pipe (-s <(...)),
// of at most cfgfile.MaxSize bytes; /dev/null reads as empty. A device
// (/dev/zero, a terminal) is refused before it is read: it would be read
// for ever, or wait.
func readSettings(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
		if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
			return nil, nil
		}
		return nil, errors.New("is a device, not a config file; give a file, a pipe (-s <(...)) or /dev/null")
	}
	if st.IsDir() {
		return nil, errors.New("is a directory, not a config file; give the path of a config file (JSONC)")
	}
	b, err := io.ReadAll(io.LimitReader(f, cfgfile.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > cfgfile.MaxSize {
		return nil, fmt.Errorf("is more than %d bytes, more than a config file may have; shorten it", cfgfile.MaxSize)
	}
	return b, nil
}

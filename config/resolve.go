package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
)

// ProjectConfigName is the file name of a per-project config.
const ProjectConfigName = "fence.json"

// LoadOptions says where configuration comes from.
type LoadOptions struct {
	// SettingsPath is the -s/--settings file. It must exist when set.
	// Relative paths are relative to Cwd.
	SettingsPath string
	// Template is the -t/--template name ("" for none).
	Template string
	// Home is the user's home directory; "" means os.UserHomeDir().
	Home string
	// Cwd is the working directory the command runs in, where the search
	// for a project fence.json starts; "" means os.Getwd().
	Cwd string
	// ConfigDir overrides the user configuration directory (normally
	// $XDG_CONFIG_HOME or ~/.config, ~/Library/Application Support on
	// macOS). The user config file is ConfigDir/fence/fence.json.
	ConfigDir string
	// NoProject skips the per-project fence.json.
	NoProject bool
	// TrustStore is the list of trusted project configs; "" means
	// TrustPath(Home).
	TrustStore string
	// Inspect resolves for display (`fence config show`): a project
	// config that loosens the policy without being trusted is applied and
	// marked (Source.Untrusted) instead of refused.
	Inspect bool
}

// Resolve loads the configuration that applies for o and returns it with the
// chain of sources that produced it, base first:
//
//  1. the -t template, if given, as the base;
//  2. the -s file on top of it, if given (upstream silently drops -s when
//     -t is given); otherwise, when neither -t nor -s is given, the user's
//     default config file if it exists (reference §1.6);
//  3. the nearest fence.json from Cwd up to the repository root (the
//     nearest directory containing .git), or in Cwd alone outside a
//     repository, on top of everything else. One that loosens the policy
//     the files before it make (Loosening) must be trusted as it is (see
//     SetTrust); otherwise Resolve returns an *UntrustedProjectError.
//
// Every file's extends chain is resolved where the file applies. With no
// source at all the result is Default() and the chain is one SourceDefault.
// Sources carry warnings (see Warnings); Resolve never prints.
func Resolve(o LoadOptions) (*Config, []Source, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	var cfg *Config
	var sources []Source
	var loaded []string // files applied directly, to avoid applying one twice

	if o.Template != "" {
		l := chainLoader{home: o.Home}
		c, err := l.template(o.Template, "", 0)
		if err != nil {
			if errors.Is(err, ErrTemplateNotFound) {
				// Upstream's words, whose newline before "Use" is a
				// period here: an error is one line.
				return nil, nil, fmt.Errorf("failed to load template: %w. Use --list-templates to see available templates", err)
			}
			return nil, nil, fmt.Errorf("failed to load template: %w", err)
		}
		cfg, sources = c, l.sources
	}

	switch {
	case o.SettingsPath != "":
		p := o.SettingsPath
		if !filepath.IsAbs(p) {
			p = filepath.Join(o.Cwd, p)
		}
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			switch sp := o.SettingsPath; {
			case sp == "~" || strings.HasPrefix(sp, "~/"):
				// --settings=~/x.json: the shell expands "~" only at the
				// start of a word, not after "=".
				return nil, nil, fmt.Errorf("settings file %s does not exist: the shell did not expand \"~\" (it does not after \"=\"); write --settings %s (with a space) or --settings=$HOME%s", p, sp, strings.TrimPrefix(sp, "~"))
			case sp == "-":
				return nil, nil, fmt.Errorf("settings file %s does not exist; to read the config from standard input, give --settings /dev/stdin", p)
			}
			return nil, nil, fmt.Errorf("settings file %s does not exist; create it with `fence config init -o %s` or fix the --settings path", p, o.SettingsPath)
		}
		l := chainLoader{home: o.Home, sources: sources}
		c, err := l.file(p, SourceSettings, "", 0)
		if err != nil {
			return nil, nil, err
		}
		cfg, sources = Merge(cfg, c), l.sources
		loaded = append(loaded, p)
	case o.Template == "":
		p, found, err := userConfig(o.ConfigDir, o.Home)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				// sudo -u and su without -l keep another user's HOME.
				return nil, nil, fmt.Errorf("user config %w, or set HOME (or XDG_CONFIG_HOME) to a directory of this user's", err)
			}
			return nil, nil, fmt.Errorf("user config %w", err)
		} else if !found {
			break
		}
		l := chainLoader{home: o.Home, sources: sources}
		c, err := l.file(p, SourceUser, "", 0)
		if err != nil {
			return nil, nil, err
		}
		cfg, sources = Merge(cfg, c), l.sources
		loaded = append(loaded, p)
	}

	if !o.NoProject {
		p, err := FindProjectConfig(o.Cwd)
		if err != nil {
			return nil, nil, err
		}
		if p != "" && !sameFileAsAny(p, loaded) {
			l := chainLoader{home: o.Home, sources: sources}
			c, err := l.file(p, SourceProject, "", 0)
			if err != nil {
				// It comes with the checkout: the user may not be
				// the one to fix it.
				return nil, nil, fmt.Errorf("%w, or run fence with --no-project", err)
			}
			merged := Merge(cfg, c)
			if loosens := Loosening(cfg, merged); len(loosens) > 0 {
				abs := l.sources[len(l.sources)-1].Path // the project file, last of its chain
				trusted, err := readTrust(o.TrustStore)
				if err != nil {
					return nil, nil, err
				}
				key := trustKey(abs)
				d, ok := trusted.Projects[key]
				if d != Digest(c) {
					if !o.Inspect {
						ue := &UntrustedProjectError{Path: abs, Loosens: loosens, Changed: ok}
						if rec, known := trusted.Files[key]; ok && known {
							// The project's own chain: l.sources after sources.
							ue.FilesKnown, ue.ChangedFiles = true, changedFiles(rec, l.sources[len(sources):])
						}
						return nil, nil, ue
					}
					l.sources[len(l.sources)-1].Untrusted = true
				}
				l.sources[len(l.sources)-1].Loosens = loosens
			}
			cfg, sources = merged, l.sources
		}
	}

	if len(sources) == 0 {
		return Default(), []Source{{Kind: SourceDefault}}, nil
	}
	return cfg, sources, nil
}

func (o LoadOptions) withDefaults() (LoadOptions, error) {
	if o.Home == "" {
		o.Home = HomeDir() // unknown home: no user config
	}
	if o.Cwd == "" {
		wd, err := os.Getwd()
		if err != nil {
			return o, fmt.Errorf("resolve config: get working directory: %w", err)
		}
		o.Cwd = wd
	}
	if !filepath.IsAbs(o.Cwd) {
		abs, err := filepath.Abs(o.Cwd)
		if err != nil {
			return o, fmt.Errorf("resolve config: %w", err)
		}
		o.Cwd = abs
	}
	if o.ConfigDir == "" {
		o.ConfigDir = userConfigDir(o.Home)
	}
	if o.TrustStore == "" {
		o.TrustStore = TrustPath(o.Home)
	}
	return o, nil
}

// DefaultPath returns the user config file path of reference §1.6 for home:
// <user config dir>/fence/fence.json if that file or its directory exists,
// else the legacy ~/.fence.json if it exists, else the first path. It
// returns "" when neither the config directory nor home is known.
func DefaultPath(home string) string {
	return defaultPath(userConfigDir(home), home)
}

// defaultPath is DefaultPath for a given config directory. It is for
// display and for `fence config init`: a path that cannot be looked up
// counts as absent here, while Resolve, which reads the file, refuses it
// (userConfig).
func defaultPath(configDir, home string) string {
	p, _, err := userConfig(configDir, home)
	if err != nil && configDir != "" {
		return filepath.Join(configDir, "fence", ProjectConfigName)
	}
	return p
}

// userConfig returns the user config file of reference §1.6 and whether
// it exists: <configDir>/fence/fence.json if that directory exists, else
// the legacy home/.fence.json if that exists, else the first path
// (found false; "" when neither configDir nor home is known). Only a path
// that is not there (ENOENT, or ENOTDIR: a component on the way is a
// file, as with HOME=/dev/null) counts as absent. Any other failure to
// look one up (a directory this user may not search, an I/O error) is an
// error naming it: the config it hides would otherwise be skipped without
// a word, and the defaults, or the legacy file, applied in its place.
func userConfig(configDir, home string) (p string, found bool, err error) {
	if configDir != "" {
		p = filepath.Join(configDir, "fence", ProjectConfigName)
		dir := filepath.Dir(p)
		_, err := lstat(dir)
		switch {
		case err == nil:
			fi, err := os.Stat(dir)
			switch {
			case err != nil:
				return p, false, linkError(dir, err)
			case !fi.IsDir():
				return p, false, fmt.Errorf("%s is not a directory, but fence looks for its config file in it; remove it or make it a directory", dir)
			}
			found, err := configAt(p)
			return p, found, err
		case !absent(err):
			return p, false, lookupError(dir, err)
		}
	}
	if home != "" {
		legacy := filepath.Join(home, ".fence.json")
		if found, err := configAt(legacy); err != nil || found {
			return legacy, found, err
		}
	}
	return p, false, nil
}

// userConfigDir is os.UserConfigDir for a given home directory.
func userConfigDir(home string) string {
	switch runtime.GOOS {
	case "darwin", "ios":
		if home == "" {
			return ""
		}
		return filepath.Join(home, "Library", "Application Support")
	case "windows":
		return os.Getenv("AppData")
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return x
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".config")
}

// FindProjectConfig returns the fence.json nearest to cwd, looking in cwd and
// its parents up to and including the repository root: the nearest directory
// that contains .git (a directory, or a file for worktrees and submodules).
// Outside a repository only cwd itself is searched, so a stray fence.json in
// a parent such as /tmp does not apply. It returns "" when there is none.
func FindProjectConfig(cwd string) (string, error) {
	start, err := filepath.Abs(cwd)
	if err != nil {
		return "", fmt.Errorf("find project config: %w", err)
	}
	// The nearest fence.json, or the error of a broken one found first:
	// it counts only if that fence.json would have (a stray broken link
	// in a parent such as /tmp must not stop runs below it).
	nearest, nearestErr := "", error(nil)
	for dir := start; ; {
		if nearest == "" {
			p := filepath.Join(dir, ProjectConfigName)
			found, err := configAt(p)
			if err != nil {
				nearest, nearestErr = p, fmt.Errorf("project config %w, or run fence with --no-project", err)
			} else if found {
				nearest = p
			}
			if nearest != "" && dir == start {
				// It applies, in a repository or not.
				if nearestErr != nil {
					return "", nearestErr
				}
				return nearest, nil
			}
		}
		isRoot, err := gitAt(dir)
		if err != nil {
			// Which fence.json applies depends on it.
			if nearestErr != nil {
				return "", nearestErr
			}
			return "", fmt.Errorf("project config: %w, or run fence with --no-project", err)
		}
		if isRoot {
			// dir is the repository root
			if nearestErr != nil {
				return "", nearestErr
			}
			return nearest, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			// No repository: only a fence.json in cwd itself counts,
			// and there was none.
			return "", nil
		}
		dir = parent
	}
}

// gitAt reports whether dir holds a .git entry, which makes it a
// repository root. A lookup that fails for another reason than its absence
// is an error.
func gitAt(dir string) (bool, error) {
	p := filepath.Join(dir, ".git")
	_, err := lstat(p)
	switch {
	case err == nil:
		return true, nil
	case absent(err):
		return false, nil
	}
	return false, lookupError(p, err)
}

// PolicyFiles lists the files whose contents decide the policy for o: every
// file in sources, the user config locations, the trust stores (TrustPaths),
// and every place a project fence.json would be picked up from (existing or
// not); and the user config
// directory (<config dir>/fence), whose existence decides whether the
// legacy ~/.fence.json is read at all. A sandbox that lets the command
// write any of them lets it rewrite its own next policy, so the runtime
// should keep them read-only (and uncreatable) whatever allowWrite says.
func PolicyFiles(o LoadOptions, sources []Source) ([]string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	var out []string
	add := func(p string) {
		if p == "" {
			return
		}
		for _, q := range out {
			if q == p {
				return
			}
		}
		out = append(out, p)
	}
	for _, s := range sources {
		switch s.Kind {
		case SourceExtends, SourceSettings, SourceUser, SourceProject:
			add(s.Path)
		}
	}
	// The configuration directory in use, and on Linux ~/.config too: a
	// run with XDG_CONFIG_HOME set must not plant the file (or create
	// the directory) that a later run without it reads.
	dirs := []string{o.ConfigDir}
	if runtime.GOOS == "linux" && o.Home != "" {
		dirs = append(dirs, filepath.Join(o.Home, ".config"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		add(filepath.Join(d, "fence", ProjectConfigName))
		// Created, it would make the legacy file below unused
		// (defaultPath): a sandbox must not switch that off.
		add(filepath.Join(d, "fence"))
	}
	if o.Home != "" {
		add(filepath.Join(o.Home, ".fence.json"))
	}
	// The trusted project configs: one planted there would make a
	// checkout's loosening fence.json apply next time.
	add(o.TrustStore)
	for _, p := range TrustPaths(o.Home) {
		add(p)
	}
	chain, inRepo := projectChain(o.Cwd)
	if !inRepo {
		chain = chain[:1] // outside a repository only cwd counts
	}
	for _, d := range chain {
		add(filepath.Join(d, ProjectConfigName))
	}
	// The extends chains of the configs above that this run does not
	// load, and a later one will: the user config under -t or -s (a
	// plain run takes it without asking, so a file it extends, in a
	// path -t code makes writable, would loosen that run), and a project
	// config under --no-project or in a parent of the one that applies
	// (a changed file it extends would take back what it tightens).
	loaded := map[string]bool{}
	for _, s := range sources {
		loaded[s.Path] = true
	}
	for _, p := range slices.Clone(out) {
		if filepath.Base(p) != ProjectConfigName && p != filepath.Join(o.Home, ".fence.json") || loaded[p] {
			continue
		}
		for _, f := range extendsFiles(p, o.Home)[1:] {
			add(f)
		}
	}
	return out, nil
}

// PolicyMarkers lists the paths whose existence, not contents, decides
// which project fence.json applies for o: the .git entries that end the
// search for it (FindProjectConfig). Inside a repository those are the
// root's .git and a .git in each directory from Cwd up to the root, which,
// created, would end the search before the root's fence.json; outside one,
// a .git in each parent of Cwd, which would extend the search to the
// fence.json files above (a repository created in Cwd itself changes
// nothing: the search starts and ends there). A sandbox that could create,
// remove or replace one of them would change which file applies next time,
// so the runtime should keep them as they are, without making them
// read-only: a repository's .git is written by every commit.
func PolicyMarkers(o LoadOptions) ([]string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	chain, inRepo := projectChain(o.Cwd)
	var out []string
	for i, d := range chain {
		if i > 0 || inRepo {
			out = append(out, filepath.Join(d, ".git"))
		}
	}
	return out, nil
}

// projectChain returns the directories searched for a project fence.json
// from cwd (absolute), nearest first: up to and including the
// repository root if cwd is inside one (inRepo), else cwd and all its
// parents, of which only cwd is searched now, but every one would be
// if a .git appeared above them.
func projectChain(cwd string) (chain []string, inRepo bool) {
	for d := filepath.Clean(cwd); ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if exists(filepath.Join(d, ".git")) {
			return chain, true
		}
		if filepath.Dir(d) == d {
			return chain, false
		}
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// lstat is os.Lstat for the lookups of config files and their
// directories; a variable so that tests can make a lookup fail as it does
// for another user, or on a failing disk.
var lstat = os.Lstat

// absent reports whether err, from looking a path up, means that nothing
// is there: ENOENT, or ENOTDIR (a component on the way is not a
// directory, so there is nothing below it).
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// configAt reports whether there is a config file at p. Only nothing
// there (absent) is none. A lookup that fails otherwise (a directory
// this user may not search, an I/O error), a directory where the file
// should be, and a symlink that leads nowhere (a dotfile manager's link
// to a moved file) are errors: the config meant to be there would be
// skipped without a word.
func configAt(p string) (bool, error) {
	if _, err := lstat(p); absent(err) {
		return false, nil
	} else if err != nil {
		return false, lookupError(p, err)
	}
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return false, linkError(p, err)
	case fi.IsDir():
		return false, fmt.Errorf("%s is a directory, not a config file; remove it or rename it", p)
	}
	return true, nil
}

// lookupError is the error for a path that could not be looked up for
// another reason than its absence.
func lookupError(p string, err error) error {
	err = errnoOf(err)
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%s: cannot look it up (%w); let this user search the directories above it", p, err)
	}
	return fmt.Errorf("%s: cannot look it up (%w); fix or remove it", p, err)
}

// linkError is the error for p, which exists, when following it fails.
func linkError(p string, err error) error {
	err = errnoOf(err)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s leads to a file this user may not reach (%w); fix the link or the permissions", p, err)
	case absent(err):
		return fmt.Errorf("%s is a symlink that leads nowhere (%w); fix the link or remove it", p, err)
	}
	return fmt.Errorf("%s cannot be followed (%w); fix the link or remove it", p, err)
}

// errnoOf returns the error inside a *fs.PathError, whose message would
// repeat the path.
func errnoOf(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func sameFileAsAny(p string, others []string) bool {
	fi, err := os.Stat(p)
	if err != nil {
		return false
	}
	for _, o := range others {
		if o == p {
			return true
		}
		if fo, err := os.Stat(o); err == nil && os.SameFile(fi, fo) {
			return true
		}
	}
	return false
}

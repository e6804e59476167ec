package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nsfence/fence/config"
	"github.com/spf13/cobra"
)

// newConfigCmd returns `fence config` with its init and show subcommands.
func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Create or inspect fence configuration",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newConfigInitCmd(), newConfigShowCmd(), newConfigTrustCmd())
	return cmd
}

type configInitFlags struct {
	template       string
	minimal        bool
	output         string
	force          bool
	print          bool
	scaffold       bool
	templateWasSet bool
}

func newConfigInitCmd() *cobra.Command {
	var f configInitFlags
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a starter config file",
		Long: `Write a starter config file. By default it extends the "code" template and
goes to the user config path (` + "`fence config show`" + ` prints it).

Examples:
  fence config init                    # {"extends": "code"} at the default path
  fence config init --template code-strict -o ./fence.json
  fence config init --minimal --scaffold --print`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exclusive(cmd, [2]string{"minimal", "template"}, [2]string{"print", "output"}, [2]string{"print", "force"}); err != nil {
				return err
			}
			f.templateWasSet = cmd.Flags().Changed("template")
			return runConfigInit(f, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	f.template = "code"
	fl.Var(nonEmptyString{&f.template}, "template", "template to extend")
	fl.BoolVar(&f.minimal, "minimal", false, "extend no template")
	fl.VarP(nonEmptyString{&f.output}, "output", "o", "file to write (default: the user config path)")
	fl.BoolVarP(&f.force, "force", "y", false, "overwrite an existing file without asking")
	fl.BoolVar(&f.print, "print", false, "print the config instead of writing a file")
	fl.BoolVar(&f.scaffold, "scaffold", false, "include every list field as an empty array")
	return cmd
}

func runConfigInit(f configInitFlags, stdin io.Reader, stdout io.Writer) error {
	opts := config.InitOptions{Minimal: f.minimal, Scaffold: f.scaffold}
	if !f.minimal {
		opts.Template = strings.TrimSuffix(f.template, ".json")
	}
	body, err := config.InitConfig(opts)
	if errors.Is(err, config.ErrTemplateNotFound) {
		return fmt.Errorf("%w; fence --list-templates lists the templates", err)
	} else if err != nil {
		return err
	}
	if f.print {
		_, err := stdout.Write(body)
		return err
	}
	path, err := outputPath(f.output)
	if err != nil {
		return err
	}
	if path, err = configTarget(path); err != nil {
		return err
	}
	ok, err := confirmOverwrite(path, f.force, stdin, stdout)
	if err != nil || !ok {
		return err
	}
	if err := writeConfigFile(path, config.WithHeader(config.InitHeader(opts), body)); err != nil {
		return err
	}
	if f.minimal {
		fmt.Fprintln(stdout, "Created minimal config")
	} else {
		fmt.Fprintf(stdout, "Created config extending %q\n", opts.Template)
	}
	fmt.Fprintf(stdout, "Written to %q\n", path)
	return nil
}

// outputPath is -o, or the user config path.
func outputPath(output string) (string, error) {
	if output != "" {
		return output, nil
	}
	home := config.HomeDir()
	p := config.DefaultPath(home)
	if p == "" {
		return "", errors.New("cannot tell where the user config goes (no home directory); give a path with -o")
	}
	return p, nil
}

// confirmOverwrite asks before replacing an existing file, unless force.
// It reports whether to go on; a refusal prints "Aborted." and is not an
// error (exit status 0, as upstream). No answer at all (stdin at its end:
// a script, no terminal) is an error, unlike upstream, where the script
// went on as if the file had been written.
func confirmOverwrite(path string, force bool, stdin io.Reader, stdout io.Writer) (bool, error) {
	if force {
		return true, nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("check %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "File %q already exists. Overwrite? [y/N] ", path)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if line == "" && err != nil {
		fmt.Fprintln(stdout)
		return false, fmt.Errorf("%s exists and no answer came from stdin: pass -y to overwrite it, or choose another path with -o", path)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	fmt.Fprintln(stdout, "Aborted.")
	return false, nil
}

// configTarget is the file to write for path: where a symlink at path
// leads (a dotfile manager's link stays a link, as upstream's write kept
// it), followed link by link so that a dangling one names the file to
// create. A directory is an error, and so is a link the kernel would not
// follow for this user either (fs.protected_symlinks: another user's link
// in a sticky, world-writable directory such as /tmp).
func configTarget(path string) (string, error) {
	for range 40 {
		fi, err := os.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return path, nil
		case err != nil:
			return "", fmt.Errorf("check %s: %w", path, err)
		case fi.IsDir():
			return "", fmt.Errorf("%s is a directory; give the config file's path with -o", path)
		case fi.Mode()&fs.ModeSymlink == 0:
			return path, nil
		}
		dir := filepath.Dir(path)
		if err := followable(fi, dir); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		t, err := os.Readlink(path)
		if err != nil {
			return "", fmt.Errorf("check %s: %w", path, err)
		}
		if !filepath.IsAbs(t) {
			// The target is relative to where the link's directory
			// really is ("../x" through a linked directory).
			if rd, err := filepath.EvalSymlinks(dir); err == nil {
				dir = rd
			}
			t = filepath.Join(dir, t)
		}
		path = t
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// writeConfigFile writes data to path, mode 0600, creating the directory
// (0750) if needed. It writes a temporary file next to path and renames it,
// so a failure never leaves a half-written config behind. Its errors name
// path, not the temporary file, and how to get past them.
func writeConfigFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// The directory that could not be made, maybe one above dir.
			return fmt.Errorf("write %s: create %s: %w; choose another path with -o", path, pe.Path, pe.Err)
		}
		return fmt.Errorf("write %s: create %s: %w; choose another path with -o", path, dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".fence-*.json")
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("write %s: %w (this user may not create files in %s); choose another path with -o", path, errnoOf(err), dir)
		}
		return writeError(path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return writeError(path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return writeError(path, err)
	}
	if err := tmp.Close(); err != nil {
		return writeError(path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("write %s: %w (this user may not replace it); choose another path with -o", path, errnoOf(err))
		}
		return writeError(path, err)
	}
	return nil
}

// writeError is writeConfigFile's error for path: the error without the
// temporary file's name, and the way out.
func writeError(path string, err error) error {
	return fmt.Errorf("write %s: %w; choose another path with -o", path, errnoOf(err))
}

// errnoOf returns the error inside a *fs.PathError or *os.LinkError, whose
// message names a path (here the temporary file's).
func errnoOf(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

type configShowFlags struct {
	settings, template string
	noProject          bool
}

func newConfigShowCmd() *cobra.Command {
	var f configShowFlags
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective config and the files it comes from",
		Long: `Print the config fence would use here: the chain of templates and files that
produced it on stderr (lowest precedence first), then the merged config as
JSON on stdout. -s and -t select sources as they do for running a command.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigShow(f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.VarP(nonEmptyString{&f.settings}, "settings", "s", "config file (JSONC); must exist")
	fl.VarP(nonEmptyString{&f.template}, "template", "t", "built-in template to start from")
	fl.BoolVar(&f.noProject, "no-project", false, "ignore fence.json files in the working directory and above")
	return cmd
}

func runConfigShow(f configShowFlags, stdout, stderr io.Writer) error {
	home := config.HomeDir()
	cwd, err := workingDir()
	if err != nil {
		return err
	}
	cfg, sources, err := config.Resolve(config.LoadOptions{
		SettingsPath: f.settings, Template: f.template, Home: home, Cwd: cwd, NoProject: f.noProject,
		Inspect: true,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "# Active config chain (lowest precedence first):")
	for i, s := range sources {
		fmt.Fprintf(stderr, "#   %d. %s\n", i+1, s)
	}
	if sources[0].Kind == config.SourceDefault {
		if p := config.DefaultPath(home); p != "" {
			fmt.Fprintf(stderr, "# The user config would be read from %s\n", p)
		}
	}
	if cfg.Command.DefaultsEnabled() {
		fmt.Fprintf(stderr, "# command.useDefaults is on: %d built-in rules also apply (shutdown, reboot, mkfs, ...)\n", len(config.DefaultDeniedCommands()))
	}
	for _, w := range config.Warnings(sources) {
		fmt.Fprintln(stderr, "Warning:", w)
	}
	out, err := config.Marshal(cfg)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

func newConfigTrustCmd() *cobra.Command {
	var remove bool
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Let the project's fence.json loosen the policy",
		Long: `Trust the project config that applies in the working directory (the nearest
fence.json up to the repository root) as it is now. A project config comes
with the checkout, so fence applies one that loosens the policy (more
writable paths, domains, sockets, allowed commands, ...) only once you have
read it and trusted it; any later change to it, or to a file it extends,
needs trusting again. Tightening needs no trust.

The list of trusted files is $XDG_STATE_HOME/fence/trusted.json (by default
~/.local/state/fence/trusted.json), which sandboxed commands cannot write.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigTrust(remove, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "take the trust back")
	return cmd
}

func runConfigTrust(remove bool, stdout io.Writer) error {
	cwd, err := workingDir()
	if err != nil {
		return err
	}
	p, err := config.FindProjectConfig(cwd)
	if err != nil {
		return err
	}
	if p == "" {
		return fmt.Errorf("no project config (fence.json) applies in %s; trust is for the fence.json of a project, run this where it applies", cwd)
	}
	home := config.HomeDir()
	store := config.TrustPath(home)
	tp, err := config.TrustProject(store, p, home, !remove)
	if err != nil {
		return err
	}
	if remove {
		fmt.Fprintf(stdout, "%s is no longer trusted\n", config.Shown(p))
		return nil
	}
	fmt.Fprintf(stdout, "trusted %s as it is now (recorded in %s)\n", config.Shown(p), config.Shown(store))
	printTrusted(stdout, tp, home, cwd)
	return nil
}

// printTrusted says what was trusted, as it was read: the files the
// project config extends (trusted with it), and what it allows on top of
// the user config, where a run without -t and -s starts. The files may
// have changed since the user read them, or since a refusal named what
// they loosened; this is what the trust now stands for.
func printTrusted(w io.Writer, tp *config.TrustedProject, home, cwd string) {
	if len(tp.Extends) > 0 {
		fmt.Fprintf(w, "  with what it extends: %s\n", strings.Join(tp.Extends, ", "))
	}
	base, sources, err := config.Resolve(config.LoadOptions{Home: home, Cwd: cwd, NoProject: true})
	what := "your user config"
	switch {
	case err != nil:
		base, what = nil, "fence's defaults (your user config cannot be read: "+printable(err.Error())+")"
	case sources[0].Kind == config.SourceDefault:
		what = "fence's defaults (there is no user config)"
	}
	printLoosening(w, config.Loosening(base, config.Merge(base, tp.Config)), what)
}

// printLoosening prints loosens (config.Loosening) as what a config
// allows on top of what, one line a field.
func printLoosening(w io.Writer, loosens []string, what string) {
	if len(loosens) == 0 {
		fmt.Fprintf(w, "  on top of %s it loosens nothing\n", what)
		return
	}
	fmt.Fprintf(w, "  on top of %s it allows:\n", what)
	// One line a field: "filesystem.allowWrite \".\", \"~\"".
	var field string
	var values []string
	flush := func() {
		if field != "" {
			fmt.Fprintf(w, "    %s\n", strings.TrimSpace(field+" "+strings.Join(values, ", ")))
		}
	}
	for _, l := range loosens {
		name, value, _ := strings.Cut(l, " ")
		if name != field {
			flush()
			field, values = name, nil
		}
		if value != "" {
			values = append(values, value)
		}
	}
	flush()
}

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nsfence/fence/config"
	"github.com/spf13/cobra"
)

type importFlags struct {
	claude   bool
	file     string
	output   string
	save     bool
	force    bool
	extend   string
	noExtend bool
}

// newImportCmd returns `fence import`, which converts another tool's
// permission settings into a fence config (Claude Code only, for now).
func newImportCmd() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import --claude [-f settings.json] [-o file | --save]",
		Short: "Convert Claude Code permissions into a fence config",
		Long: `Convert the permission rules of Claude Code's settings.json into a fence config:
Bash(...) rules become command rules, Read(...) deny rules become
filesystem.denyRead, Write(...)/Edit(...) rules become allowWrite/denyWrite.
"ask" rules become deny rules, since fence cannot ask.

Without -o or --save the config is printed on stdout.

Examples:
  fence import --claude
  fence import --claude -f .claude/settings.local.json -o fence.json
  fence import --claude --no-extend --save`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := exclusive(cmd, [2]string{"extend", "no-extend"}, [2]string{"save", "output"}); err != nil {
				return err
			}
			return runImport(f, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.claude, "claude", false, "import Claude Code permissions")
	fl.VarP(nonEmptyString{&f.file}, "file", "f", "settings file to read (default: ~/.claude/settings.json)")
	fl.VarP(nonEmptyString{&f.output}, "output", "o", "file to write")
	fl.BoolVar(&f.save, "save", false, "write to the user config path")
	fl.BoolVarP(&f.force, "force", "y", false, "overwrite an existing file without asking")
	f.extend = "code"
	fl.Var(nonEmptyString{&f.extend}, "extend", "template the config extends")
	fl.BoolVar(&f.noExtend, "no-extend", false, "extend no template")
	return cmd
}

func runImport(f importFlags, stdin io.Reader, stdout, stderr io.Writer) error {
	if !f.claude {
		return errors.New("no import source specified; use --claude to import Claude Code permissions")
	}
	src := f.file
	if src == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return errors.New("cannot find ~/.claude/settings.json (no home directory); give the file with -f")
		}
		src = filepath.Join(home, ".claude", "settings.json")
	}
	data, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no Claude settings at %s; give the file with -f", src)
	} else if err != nil {
		return fmt.Errorf("read Claude settings: %w", err)
	}
	extend := f.extend
	if f.noExtend {
		extend = ""
	}
	cfg, warnings, err := config.ImportClaude(data, extend)
	if errors.Is(err, config.ErrTemplateNotFound) {
		return fmt.Errorf("import %s: %w; fence --list-templates lists the templates", src, err)
	} else if err != nil {
		return fmt.Errorf("import %s: %w", src, err)
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "Warning:", w)
	}
	body, err := config.Marshal(cfg)
	if err != nil {
		return err
	}
	n := ruleCount(cfg)

	if !f.save && f.output == "" {
		if extend != "" {
			fmt.Fprintf(stderr, "# Extends %q - inherited rules not shown\n", extend)
		}
		fmt.Fprintf(stderr, "# Imported %d rules from %s\n", n, config.Shown(src))
		fmt.Fprintln(stderr, "# Use --save to write it to the user config path, or -o FILE to write it elsewhere")
		_, err := stdout.Write(body)
		return err
	}
	path := f.output
	if f.save {
		if path, err = outputPath(""); err != nil {
			return err
		}
	}
	ok, err := confirmOverwrite(path, f.force, stdin, stdout)
	if err != nil || !ok {
		return err
	}
	if err := writeConfigFile(path, config.WithHeader(config.ImportHeader(src, extend), body)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Imported %d rules from %s\n", n, config.Shown(src))
	fmt.Fprintf(stdout, "Written to %q\n", path)
	// What it allows, as written: the settings file may not be the one
	// the user remembers (-t code lets a sandboxed agent write
	// ~/.claude/settings.json).
	base, what := config.Default(), "fence's defaults"
	if extend != "" {
		if t, err := config.Template(extend); err == nil {
			base, what = t, fmt.Sprintf("template %q", extend)
		}
	}
	own := *cfg
	own.Extends = ""
	printLoosening(stdout, config.Loosening(base, config.Merge(base, &own)), what)
	return nil
}

// ruleCount is the number of rules an imported config carries.
func ruleCount(c *config.Config) int {
	return len(c.Command.Allow) + len(c.Command.Deny) +
		len(c.Filesystem.DenyRead) + len(c.Filesystem.AllowWrite) + len(c.Filesystem.DenyWrite)
}

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsfence/fence/cmd/fence/internal/early"
	"github.com/nsfence/fence/config"
	"github.com/spf13/pflag"
)

// The network mode guessed before parsing (package early) must match what
// the template says, for every way of naming a template, and never look
// past "--" or into the command's own arguments.
func TestTemplateHostNetwork(t *testing.T) {
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"-t code-relaxed -- true", true},
		{"--template code-relaxed -- true", true},
		{"--template=code-relaxed true", true},
		{"-t=disable-telemetry true", true},
		{"-s fence.json -m -t code-relaxed -c true", true},
		{"-t code -- true", false},
		{"-t nosuchtemplate -- true", false},
		{"-- true -t code-relaxed", false},
		{"true -t code-relaxed", false},
		{"-s -t -- true", false}, // -t is the value of -s
		{"-- true", false},
	} {
		if _, got := early.Guess(strings.Fields(tc.args)); got != tc.want {
			t.Errorf("early.Guess(%q) network = %v, want %v", tc.args, got, tc.want)
		}
	}
	// early keeps its own list (config is not initialised when it runs):
	// it must agree with config for every built-in template.
	for _, ti := range config.Templates() {
		want := config.TemplateSharesHostNetwork(ti.Name)
		if _, got := early.Guess([]string{"-t", ti.Name, "--", "true"}); got != want {
			t.Errorf("early.Guess(-t %s) network = %v, config says %v: update early.hostNetworkTemplate", ti.Name, got, want)
		}
	}
}

// package early guesses from argv before cobra exists: its lists of
// subcommands and of flags that take a value must match the real command
// tree, or every such invocation would clone namespaces for nothing (or
// miss the head start).
func TestEarlyGuessMatchesCLI(t *testing.T) {
	root := newRootCmd()
	names := []string{"__complete", "__completeNoDesc"} // cobra's hidden completion commands
	for _, c := range root.Commands() {
		names = append(names, c.Name())
		names = append(names, c.Aliases...)
	}
	for _, n := range names {
		if sandbox, _ := early.Guess([]string{n, "x"}); sandbox {
			t.Errorf("early.Guess(%s x) = sandbox: add %q to early's subcommands", n, n)
		}
	}
	root.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" {
			return
		}
		for _, name := range []string{"--" + f.Name, "-" + f.Shorthand} {
			if name == "-" {
				continue
			}
			// With a value and no command, there is nothing to run; -c's
			// value is the command.
			if sandbox, _ := early.Guess([]string{name, "value"}); sandbox != (f.Name == "c") {
				t.Errorf("early.Guess(%s value) = %v: update early.valueFlag", name, sandbox)
			}
		}
	})
}

// A -p value that is not a port is refused before anything runs, with a
// message that says what -p takes.
func TestPortFlagErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"-p 0 -- true", `invalid port "0" for -p: give a TCP port from 1 to 65535`},
		{"-p 70000 -- true", `invalid port "70000" for -p: give a TCP port from 1 to 65535`},
		{"-p abc -- true", `invalid port "abc" for -p: give a TCP port from 1 to 65535`},
		{"-p 9012 -p 9012 -- true", "-p 9012 is given twice; give each port once"},
	} {
		root := newRootCmd()
		root.SetArgs(strings.Fields(tc.args))
		if err := root.Execute(); err == nil || err.Error() != tc.want {
			t.Errorf("fence %s: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// An empty value for a subcommand's file or template flag is refused: it
// meant "not given" (config init -y -o "" overwrote the user config;
// import --extend "" dropped the template's command denies). Nothing is
// written.
func TestSubcommandEmptyFlags(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	for _, args := range [][]string{
		{"config", "init", "-y", "--minimal", "-o", ""},
		{"config", "init", "-y", "--template", ""},
		{"config", "show", "-s", ""},
		{"config", "show", "-t", ""},
		{"import", "--claude", "-f", ""},
		{"import", "--claude", "-o", ""},
		{"import", "--claude", "--extend", ""},
	} {
		root := newRootCmd()
		root.SetArgs(args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "is empty; give a value or leave the flag out") {
			t.Errorf("fence %q: error %v, want the empty value refused", args, err)
		}
	}
	if ents, _ := os.ReadDir(home); len(ents) != 0 {
		t.Errorf("files written in $HOME: %v", ents)
	}
}

// Errors that said what was wrong and not what to give: fence completion
// without a shell, and -s naming a directory.
func TestUsageErrorsNameTheFix(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"completion"}, "give one shell: bash, zsh, fish or powershell (got 0 arguments)"},
		{[]string{"-c", "echo a", "-c", "echo b"}, `given twice ("echo a", then "echo b"); give it once`},
		{[]string{"--shell", "default", "--shell", "user", "-c", "true"}, `invalid argument "user" for "--shell" flag: given twice ("default", then "user"); give it once`},
		{[]string{"--shell=", "-c", "true"}, `"--shell" flag: is empty; give a value or leave the flag out`},
		// An information flag with a command dropped the command.
		{[]string{"--version", "--", "touch", "x"}, "--version prints information and runs nothing, but a command (touch) was given too; give --version alone, or leave it out to run the command"},
		{[]string{"-v", "-c", "echo hi"}, "--version prints information and runs nothing, but a command (-c) was given too"},
		{[]string{"--list-templates", "-c", "touch x"}, "--list-templates prints information and runs nothing"},
		{[]string{"--linux-features", "--", "echo", "hi"}, "--linux-features prints information and runs nothing"},
		// strconv's words for a bool flag's value.
		{[]string{"--debug=maybe", "true"}, `invalid value "maybe" for --debug: give true or false (--debug=false), or the flag alone for true`},
		// cobra's "unknown command" for an argument, and no subcommands named.
		{[]string{"config", "show", "extra"}, `unknown command "extra" for "fence config show"; it takes no arguments (fence config show --help)`},
		{[]string{"config", "bogus"}, `unknown command "bogus" for "fence config"; its commands are init, show, trust (fence config --help)`},
		{[]string{"import", "--claude", "x"}, `unknown command "x" for "fence import"; it takes no arguments`},
		// cobra's flag groups named no fix.
		{[]string{"config", "init", "--print", "-o", "x"}, "if any flags in the group [print output] are set none of the others can be; [output print] were all set; give only one of --print and --output (fence config init --help)"},
		{[]string{"config", "init", "--print", "-y"}, "[force print] were all set; give only one of --print and --force (fence config init --help)"},
		{[]string{"config", "init", "--minimal", "--template", "code"}, "give only one of --minimal and --template"},
		{[]string{"import", "--claude", "--save", "-o", "x"}, "give only one of --save and --output (fence import --help)"},
		{[]string{"import", "--claude", "--extend", "code", "--no-extend"}, "give only one of --extend and --no-extend"},
		{[]string{"config", "show", "-s", dir}, "is a directory, not a config file; give the path of a config file (JSONC)"},
		{[]string{"config", "init", "--print", "--template", "nope"}, `template "nope" not found; fence --list-templates lists the templates`},
		{[]string{"import", "--claude", "-f", os.DevNull, "--extend", "nope"}, `template "nope" not found; fence --list-templates lists the templates`},
		// pflag's errors, upstream's words first.
		{[]string{"--bogus", "true"}, "unknown flag: --bogus; fence --help lists the flags"},
		{[]string{"-x", "true"}, "unknown shorthand flag: 'x' in -x; fence --help lists the flags"},
		{[]string{"-p"}, "flag needs an argument: 'p' in -p; give it a value (fence --help)"},
		{[]string{"config", "init", "--bogus"}, "unknown flag: --bogus; fence config init --help lists the flags"},
		{[]string{"import", "--claude", "-o"}, "flag needs an argument: 'o' in -o; give it a value (fence import --help)"},
	} {
		root := newRootCmd()
		root.SetArgs(tc.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("fence %q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestPrintSources: the -d lines naming the config sources, without a
// trailing space when a source has no path (the defaults).
func TestPrintSources(t *testing.T) {
	var b bytes.Buffer
	printSources(&b, []config.Source{{Kind: config.SourceDefault}})
	printSources(&b, []config.Source{{Kind: config.SourceTemplate, Path: "code"}, {Kind: config.SourceUser, Path: "/h/.config/fence/fence.json"}})
	want := "[fence] config: default (no config file found)\n" +
		"[fence] config: template code\n" +
		"[fence] config: user /h/.config/fence/fence.json\n"
	if b.String() != want {
		t.Errorf("printSources wrote\n%q\nwant\n%q", b.String(), want)
	}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if strings.HasSuffix(strings.TrimSuffix(line, "\n"), " ") {
			t.Errorf("trailing space in %q", line)
		}
	}
}

// A working directory removed since the shell entered it is refused with
// the fix, not with getwd's "no such file or directory" alone.
func TestWorkingDirRemoved(t *testing.T) {
	dir := t.TempDir() + "/gone"
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	_, err := workingDir()
	if err == nil || !strings.Contains(err.Error(), "the working directory no longer exists") || !strings.Contains(err.Error(), "cd to a directory that exists") {
		t.Errorf("removed working directory: err %v; want a refusal that names the fix", err)
	}
}

// `fence config trust` says what the trust stands for, as it read it: the
// files the project config extends and what it allows on top of the user
// config. Those files may have changed since the user read them, or since
// a refusal named what they loosened (a command in a sandbox started in a
// parent directory could write base.json, which is not named fence.json).
func TestConfigTrustSaysWhat(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	proj := filepath.Join(home, "proj")
	for _, f := range []struct{ path, data string }{
		{filepath.Join(proj, ".git", "HEAD"), "ref: refs/heads/main\n"},
		{filepath.Join(proj, "fence.json"), `{"extends": "./base.json", "network": {"allowedDomains": ["x.example"]}}`},
		{filepath.Join(proj, "base.json"), `{"filesystem": {"allowWrite": [".", "~"]}}`},
		{filepath.Join(home, ".config", "fence", "fence.json"), `{"filesystem": {"allowWrite": ["."]}}`},
	} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(proj)
	var out bytes.Buffer
	if err := runConfigTrust(false, &out); err != nil {
		t.Fatal(err)
	}
	want := "  with what it extends: " + filepath.Join(proj, "base.json") + "\n" +
		"  on top of your user config it allows:\n" +
		"    network.allowedDomains \"x.example\"\n" +
		"    filesystem.allowWrite \"~\"\n"
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("config trust printed\n%s\nwant it to end with\n%s", out.String(), want)
	}
}

// The error line escapes what a terminal would act on, as a quoted Go
// string does, and leaves the rest as it is.
func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"config /p/x.json: bad":             "config /p/x.json: bad",
		"config /p/b\x1b[8m.json: bad":      `config /p/b\x1b[8m.json: bad`,
		"file /p/\u202egnp.json, é \xff ok": `file /p/\u202egnp.json, é \xff ok`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}

// fence import --claude -o/--save says what the written config allows on
// top of the template it extends, as the settings file had it: one a
// sandboxed agent could write (-t code makes ~/.claude writable).
func TestImportSaysWhatItAllows(t *testing.T) {
	dir := t.TempDir()
	settings := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(settings, []byte(`{"permissions":{"allow":["Write(/**)","Bash(make:*)"],"deny":["Read(./secret)"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fence.json")
	var stdout, stderr bytes.Buffer
	if err := runImport(importFlags{claude: true, file: settings, output: out, extend: "code"}, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	got := stdout.String()
	for _, want := range []string{`on top of template "code" it allows:`, "filesystem.allowWrite", `"/**"`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

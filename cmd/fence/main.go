// Command fence runs a command in a sandbox: reads everywhere, writes only
// where allowed, network only through filtering proxies.
//
// This package owns the CLI only (flags, subcommands, help, exit codes); the
// sandbox logic lives in the fence library package and below it.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nsfence/fence"
	"github.com/nsfence/fence/cmd/fence/internal/early"
	_ "github.com/nsfence/fence/cmd/fence/internal/stage"
	"github.com/nsfence/fence/config"
	// The ELF entry point: both fence processes' read-only data mapped
	// ahead of its use (see the package).
	_ "github.com/nsfence/fence/internal/prefault"
	"github.com/nsfence/fence/nsexec"
	"github.com/nsfence/fence/nsexec/sigfwd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Set by -ldflags at build time.
var (
	version   = "dev"
	buildTime = "unknown"
	gitCommit = "unknown"
)

func main() {
	// The init stage and the feature probe, this same binary re-executed
	// inside the namespaces, never get here: package stage's init runs them
	// and exits. Should that import ever go, refuse rather than run the CLI
	// as PID 1 with the sandbox's capabilities.
	if nsexec.IsInit() || nsexec.IsProbe() {
		os.Exit(255)
	}
	startMono = nsexec.Now()
	code := run(os.Args[1:])
	if killedBy == syscall.SIGINT {
		// Everything is cleaned up (the terminal, the init stage): die
		// by SIGINT as the command did. An interactive shell aborts a
		// loop only for a child that SIGINT killed, not one that exited
		// 130, so ^C would otherwise go on to the loop's next fence. Other
		// signals stay exit code 128+n, as upstream Fence reports them
		// (a shell's $? is the same either way).
		sigfwd.Die(killedBy)
	}
	os.Exit(code)
}

// killedBy is the signal that killed the command, if one did.
var killedBy syscall.Signal

type flags struct {
	debug, monitor, version, listTemplates, linuxFeatures, shellLogin bool
	noProject                                                         bool
	settings, template, command, shell                                string
	ports                                                             []string
}

// pending is the init stage spawned ahead of time, if any.
var pending *nsexec.Pending

// startMono is when main started, or package early's init if it spawned,
// for FENCE_TIMELINE=1; mainMono is when main started if early spawned.
var startMono, mainMono int64

// launchMono parses FENCE_TIMELINE_LAUNCH: the CLOCK_MONOTONIC time, in
// nanoseconds, at which whoever started fence was about to exec it (the
// perf harness sets it), so that the timeline also shows what comes before
// fence-start: the exec, the Go runtime's start and the package init
// functions before package early's. It must lie before start (the earliest
// of fence's own stages: fence-start, or the spawn by the entry point, so
// that the timeline begins at the launch), and within a minute of it.
func launchMono(v string, start int64) (int64, error) {
	m, err := strconv.ParseInt(v, 10, 64)
	if err != nil || m <= 0 {
		return 0, fmt.Errorf("%q is not a CLOCK_MONOTONIC time in nanoseconds; set it to clock_gettime(CLOCK_MONOTONIC) just before starting fence", v)
	}
	if m >= start || start-m > int64(time.Minute) {
		return 0, fmt.Errorf("%s ns is not within the minute before fence started; set it just before starting fence", v)
	}
	return m, nil
}

// exitError carries a specific exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return "exit " + strconv.Itoa(e.code) }

func run(args []string) int {
	// The sandbox's init stage was spawned by package early's init, or is
	// spawned now, before anything is parsed, so that its runtime start
	// overlaps with config loading (see nsexec.Pending).
	if c, mono := early.Take(); c != nil {
		pending = nsexec.Adopt(c)
		mainMono, startMono = startMono, mono
	} else if sandbox, hostNet := early.Guess(args); sandbox {
		hostNet = hostNet || early.ConfigSharesHost(args)
		if pd, err := nsexec.Spawn(hostNet, nil, nil, nil); err == nil {
			pending = pd
		}
	}
	defer func() {
		if pending != nil {
			// Spawned, but no sandbox ran (an informational flag, a
			// config error, ...): end the init stage and reap it.
			pending.Abort()
			if os.Getenv("FENCE_TIMELINE") == "1" {
				fmt.Fprintln(os.Stderr, "[fence:timeline] aborted")
			}
		}
	}()
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "Error:", printable(errorText(err)))
	return 1
}

// printable is msg with what a terminal would not show as itself escaped
// as Go escapes it in a quoted string (\x1b, \u202e, \xff): control and
// format characters and bytes that are not UTF-8. An error names files a
// checkout brings (a file its fence.json extends), and an escape sequence
// in such a name could hide the rest of the line, or write another.
func printable(msg string) string {
	if config.Shown(msg) == msg {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		r, n := utf8.DecodeRuneInString(msg[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", msg[i])
		case unicode.IsPrint(r):
			b.WriteString(msg[i : i+n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

func newRootCmd() *cobra.Command {
	var f flags
	root := &cobra.Command{
		Use:   "fence [flags] -- command [args...]",
		Short: "Run a command in a sandbox with filesystem and network restrictions",
		Long: `fence runs a command in a sandbox: reads work everywhere except denied and
credential paths, writes only where the config allows them, and the network
only through filtering proxies to allowed domains.

Examples:
  fence -- npm install
  fence -c "make test"
  fence -t code -- claude
  fence -s ./fence.json -- ./build.sh`,
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSandbox(&f, args)
		},
	}
	fl := root.Flags()
	// fence's flags end at the first non-flag argument: `fence ls -l` runs
	// `ls -l` (upstream parses flags after the command too).
	fl.SetInterspersed(false)
	fl.BoolVarP(&f.debug, "debug", "d", false, "print what fence does on stderr")
	fl.BoolVarP(&f.monitor, "monitor", "m", false, "log refused network requests (proxy decisions) and file or socket operations the write guard refuses")
	fl.VarP(&onceString{&f.settings}, "settings", "s", "config file (JSONC); must exist")
	fl.VarP(&onceString{&f.template}, "template", "t", "built-in template to start from (see --list-templates)")
	fl.BoolVar(&f.noProject, "no-project", false, "ignore fence.json files in the working directory and above")
	fl.BoolVar(&f.listTemplates, "list-templates", false, "list built-in templates")
	// Once: with two, only the last ran (a script's mistake, as -t
	// twice is).
	fl.VarP(&onceString{&f.command}, "c", "c", "run this shell command string")
	fl.StringArrayVarP(&f.ports, "port", "p", nil, "expose a TCP port of the sandbox on the host (repeatable)")
	// Once, as -c, -t and -s: given twice, the last one won silently.
	fl.Var(&onceString{&f.shell}, "shell", `shell for -c and shell commands: "default" (bash) or "user" ($SHELL) (default "default")`)
	fl.BoolVar(&f.shellLogin, "shell-login", false, "run the shell as a login shell (-lc)")
	fl.BoolVarP(&f.version, "version", "v", false, "print the version")
	fl.BoolVar(&f.linuxFeatures, "linux-features", false, "report which Linux sandbox features work here")
	// pflag names the flag but not the fix; subcommands inherit this.
	root.SetFlagErrorFunc(flagError)
	registerCompletions(root)
	for _, sub := range subcommands(root) {
		root.AddCommand(sub)
	}
	return root
}

// flagError adds the fix to pflag's errors for a flag that does not exist,
// lacks its value or is malformed ("unknown shorthand flag: 'x' in -x"),
// keeping upstream's words first. Errors of fence's own flag values
// (onceString's) name their fix already.
func flagError(c *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	var noValue *pflag.ValueRequiredError
	var syntax *pflag.InvalidSyntaxError
	var badValue *pflag.InvalidValueError
	switch {
	case errors.As(err, &notExist), errors.As(err, &syntax):
		return fmt.Errorf("%w; %s --help lists the flags", err, c.CommandPath())
	case errors.As(err, &noValue):
		return fmt.Errorf("%w; give it a value (%s --help)", err, c.CommandPath())
	case errors.As(err, &badValue) && badValue.GetFlag().Value.Type() == "bool":
		// "strconv.ParseBool: parsing "maybe": invalid syntax".
		return fmt.Errorf("invalid value %q for --%s: give true or false (--%s=false), or the flag alone for true", badValue.GetValue(), badValue.GetFlag().Name, badValue.GetFlag().Name)
	}
	return err
}

// infoFlag names the information flag set in f (--version,
// --linux-features, --list-templates), or is "".
func infoFlag(f *flags) string {
	switch {
	case f.version:
		return "--version"
	case f.linuxFeatures:
		return "--linux-features"
	case f.listTemplates:
		return "--list-templates"
	}
	return ""
}

// noArgs is cobra.NoArgs (upstream's words) with the fix: cobra said
// "unknown command \"extra\" for \"fence config show\"" of an argument to a
// command that has no subcommands, and did not name the subcommands of one
// that has.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if c.HasAvailableSubCommands() {
		var names []string
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		return fmt.Errorf("unknown command %q for %q; its commands are %s (%s --help)", args[0], c.CommandPath(), strings.Join(names, ", "), c.CommandPath())
	}
	return fmt.Errorf("unknown command %q for %q; it takes no arguments (%s --help)", args[0], c.CommandPath(), c.CommandPath())
}

// exclusive refuses each pair of c's flags given together: upstream's
// words (cobra's MarkFlagsMutuallyExclusive: "if any flags in the group
// [print output] are set none of the others can be; [output print] were
// all set"), then the fix, which they did not name.
func exclusive(c *cobra.Command, pairs ...[2]string) error {
	for _, p := range pairs {
		if c.Flags().Changed(p[0]) && c.Flags().Changed(p[1]) {
			set := []string{p[0], p[1]}
			slices.Sort(set)
			return fmt.Errorf("if any flags in the group [%s %s] are set none of the others can be; %v were all set; give only one of --%s and --%s (%s --help)", p[0], p[1], set, p[0], p[1], c.CommandPath())
		}
	}
	return nil
}

// registerCompletions tells the completion scripts what fence's arguments
// are: the command and its arguments complete as the shell completes
// files, -t as the templates, --shell as its two modes; -p has no files.
func registerCompletions(root *cobra.Command) {
	root.ValidArgsFunction = func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveDefault
	}
	_ = root.RegisterFlagCompletionFunc("template", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, t := range config.Templates() {
			out = append(out, cobra.CompletionWithDesc(t.Name, t.Description))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("shell", cobra.FixedCompletions([]cobra.Completion{"default", "user"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("port", cobra.NoFileCompletions)
}

func runSandbox(f *flags, args []string) error {
	// An information flag runs nothing: with a command given too, the
	// command was dropped without a word.
	if info := infoFlag(f); info != "" && (f.command != "" || len(args) > 0) {
		what := "-c"
		if len(args) > 0 {
			what = args[0]
		}
		return fmt.Errorf("%s prints information and runs nothing, but a command (%s) was given too; give %s alone, or leave it out to run the command", info, what, info)
	}
	switch {
	case f.version:
		fmt.Printf("fence - lightweight, container-free sandbox for running untrusted commands\n  Version: %s\n  Built:   %s\n  Commit:  %s\n", version, buildTime, gitCommit)
		return nil
	case f.linuxFeatures:
		return printLinuxFeatures(os.Stdout)
	case f.listTemplates:
		return listTemplates()
	}
	var ports []int
	for _, p := range f.ports {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("invalid port %q for -p: give a TCP port from 1 to 65535", p)
		}
		if slices.Contains(ports, n) {
			return fmt.Errorf("-p %d is given twice; give each port once", n)
		}
		ports = append(ports, n)
	}
	if f.command == "" && len(args) == 0 {
		return fence.ErrNoCommand
	}
	// Upstream ran -c and dropped the arguments without a word.
	if f.command != "" && len(args) > 0 {
		return fmt.Errorf("both -c and a command (%s) were given; use one: -c \"string\" or -- command args", args[0])
	}
	if f.shell == "" {
		f.shell = "default"
	}
	if f.shell != "default" && f.shell != "user" {
		// Upstream's message, checked whether or not a shell is needed.
		return fmt.Errorf("invalid shell options: invalid shell mode %q (expected \"default\" or \"user\")", f.shell)
	}
	home := config.HomeDir()
	cwd, err := workingDir()
	if err != nil {
		return err
	}
	lo := config.LoadOptions{SettingsPath: f.settings, Template: f.template, Home: home, Cwd: cwd, NoProject: f.noProject}
	cfg, sources, err := config.Resolve(lo)
	if err != nil {
		return err
	}
	configMono := nsexec.Now()
	for _, w := range config.Warnings(sources) {
		fmt.Fprintln(os.Stderr, "Warning:", w)
	}
	if cfg.Network.AllowsAllDomains() && len(cfg.Network.DeniedDomains) > 0 {
		// The sandbox shares the host's network: a program that ignores
		// the proxy variables reaches denied domains directly.
		fmt.Fprintln(os.Stderr, `Warning: with allowedDomains "*" the sandbox shares the host's network: deniedDomains only stop programs that use fence's proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY)`)
	}
	policyFiles, err := config.PolicyFiles(lo, sources)
	if err != nil {
		return err
	}
	for _, p := range ownExecutable(cwd) {
		if !slices.Contains(policyFiles, p) {
			policyFiles = append(policyFiles, p)
		}
	}
	policyMarkers, err := config.PolicyMarkers(lo)
	if err != nil {
		return err
	}
	pd := pending
	pending = nil // fence.Run owns it now, and spec.Abort on errors
	spec := &fence.Spec{
		Pending: pd,
		// fence owns its process: signals without os/signal's threads.
		OwnSignals: true,
		PassPipes:  true,
		Config:     cfg, Sources: sources, Args: args, Command: f.command, Shell: f.shell, ShellLogin: f.shellLogin,
		Cwd: cwd, OwnCwd: true, Home: home, Debug: f.debug, Monitor: f.monitor,
		StartMono: startMono,
		Ports:     ports,

		PolicyFiles:   policyFiles,
		PolicyMarkers: policyMarkers,
	}
	if os.Getenv("FENCE_TIMELINE") == "1" {
		spec.Timeline = os.Stderr
		spec.Marks = []nsexec.Stage{{Name: "config-loaded", Mono: configMono}}
		if mainMono != 0 {
			spec.Marks = append(spec.Marks, nsexec.Stage{Name: "main", Mono: mainMono})
		}
		if m := early.SysmonCoarsened(); m != 0 {
			spec.Marks = append(spec.Marks, nsexec.Stage{Name: "sysmon", Mono: m})
		}
		if v, ok := os.LookupEnv("FENCE_TIMELINE_LAUNCH"); ok {
			first := startMono
			if m := early.EntrySpawned(); m != 0 && m < first {
				first = m
			}
			if m, err := launchMono(v, first); err != nil {
				fmt.Fprintf(os.Stderr, "[fence:timeline] FENCE_TIMELINE_LAUNCH ignored: %v\n", err)
			} else {
				spec.Marks = append(spec.Marks, nsexec.Stage{Name: "launch", Mono: m})
			}
		}
	}
	if f.debug {
		printSources(os.Stderr, sources)
	}
	code, err := fence.Run(spec)
	killedBy = spec.KilledBy()
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// ownExecutable returns fence's own executable, the file the kernel runs
// (/proc/self/exe), and the name it was started by: the path given (a
// symlink, ./fence) or, for a bare name, the first match in PATH, as the
// shell found it. fence decides every later run's policy as surely as its
// config files do, so they are policy files too: in a writable path
// (./fence in the working directory, a package's bin directory) the
// sandbox replaced it with a script, and the user's next `fence ...` ran
// that outside any sandbox.
func ownExecutable(cwd string) []string {
	var out []string
	if exe, err := os.Executable(); err == nil {
		out = append(out, exe)
	}
	name := os.Args[0]
	if !strings.Contains(name, "/") {
		name = ""
		for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
			if dir == "" {
				dir = "."
			}
			p := filepath.Join(dir, os.Args[0])
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
				name = p
				break
			}
		}
	}
	if name != "" {
		if !filepath.IsAbs(name) {
			name = filepath.Join(cwd, name)
		}
		out = append(out, filepath.Clean(name))
	}
	return out
}

// workingDir is os.Getwd with a refusal that names the fix: a working
// directory removed since the shell entered it (a branch switched in
// another terminal), or one this user may not look up (`sudo -u USER
// fence` from your home), said only "getwd: no such file or directory"
// or "stat .: permission denied".
func workingDir() (string, error) {
	cwd, err := os.Getwd()
	switch {
	case err == nil:
		return cwd, nil
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("the working directory no longer exists (%w); cd to a directory that exists and run fence there", err)
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("the working directory cannot be looked up by this user (%w); run fence from a directory this user may search", err)
	}
	return "", fmt.Errorf("get working directory: %w", err)
}

// printSources writes the -d lines that name the config sources, one a
// line: "[fence] config: KIND PATH", or "[fence] config: default (no
// config file found)" when none applied.
func printSources(w io.Writer, sources []config.Source) {
	for _, s := range sources {
		switch {
		case s.Kind == config.SourceDefault:
			fmt.Fprintln(w, "[fence] config: default (no config file found)")
		case s.Path == "":
			fmt.Fprintf(w, "[fence] config: %s\n", s.Kind)
		default:
			fmt.Fprintf(w, "[fence] config: %s %s\n", s.Kind, config.Shown(s.Path))
		}
	}
}

// onceString is a string flag that may be given once, and not empty: with
// -t twice only the last template applied (the first one's command denies
// lost), and an empty -s (an unset variable in a script) fell back to the
// user config.
type onceString struct{ p *string }

func (o *onceString) String() string {
	if o.p == nil {
		return ""
	}
	return *o.p
}

func (o *onceString) Set(v string) error {
	switch {
	case *o.p == v && v != "":
		return nil // the same twice is harmless (and cobra's completion parses flags twice)
	case *o.p != "":
		return fmt.Errorf("given twice (%q, then %q); give it once", *o.p, v)
	case v == "":
		return errors.New("is empty; give a value or leave the flag out")
	}
	*o.p = v
	return nil
}

func (o *onceString) Type() string { return "string" }

// nonEmptyString is a string flag that may not be given empty: empty, the
// subcommands' -o, -f, --template and --extend meant "not given" (an
// unset variable in `fence config init -y -o "$OUT"` overwrote the user
// config; an empty --extend dropped the template's command denies).
type nonEmptyString struct{ p *string }

func (n nonEmptyString) String() string {
	if n.p == nil {
		return ""
	}
	return *n.p
}

func (n nonEmptyString) Set(v string) error {
	if v == "" {
		return errors.New("is empty; give a value or leave the flag out")
	}
	*n.p = v
	return nil
}

func (n nonEmptyString) Type() string { return "string" }

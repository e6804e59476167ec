// Package fence runs commands in a sandbox described by a Fence-compatible
// configuration. It is the orchestration layer and the library API: it turns a
// resolved config.Config into options for the platform mechanisms (nsexec on
// Linux, seatbelt on macOS) and runs the command.
//
// A program that embeds fence resolves a config, describes the command in a
// Spec and calls Run:
//
//	cfg, _, err := config.Resolve(config.LoadOptions{Template: "code"})
//	if err != nil { ... }
//	code, err := fence.Run(&fence.Spec{Config: cfg, Args: []string{"npm", "test"}})
//
// Plan shows what Run would do (mounts, guards, listeners) without running
// anything. A binary that calls Run must dispatch the init stage (see
// nsexec.IsInit): the sandbox is the same binary re-executed. From main
// works; from a package init function that imports little more than nsexec
// (as cmd/fence/internal/stage does) the init stage also skips initialising
// the rest of the program.
//
// The mechanism packages never see the config schema, and this package holds
// no mechanism of its own: path expansion, protected-path lists and command
// construction live here, namespaces, mounts and filters do not.
package fence

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/nsfence/fence/config"
	"github.com/nsfence/fence/nsexec"
)

// Spec is one command to run under a policy.
type Spec struct {
	// Config is the resolved policy. nil means config.Default().
	Config *config.Config
	// Sources are the files and templates Config was resolved from
	// (config.Resolve), if known: errors about its values then name the
	// files they came from.
	Sources []config.Source
	// Args is the command as argv (fence -- cmd args...).
	Args []string
	// Command is a shell string (fence -c "..."); it wins over Args.
	Command string
	// Shell is "default" (bash from PATH) or "user" ($SHELL, validated).
	Shell string
	// ShellLogin runs the shell with -lc instead of -c.
	ShellLogin bool
	// Cwd and Home default to the process's working and home directories.
	Cwd, Home string
	// OwnCwd says that Cwd is the process's own working directory, as it
	// is when Cwd is empty (cmd/fence sets it): fence then refuses to run
	// when the path no longer leads to that directory, as the plan
	// resolves it or as the sandbox shows it. Another user who can change
	// a directory on the way (one of theirs in /tmp) could otherwise swap
	// it for a symlink to your home while fence starts, and allowWrite "."
	// would make your home writable.
	OwnCwd bool
	// Env defaults to os.Environ(); fence sanitises it either way.
	Env []string
	// Stdin, Stdout and Stderr of the command; nil means the calling
	// process's own. They are passed as they are: the command reads and
	// writes them directly (use os.Pipe to capture output).
	Stdin, Stdout, Stderr *os.File
	// PolicyFiles are the config files that decide this policy
	// (config.PolicyFiles): they stay read-only, and uncreatable, inside.
	PolicyFiles []string
	// PolicyMarkers are the paths whose existence decides which of those
	// files apply (config.PolicyMarkers: the .git entries that end the
	// search for a project fence.json). Inside, they can be neither
	// created, removed nor replaced, but stay writable: a repository's
	// .git is written by every commit.
	PolicyMarkers []string
	// Ports are exposed from the sandbox on the host's 127.0.0.1 (-p).
	Ports []int
	// Debug and Monitor are the -d and -m flags.
	Debug, Monitor bool
	// Log receives debug lines; nil writes them to stderr.
	Log io.Writer
	// Pending is an init stage spawned ahead of time (nsexec.Spawn) so its
	// start overlaps with config loading; Run uses it if it fits, and
	// aborts it otherwise. Run takes ownership.
	Pending *nsexec.Pending
	// PassPipes passes the anonymous pipes this process inherited (its
	// descriptors above 2 without close-on-exec: a shell's process
	// substitution, make's jobserver) on to the command at the same
	// numbers, as a shell would, and closes them here once passed. No
	// other inherited descriptor reaches the command: a file, directory,
	// socket or device would reach past the policy. On Linux; cmd/fence
	// sets it.
	PassPipes bool
	// OwnSignals lets Run replace the handlers of the signals it forwards
	// while the command runs (nsexec/sigfwd), as the CLI does: cheaper than
	// os/signal, whose first use starts three threads, but a signal.Notify
	// of the calling program's own for those signals hears nothing
	// meanwhile. Without it Run uses os/signal.
	OwnSignals bool

	// Timeline, if set, receives one line per start-up stage with its
	// monotonic offset from StartMono (nsexec.Now at process start).
	Timeline  io.Writer
	StartMono int64
	// Marks are stages of the caller's own (config loaded, ...) for the
	// timeline; Run adds its own.
	Marks []nsexec.Stage

	paths    resolver         // symlink resolution for the current plan
	ssh      *sshConfigFiles  // what the user's ssh config names, for the current plan
	children *[]string        // the repositories below the working directory (childRepos)
	git      *foundGit        // the working directory's repository (findGit), for the current plan
	childErr error            // why childRepos could not list them all
	created  *[]createdEntry  // the record of created files, read once by the current plan (readCreated)
	cacheEnv []string         // the tools' own caches for the command (toolCacheEnv), set by the current plan
	procs    chan procsResult // foreignProcs read beside planFS
	killedBy syscall.Signal   // see KilledBy
	// lateNoExec: the plan leaves the lookups of denied programs to
	// Options.NoExecLater (Run: they overlap PID 1's mounts).
	lateNoExec bool
}

// KilledBy returns, after Run, the signal that killed the command, or 0 if
// it exited. Run's exit code is 128+n for signal n either way; a caller
// that is a command-line tool can die by the same signal once it has
// cleaned up (the CLI does), so that a shell running it in a loop stops on
// ^C as it would for the command itself.
func (s *Spec) KilledBy() syscall.Signal { return s.killedBy }

// mark records a timeline stage if a timeline was asked for.
func (s *Spec) mark(name string) {
	if s.Timeline != nil {
		s.Marks = append(s.Marks, nsexec.Stage{Name: name, Mono: nsexec.Now()})
	}
}

// takePending returns and clears s.Pending.
func (s *Spec) takePending() *nsexec.Pending {
	pd := s.Pending
	s.Pending = nil
	return pd
}

// Abort releases a pending init stage that Run did not consume (e.g. the
// config failed to load).
func (s *Spec) Abort() {
	if pd := s.takePending(); pd != nil {
		pd.Abort()
	}
}

// ErrNoCommand is returned when Spec names no command.
var ErrNoCommand = errors.New("no command specified. Use -c <command> or provide command arguments")

func (s *Spec) logf(format string, a ...any) {
	if s.Debug {
		fmt.Fprintf(s.stderr(), "[fence] "+format+"\n", a...)
	}
}

// stderr is where fence's own messages go.
func (s *Spec) stderr() io.Writer {
	if s.Log != nil {
		return s.Log
	}
	// Not os.Stderr: a warning to a closed stderr would kill fence by
	// SIGPIPE before the command ran.
	return nsexec.RawStderr{}
}

// validShells are the basenames --shell user accepts, as upstream.
var validShells = map[string]bool{"sh": true, "bash": true, "zsh": true, "ksh": true, "dash": true, "fish": true}

// resolveShell returns the shell binary for s.Shell.
func resolveShell(mode string, env []string) (string, error) {
	switch mode {
	case "", "default":
		if !hasEnv(env, "PATH") {
			for _, dir := range filepath.SplitList(nsexec.BashDefaultPath) {
				if p := filepath.Join(dir, "bash"); dir != "." && isExecutable(p) {
					return p, nil
				}
			}
			return "", fmt.Errorf("bash not found in bash's default PATH (PATH is unset); set PATH, install bash or use --shell user")
		}
		p, err := exec.LookPath("bash")
		if err != nil {
			return "", fmt.Errorf("bash not found in PATH; install bash or use --shell user")
		}
		return p, nil
	case "user":
		sh := getenv(env, "SHELL")
		if sh == "" || !filepath.IsAbs(sh) {
			return "", fmt.Errorf("invalid shell options: $SHELL must be an absolute path (got %q)", sh)
		}
		if !validShells[filepath.Base(sh)] {
			return "", fmt.Errorf("invalid shell options: unsupported shell %q (expected one of sh, bash, zsh, ksh, dash, fish)", sh)
		}
		st, err := os.Stat(sh)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("invalid shell options: $SHELL %q is not an executable file", sh)
		}
		return sh, nil
	}
	return "", fmt.Errorf("invalid shell options: invalid shell mode %q (expected \"default\" or \"user\")", mode)
}

// shellOnly are the names bash runs itself, whatever PATH holds: its
// builtins and the keywords that stay keywords unquoted (ShellQuote quotes
// "!", "{", "}", "[[", "]]" and "(("). Some have an executable of the same
// name that behaves otherwise: /usr/bin/time's report is not the time
// keyword's, /bin/pwd prints the physical directory where the builtin
// prints $PWD, /usr/bin/printf has no -v or %(...)T, and test has no -v.
// The exceptions, exec'd directly as they behave the same, are in
// sameAsBuiltin.
var shellOnly = map[string]bool{
	"cd": true, "source": true, ".": true, "export": true, "alias": true, "unset": true,
	"set": true, "eval": true, "exit": true, "ulimit": true, "umask": true, "type": true,
	"hash": true, "builtin": true, "declare": true, "typeset": true, "local": true,
	"readonly": true, "shopt": true, "trap": true, "wait": true, "jobs": true, "fg": true,
	"bg": true, "disown": true, "history": true, "if": true, "for": true, "while": true,
	"until": true, "case": true, "function": true, "{": true, "[[": true, "((": true,
	"exec": true, "command": true, "let": true, "read": true, "mapfile": true,
	"readarray": true, "pushd": true, "popd": true, "dirs": true, "times": true,
	"caller": true, "compgen": true, "complete": true, "enable": true, "help": true,
	"logout": true, "return": true, "shift": true, "suspend": true, "getopts": true,
	":": true, "bind": true, "break": true, "continue": true, "compopt": true, "fc": true,
	"unalias": true, "kill": true, "printf": true, "pwd": true, "test": true, "[": true,
	"time": true, "coproc": true, "select": true, "then": true, "else": true, "elif": true,
	"fi": true, "esac": true, "do": true, "done": true, "in": true,
	"echo": true, "true": true, "false": true,
}

// sameAsBuiltin reports whether the executable named by args[0], a bash
// builtin, does what the builtin would with args: echo, true and false
// alike, except that GNU's answer a lone --help or --version (the builtins
// print or ignore it), and GNU echo, under POSIXLY_CORRECT, prints the
// options it would otherwise take.
func sameAsBuiltin(args, env []string) bool {
	switch args[0] {
	case "echo", "true", "false":
	default:
		return false
	}
	if len(args) == 2 && (args[1] == "--help" || args[1] == "--version") {
		return false
	}
	return args[0] != "echo" || !hasEnv(env, "POSIXLY_CORRECT")
}

// argv decides what the init stage executes. A plain argv whose program is
// an executable is exec'd directly: the same behaviour as `bash -c` with the
// args quoted (bash execs a lone simple command), without a shell start.
// Anything else goes through the shell, as upstream does: a builtin or a
// keyword (see shellOnly), a function the environment exports to bash
// (BASH_FUNC_name%%, which `bash -c` runs instead of the program), leading
// assignments.
func (s *Spec) argv(env []string) (path string, args []string, err error) {
	if s.Command == "" && len(s.Args) == 0 {
		return "", nil, ErrNoCommand
	}
	if s.Command == "" && s.Shell != "user" && !s.ShellLogin && (!shellOnly[s.Args[0]] || sameAsBuiltin(s.Args, env)) &&
		!assignment(s.Args[0]) && !hasEnv(env, "BASH_FUNC_"+s.Args[0]+"%%") {
		return s.Args[0], s.Args, nil
	}
	sh, err := resolveShell(s.Shell, env)
	if err != nil {
		return "", nil, err
	}
	cmd := s.commandLine()
	flag := "-c"
	if s.ShellLogin {
		flag = "-lc"
	}
	return sh, []string{sh, flag, cmd}, nil
}

// commandLine is the command as one shell string: -c's, or the arguments
// quoted. Leading NAME=value words stay assignments for the command, as
// upstream's quoting leaves them (fence -- NODE_ENV=test npm test); their
// values are quoted.
func (s *Spec) commandLine() string {
	if s.Command != "" {
		return s.Command
	}
	var words []string
	args := s.Args
	for len(args) > 0 && assignment(args[0]) {
		name, value, _ := strings.Cut(args[0], "=")
		words = append(words, name+"="+ShellQuote([]string{value}))
		args = args[1:]
	}
	if len(args) > 0 {
		words = append(words, ShellQuote(args))
	}
	return strings.Join(words, " ")
}

// assignment reports whether arg is a shell variable assignment
// (NAME=value), which a shell applies to the command that follows.
func assignment(arg string) bool {
	name, _, ok := strings.Cut(arg, "=")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ShellQuote joins args into one shell string, single-quoting each argument
// that needs it (upstream's rule: whitespace, quotes, and shell
// metacharacters, or empty).
func ShellQuote(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n\"'\\$`!*?[](){}<>|&;#~=%") && !hasControl(a) {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

// hasControl reports whether s has an ASCII control character, which some
// shells treat as a separator: quoting it is always safe.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// hasEnv reports whether env sets key, if only to "".
func hasEnv(env []string, key string) bool {
	return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
}

// isExecutable reports whether p is a file (not a directory) with an
// execute bit.
func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// SanitizeEnv removes LD_* and DYLD_* (dynamic loader injection) and any
// inherited FENCE_SANDBOX, then marks the environment as sandboxed. It
// returns the names it stripped.
func SanitizeEnv(env []string) (out []string, stripped []string) {
	out = make([]string, 0, len(env)+1)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LD_") || strings.HasPrefix(k, "DYLD_") {
			stripped = append(stripped, k)
			continue
		}
		if k == "FENCE_SANDBOX" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "FENCE_SANDBOX=1"), stripped
}

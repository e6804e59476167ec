package config

import (
	"slices"
	"strconv"
	"strings"
)

// isShellName reports whether name is a shell whose -c string preflight
// parses and checks.
func isShellName(name string) bool {
	switch name {
	case "sh", "bash", "zsh", "ksh", "dash", "fish", "ash", "mksh", "yash", "rbash", "pdksh", "csh", "tcsh":
		return true
	}
	return false
}

// isDynamic reports whether a word is a runtime value ($SHELL, $(which sh)),
// which might be a shell.
func isDynamic(word string) bool {
	return strings.ContainsAny(word, "$`")
}

// shellScriptIndex finds the command string of `sh -c STRING` (any shell of
// shellNames by basename, flags such as -lc, -ec or `-o pipefail -c`, and
// fish's --command). It returns the index of STRING in argv. A program name
// that is a runtime value ("$SHELL") counts as a shell, so
// `"$SHELL" -c 'git push'` is checked too.
func shellScriptIndex(argv []string) (int, bool) {
	if len(argv) < 2 || !isShellName(baseName(argv[0])) && !isDynamic(argv[0]) {
		return 0, false
	}
	cflag := false
	i := 1
scan:
	for ; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--" || a == "-":
			i++
			break scan
		case strings.HasPrefix(a, "--"):
			name, _, hasVal := strings.Cut(a[2:], "=")
			switch name {
			case "command": // fish --command STRING
				if hasVal {
					return -1, false // the value is inside the token; see shellScript
				}
				return i + 1, i+1 < len(argv)
			case "rcfile", "init-file", "init-command":
				if !hasVal {
					i++
				}
			}
		case len(a) > 1 && (a[0] == '-' || a[0] == '+'):
			if a[0] == '-' && strings.ContainsRune(a[1:], 'c') {
				cflag = true
			}
			if strings.ContainsAny(a[1:], "oO") {
				i++ // -o OPTION, -O SHOPT
			}
		default:
			break scan
		}
	}
	if cflag && i < len(argv) {
		return i, true
	}
	return 0, false
}

// shellScript returns the command string of a `sh -c STRING` argv.
func shellScript(argv []string) (string, bool) {
	for _, a := range argv[1:] {
		if v, ok := strings.CutPrefix(a, "--command="); ok && isShellName(baseName(argv[0])) {
			return v, true
		}
	}
	i, ok := shellScriptIndex(argv)
	if !ok {
		return "", false
	}
	return argv[i], true
}

// readsStdin reports whether argv is a shell that reads its script from
// standard input (no -c string and no script file operand, -s, or a script
// file that is standard input), or source/. of standard input.
func readsStdin(argv []string) bool {
	_, stdin := scriptSource(argv)
	return stdin
}

// scriptSource returns the script file a shell or source (.) reads, and
// whether that script is standard input: a shell without a -c string and
// without a file operand, one with -s or "-", or a file operand naming
// standard input (/dev/stdin, /dev/fd/0). file is "" when there is none.
func scriptSource(argv []string) (file string, stdin bool) {
	name := baseName(argv[0])
	if name == "source" || name == "." {
		args := argv[1:]
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		if len(args) == 0 {
			return "", false
		}
		return args[0], isStdinPath(args[0])
	}
	if !isShellName(name) {
		return "", false
	}
	if _, ok := shellScriptIndex(argv); ok {
		return "", false
	}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--" || a == "-":
			if i+1 == len(argv) {
				return "", true
			}
			return argv[i+1], isStdinPath(argv[i+1])
		case strings.HasPrefix(a, "--"):
			switch a {
			case "--rcfile", "--init-file", "--init-command":
				i++
			}
		case len(a) > 1 && a[0] == '-' && strings.ContainsRune(a[1:], 's'):
			return "", true
		case len(a) > 1 && (a[0] == '-' || a[0] == '+'):
			if strings.ContainsAny(a[1:], "oO") {
				i++
			}
		default:
			return a, isStdinPath(a)
		}
	}
	return "", true
}

// isStdinPath reports whether a script path names standard input.
func isStdinPath(p string) bool {
	switch p {
	case "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/proc/thread-self/fd/0":
		return true
	}
	return false
}

// unwrap returns the command a wrapper program would run, or nil if argv is
// not a known wrapper or names no command. Wrappers: command, builtin, exec,
// nohup, time, nice, env, xargs, timeout, setsid, stdbuf, ionice, busybox,
// watch, flock, taskset, chrt, setpriv, prlimit, dbus-run-session, script
// -c, npx, npm exec (npm x), bunx, pnpm dlx|exec and yarn dlx|exec.
func unwrap(argv []string) []string {
	if len(argv) < 2 {
		return nil
	}
	args := argv[1:]
	var rest []string
	switch baseName(argv[0]) {
	case "command":
		// command -v and -V (-pv too) only say what a name is; they run
		// nothing (`command -v sudo >/dev/null && ...` in install scripts).
		if describesOnly(args) {
			return nil
		}
		rest = skipOptions(args, nil, nil)
	case "builtin":
		rest = skipOptions(args, nil, nil)
	case "exec":
		rest = skipOptions(args, []string{"-a"}, nil)
	case "nohup", "busybox":
		rest = skipOptions(args, nil, nil)
	case "time":
		rest = skipOptions(args, []string{"-o", "-f"}, []string{"--output", "--format"})
	case "nice":
		rest = skipOptions(args, []string{"-n"}, []string{"--adjustment"})
	case "setsid":
		rest = skipOptions(args, nil, nil)
	case "stdbuf":
		rest = skipOptions(args, []string{"-i", "-o", "-e"}, []string{"--input", "--output", "--error"})
	case "ionice":
		rest = skipOptions(args, []string{"-c", "-n", "-p", "-P", "-u"}, []string{"--class", "--classdata", "--pid", "--pgid", "--uid"})
	case "timeout":
		rest = afterOperand(skipOptions(args, []string{"-k", "-s"}, []string{"--kill-after", "--signal"})) // the duration
	case "env":
		rest = unwrapEnv(args)
	case "watch":
		rest = unwrapWatch(args)
	case "flock":
		// flock [options] file|dir command... or flock ... file -c "cmd";
		// a lone fd number names no command.
		rest = afterOperand(skipOptions(args, []string{"-w", "-E"}, []string{"--timeout", "--conflict-exit-code"}))
		if len(rest) > 0 && (rest[0] == "-c" || rest[0] == "--command") {
			if len(rest) > 1 {
				return []string{"sh", "-c", rest[1]}
			}
			return nil
		}
	case "taskset":
		// taskset [options] mask command... (-p works on a pid instead)
		rest = afterOperand(skipOptions(args, nil, nil))
	case "chrt":
		// chrt [options] priority command... (-p works on a pid instead)
		rest = afterOperand(skipOptions(args, []string{"-T", "-P", "-D"}, []string{"--sched-runtime", "--sched-period", "--sched-deadline"}))
	case "xargs":
		// -e, -i and -l take an optional value, only in the same word
		// (-iI is -i with the replace string "I", not -I).
		rest = skipOptions(args, []string{"-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s"},
			[]string{"--arg-file", "--delimiter", "--max-args", "--max-procs", "--max-chars", "--process-slot-var"},
			"-e", "-i", "-l")
	case "setpriv":
		rest = skipOptions(args, nil, []string{"--reuid", "--regid", "--ruid", "--euid", "--rgid", "--egid",
			"--groups", "--inh-caps", "--ambient-caps", "--bounding-set", "--securebits", "--pdeathsig",
			"--selinux-label", "--apparmor-profile", "--landlock-access", "--landlock-rule"})
	case "prlimit":
		// Limits are attached (--nofile=N, -n1024); -p works on a pid.
		rest = skipOptions(args, []string{"-p", "-o"}, []string{"--pid", "--output"})
	case "dbus-run-session":
		rest = skipOptions(args, nil, []string{"--config-file", "--dbus-daemon"})
	case "script":
		// script [options] [file]: only -c runs a command, through a shell.
		return shellOption(args, []string{"-c"}, []string{"--command"},
			[]string{"-E", "-I", "-O", "-B", "-T", "-m", "-o"},
			[]string{"--echo", "--log-in", "--log-out", "--log-io", "--log-timing", "--logging-format", "--output-limit"})
	case "npx":
		return unwrapNpx(args, true)
	case "npm":
		if len(args) > 0 && (args[0] == "exec" || args[0] == "x") {
			// npm's own -p is --parseable (npx alone reads it as
			// --package): npm exec -p git push runs git push.
			return unwrapNpx(args[1:], false)
		}
		return nil
	case "bunx":
		return unwrapNpx(args, true)
	case "pnpm", "yarn":
		// pnpm dlx|exec and yarn dlx|exec run a package's command, or
		// one of the project's: the words after their own options.
		if len(args) > 0 && (args[0] == "dlx" || args[0] == "exec") {
			return unwrapNpx(args[1:], true)
		}
		return nil
	default:
		return nil
	}
	if len(rest) == 0 {
		return nil
	}
	return rest
}

// shellOption returns `sh -c CMD` for the value of the option in short
// (one letter, as "-c") or long among args (script -c CMD, npx -c CMD), or
// nil; valShort and valLong are the other options that take a value. A
// cluster of short options (-qc CMD) is read letter by letter: the first
// that takes a value takes the rest of the cluster, or the next argument.
func shellOption(args, short, long, valShort, valLong []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return nil
		case strings.HasPrefix(a, "--"):
			for _, l := range long {
				if v, ok := strings.CutPrefix(a, l+"="); ok {
					return []string{"sh", "-c", v}
				}
				if a == l {
					if i+1 < len(args) {
						return []string{"sh", "-c", args[i+1]}
					}
					return nil
				}
			}
			if contains(valLong, a) {
				i++
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				opt := "-" + a[j:j+1]
				if !contains(short, opt) && !contains(valShort, opt) {
					continue
				}
				val, next, ok := clusterValue(args, i, j)
				if !ok {
					return nil
				}
				i = next
				if contains(short, opt) {
					return []string{"sh", "-c", val}
				}
				break
			}
		}
	}
	return nil
}

// clusterValue returns the value of the short option at byte j of the
// cluster args[i] (-uNAME, -iu NAME): the rest of the cluster, or else the
// next argument, and the index of the last argument it used; ok is false
// when the value is missing.
func clusterValue(args []string, i, j int) (val string, last int, ok bool) {
	if val = args[i][j+1:]; val != "" {
		return val, i, true
	}
	if i+1 >= len(args) {
		return "", i, false
	}
	return args[i+1], i + 1, true
}

// unwrapNpx returns what npx (or npm exec) runs: the -c/--call string as
// a shell command, or the package's command and its arguments (npx npm
// publish runs npm publish). pPackage says -p is --package (npx, bunx,
// yarn and pnpm), not npm's own -p, --parseable, which takes no value.
func unwrapNpx(args []string, pPackage bool) []string {
	var short, long []string
	for _, o := range npmValueOptions {
		if o == "-p" && !pPackage {
			continue
		}
		if strings.HasPrefix(o, "--") {
			long = append(long, o)
		} else {
			short = append(short, o)
		}
	}
	rest := skipOptions(args, short, long)
	// npx's own options end at the package: a -c after it is the
	// package's.
	valShort := []string{"-w"}
	if pPackage {
		valShort = append(valShort, "-p")
	}
	if r := shellOption(args[:len(args)-len(rest)], []string{"-c"}, []string{"--call"}, valShort, []string{"--package", "--workspace"}); r != nil {
		return r
	}
	if len(rest) == 0 {
		return nil
	}
	// A package spec names its command without the version (eslint@8).
	if i := strings.LastIndexByte(rest[0], '@'); i > 0 {
		rest = append([]string{rest[0][:i]}, rest[1:]...)
	}
	return rest
}

// gitCommandLineAlias returns what git runs when its subcommand is an alias
// defined on the command line (git -c alias.p=push p, git -c
// 'alias.p=!git push' p): the argv with the alias replaced by its value,
// or the shell command of a "!" alias. ok is false when there is none.
func gitCommandLineAlias(argv []string) (run []string, script string, ok bool) {
	aliases := map[string]string{}
	i := 1
	for ; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-c" || a == "-C" || a == "--config-env" || a == "--git-dir" || a == "--work-tree" ||
			a == "--namespace" || a == "--exec-path" || a == "--super-prefix" || a == "--list-cmds" || a == "--attr-source":
			if i+1 >= len(argv) {
				return nil, "", false
			}
			if a == "-c" {
				// Names are case-insensitive: git -c alias.P=push p
				// runs git push, and so does git -c alias.p=push P.
				if k, v, found := strings.Cut(argv[i+1], "="); found && strings.HasPrefix(strings.ToLower(k), "alias.") {
					aliases[strings.ToLower(k[len("alias."):])] = v
				}
			}
			i++
			continue
		case strings.HasPrefix(a, "-"):
			continue
		}
		break
	}
	if i >= len(argv) {
		return nil, "", false
	}
	v, found := aliases[strings.ToLower(argv[i])]
	if !found {
		return nil, "", false
	}
	if sh, bang := strings.CutPrefix(v, "!"); bang {
		return nil, sh, true
	}
	run = append(append(append([]string{}, argv[:i]...), strings.Fields(v)...), argv[i+1:]...)
	return run, "", true
}

// afterOperand drops the wrapper's first operand (timeout's duration,
// flock's file, taskset's mask, chrt's priority) from args.
func afterOperand(args []string) []string {
	if len(args) < 2 {
		return nil
	}
	return args[1:]
}

// unwrapWatch returns what watch runs: its arguments joined into one
// `sh -c` string, or with -x (--exec) the arguments themselves.
func unwrapWatch(args []string) []string {
	exec := false
	i := 0
loop:
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			i++
			break loop
		case a == "--exec":
			exec = true
		case strings.HasPrefix(a, "--"):
			if !strings.Contains(a, "=") && contains([]string{"--interval", "--equexit", "--shotsfile"}, a) {
				i++
			}
		case len(a) > 1 && a[0] == '-':
			// A cluster of short flags: -n, -q and -s take a value (the
			// rest of the cluster, or the next argument); -d an optional
			// attached one.
		cluster:
			for j := 1; j < len(a); j++ {
				switch a[j] {
				case 'x':
					exec = true
				case 'n', 'q', 's':
					if j == len(a)-1 {
						i++
					}
					break cluster
				case 'd':
					break cluster
				}
			}
		default:
			break loop
		}
	}
	if i >= len(args) {
		return nil
	}
	if exec {
		return args[i:]
	}
	return []string{"sh", "-c", strings.Join(args[i:], " ")}
}

// describesOnly reports whether the options of `command` (args, after the
// word command) include -v or -V, with which it runs nothing: it prints how
// the shell would resolve the names that follow.
func describesOnly(args []string) bool {
	for _, a := range args {
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return false
		}
		if strings.ContainsAny(a[1:], "vV") {
			return true
		}
	}
	return false
}

// skipOptions drops leading options: any "-x" or "--long[=v]" token, the
// next token too for the listed short and long options that take a value
// as a separate argument, and a closing "--". The short options in
// shortOptArg take an optional value: the rest of their cluster, never
// the next token.
func skipOptions(args, shortWithArg, longWithArg []string, shortOptArg ...string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return args[i+1:]
		case strings.HasPrefix(a, "--"):
			if !strings.Contains(a, "=") && contains(longWithArg, a) {
				i++
			}
		case len(a) > 1 && a[0] == '-':
			// A cluster of short options (-vs KILL, -tn 1): the first
			// one that takes a value takes the rest of the cluster, or,
			// when it ends the cluster, the next argument (not an
			// optional value: -iI is -i with the value "I").
			for j := 1; j < len(a); j++ {
				if contains(shortOptArg, "-"+a[j:j+1]) {
					break
				}
				if contains(shortWithArg, "-"+a[j:j+1]) {
					if j == len(a)-1 {
						i++
					}
					break
				}
			}
		default:
			return args[i:]
		}
	}
	return nil
}

// unwrapEnv skips env's options and VAR=value assignments. -S/--split-string
// splits its argument into words, which then lead the command.
func unwrapEnv(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return skipAssignments(args[i+1:])
		case a == "-S" || a == "--split-string":
			if i+1 < len(args) {
				return append(strings.Fields(stripQuotes(args[i+1])), args[i+2:]...)
			}
			return nil
		case strings.HasPrefix(a, "--split-string="):
			return append(strings.Fields(stripQuotes(strings.TrimPrefix(a, "--split-string="))), args[i+1:]...)
		case strings.HasPrefix(a, "-S"):
			return append(strings.Fields(stripQuotes(a[2:])), args[i+1:]...)
		case a == "-u" || a == "-C" || a == "--unset" || a == "--chdir":
			i++
		case len(a) > 1 && a[0] == '-' && a[1] != '-':
			// A cluster of short options (-i, -0, -v, -uNAME, -iu NAME,
			// -iS 'cmd'): -u and -C take the rest of the cluster or the
			// next argument; so does -S, whose value leads the command.
			for j := 1; j < len(a); j++ {
				switch a[j] {
				case 'u', 'C', 'S':
					val, next, ok := clusterValue(args, i, j)
					if !ok {
						return nil
					}
					i = next
					if a[j] == 'S' {
						return append(strings.Fields(stripQuotes(val)), args[i+1:]...)
					}
				default:
					continue
				}
				break
			}
		case strings.HasPrefix(a, "-") && len(a) > 1, a == "-":
			// --unset=NAME, --ignore-environment, -, ...
		case isAssignment(a):
		default:
			return args[i:]
		}
	}
	return nil
}

func skipAssignments(args []string) []string {
	for len(args) > 0 && isAssignment(args[0]) {
		args = args[1:]
	}
	return args
}

// isAssignment reports whether s is NAME=value.
func isAssignment(s string) bool {
	name, _, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !(c == '_' || isASCIILetter(c) || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// findExec returns the commands of find's -exec, -execdir, -ok and -okdir
// actions (up to ";" or "+").
func findExec(argv []string) [][]string {
	var out [][]string
	for i := 1; i < len(argv); i++ {
		switch argv[i] {
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(argv) && argv[j] != ";" && argv[j] != "+" {
				j++
			}
			if j > i+1 {
				out = append(out, argv[i+1:j])
			}
			i = j
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// stripQuotes removes quote characters and backslashes, for the loose
// tokenization of unparseable input and of env -S strings.
func stripQuotes(s string) string {
	if !strings.ContainsAny(s, `'"\`) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\'' || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// isShellKeyword reports whether s starts or ends a compound command; the
// loose tokenizer skips these words.
func isShellKeyword(s string) bool {
	switch s {
	case "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "case", "esac",
		"for", "in", "select", "function", "time", "!", "{", "}", "[[", "]]", "coproc":
		return true
	}
	return false
}

// fallback handles input the parser rejects (unbalanced quotes, syntax of
// other shells). It errs towards checking too much: it splits at every
// shell operator character regardless of quoting, strips quotes, and
// checks every segment as a command, including what follows a shell's -c.
//
// An expansion ($X, ${X…}, $(…)) in such input is refused: the loose
// tokenizer cannot evaluate it, and bash can (X=push; git ${X::}push, which
// the parser rejects, runs git push).
func (ex *extractor) fallback(src string, depth int) {
	if strings.Contains(src, "$") && ex.tooDeep == "" {
		ex.tooDeep = src
		ex.tooDeepReason = "has a $ expansion in shell syntax preflight cannot parse, so it cannot tell what runs; write it in plain bash syntax"
	}
	for _, seg := range strings.FieldsFunc(src, func(r rune) bool {
		return strings.ContainsRune(";&|(){}`<>\n", r)
	}) {
		toks := strings.Fields(stripQuotes(seg))
		for len(toks) > 0 && (isShellKeyword(toks[0]) || isAssignment(toks[0])) {
			toks = toks[1:]
		}
		if len(toks) == 0 {
			continue
		}
		idx := len(ex.out)
		ex.out = append(ex.out, simpleCommand{text: strings.TrimSpace(seg), heads: [][]string{toks}})
		cur, n := toks, 0
		for ; len(cur) > 0 && n < maxUnwrap; cur, n = unwrap(cur), n+1 {
			ex.out[idx].argvs = append(ex.out[idx].argvs, cur)
			if i, ok := shellScriptIndex(cur); ok {
				// The string was split by the loose tokenizer: rejoin it.
				inner := strings.Join(cur[i:], " ")
				if ex.budget -= len(inner); depth+1 > maxShellDepth || ex.budget < 0 {
					if ex.tooDeep == "" {
						ex.tooDeep = seg
					}
				} else {
					ex.fallback(inner, depth+1)
				}
			}
			if baseName(cur[0]) == "find" {
				ex.out[idx].argvs = append(ex.out[idx].argvs, findExec(cur)...)
			}
		}
		if len(cur) > 0 {
			ex.tooManyWrappers(strings.TrimSpace(seg))
		}
	}
}

// maxXargsWords bounds the words of the commands xargsRuns builds; input
// that would make more is too complex for preflight (the command is
// blocked, as for too deep nesting).
const maxXargsWords = 1 << 14

// maxXargsBytes bounds the bytes of those commands likewise: with -I, a
// long argument repeats once per line of input.
const maxXargsBytes = 1 << 20

// xargsRuns returns the commands `xargs [options] [command [args]]` (argv)
// runs when it reads input, the text known to be on its standard input.
//
// This is how preflight sees `echo push | xargs git`: xargs appends the
// words it reads to its command, which then is `git push`. Input is only
// known when it is written in the command line (an echo or printf of
// literal words, a heredoc, a here-string, see stdinTexts); for any other
// input (`find . | xargs rm`) xargs' command is checked as written,
// without words appended, so that a rule "rm -rf" does not match it.
//
// Items are split as xargs splits them: on blanks and newlines with quotes
// and backslashes honoured, on NUL with -0, on a delimiter with -d, by
// lines with -I and -L; -E ends the input. -I replaces its string in the
// arguments by each line; -n and -L group the items; otherwise all are
// appended to one command. With -a (--arg-file) xargs does not read its
// standard input: there are no runs. ok is false when the commands would
// have more than maxXargsWords words or maxXargsBytes bytes in all.
func xargsRuns(argv []string, input string) (runs [][]string, ok bool) {
	var (
		delim     byte
		hasDelim  bool
		replace   string
		maxArgs   int
		maxLines  int
		eof       string
		hasEOF    bool
		badOption bool
	)
	atoi := func(s string) int {
		n, _ := strconv.Atoi(s)
		return max(n, 0)
	}
	i := 1
options:
	for ; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			i++
			break options
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			value := func() string {
				if !hasVal && i+1 < len(argv) {
					i++
					return argv[i]
				}
				return val
			}
			switch name {
			case "null":
				delim, hasDelim = 0, true
			case "delimiter":
				delim, hasDelim = xargsDelimiter(value())
				badOption = !hasDelim
			case "arg-file":
				return nil, true
			case "replace":
				replace = "{}"
				if hasVal {
					replace = val
				}
			case "max-args":
				maxArgs = atoi(value())
			case "max-lines":
				maxLines = 1
				if hasVal {
					maxLines = atoi(val)
				}
			case "eof":
				eof, hasEOF = val, hasVal
			case "max-procs", "max-chars", "process-slot-var":
				value()
			}
		case len(a) > 1 && a[0] == '-':
			// A cluster of short options; one that takes a value takes
			// the rest of the cluster, or the next argument.
		cluster:
			for j := 1; j < len(a); j++ {
				rest := a[j+1:]
				value := func() string {
					if rest == "" && i+1 < len(argv) {
						i++
						return argv[i]
					}
					return rest
				}
				switch a[j] {
				case '0':
					delim, hasDelim = 0, true
					continue
				case 'a':
					return nil, true
				case 'd':
					delim, hasDelim = xargsDelimiter(value())
					badOption = !hasDelim
				case 'E':
					eof, hasEOF = value(), true
				case 'e': // GNU's -e[EOF], optional value attached
					eof, hasEOF = rest, rest != ""
				case 'I':
					replace = value()
				case 'i': // GNU's -i[REPLACE]
					replace = "{}"
					if rest != "" {
						replace = rest
					}
				case 'L':
					maxLines = atoi(value())
				case 'l': // GNU's -l[MAX-LINES]
					maxLines = 1
					if rest != "" {
						maxLines = atoi(rest)
					}
				case 'n':
					maxArgs = atoi(value())
				case 'P', 's':
					value()
				default: // -t, -p, -r, -x, -o: no value
					continue
				}
				break cluster
			}
		default:
			break options
		}
	}
	if badOption {
		return nil, true // xargs refuses to run
	}
	cmd := argv[i:]
	if len(cmd) == 0 {
		cmd = []string{"echo"}
	}

	// Items, and with -I or -L the line each comes from.
	var items [][]string // per line (or one group of all words)
	switch {
	case hasDelim:
		parts := strings.Split(input, string(delim))
		if parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		for _, p := range parts {
			items = append(items, []string{p})
		}
		if replace == "" && maxLines == 0 {
			items = [][]string{slices.Concat(items...)}
		}
	case replace != "" || maxLines > 0:
		for _, line := range strings.Split(input, "\n") {
			words, end := xargsWords(line, eof, hasEOF)
			if replace != "" {
				// The whole line is one item, quotes removed.
				if len(words) > 0 {
					items = append(items, []string{strings.Join(words, " ")})
				}
			} else if len(words) > 0 {
				items = append(items, words)
			}
			if end {
				break
			}
		}
	default:
		words, _ := xargsWords(input, eof, hasEOF)
		items = [][]string{words}
	}

	total, bytes := 0, 0
	add := func(run []string) bool {
		for _, w := range run {
			bytes += len(w)
		}
		if total += len(run); total > maxXargsWords || bytes > maxXargsBytes {
			return false
		}
		runs = append(runs, run)
		return true
	}
	switch {
	case replace != "":
		for _, it := range items {
			run := make([]string, len(cmd))
			for k, c := range cmd {
				run[k] = strings.ReplaceAll(c, replace, it[0])
			}
			if !add(run) {
				return nil, false
			}
		}
	case maxLines > 0:
		for len(items) > 0 {
			n := min(maxLines, len(items))
			if !add(slices.Concat(append([][]string{cmd}, items[:n]...)...)) {
				return nil, false
			}
			items = items[n:]
		}
	default:
		words := slices.Concat(items...)
		if maxArgs == 0 {
			maxArgs = len(words)
		}
		for len(words) > 0 {
			n := min(maxArgs, len(words))
			if !add(slices.Concat(cmd, words[:n])) {
				return nil, false
			}
			words = words[n:]
		}
	}
	return runs, true
}

// xargsDelimiter decodes the value of xargs -d: one character, or a
// backslash escape (\n, \t, \0, \\, \NNN octal, \xHH).
func xargsDelimiter(s string) (byte, bool) {
	if len(s) == 1 {
		return s[0], true
	}
	if len(s) < 2 || s[0] != '\\' {
		return 0, false
	}
	if s[1] >= '0' && s[1] <= '7' {
		n, err := strconv.ParseUint(s[1:], 8, 8)
		return byte(n), err == nil
	}
	var b strings.Builder
	if n := decodeEscape(&b, s, 1); n != len(s)-1 || b.Len() != 1 {
		return 0, false
	}
	return b.String()[0], true
}

// xargsWords splits xargs' default input into words: blanks and newlines
// separate them, single and double quotes and backslashes quote. A word
// equal to eof (when hasEOF) ends the input: end is then true.
func xargsWords(s, eof string, hasEOF bool) (words []string, end bool) {
	var cur strings.Builder
	inWord := false
	var quote byte
	flush := func() bool {
		if !inWord {
			return false
		}
		w := cur.String()
		cur.Reset()
		inWord = false
		if hasEOF && w == eof {
			return true
		}
		words = append(words, w)
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if flush() {
				return words, true
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if flush() {
		return words, true
	}
	return words, false
}

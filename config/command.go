package config

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// rule is a compiled command rule. Compiling is cheap: only the program
// name is extracted up front; the rest is tokenized the first time a
// command with that program name is checked against the rule.
type rule struct {
	text   string
	first  string   // base name of the program
	tokens []string // all tokens, tokens[0] == first; nil until needed
	// canon is tokens spelled canonically (ruleCanonical), or nil when
	// that is tokens: a rule matches in either spelling.
	canon []string
}

// tokenize fills in r.tokens and r.canon.
func (r *rule) tokenize() {
	if r.tokens == nil {
		r.tokens = tokenizeRule(r.text)
		r.tokens[0] = r.first
	}
	r.canon = ruleCanonical(r.tokens)
}

// ruleCanonical is a rule's tokens spelled canonically, or nil: a rule
// that names npm's command by an alias (npm run, npm i) matches its
// other spellings (npm run-script, npm install) too.
func ruleCanonical(toks []string) []string {
	if c := dockerCanonical(toks); c != nil {
		return c
	}
	return npmCanonical(toks)
}

// compileRules prepares rules for matching. The result is for one
// goroutine: matching fills in tokens lazily.
func compileRules(list []string) []rule {
	out := make([]rule, 0, len(list))
	for _, r := range list {
		t := strings.TrimSpace(r)
		if t == "" {
			continue
		}
		if strings.ContainsAny(t, `'"`) {
			toks := tokenizeRule(t)
			if len(toks) == 0 {
				continue
			}
			toks[0] = baseName(toks[0])
			out = append(out, rule{text: r, first: toks[0], tokens: toks, canon: ruleCanonical(toks)})
			continue
		}
		first := t
		if i := strings.IndexAny(t, " \t\n\r"); i >= 0 {
			first = t[:i]
		}
		out = append(out, rule{text: r, first: baseName(first)})
	}
	return out
}

// tokenizeRule splits a rule on blanks, honouring single and double quotes
// (quotes removed), like upstream's tokenizer.
func tokenizeRule(s string) []string {
	if !strings.ContainsAny(s, `'"`) {
		return strings.Fields(s)
	}
	var toks []string
	var cur strings.Builder
	inTok := false
	var quote byte
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
			quote, inTok = c, true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inTok {
				toks = append(toks, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteByte(c)
			inTok = true
		}
	}
	if inTok {
		toks = append(toks, cur.String())
	}
	return toks
}

// matches reports whether argv (argv[0] already a base name) is covered by r.
//
// The program name must be equal. The rule's other tokens must follow in
// order, on word boundaries ("git push" does not match "git pushall"), with
// these refinements over upstream's plain prefix test:
//   - before the rule's first subcommand-like token, leading options of the
//     command are skipped, so "git push" also matches "git -C dir push" and
//     "git --no-pager push" (upstream misses these);
//   - after that subcommand, a rule option (a token starting with "-",
//     with the non-option tokens after it as its values) may come after
//     other options, so the default "docker run --privileged" matches
//     "docker run --rm --privileged" and "git push --force" matches
//     "git push -u origin --force"; other tokens stay adjacent;
//   - a rule token ending in "=" matches any later argument that starts with
//     it, so the default "dd if=" matches "dd if=/dev/zero of=x" and
//     "dd of=x if=/dev/zero" (upstream's prefix test never matched it);
//   - a rule token that is a mapping ending in "/" (it has a ":" before the
//     final "/") matches an argument that starts with it, so the default
//     "docker run -v /:/" matches "docker run -v /:/host" (and not
//     "-v /etc:/host"). A plain path such as "/" or "/etc/" is still
//     matched whole: "rm -rf /" does not match "rm -rf /tmp".
//
// Docker's spellings of a volume (--volume, -v=, --mount) are made one by
// dockerCanonical, for the command (see commandPolicy.check) and the rule
// alike: a rule matches when its tokens as written or canonical do.
func (r *rule) matches(argv []string) bool {
	if len(argv) == 0 || argv[0] != r.first {
		return false
	}
	if r.tokens == nil {
		r.tokenize()
	}
	return matchTokens(r.tokens[1:], argv) || r.canon != nil && matchTokens(r.canon[1:], argv)
}

// matchTokens reports whether argv matches a rule's tokens after the
// program name, as described at rule.matches.
func matchTokens(toks, argv []string) bool {
	pos := 1
	leading := true
	for k := 0; k < len(toks); k++ {
		want := toks[k]
		if isPresenceToken(want) {
			found := false
			for _, got := range argv[pos:] {
				if strings.HasPrefix(got, want) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
			continue
		}
		if !leading && strings.HasPrefix(want, "-") {
			end := k + 1
			for end < len(toks) && !strings.HasPrefix(toks[end], "-") && !isPresenceToken(toks[end]) {
				end++
			}
			p, ok := findOptionGroup(argv, pos, toks[k:end])
			if !ok {
				return false
			}
			pos = p + end - k
			k = end - 1
			continue
		}
		if leading && isSubcommandToken(want) {
			pos = skipLeadingOptions(argv, pos, want)
			leading = false
		}
		if pos >= len(argv) || !tokenMatches(want, argv[pos]) {
			return false
		}
		pos++
	}
	return true
}

// isPresenceToken reports whether a rule token ends in "=" (dd's "if="),
// which matches any later argument that starts with it.
func isPresenceToken(t string) bool {
	return len(t) > 1 && strings.HasSuffix(t, "=")
}

// tokenMatches reports whether the argument got matches the rule token
// want: equal, or starting with want when want is a mapping ending in "/"
// (see matches).
func tokenMatches(want, got string) bool {
	if want == got {
		return true
	}
	return len(want) > 1 && strings.HasSuffix(want, "/") && strings.Contains(want, ":") && strings.HasPrefix(got, want)
}

// findOptionGroup returns the position from pos on where the rule tokens
// group (an option and its values) match argv, skipping other options and
// what looks like their values on the way: "-x" and "--long" take the next
// argument when it does not start with "-". It stops at "--" and at the
// first argument that is not an option. The earliest match is the right
// one: what follows a group in a rule is another group or an "=" token,
// which both search onwards, so they have the most arguments left.
func findOptionGroup(argv []string, pos int, group []string) (int, bool) {
	for p := pos; p < len(argv); {
		if groupAt(argv, p, group) {
			return p, true
		}
		t := argv[p]
		if t == "--" || t == "-" || !strings.HasPrefix(t, "-") {
			return 0, false
		}
		p++
		takesValue := len(t) == 2 || strings.HasPrefix(t, "--") && !strings.Contains(t, "=")
		if takesValue && !isDockerFlag(argv[0], t) && p < len(argv) && !strings.HasPrefix(argv[p], "-") {
			p++
		}
	}
	return 0, false
}

// isDockerFlag reports whether opt is one of docker run's (and podman's)
// common options that take no value. The first argument after the
// options is the image, and what follows it the container's own command:
// guessing that --rm took "ubuntu" as its value would take the
// container's arguments for docker's ("docker run --rm ubuntu
// --privileged" runs nothing privileged).
func isDockerFlag(prog, opt string) bool {
	if prog != "docker" && prog != "podman" {
		return false
	}
	switch opt {
	case "-d", "-i", "-t", "-P", "--rm", "--detach", "--interactive", "--tty", "--init", "--privileged",
		"--read-only", "--publish-all", "--no-healthcheck", "--oom-kill-disable", "--sig-proxy":
		return true
	}
	return false
}

func groupAt(argv []string, p int, group []string) bool {
	if p+len(group) > len(argv) {
		return false
	}
	for i, want := range group {
		if !tokenMatches(want, argv[p+i]) {
			return false
		}
	}
	return true
}

func isSubcommandToken(t string) bool {
	return t != "" && !strings.HasPrefix(t, "-")
}

// skipLeadingOptions skips the options before a subcommand: "-x" and
// "--long[=v]" tokens, and the value after "-x" or "--long" when that value
// is not itself the subcommand looked for (git -C dir push, git -c k=v push).
func skipLeadingOptions(argv []string, pos int, want string) int {
	for pos < len(argv) {
		t := argv[pos]
		if t == "--" || !strings.HasPrefix(t, "-") || t == "-" {
			return pos
		}
		pos++
		takesValue := len(t) == 2 || strings.HasPrefix(t, "--") && !strings.Contains(t, "=")
		if takesValue && pos < len(argv) && argv[pos] != want && !strings.HasPrefix(argv[pos], "-") {
			pos++
		}
	}
	return pos
}

// commandPolicy is a compiled command section.
type commandPolicy struct {
	allow, deny, defaults []rule
	cfg                   *Config
}

func newCommandPolicy(c *Config) *commandPolicy {
	p := &commandPolicy{
		allow: compileRules(c.Command.Allow),
		deny:  compileRules(c.Command.Deny),
		cfg:   c,
	}
	if c.Command.DefaultsEnabled() {
		p.defaults = defaultRules()
	}
	return p
}

// defaultRules returns DefaultDeniedCommands compiled, once per process,
// on first use. The result is shared, so its tokens are filled in now:
// matches never writes to it.
func defaultRules() []rule {
	defaultRulesOnce.Do(func() {
		rs := compileRules(defaultDeniedCommands[:])
		for i := range rs {
			if rs[i].tokens == nil {
				rs[i].tokenize()
			}
		}
		defaultRulesCompiled = rs
	})
	return defaultRulesCompiled
}

var (
	defaultRulesOnce     sync.Once
	defaultRulesCompiled []rule
)

// firstMatch returns the first rule (in config order) that matches one of
// forms, the spellings of one argument vector. A linear scan: rule lists
// are tens of entries, and the program-name test that rejects almost all
// of them is one string comparison.
func firstMatch(rules []rule, forms [][]string) *rule {
	for i := range rules {
		for _, argv := range forms {
			if rules[i].matches(argv) {
				return &rules[i]
			}
		}
	}
	return nil
}

// CheckCommand checks a shell command line against c's command and SSH
// policy before it runs (preflight). It returns nil if the command may run,
// a *CommandBlockedError if a deny rule (or a default rule) matches one of
// its simple commands and no allow rule does, or an *SSHBlockedError if an
// ssh command breaks the SSH policy. A nil c means Default().
//
// The command is parsed as bash (mvdan.cc/sh), so every simple command is
// checked wherever it appears: in lists (;, &&, ||, &), pipelines, subshells,
// { } groups, $(...) and `...`, <(...), control structures and function
// bodies; inside `sh -c`/`bash -lc`/`zsh -c` strings and eval, recursively;
// in heredocs and `echo ... |` fed to a shell; and behind the wrappers
// command, builtin, exec, env, nice, nohup, time, timeout, xargs, setsid,
// stdbuf, ionice, busybox and find -exec. Literal variable assignments in
// the same command line are followed (X=git; $X push; printf -v X push),
// and so is output the command line spells out: $(echo push) is the
// word push, a shell or
// source reading <(printf 'git push') or /dev/stdin reads that script, and
// xargs appends the words echo'd into it (see static.go, xargsRuns).
// Docker volumes are compared in one spelling (dockerCanonical). Input the
// parser rejects is split conservatively rather than allowed.
//
// Preflight is a guard rail, not the sandbox: a program can always run
// another program in ways no command line shows. Single-program deny rules
// are therefore also enforced at exec time (see RuntimeDenyTokens).
// maxReasonPart bounds the part of a refused command line that the
// refusal names (see CheckCommand).
const maxReasonPart = 200

func CheckCommand(command string, c *Config) error {
	if c == nil {
		c = Default()
	}
	p := newCommandPolicy(c)
	if len(p.deny) == 0 && len(p.defaults) == 0 && !sshPolicyActive(c) {
		return nil
	}
	ex := extractCommands(command)
	for i := range ex.out {
		if err := p.check(&ex.out[i]); err != nil {
			return err
		}
	}
	if ex.tooDeep != "" {
		reason := ex.tooDeepReason
		if reason == "" {
			reason = fmt.Sprintf("nests shells more than %d levels deep or too many times over, beyond what preflight checks", maxShellDepth)
		}
		// Name the part that is beyond it (a word, a loop's variable, a
		// command) when it is not the whole command line: "a word" alone
		// does not tell which of a long script's.
		if part := strings.TrimSpace(ex.tooDeep); part != strings.TrimSpace(command) && part != "…" {
			if len(part) > maxReasonPart {
				part = part[:maxReasonPart] + "…"
			}
			reason = fmt.Sprintf("(at %q) %s", part, reason)
		}
		return &CommandBlockedError{Command: strings.TrimSpace(command), Reason: reason}
	}
	return nil
}

// check applies the policy to each argument vector of one simple command.
// Each vector is matched as written and, for docker run, with its volumes
// spelled canonically (dockerCanonical): an allow rule that matches either
// form allows it, and otherwise a deny rule that matches either denies it.
func (p *commandPolicy) check(sc *simpleCommand) error {
	for _, argv := range sc.argvs {
		if len(argv) == 0 {
			continue
		}
		argv = normalizeArgv(argv)
		forms := spellings(argv)
		if firstMatch(p.allow, forms) == nil {
			if r := firstMatch(p.deny, forms); r != nil {
				return &CommandBlockedError{Command: sc.text, BlockedPrefix: r.text}
			}
			if r := firstMatch(p.defaults, forms); r != nil {
				return &CommandBlockedError{Command: sc.text, BlockedPrefix: r.text, IsDefault: true}
			}
		}
		// The SSH policy has its own allow lists: command.allow does not
		// lift it (upstream skips SSH checks for allowed commands).
		if err := checkSSH(argv, p.cfg); err != nil {
			return err
		}
	}
	return nil
}

// spellings returns argv and, when it has one, its canonical spelling
// (dockerCanonical, npmCanonical): the forms deny rules are matched
// against.
func spellings(argv []string) [][]string {
	if alt := dockerCanonical(argv); alt != nil {
		return [][]string{argv, alt}
	}
	if alt := npmCanonical(argv); alt != nil {
		return [][]string{argv, alt}
	}
	return [][]string{argv}
}

// npmCommands are npm's commands (npm 10 and 11), and npmAliases its
// aliases of them: npm runs a command given by any unique prefix of these
// names (npm pu, npm publ: publish) or by an alias (npm x: exec).
var (
	npmCommands = []string{
		"access", "adduser", "audit", "bugs", "cache", "ci", "completion", "config", "dedupe",
		"deprecate", "diff", "dist-tag", "docs", "doctor", "edit", "exec", "explain", "explore",
		"find-dupes", "fund", "get", "help", "help-search", "init", "install", "install-ci-test",
		"install-test", "link", "ll", "login", "logout", "ls", "org", "outdated", "owner", "pack",
		"ping", "pkg", "prefix", "profile", "prune", "publish", "query", "rebuild", "repo",
		"restart", "root", "run-script", "sbom", "search", "set", "shrinkwrap", "star", "stars",
		"start", "stop", "team", "test", "token", "undeprecate", "uninstall", "unpublish",
		"unstar", "update", "version", "view", "whoami",
	}
	npmAliases = map[string]string{
		"author": "owner", "home": "docs", "issues": "bugs", "info": "view", "show": "view",
		"find": "search", "add": "install", "unlink": "uninstall", "remove": "uninstall",
		"rm": "uninstall", "r": "uninstall", "un": "uninstall", "rb": "rebuild", "list": "ls",
		"ln": "link", "create": "init", "i": "install", "it": "install-test",
		"cit": "install-ci-test", "up": "update", "c": "config", "s": "search", "se": "search",
		"tst": "test", "t": "test", "ddp": "dedupe", "v": "view", "run": "run-script",
		"clean-install": "ci", "clean-install-test": "install-ci-test", "x": "exec",
		"why": "explain", "la": "ll", "verison": "version", "ic": "ci", "innit": "init",
		"in": "install", "ins": "install", "inst": "install", "insta": "install",
		"instal": "install", "isnt": "install", "isnta": "install", "isntal": "install",
		"isntall": "install", "install-clean": "ci", "isntall-clean": "ci", "hlep": "help",
		"dist-tags": "dist-tag", "upgrade": "update", "udpate": "update", "rum": "run-script",
		"sit": "install-ci-test", "urn": "run-script", "ogr": "org", "add-user": "adduser",
	}
)

// npmValueOptions are npm's common settings that take their value as the
// next word (npm -w pkg test, npx --registry URL pkg), as npm's own
// option parser reads them, and npx's -p (--package); npm's own -p is
// --parseable, which takes none (npm -p pu is npm publish).
var npmValueOptions = []string{
	"-w", "--workspace", "-p", "--package", "-c", "--call", "--prefix", "-C", "--registry",
	"--cache", "--userconfig", "--globalconfig", "--loglevel", "--tag", "--scope", "--otp",
	"--script-shell", "--node-options", "--init-module", "--include", "--omit", "--before",
	"--access", "--auth-type", "--shell", "--editor", "--browser", "--location",
}

// npmCommand returns the command npm runs for word w, or "" if w names
// none: a command, an alias, or a unique prefix of their names.
func npmCommand(w string) string {
	// npm reads camelCase as dashes: runScript is run-script.
	if strings.ContainsFunc(w, unicode.IsUpper) {
		var b strings.Builder
		for _, r := range w {
			if unicode.IsUpper(r) {
				b.WriteByte('-')
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
		w = b.String()
	}
	if slices.Contains(npmCommands, w) {
		return w
	}
	if c, ok := npmAliases[w]; ok {
		return c
	}
	if w == "" {
		return ""
	}
	found := ""
	for _, n := range npmCommands {
		if strings.HasPrefix(n, w) {
			if found != "" && found != n {
				return ""
			}
			found = n
		}
	}
	for a, c := range npmAliases {
		if strings.HasPrefix(a, w) {
			if found != "" && found != c && found != a {
				return ""
			}
			if found == "" {
				found = c
			}
		}
	}
	return found
}

// npmCanonical returns npm's argv with each word that npm would take for
// a command spelled out (npm pu --dry-run: npm publish --dry-run), or nil
// when nothing changes. Every word, not only the first: npm's options may
// come first and some take values; a rule matches a subcommand only where
// the subcommand stands.
func npmCanonical(argv []string) []string {
	if len(argv) < 2 || baseName(argv[0]) != "npm" {
		return nil
	}
	var out []string
	for i, w := range argv[1:] {
		if strings.HasPrefix(w, "-") {
			continue
		}
		if i > 0 && argv[i] != "-p" && slices.Contains(npmValueOptions, argv[i]) {
			continue // a value (npm -w pu test: the workspace "pu")
		}
		if c := npmCommand(w); c != "" && c != w {
			if out == nil {
				out = slices.Clone(argv)
			}
			out[i+1] = c
		}
	}
	return out
}

// normalizeArgv replaces argv[0] by its base name (reference §2.4 step 4).
// It copies argv only when the name changes.
func normalizeArgv(argv []string) []string {
	b := baseName(argv[0])
	if b == argv[0] {
		return argv
	}
	out := make([]string, len(argv))
	copy(out, argv)
	out[0] = b
	return out
}

// normalizeCommand is upstream's normalizeCommand: tokens with the program's
// base name, joined by single spaces. It exists for the ported tests.
func normalizeCommand(command string) string {
	toks := tokenizeRule(strings.TrimSpace(command))
	if len(toks) == 0 {
		return ""
	}
	toks[0] = baseName(toks[0])
	return strings.Join(toks, " ")
}

// matchesPrefix is upstream's matchesPrefix: whether command is covered by
// the rule prefix. It exists for the ported tests.
func matchesPrefix(command, prefix string) bool {
	rs := compileRules([]string{prefix})
	if len(rs) == 0 {
		return false
	}
	argv := tokenizeRule(command)
	if len(argv) == 0 {
		return false
	}
	return rs[0].matches(normalizeArgv(argv))
}

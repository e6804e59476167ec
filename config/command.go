package config

import (
	"fmt"
	"strings"
	"sync"
)

// rule is a compiled command rule. Compiling is cheap: only the program
// name is extracted up front; the rest is tokenized the first time a
// command with that program name is checked against the rule.
type rule struct {
	text   string
	first  string   // base name of the program
	tokens []string // all tokens, tokens[0] == first; nil until needed
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
			out = append(out, rule{text: r, first: toks[0], tokens: toks})
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
// two refinements over upstream's plain prefix test:
//   - before the rule's first subcommand-like token, leading options of the
//     command are skipped, so "git push" also matches "git -C dir push" and
//     "git --no-pager push" (upstream misses these);
//   - a rule token ending in "=" matches any later argument that starts with
//     it, so the default "dd if=" matches "dd if=/dev/zero of=x" and
//     "dd of=x if=/dev/zero" (upstream's prefix test never matched it).
func (r *rule) matches(argv []string) bool {
	if len(argv) == 0 || argv[0] != r.first {
		return false
	}
	if r.tokens == nil {
		r.tokens = tokenizeRule(r.text)
		r.tokens[0] = r.first
	}
	pos := 1
	leading := true
	for _, want := range r.tokens[1:] {
		if len(want) > 1 && strings.HasSuffix(want, "=") {
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
		if leading && isSubcommandToken(want) {
			pos = skipLeadingOptions(argv, pos, want)
			leading = false
		}
		if pos >= len(argv) || argv[pos] != want {
			return false
		}
		pos++
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
				rs[i].tokens = tokenizeRule(rs[i].text)
				rs[i].tokens[0] = rs[i].first
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

// firstMatch returns the first rule (in config order) that matches argv.
// A linear scan: rule lists are tens of entries, and the program-name test
// that rejects almost all of them is one string comparison.
func firstMatch(rules []rule, argv []string) *rule {
	for i := range rules {
		if rules[i].matches(argv) {
			return &rules[i]
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
// the same command line are followed (X=git; $X push). Input the parser
// rejects is split conservatively rather than allowed.
//
// Preflight is a guard rail, not the sandbox: a program can always run
// another program in ways no command line shows. Single-program deny rules
// are therefore also enforced at exec time (see RuntimeDenyTokens).
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
		return &CommandBlockedError{Command: strings.TrimSpace(command), Reason: reason}
	}
	return nil
}

// check applies the policy to each argument vector of one simple command.
func (p *commandPolicy) check(sc *simpleCommand) error {
	for _, argv := range sc.argvs {
		if len(argv) == 0 {
			continue
		}
		argv = normalizeArgv(argv)
		if firstMatch(p.allow, argv) == nil {
			if r := firstMatch(p.deny, argv); r != nil {
				return &CommandBlockedError{Command: sc.text, BlockedPrefix: r.text}
			}
			if r := firstMatch(p.defaults, argv); r != nil {
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

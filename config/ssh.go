package config

import (
	"fmt"
	"strings"
)

// sshPolicyActive reports whether the SSH policy applies: it is off while
// both host lists are empty (reference §2.5).
func sshPolicyActive(c *Config) bool {
	return len(c.SSH.AllowedHosts) > 0 || len(c.SSH.DeniedHosts) > 0
}

// sshOptionsWithArg are ssh's options that take a separate argument.
const sshOptionsWithArg = "BbcDEeFIiJLlmOoPpQRSWw"

// parseSSH extracts the destination host and the remote command from an
// ssh argv (argv[0] is "ssh"). The host is the first operand, with user@
// and an ssh:// scheme and :port removed; the remote command is the rest,
// joined by spaces as ssh joins it. ok is false when no host is given
// (ssh -V).
func parseSSH(argv []string) (host, remote string, ok bool) {
	i := 1
	for ; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		// -p 22 takes the next token; -p22 and -vt are one token.
		if len(a) == 2 && strings.IndexByte(sshOptionsWithArg, a[1]) >= 0 {
			i++
		}
	}
	if i >= len(argv) {
		return "", "", false
	}
	host = argv[i]
	if rest, isURI := strings.CutPrefix(host, "ssh://"); isURI {
		host = rest
		if h, _, found := strings.Cut(host, "/"); found {
			host = h
		}
		if j := strings.LastIndexByte(host, ':'); j >= 0 && !strings.Contains(host[:j], ":") {
			host = host[:j]
		}
	}
	if j := strings.LastIndexByte(host, '@'); j >= 0 {
		host = host[j+1:]
	}
	return host, strings.Join(argv[i+1:], " "), host != ""
}

// checkSSH applies the SSH policy to one argument vector (argv[0] already a
// base name). Non-ssh commands pass.
func checkSSH(argv []string, c *Config) error {
	if argv[0] != "ssh" || !sshPolicyActive(c) {
		return nil
	}
	host, remote, ok := parseSSH(argv)
	if !ok {
		return nil
	}
	for _, p := range c.SSH.DeniedHosts {
		if MatchHost(host, p) {
			return &SSHBlockedError{Host: host, RemoteCommand: remote, Reason: fmt.Sprintf("host matches denied pattern %q", p)}
		}
	}
	if len(c.SSH.AllowedHosts) > 0 {
		allowed := false
		for _, p := range c.SSH.AllowedHosts {
			if MatchHost(host, p) {
				allowed = true
				break
			}
		}
		if !allowed {
			return &SSHBlockedError{Host: host, RemoteCommand: remote, Reason: "host not in allowedHosts"}
		}
	}
	if strings.TrimSpace(remote) == "" {
		return nil // interactive session to an allowed host
	}
	return checkSSHRemote(host, remote, c)
}

// checkSSHRemote checks each simple command of a remote command line, as
// the remote shell will parse it, so chains cannot smuggle commands in.
func checkSSHRemote(host, remote string, c *Config) error {
	var inheritDeny, inheritDefaults []rule
	if c.SSH.InheritDeny {
		inheritDeny = compileRules(c.Command.Deny)
		if c.Command.DefaultsEnabled() {
			inheritDefaults = defaultRules()
		}
	}
	denied := compileRules(c.SSH.DeniedCommands)
	allowed := compileRules(c.SSH.AllowedCommands)
	block := func(reason string) error {
		return &SSHBlockedError{Host: host, RemoteCommand: remote, Reason: reason}
	}
	ex := extractCommands(remote)
	for _, sc := range ex.out {
		for _, argv := range sc.argvs {
			forms := spellings(normalizeArgv(argv))
			if r := firstMatch(inheritDeny, forms); r != nil {
				return block(fmt.Sprintf("command %q matches inherited global deny %q", sc.text, r.text))
			}
			if r := firstMatch(inheritDefaults, forms); r != nil {
				return block(fmt.Sprintf("command %q matches inherited default deny %q", sc.text, r.text))
			}
			if r := firstMatch(denied, forms); r != nil {
				return block(fmt.Sprintf("command %q matches ssh.deniedCommands %q", sc.text, r.text))
			}
		}
		if c.SSH.AllowAllCommands {
			continue
		}
		if len(allowed) == 0 {
			return block("no ssh.allowedCommands configured (allowlist mode requires explicit commands)")
		}
		// Allowlist mode: the command as written must be allowed; a wrapper
		// (env ls) is a different command from what it wraps.
		for _, argv := range sc.heads {
			if firstMatch(allowed, [][]string{normalizeArgv(argv)}) == nil {
				return block(fmt.Sprintf("command %q not in ssh.allowedCommands", sc.text))
			}
		}
	}
	if ex.tooDeep != "" {
		if ex.tooDeepReason != "" {
			return block("remote command " + ex.tooDeepReason)
		}
		return block(fmt.Sprintf("remote command nests shells more than %d levels deep", maxShellDepth))
	}
	return nil
}

// MatchHost reports whether host matches an SSH host pattern: * matches any
// run of characters (also none), everything else literally, ignoring case.
func MatchHost(host, pattern string) bool {
	return globStar(strings.ToLower(host), strings.ToLower(pattern))
}

// globStar matches s against p where only * is special. It runs in
// O(len(s)*len(p)) at worst, without recursion.
func globStar(s, p string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			si++
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// MatchDomain reports whether host matches a domain pattern of
// allowedDomains/deniedDomains: "*" matches everything, "*.example.com"
// matches subdomains of example.com at any depth but not example.com itself,
// anything else matches exactly. Case is ignored and a trailing dot on host
// is dropped.
func MatchDomain(host, pattern string) bool {
	host = strings.TrimSuffix(host, ".")
	if pattern == "*" {
		return true
	}
	if base, ok := strings.CutPrefix(pattern, "*."); ok {
		return len(host) > len(base)+1 && host[len(host)-len(base)-1] == '.' &&
			strings.EqualFold(host[len(host)-len(base):], base)
	}
	return strings.EqualFold(host, pattern)
}

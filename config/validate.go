package config

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// Validate checks the values of c. It accepts "*" in allowedDomains (see
// Warnings); everything else follows upstream's rules and messages.
func (c *Config) Validate() error {
	for i, d := range c.Network.AllowedDomains {
		if d == "*" {
			continue
		}
		if err := validateDomainPattern(d); err != nil {
			return &ValidationError{"network.allowedDomains", i, fmt.Sprintf("invalid allowed domain %q: %v", d, err)}
		}
	}
	for i, d := range c.Network.DeniedDomains {
		if err := validateDomainPattern(d); err != nil {
			return &ValidationError{"network.deniedDomains", i, fmt.Sprintf("invalid denied domain %q: %v", d, err)}
		}
	}
	for i, p := range c.Network.AllowLocalOutboundPorts {
		if p < 1 || p > 65535 {
			return &ValidationError{"network.allowLocalOutboundPorts", i, fmt.Sprintf("network.allowLocalOutboundPorts: invalid port %d (must be 1-65535)", p)}
		}
	}
	for _, f := range []struct {
		name string
		port int
	}{{"network.httpProxyPort", c.Network.HTTPProxyPort}, {"network.socksProxyPort", c.Network.SOCKSProxyPort}} {
		if f.port < 0 || f.port > 65535 {
			return &ValidationError{f.name, -1, fmt.Sprintf("%s: invalid port %d (must be 0-65535)", f.name, f.port)}
		}
	}
	for i, line := range c.Network.Hosts {
		f := hostsFields(line)
		if len(f) < 2 {
			return &ValidationError{"network.hosts", i, fmt.Sprintf("network.hosts: %q needs an address and at least one name, as in \"127.0.0.1 api.test\"", line)}
		}
		if _, err := netip.ParseAddr(f[0]); err != nil {
			return &ValidationError{"network.hosts", i, fmt.Sprintf("network.hosts: %q: %q is not an IP address", line, f[0])}
		}
		for _, name := range f[1:] {
			// As the proxy would see it: a name it cannot be asked for
			// ("bad_name!", "-x.com", "a..b") maps nothing.
			n := strings.TrimSuffix(name, ".")
			var err error
			if n == "" || strings.HasPrefix(n, ".") || strings.Contains(n, "..") {
				err = errors.New("an empty label")
			} else {
				err = checkLabels(n)
			}
			if err != nil {
				return &ValidationError{"network.hosts", i, fmt.Sprintf("network.hosts: %q: %q is not a host name (%s)", line, name, strings.TrimPrefix(err.Error(), "invalid domain format: "))}
			}
		}
	}
	// Expanded as the filesystem grants are (expandGrants): checked as
	// they are, or "${HOME}/x.sock" would grant nothing with no word.
	for i, s := range c.Network.AllowUnixSockets {
		if msg := pathProblem("network.allowUnixSockets", s); msg != "" {
			return &ValidationError{"network.allowUnixSockets", i, msg}
		}
	}
	if strings.TrimSpace(c.Extends) != "" {
		if msg := spaceProblem("extends", c.Extends); msg != "" {
			return &ValidationError{"extends", -1, msg}
		}
	}
	paths := []struct {
		name string
		list []string
	}{
		{"filesystem.allowRead", c.Filesystem.AllowRead},
		{"filesystem.allowExecute", c.Filesystem.AllowExecute},
		{"filesystem.denyRead", c.Filesystem.DenyRead},
		{"filesystem.allowWrite", c.Filesystem.AllowWrite},
		{"filesystem.denyWrite", c.Filesystem.DenyWrite},
	}
	for _, l := range paths {
		for i, p := range l.list {
			if msg := pathProblem(l.name, p); msg != "" {
				return &ValidationError{l.name, i, msg}
			}
		}
	}
	commands := []struct {
		name string
		list []string
	}{
		{"command.deny", c.Command.Deny},
		{"command.allow", c.Command.Allow},
		{"ssh.allowedCommands", c.SSH.AllowedCommands},
		{"ssh.deniedCommands", c.SSH.DeniedCommands},
	}
	for _, l := range commands {
		for i, s := range l.list {
			if strings.TrimSpace(s) == "" {
				return &ValidationError{l.name, i, l.name + " contains empty command"}
			}
		}
	}
	for i, h := range c.SSH.AllowedHosts {
		if err := validateHostPattern(h); err != nil {
			return &ValidationError{"ssh.allowedHosts", i, fmt.Sprintf("invalid ssh.allowedHosts %q: %v", h, err)}
		}
	}
	for i, h := range c.SSH.DeniedHosts {
		if err := validateHostPattern(h); err != nil {
			return &ValidationError{"ssh.deniedHosts", i, fmt.Sprintf("invalid ssh.deniedHosts %q: %v", h, err)}
		}
	}
	return nil
}

// pathProblem returns why p cannot be an entry of the filesystem list
// name, or "".
func pathProblem(name, p string) string {
	// Upstream rejects only "". A blank path would resolve to the
	// working directory, which is never what a user meant.
	if strings.TrimSpace(p) == "" {
		return name + " contains empty path"
	}
	if msg := spaceProblem(name, p); msg != "" {
		return msg
	}
	// No file has one: the lookup would fail with EINVAL.
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Sprintf("%s %q contains a NUL byte; remove it", name, p)
	}
	// Upstream takes these literally: "$HOME/x" is a directory named
	// $HOME under the working directory, and a denyRead entry so written
	// hides nothing.
	if envReference(p) {
		return fmt.Sprintf("%s %q: environment variables are not expanded; write ~/... or an absolute path (a literal $ as [$])", name, p)
	}
	if strings.HasPrefix(p, "~") && p != "~" && !strings.HasPrefix(p, "~/") {
		return fmt.Sprintf("%s %q: only ~ and ~/ are expanded (not ~user); write the absolute path, or ./%s for a name that starts with ~", name, p, p)
	}
	// A malformed pattern matches nothing: a denyRead entry so written
	// would hide nothing.
	if HasGlob(p) {
		trailing := len(p) - len(strings.TrimRight(p, `\`))
		if _, err := filepath.Match(p, ""); err != nil || trailing%2 == 1 {
			return fmt.Sprintf(`%s %q is not a valid pattern (an unclosed "[" or a trailing "\"); write "\[" for a literal "["`, name, p)
		}
		// A shell's negation, which here is a "!" in the class: the
		// pattern would cover the opposite of what was meant.
		if classOpensWithBang(p) {
			return fmt.Sprintf(`%s %q: "[!...]" is not negation in fence's patterns; write "[^...]" (or "[\!...]" for a "!" in the class)`, name, p)
		}
		// Hiding every match would need a walk of the tree at start
		// or a check on every open; fence does neither (the plan
		// refuses it too), and says so here, where the file and line
		// are known.
		if name == "filesystem.denyRead" && strings.Contains(strings.TrimSuffix(p, "/**"), "**") {
			return fmt.Sprintf(`%s %q: a "**" inside a pattern is not supported for reads; list a directory (dir/**) or a one-level glob (dir/*.pem) instead`, name, p)
		}
	}
	return ""
}

// spaceProblem returns why the path p of field name, which is not blank,
// cannot start or end with whitespace, or "". Paths are taken as written,
// so " ./out" is a directory named " ." and "~/.ssh " a file named ".ssh "
// that do not exist: an entry so written (a stray space in an editor)
// would protect or allow nothing. Whitespace inside a path ("My
// Documents") is kept.
func spaceProblem(name, p string) string {
	if t := strings.TrimSpace(p); t != p {
		return fmt.Sprintf("%s %q starts or ends with whitespace, so it names no file you meant; remove the whitespace (%q)", name, p, t)
	}
	return ""
}

// classOpensWithBang reports whether pattern p has a class whose first
// character is an unescaped "!".
func classOpensWithBang(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '[':
			if i+1 < len(p) && p[i+1] == '!' {
				return true
			}
			// Skip the class (a "[" inside it is itself) to its "]",
			// which a backslash escapes.
			for j := i + 1; j < len(p); j++ {
				if p[j] == '\\' {
					j++
				} else if p[j] == ']' {
					i = j
					break
				}
			}
		}
	}
	return false
}

// envReference reports whether p holds a shell variable reference ($NAME,
// ${NAME}).
func envReference(p string) bool {
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '$' {
			continue
		}
		c := p[i+1]
		if c == '{' || c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			return true
		}
	}
	return false
}

// warnings returns the notes a user file deserves although it is valid.
func (c *Config) warnings() []string {
	var w []string
	if c.Network.AllowsAllDomains() {
		w = append(w, `network.allowedDomains contains "*": every domain is allowed and the sandbox has direct network access (no network isolation)`)
	}
	return w
}

// validateDomainPattern applies upstream's domain rules (reference §2.2).
// "*" is handled by the caller.
func validateDomainPattern(p string) error {
	if p == "" {
		return errors.New("empty domain; remove the entry")
	}
	// As the proxy's own check (proxy.NewRules), here too, so that the
	// error names the file and line, and fence config show refuses it.
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c <= ' ' || c == 0x7f:
			return errors.New("domain pattern contains whitespace or a control character; remove it")
		case c >= 0x80:
			return errors.New("non-ASCII name; write it in punycode (xn--...)")
		}
	}
	// fence extension: an optional ":port" suffix ("api.example.com:8443",
	// "[::1]:8080", or ":*" for every port); without one, the proxy
	// allows ports 80 and 443.
	if host, port, ok := cutPort(p); ok {
		if n, err := strconv.Atoi(port); port != "*" && (err != nil || n < 1 || n > 65535) {
			return fmt.Errorf("invalid port %q (expected 1-65535)", port)
		}
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			if _, err := netip.ParseAddr(host[1 : len(host)-1]); err != nil {
				return errors.New("invalid IPv6 address")
			}
			return nil
		}
		p = host
	}
	if strings.EqualFold(p, "localhost") {
		return nil // names are matched without regard to case (proxy.NewRules)
	}
	if strings.Contains(p, "/") {
		return errors.New("domain pattern cannot contain a protocol or path; give a host name: example.com, *.example.com, example.com:8080 or example.com:*")
	}
	if strings.Contains(p, ":") {
		_, err := netip.ParseAddr(p)
		if addr, port, ok := cutIPv6Port(p); ok {
			if err == nil {
				// "::1:8002" is an address, but most likely meant as
				// port 8002 of ::1: neither reading is guessed.
				return fmt.Errorf("ambiguous IPv6 address: for port %s of %s write [%s]:%s; for the address %s write it in brackets with a port, as [%s]:443", port, addr, addr, port, p, p)
			}
			return fmt.Errorf("an IPv6 address with a port needs brackets: [%s]:%s", addr, port)
		}
		if err == nil {
			return errors.New("an IPv6 address needs brackets and a port: [::1]:8080")
		}
		return errors.New("domain pattern cannot contain protocol, path, or port other than host:port (1-65535) or host:*")
	}
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		if !strings.Contains(rest, ".") {
			return errors.New("wildcard pattern too broad (e.g., *.com not allowed)")
		}
		if strings.Contains(rest, "*") {
			return errors.New("only *.domain.com wildcard patterns are allowed")
		}
		for _, label := range strings.Split(rest, ".") {
			if label == "" {
				return errors.New("invalid domain format: an empty label (a trailing or double dot); remove the extra dot")
			}
		}
		return checkLabels(rest)
	}
	if strings.Contains(p, "*") {
		return errors.New("only *.domain.com wildcard patterns are allowed")
	}
	if !strings.Contains(p, ".") && !strings.ContainsAny(p, " \t") {
		// As upstream: a name of one label is refused. Say what to do
		// instead of only that it is malformed.
		return errors.New("invalid domain format: a name of one label (other than localhost) is refused; use a name with a dot, mapped to its address in network.hosts if DNS does not know it")
	}
	if !strings.Contains(p, ".") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") {
		name := strings.Trim(p, ".")
		if name == "" {
			return errors.New("invalid domain format: no name; write a host name such as example.com")
		}
		// ".example.com" is curl's NO_PROXY form of *.example.com. The
		// fix names only the forms that are valid themselves: ".com"
		// or "a..b.com." have none.
		host, sub := validateDomainPattern(name), validateDomainPattern("*."+name)
		switch {
		case host == nil && sub == nil:
			return fmt.Errorf("invalid domain format: it starts or ends with a dot; write %q (that host) or %q (its subdomains)", name, "*."+name)
		case host == nil:
			return fmt.Errorf("invalid domain format: it starts or ends with a dot; write %q", name)
		}
		return fmt.Errorf("invalid domain format: it starts or ends with a dot, and without the dots %q is refused too: %w", name, host)
	}
	if strings.Contains(p, "..") || strings.ContainsAny(p, " \t") {
		return errors.New("invalid domain format: an empty label (..); remove the extra dot")
	}
	if _, err := netip.ParseAddr(p); err == nil {
		return nil
	}
	return checkLabels(p)
}

// hostsFields splits a network.hosts line as a hosts file's: the address
// and its names, up to a "#" that starts a comment.
func hostsFields(line string) []string {
	line, _, _ = strings.Cut(line, "#")
	return strings.Fields(line)
}

// checkLabels checks the labels of name (dotted, none empty) as the proxy
// does (proxy.NewRules; config may not import it), so that a name it would
// refuse at the start is refused here, with the file and line.
func checkLabels(name string) error {
	if len(name) > 253 {
		return errors.New("invalid domain format: longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if len(l) > 63 {
			return fmt.Errorf("invalid domain format: label %q is longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("invalid domain format: label %q starts or ends with '-'; host names cannot", l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i] | 0x20; !('a' <= c && c <= 'z' || '0' <= l[i] && l[i] <= '9' || l[i] == '-' || l[i] == '_') {
				return fmt.Errorf("invalid domain format: %q in label %q; a host name has letters, digits, '-' and '_'", l[i], l)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errors.New("invalid domain format: it looks like an IPv4 address but is not one (its last label is a number); write the address as four numbers 0-255, or a name")
	}
	return nil
}

// cutPort splits "host:port" where port is all digits or "*" and host has
// no other colon (or is a bracketed IPv6 literal).
func cutPort(p string) (host, port string, ok bool) {
	i := strings.LastIndexByte(p, ':')
	if i <= 0 || i == len(p)-1 {
		return "", "", false
	}
	host, port = p[:i], p[i+1:]
	if port == "*" {
		return host, port, !strings.Contains(host, ":") || strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	if strings.Contains(host, ":") && !(strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")) {
		return "", "", false
	}
	return host, port, true
}

// cutIPv6Port splits an unbracketed "addr:port" whose last group reads as
// a port (1-65535 or "*") after an IPv6 address without a zone ("::1:8002"
// gives "::1" and "8002"). The whole may be an IPv6 address as well.
//
// proxy/rules.go has its twin, for the proxy's own parsing of the rules:
// config may not import the proxy (DESIGN §2, deps_test.go). Keep the two
// in step.
func cutIPv6Port(p string) (addr, port string, ok bool) {
	i := strings.LastIndexByte(p, ':')
	if i < 0 {
		return "", "", false
	}
	addr, port = p[:i], p[i+1:]
	if port != "*" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return "", "", false
		}
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return "", "", false
	}
	return addr, port, true
}

// validateHostPattern applies upstream's SSH host rules (reference §2.5).
func validateHostPattern(p string) error {
	switch {
	case p == "":
		return errors.New("empty host pattern")
	case strings.TrimSpace(p) != p && strings.TrimSpace(p) != "" && !strings.ContainsAny(strings.TrimSpace(p), " \t\r\n\v\f"):
		// No host name has one: " prod-db" in deniedHosts denied nothing.
		return fmt.Errorf("host pattern starts or ends with whitespace, so it matches no host; remove the whitespace (%q)", strings.TrimSpace(p))
	case strings.ContainsAny(p, " \t\r\n\v\f"):
		return errors.New("host pattern contains whitespace, which no host name has")
	case strings.Contains(p, "/"):
		return errors.New("host pattern cannot contain protocol or path")
	case strings.Contains(p, ":") && strings.Count(p, ":") < 2:
		return errors.New("host pattern cannot contain port; specify port in SSH command instead")
	case strings.Contains(p, "@"):
		return errors.New("host pattern should not contain username; specify just the host")
	}
	return nil
}

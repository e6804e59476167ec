package proxy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxNameLen is the longest DNS name in text form (RFC 1035 §2.3.4: 255
// octets on the wire, 253 characters without the trailing dot). Longer hosts
// cannot be resolved, so Decide denies them without looking further.
const maxNameLen = 253

// Decision is the outcome of Rules.Decide.
type Decision struct {
	// Allow reports whether the connection may proceed.
	Allow bool
	// Rule is the pattern that decided, as written in the policy, or "" when
	// no pattern matched (the default deny).
	Rule string

	// explicit is set when the allowing pattern names the destination itself
	// (an IP literal or "localhost"): addresses such a host resolves to are
	// exempt from the loopback/link-local/metadata refusal.
	explicit bool
}

// reason says why d refused a connection, for the logs.
func (d Decision) reason() string {
	if d.Rule != "" {
		return "deniedDomains: " + strconv.Quote(d.Rule)
	}
	return "no allowedDomains pattern allows this host and port"
}

// Rules is an immutable host/port policy built by NewRules. Its zero value
// and a nil *Rules deny everything. It is safe for concurrent use.
type Rules struct {
	denied  ruleSet
	allowed ruleSet
}

type portKind uint8

const (
	portDefault portKind = iota // allow: 80 and 443 only; deny: every port
	portAny                     // "host:*"
	portOne                     // "host:8443"
)

type entry struct {
	pattern  string // as written, reported in Decision.Rule
	kind     portKind
	port     uint16
	explicit bool // the host part is an IP literal or "localhost"
}

func (e *entry) matchPort(port int, deny bool) bool {
	switch e.kind {
	case portAny:
		return true
	case portOne:
		return port == int(e.port)
	}
	return deny || port == 80 || port == 443
}

type ruleSet struct {
	names    map[string][]entry     // exact names, "localhost" included
	suffixes map[string][]entry     // "*.example.com" is stored under "example.com"
	addrs    map[netip.Addr][]entry // IP literals, unmapped, without zone
	all      []entry                // "*"
}

// NewRules validates the allowedDomains and deniedDomains patterns and
// returns the policy they describe. See the package documentation for the
// pattern syntax. The first invalid pattern is reported as a one-line error
// wrapping ErrInvalidPattern.
func NewRules(allowed, denied []string) (*Rules, error) {
	r := &Rules{}
	if err := r.denied.add("denied", denied); err != nil {
		return nil, err
	}
	if err := r.allowed.add("allowed", allowed); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *ruleSet) add(list string, patterns []string) error {
	for _, p := range patterns {
		pp, err := parsePattern(p)
		if err != nil {
			return fmt.Errorf("check %s domain %q: %w", list, p, err)
		}
		e := entry{pattern: p, kind: pp.kind, port: pp.port, explicit: pp.explicit}
		switch {
		case pp.all:
			s.all = append(s.all, e)
		case pp.addr.IsValid():
			if s.addrs == nil {
				s.addrs = make(map[netip.Addr][]entry)
			}
			s.addrs[pp.addr] = append(s.addrs[pp.addr], e)
		case pp.wildcard:
			if s.suffixes == nil {
				s.suffixes = make(map[string][]entry)
			}
			s.suffixes[pp.host] = append(s.suffixes[pp.host], e)
		default:
			if s.names == nil {
				s.names = make(map[string][]entry)
			}
			s.names[pp.host] = append(s.names[pp.host], e)
		}
	}
	return nil
}

// Decide reports whether a connection to host:port is allowed: deniedDomains
// first, then allowedDomains, then deny. host is a name or an IP literal
// (brackets optional), in any case, with or without a trailing dot; it is
// never resolved. Hosts that are not valid DNS names are denied.
//
// Decide does not allocate; it is called once per connection.
func (r *Rules) Decide(host string, port int) Decision {
	if r == nil || port < 1 || port > 65535 {
		return Decision{}
	}
	if n := len(host); n > 1 && host[0] == '[' && host[n-1] == ']' {
		host = host[1 : n-1]
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	if host == "" || len(host) > maxNameLen {
		return Decision{}
	}
	if last := host[len(host)-1]; strings.IndexByte(host, ':') >= 0 || '0' <= last && last <= '9' {
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Zone() != "" {
				// A zone picks the interface the dial leaves by, which
				// no rule speaks of (rules refuse zones): not decided.
				return Decision{}
			}
			return r.decideAddr(a.Unmap(), port)
		}
	}

	// Lower-case into a stack buffer: map lookups keyed by string(b) do not
	// allocate, so neither does this path.
	var buf [maxNameLen]byte
	name := buf[:len(host)]
	prev := byte('.') // rejects a leading dot and empty labels
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.' && prev != '.':
		default:
			return Decision{}
		}
		name[i] = c
		prev = c
	}
	if e := r.denied.matchName(name, port, true); e != nil {
		return Decision{Rule: e.pattern}
	}
	if e := r.allowed.matchName(name, port, false); e != nil {
		return Decision{Allow: true, Rule: e.pattern, explicit: e.explicit}
	}
	return Decision{}
}

func (r *Rules) decideAddr(a netip.Addr, port int) Decision {
	if e := firstPort(r.denied.addrs[a], port, true); e != nil {
		return Decision{Rule: e.pattern}
	}
	if e := firstPort(r.denied.all, port, true); e != nil {
		return Decision{Rule: e.pattern}
	}
	if e := firstPort(r.allowed.addrs[a], port, false); e != nil {
		return Decision{Allow: true, Rule: e.pattern, explicit: true}
	}
	if e := firstPort(r.allowed.all, port, false); e != nil {
		return Decision{Allow: true, Rule: e.pattern}
	}
	return Decision{}
}

func (s *ruleSet) matchName(name []byte, port int, deny bool) *entry {
	if e := firstPort(s.names[string(name)], port, deny); e != nil {
		return e
	}
	if len(s.suffixes) > 0 {
		for i, c := range name {
			if c == '.' {
				if e := firstPort(s.suffixes[string(name[i+1:])], port, deny); e != nil {
					return e
				}
			}
		}
	}
	return firstPort(s.all, port, deny)
}

func firstPort(es []entry, port int, deny bool) *entry {
	for i := range es {
		if es[i].matchPort(port, deny) {
			return &es[i]
		}
	}
	return nil
}

// pattern is a parsed allowedDomains/deniedDomains entry.
type pattern struct {
	host     string     // lower-case, no trailing dot; the suffix for wildcards
	addr     netip.Addr // valid for IP literals
	wildcard bool       // "*.host"
	all      bool       // "*"
	explicit bool       // IP literal or "localhost"
	kind     portKind
	port     uint16
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPattern}, args...)...)
}

func parsePattern(p string) (pattern, error) {
	var pp pattern
	if p == "" {
		return pp, invalid("empty")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f {
			return pp, invalid("contains whitespace or a control character")
		} else if c >= 0x80 {
			return pp, invalid("non-ASCII name; write it in punycode (xn--...)")
		}
	}
	if i := strings.Index(p, "://"); i >= 0 {
		return pp, invalid("has a scheme; write the host only (%q)", strings.TrimSuffix(p[i+3:], "/"))
	}
	if strings.ContainsAny(p, "/?#") {
		return pp, invalid("has a path; write the host only")
	}
	if strings.ContainsAny(p, "@") {
		return pp, invalid("has user info; write the host only")
	}

	host, port, hasPort, bracketed := p, "", false, false
	switch {
	case p[0] == '[':
		end := strings.IndexByte(p, ']')
		if end < 0 {
			return pp, invalid("missing ']'")
		}
		host, bracketed = p[1:end], true
		switch rest := p[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			port, hasPort = rest[1:], true
		default:
			return pp, invalid("unexpected %q after ']'", rest)
		}
	case strings.Count(p, ":") == 1:
		host, port, _ = strings.Cut(p, ":")
		hasPort = true
	case strings.Count(p, ":") > 1:
		// A bare IPv6 literal; with a port it must be bracketed.
		_, err := netip.ParseAddr(p)
		if addr, port, ok := cutIPv6Port(p); ok {
			if err == nil {
				// "::1:8002" is an address, but most likely meant
				// as port 8002 of ::1: neither reading is guessed.
				return pp, invalid("ambiguous: host %s port %s (write [%s]:%s) or the address %s (write [%s])", addr, port, addr, port, p, p)
			}
			return pp, invalid("an IPv6 literal with a port needs brackets; write [%s]:%s", addr, port)
		}
		if err != nil {
			return pp, invalid("not an IPv6 address; write an IPv6 literal with a port as [addr]:port")
		}
	}

	if hasPort {
		switch port {
		case "*":
			pp.kind = portAny
		default:
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil || n == 0 || port[0] == '+' {
				return pp, invalid("bad port %q (want 1-65535 or *)", port)
			}
			pp.kind, pp.port = portOne, uint16(n)
		}
	}

	if host == "*" {
		pp.all = true
		if !hasPort {
			pp.kind = portAny // "*" alone is everything, every port
		}
		return pp, nil
	}
	if strings.HasSuffix(host, ".") && !bracketed {
		host = host[:len(host)-1]
	}
	if host == "" {
		return pp, invalid("empty host")
	}
	host = strings.ToLower(host)

	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return pp, invalid("IPv6 zones are not supported")
		}
		if bracketed && !a.Is6() {
			return pp, invalid("brackets are only for IPv6 literals")
		}
		pp.addr, pp.explicit = a.Unmap(), true
		return pp, nil
	} else if bracketed {
		return pp, invalid("%q is not an IPv6 literal", host)
	}

	if host == "localhost" {
		pp.host, pp.explicit = host, true
		return pp, nil
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		if err := checkDomain(rest); err != nil {
			if strings.IndexByte(rest, '.') < 0 {
				return pp, invalid("wildcard too broad; write *.example.com, not *.%s", rest)
			}
			return pp, err
		}
		pp.host, pp.wildcard = rest, true
		return pp, nil
	}
	if strings.IndexByte(host, '*') >= 0 {
		return pp, invalid("'*' is only allowed alone or as a leading '*.' label")
	}
	if err := checkDomain(host); err != nil {
		return pp, err
	}
	pp.host = host
	return pp, nil
}

// cutIPv6Port splits an unbracketed "addr:port" whose last group reads as
// a port (1-65535 or "*") after an IPv6 address without a zone ("::1:8002"
// gives "::1" and "8002"). Such a pattern may itself be an IPv6 address as
// well; only brackets tell the two readings apart.
//
// config/validate.go has its twin, for config validation, which may not
// import the proxy (DESIGN §2, deps_test.go). Keep the two in step.
func cutIPv6Port(p string) (addr, port string, ok bool) {
	i := strings.LastIndexByte(p, ':')
	if i < 0 {
		return "", "", false
	}
	addr, port = p[:i], p[i+1:]
	if port != "*" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || port[0] == '+' {
			return "", "", false
		}
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return "", "", false
	}
	return addr, port, true
}

// checkDomain accepts a lower-case name of two or more labels, each 1-63 of
// [a-z0-9_-], not starting or ending with '-', and a last label that is not
// all digits (that would be a malformed IP address).
func checkDomain(name string) error {
	if len(name) > maxNameLen {
		return invalid("name longer than %d characters", maxNameLen)
	}
	if strings.IndexByte(name, '.') < 0 {
		return invalid("single-label name; write a full domain such as example.com (only localhost may have one label)")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return invalid("empty label")
		}
		if len(l) > 63 {
			return invalid("label %q longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return invalid("label %q starts or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return invalid("invalid character %q", c)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return invalid("looks like an IP address but is not one")
	}
	return nil
}

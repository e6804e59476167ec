package proxy

import (
	"errors"
	"strings"
	"testing"
)

func mustRules(t testing.TB, allowed, denied []string) *Rules {
	t.Helper()
	r, err := NewRules(allowed, denied)
	if err != nil {
		t.Fatalf("NewRules(%q, %q): %v", allowed, denied, err)
	}
	return r
}

func TestDecide(t *testing.T) {
	type check struct {
		host  string
		port  int
		allow bool
		rule  string
	}
	tests := []struct {
		name    string
		allowed []string
		denied  []string
		checks  []check
	}{
		{
			name:    "exact",
			allowed: []string{"example.com"},
			checks: []check{
				{"example.com", 443, true, "example.com"},
				{"example.com", 80, true, "example.com"},
				{"www.example.com", 443, false, ""},
				{"notexample.com", 443, false, ""},
				{"example.com.evil.net", 443, false, ""},
				{"example.co", 443, false, ""},
			},
		},
		{
			name:    "wildcard matches any depth but not the apex",
			allowed: []string{"*.example.com"},
			checks: []check{
				{"a.example.com", 443, true, "*.example.com"},
				{"a.b.c.example.com", 443, true, "*.example.com"},
				{"example.com", 443, false, ""},
				{"badexample.com", 443, false, ""},
				{"a.example.com.evil.net", 443, false, ""},
				{".example.com", 443, false, ""},
				{"a..example.com", 443, false, ""},
			},
		},
		{
			name:    "apex and wildcard together",
			allowed: []string{"example.com", "*.example.com"},
			checks: []check{
				{"example.com", 443, true, "example.com"},
				{"api.example.com", 443, true, "*.example.com"},
			},
		},
		{
			name:    "case-insensitive both ways",
			allowed: []string{"GitHub.COM", "*.NpmJS.org"},
			checks: []check{
				{"github.com", 443, true, "GitHub.COM"},
				{"GITHUB.com", 443, true, "GitHub.COM"},
				{"Registry.NPMJS.org", 443, true, "*.NpmJS.org"},
			},
		},
		{
			name:    "trailing dot normalised in host and pattern",
			allowed: []string{"example.com.", "*.example.org"},
			checks: []check{
				{"example.com", 443, true, "example.com."},
				{"example.com.", 443, true, "example.com."},
				{"a.example.org.", 443, true, "*.example.org"},
				{"example.com..", 443, false, ""},
			},
		},
		{
			name:    "deny takes precedence",
			allowed: []string{"*.example.com", "example.com"},
			denied:  []string{"secret.example.com", "*.internal.example.com"},
			checks: []check{
				{"api.example.com", 443, true, "*.example.com"},
				{"secret.example.com", 443, false, "secret.example.com"},
				{"SECRET.example.com.", 443, false, "secret.example.com"},
				{"a.internal.example.com", 443, false, "*.internal.example.com"},
				{"internal.example.com", 443, true, "*.example.com"},
			},
		},
		{
			name:   "empty allow list allows nothing",
			denied: []string{"evil.com"},
			checks: []check{
				{"example.com", 443, false, ""},
				{"evil.com", 443, false, "evil.com"},
				{"127.0.0.1", 80, false, ""},
			},
		},
		{
			name: "no lists at all",
			checks: []check{
				{"example.com", 443, false, ""},
			},
		},
		{
			name:    "pattern without port allows 80 and 443 only",
			allowed: []string{"example.com"},
			checks: []check{
				{"example.com", 22, false, ""},
				{"example.com", 8080, false, ""},
				{"example.com", 0, false, ""},
				{"example.com", 70000, false, ""},
			},
		},
		{
			name:    "explicit and any port",
			allowed: []string{"example.com:8443", "git.example.org:*", "*.example.net:22"},
			checks: []check{
				{"example.com", 8443, true, "example.com:8443"},
				{"example.com", 443, false, ""},
				{"git.example.org", 22, true, "git.example.org:*"},
				{"git.example.org", 443, true, "git.example.org:*"},
				{"a.example.net", 22, true, "*.example.net:22"},
				{"a.example.net", 443, false, ""},
			},
		},
		{
			name:    "deny without port denies every port",
			allowed: []string{"example.com:*"},
			denied:  []string{"example.com"},
			checks: []check{
				{"example.com", 22, false, "example.com"},
				{"example.com", 443, false, "example.com"},
			},
		},
		{
			name:    "deny with port denies only that port",
			allowed: []string{"example.com:*"},
			denied:  []string{"example.com:25"},
			checks: []check{
				{"example.com", 25, false, "example.com:25"},
				{"example.com", 443, true, "example.com:*"},
			},
		},
		{
			name:    "IP literals are plain strings",
			allowed: []string{"10.0.0.7", "127.0.0.1:5432", "::1", "[2001:db8::1]:8080", "fe80::1"},
			checks: []check{
				{"10.0.0.7", 443, true, "10.0.0.7"},
				{"10.0.0.70", 443, false, ""},
				{"127.0.0.1", 5432, true, "127.0.0.1:5432"},
				{"127.0.0.1", 5433, false, ""},
				{"::1", 80, true, "::1"},
				{"[::1]", 80, true, "::1"},
				{"0:0::1", 443, true, "::1"},
				{"2001:DB8::1", 8080, true, "[2001:db8::1]:8080"},
				{"::ffff:10.0.0.7", 443, true, "10.0.0.7"},
				// A zone picks the interface: no rule speaks of one.
				{"fe80::1", 443, true, "fe80::1"},
				{"fe80::1%eth0", 443, false, ""},
				{"[fe80::1%lo]", 443, false, ""},
				// Not a name: an IP literal never matches a domain pattern.
				{"127.0.0.2", 5432, false, ""},
			},
		},
		{
			name:    "IP deny also catches the IPv4-mapped form",
			allowed: []string{"*"},
			denied:  []string{"10.0.0.7"},
			checks: []check{
				{"::ffff:10.0.0.7", 443, false, "10.0.0.7"},
				{"10.0.0.8", 443, true, "*"},
			},
		},
		{
			name:    "localhost",
			allowed: []string{"localhost:3000"},
			checks: []check{
				{"localhost", 3000, true, "localhost:3000"},
				{"LOCALHOST.", 3000, true, "localhost:3000"},
				{"localhost", 3001, false, ""},
				{"127.0.0.1", 3000, false, ""},
			},
		},
		{
			name:    "star allows everything on every port",
			allowed: []string{"*"},
			denied:  []string{"*.evil.com"},
			checks: []check{
				{"example.com", 443, true, "*"},
				{"example.com", 22, true, "*"},
				{"1.2.3.4", 9999, true, "*"},
				{"x.evil.com", 443, false, "*.evil.com"},
			},
		},
		{
			name:    "star with port",
			allowed: []string{"*:443"},
			checks: []check{
				{"example.com", 443, true, "*:443"},
				{"example.com", 80, false, ""},
			},
		},
		{
			name:    "invalid hosts are denied even under star",
			allowed: []string{"*"},
			checks: []check{
				{"", 443, false, ""},
				{".", 443, false, ""},
				{"exa mple.com", 443, false, ""},
				{"example.com\x00.evil", 443, false, ""},
				{"example.com/path", 443, false, ""},
				{"ex\nample.com", 443, false, ""},
				{"bücher.de", 443, false, ""},
				{strings.Repeat("a.", 127) + "com", 443, false, ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRules(t, tt.allowed, tt.denied)
			for _, c := range tt.checks {
				d := r.Decide(c.host, c.port)
				if d.Allow != c.allow || d.Rule != c.rule {
					t.Errorf("Decide(%q, %d) = {Allow:%v Rule:%q}, want {Allow:%v Rule:%q}",
						c.host, c.port, d.Allow, d.Rule, c.allow, c.rule)
				}
			}
		})
	}
}

func TestDecideExplicit(t *testing.T) {
	r := mustRules(t, []string{"127.0.0.1:*", "localhost:*", "*.example.com", "*"}, nil)
	for _, c := range []struct {
		host     string
		explicit bool
	}{
		{"127.0.0.1", true},
		{"localhost", true},
		{"a.example.com", false},
		{"127.0.0.2", false}, // allowed by "*", which names nothing
		{"other.net", false},
	} {
		if d := r.Decide(c.host, 80); !d.Allow || d.explicit != c.explicit {
			t.Errorf("Decide(%q) = %+v, want allowed with explicit=%v", c.host, d, c.explicit)
		}
	}
}

func TestNilRulesDenyAll(t *testing.T) {
	var r *Rules
	if d := r.Decide("example.com", 443); d.Allow {
		t.Fatalf("nil Rules allowed: %+v", d)
	}
	if d := (&Rules{}).Decide("example.com", 443); d.Allow {
		t.Fatalf("zero Rules allowed: %+v", d)
	}
}

func TestNewRulesValidation(t *testing.T) {
	valid := []string{
		"example.com", "*.example.com", "EXAMPLE.com", "example.com.",
		"a-b.example.co.uk", "_acme.example.com", "xn--bcher-kva.de",
		"localhost", "localhost:8080", "*", "*:443",
		"127.0.0.1", "10.0.0.1:5432", "::1", "[::1]", "[::1]:8080", "2001:db8::1", "[::1:8002]", "[fd00::1:443]:443",
		"example.com:443", "example.com:*", "*.example.com:8443",
		"1e100.net",
	}
	for _, p := range valid {
		if _, err := NewRules([]string{p}, []string{p}); err != nil {
			t.Errorf("NewRules(%q): %v, want accepted", p, err)
		}
	}

	invalid := []struct{ pattern, want string }{
		{"", "empty"},
		{"http://example.com", `has a scheme; write the host only ("example.com")`},
		{"https://example.com/", `has a scheme`},
		{"example.com/path", "has a path"},
		{"example.com?q", "has a path"},
		{"user@example.com", "user info"},
		{"*.com", "wildcard too broad"},
		{"*", ""}, // valid; placeholder skipped below
		{"example", "single-label name"},
		{"example:8080", "single-label name"},
		{"*example.com", "'*' is only allowed"},
		{"a.*.example.com", "'*' is only allowed"},
		{"**.example.com", "'*' is only allowed"},
		{"*.*.example.com", "invalid character"},
		{".example.com", "empty label"},
		{"example..com", "empty label"},
		{"example.com..", "empty label"},
		{"-a.example.com", "starts or ends with '-'"},
		{"exa mple.com", "whitespace"},
		{" example.com", "whitespace"},
		{"bücher.de", "punycode"},
		{"example.com:0", "bad port"},
		{"example.com:65536", "bad port"},
		{"example.com:http", "bad port"},
		{"example.com:", "bad port"},
		{"example.com:+80", "bad port"},
		{"1.2.3", "looks like an IP address"},
		{"256.1.1.1", "looks like an IP address"},
		{"[127.0.0.1]", "brackets are only for IPv6"},
		{"[example.com]", "not an IPv6 literal"},
		{"[::1", "missing ']'"},
		{"[::1]x", "unexpected"},
		{"::1:80x", "not an IPv6 address"},
		// An address whose last group reads as a port: both readings named.
		{"::1:8002", "ambiguous: host ::1 port 8002 (write [::1]:8002) or the address ::1:8002 (write [::1:8002])"},
		{"fd00::1:443", "ambiguous: host fd00::1 port 443"},
		{"::1:*", "an IPv6 literal with a port needs brackets; write [::1]:*"},
		{"::1:65535", "needs brackets; write [::1]:65535"},
		{"fe80::1%eth0", "zones are not supported"},
		{"[fe80::1%eth0]", "zones are not supported"},
		{strings.Repeat("a", 64) + ".com", "longer than 63"},
	}
	for _, c := range invalid {
		if c.want == "" {
			continue
		}
		_, err := NewRules([]string{c.pattern}, nil)
		if err == nil {
			t.Errorf("NewRules(%q) accepted, want error containing %q", c.pattern, c.want)
			continue
		}
		if !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("NewRules(%q) error %v does not wrap ErrInvalidPattern", c.pattern, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("NewRules(%q) error = %q, want one line containing %q", c.pattern, msg, c.want)
		}
		if !strings.HasPrefix(msg, `check allowed domain "`) {
			t.Errorf("NewRules(%q) error = %q, want it to name the list and the pattern", c.pattern, msg)
		}
	}
	if _, err := NewRules(nil, []string{"::1:8002"}); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous denied pattern: err = %v, want it refused as ambiguous", err)
	}
	if _, err := NewRules(nil, []string{"http://x.com"}); err == nil || !strings.HasPrefix(err.Error(), "check denied domain") {
		t.Errorf("invalid denied pattern: err = %v, want it to name the denied list", err)
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	r := mustRules(t,
		[]string{"example.com", "*.github.com", "registry.npmjs.org:443", "10.0.0.1", "::1", "*:8443"},
		[]string{"evil.example.com", "*.internal.github.com"})
	hosts := []struct {
		host string
		port int
	}{
		{"example.com", 443},
		{"API.GitHub.com.", 443},
		{"a.b.c.internal.github.com", 443},
		{"unknown.org", 80},
		{"10.0.0.1", 443},
		{"[::1]", 80},
		{"::ffff:10.0.0.1", 443},
		{"anything.net", 8443},
		{strings.Repeat("x", 300), 443},
	}
	for _, h := range hosts {
		n := testing.AllocsPerRun(1000, func() { r.Decide(h.host, h.port) })
		if n != 0 {
			t.Errorf("Decide(%q, %d) allocates %v times per call, want 0", h.host, h.port, n)
		}
	}
}

package config

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tailscale/hujson"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/config")

// testdata is the shared fixture directory (reached by relative path, as
// the Go tool ignores testdata/).
const testdata = "../testdata/config"

// golden compares got with testdata/config/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./config -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (run go test ./config -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestParseFullJSONC(t *testing.T) {
	c, err := LoadFile(filepath.Join(testdata, "full.jsonc"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		AllowPty: true,
		Network: NetworkConfig{
			AllowedDomains:          []string{"github.com", "*.npmjs.org", "localhost"},
			DeniedDomains:           []string{"169.254.169.254"},
			AllowUnixSockets:        []string{"/run/user/1000/podman.sock"},
			AllowLocalBinding:       true,
			AllowLocalOutbound:      Bool(false),
			AllowLocalOutboundPorts: []int{5432, 6379},
			HTTPProxyPort:           3128,
			SOCKSProxyPort:          1080,
		},
		Filesystem: FilesystemConfig{
			DefaultDenyRead: true,
			AllowRead:       []string{"~/src"},
			AllowExecute:    []string{"/opt/tools/bin"},
			DenyRead:        []string{"~/.ssh/id_*"},
			AllowWrite:      []string{".", "/tmp"},
			DenyWrite:       []string{"**/.env"},
			AllowGitConfig:  true,
		},
		Command: CommandConfig{Deny: []string{"git push", "python3"}, Allow: []string{"git push origin docs"}, UseDefaults: Bool(false)},
		SSH: SSHConfig{
			AllowedHosts: []string{"*.example.com"}, DeniedHosts: []string{"prod-db.example.com"},
			AllowedCommands: []string{"ls"}, DeniedCommands: []string{"rm -rf"}, InheritDeny: true,
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadFile(full.jsonc) =\n%+v\nwant\n%+v", c, want)
	}
	// Parse keeps $schema; resolution drops it with extends.
	raw, _ := os.ReadFile(filepath.Join(testdata, "full.jsonc"))
	p, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p.Schema, "fence.schema.json") {
		t.Errorf("Parse: $schema = %q", p.Schema)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "full.golden.json", out)
	// The clean output parses back to the same config.
	back, err := Parse(out)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("Marshal output does not round-trip: %v\n%+v", err, back)
	}
}

// Error messages for bad files, each naming the field and its line.
func TestParseErrorsGolden(t *testing.T) {
	var b strings.Builder
	for _, name := range []string{"typo.json", "nested-typo.json", "wrong-type.json", "empty-path.json"} {
		_, err := LoadFile(filepath.Join(testdata, name))
		if err == nil {
			t.Errorf("LoadFile(%s) succeeded, want an error", name)
			continue
		}
		// Make the path stable across checkouts.
		msg := strings.ReplaceAll(err.Error(), absTestdata(t), "testdata/config")
		b.WriteString(name + ": " + msg + "\n")
	}
	golden(t, "parse-errors.golden", []byte(b.String()))
}

func absTestdata(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(testdata)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top-level key", "{\n  \"network\": {},\n  \"filesytem\": {}\n}",
			`unknown field "filesytem" at line 3 (did you mean "filesystem"?); remove it or fix its spelling`},
		{"unknown nested key", "{\"network\": {\n\"allowedDomain\": []}}",
			`unknown field "network.allowedDomain" at line 2 (did you mean "allowedDomains"?); remove it or fix its spelling`},
		{"unknown key, no suggestion", `{"zzz": 1}`, `unknown field "zzz" at line 1; remove it or fix its spelling`},
		{"$schema only at top", `{"network": {"$schema": "x"}}`, `unknown field "network.$schema" at line 1`},
		{"string for list", "{\n\"network\": {\n\"allowedDomains\": \"github.com\"}}",
			`field "network.allowedDomains" at line 3: expected an array of strings, got a string`},
		{"number in list", "{\"command\": {\"deny\": [\n\"ls\",\n3]}}",
			`field "command.deny[1]" at line 3: expected a string, got a number`},
		{"null in list", `{"command": {"deny": [null]}}`, `field "command.deny[0]" at line 1: expected a string, got null`},
		{"string for bool", `{"allowPty": "yes"}`, `field "allowPty" at line 1: expected true or false, got a string`},
		{"bool for optional bool", `{"command": {"useDefaults": 1}}`, `field "command.useDefaults" at line 1: expected true or false (or null), got a number`},
		{"float port", `{"network": {"httpProxyPort": 3128.5}}`, `field "network.httpProxyPort" at line 1: expected an integer, got 3128.5`},
		{"string port", `{"network": {"allowLocalOutboundPorts": ["80"]}}`, `field "network.allowLocalOutboundPorts[0]" at line 1: expected an integer, got a string`},
		{"section not object", `{"ssh": []}`, `field "ssh" at line 1: expected an object, got an array`},
		// The text as written is parsed first: its error is reported at
		// its own lines, not at the newline added for a last // comment.
		{"cut short without a newline", `{"filesystem": {}`, "line 1, column 18"},
		{"top-level array", `[1]`, `the top level must be an object, got an array`},
		{"syntax error", "{\n  \"allowPty\": true,,\n}", `invalid JSON in config file: line 2`},
		{"trailing garbage", `{} {}`, `invalid JSON in config file: line 1, column 4: invalid character '{' after top-level value; remove what follows the config's closing }`},
		{"missing comma: the string after it quoted", "{\"network\": {\"allowedDomains\": [\n\"a.com\"\n  \"b.com\"]}}",
			`invalid JSON in config file: line 3, column 3: invalid character '"' after array value (expecting ',' or ']'), at "b.com"; add the comma missing before it`},
		{"missing comma: a long string cut", `{"command": {"deny": ["x" "a very long command line that goes on and on"]}}`,
			`, at "a very long command line that goes on a...; add the comma`},
		{"unquoted string", `{"filesystem": {"allowWrite": [.]}}`, `line 1, column 32: invalid literal: .; quote strings with double quotes (only true, false, null and numbers go without)`},
		{"single quotes", `{'allowPty': true}`, `line 1, column 2: invalid character '\'' at start of value, at "'allowPty'"; JSON strings take double quotes`},
		{"missing colon", `{"allowPty" true}`, `line 1, column 13: invalid character 't' after object name, at "true"; put a colon between the name and its value`},
		{"truncated", "{\"network\": {\n", `unexpected EOF, at the end of the file; close every { and [ that is open, and end every string`},
		{"duplicate key", "{\"allowPty\": true,\n\"allowPty\": false}", `duplicate field "allowPty" at line 2 (first set at line 1); keep one`},
		{"duplicate key, other case", "{\"allowPty\": true, \"AllowPty\": false}", `duplicate field "AllowPty"`},
		{"empty allowWrite", "{\"filesystem\": {\"allowWrite\": [\n\".\",\n\"\"]}}", `invalid configuration: filesystem.allowWrite contains empty path (line 3)`},
		{"blank denyRead", `{"filesystem": {"denyRead": ["  "]}}`, `filesystem.denyRead contains empty path`},
		{"NUL in a path", `{"filesystem": {"denyWrite": ["a\u0000b"]}}`, `filesystem.denyWrite "a\x00b" contains a NUL byte; remove it`},
		{"empty allowRead", `{"filesystem": {"allowRead": [""]}}`, `filesystem.allowRead contains empty path`},
		{"${HOME} in allowUnixSockets", `{"network": {"allowUnixSockets": ["${HOME}/x.sock"]}}`, `network.allowUnixSockets "${HOME}/x.sock": environment variables are not expanded`},
		{"~user in allowUnixSockets", `{"network": {"allowUnixSockets": ["~root/x.sock"]}}`, `network.allowUnixSockets "~root/x.sock": only ~ and ~/ are expanded`},
		{"$HOME in denyRead", `{"filesystem": {"denyRead": ["$HOME/docs"]}}`, `filesystem.denyRead "$HOME/docs": environment variables are not expanded; write ~/... or an absolute path`},
		{"${HOME} in allowWrite", `{"filesystem": {"allowWrite": ["/x/${HOME}"]}}`, `filesystem.allowWrite "/x/${HOME}": environment variables are not expanded`},
		{"~user in denyRead", `{"filesystem": {"denyRead": ["~root/.bashrc"]}}`, `filesystem.denyRead "~root/.bashrc": only ~ and ~/ are expanded (not ~user); write the absolute path`},
		{"** inside a denyRead pattern", `{"filesystem": {"denyRead": ["src/**/x"]}}`, `filesystem.denyRead "src/**/x": a "**" inside a pattern is not supported for reads`},
		{"unclosed [ in denyRead", `{"filesystem": {"denyRead": ["[abc"]}}`, `filesystem.denyRead "[abc" is not a valid pattern (an unclosed "[" or a trailing "\"); write "\[" for a literal "["`},
		{"trailing backslash in denyWrite", `{"filesystem": {"denyWrite": ["a*\\"]}}`, `filesystem.denyWrite "a*\\" is not a valid pattern`},
		{"shell negation in denyWrite", `{"filesystem": {"denyWrite": ["**/x[!a].env"]}}`, `filesystem.denyWrite "**/x[!a].env": "[!...]" is not negation in fence's patterns; write "[^...]"`},
		{"empty command", `{"command": {"deny": [""]}}`, `command.deny contains empty command`},
		{"UTF-16 little-endian", "\xff\xfe{\x00}\x00", `it is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8`},
		{"UTF-16 big-endian", "\xfe\xff\x00{\x00}", `it is UTF-16 text`},
		{"empty allow", `{"command": {"allow": [" "]}}`, `command.allow contains empty command`},
		{"empty ssh command", `{"ssh": {"allowedCommands": [""]}}`, `ssh.allowedCommands contains empty command`},
		{"domain with scheme", `{"network": {"allowedDomains": ["https://github.com"]}}`, `invalid allowed domain "https://github.com": domain pattern cannot contain a protocol or path; give a host name: example.com, *.example.com, example.com:8080 or example.com:*`},
		{"domain with bad port", `{"network": {"allowedDomains": ["github.com:99999"]}}`, `invalid allowed domain "github.com:99999": invalid port "99999" (expected 1-65535)`},
		{"non-ASCII domain", `{"network": {"deniedDomains": ["bücher.de"]}}`, `invalid denied domain "bücher.de": non-ASCII name; write it in punycode (xn--...) (line 1)`},
		{"domain with a trailing space", `{"network": {"allowedDomains": ["example.com "]}}`, `invalid allowed domain "example.com ": domain pattern contains whitespace or a control character; remove it`},
		{"domain with port and path", `{"network": {"allowedDomains": ["github.com:443/x"]}}`, `domain pattern cannot contain a protocol or path`},
		{"bare IPv6", `{"network": {"allowedDomains": ["::1"]}}`, `invalid allowed domain "::1": an IPv6 address needs brackets and a port: [::1]:8080`},
		{"IPv6 address or port", `{"network": {"allowedDomains": ["::1:8002"]}}`, `invalid allowed domain "::1:8002": ambiguous IPv6 address: for port 8002 of ::1 write [::1]:8002; for the address ::1:8002 write it in brackets with a port, as [::1:8002]:443`},
		{"denied IPv6 address or port", `{"network": {"deniedDomains": ["fd00::1:443"]}}`, `invalid denied domain "fd00::1:443": ambiguous IPv6 address: for port 443 of fd00::1 write [fd00::1]:443;`},
		{"IPv6 port without brackets", `{"network": {"allowedDomains": ["::1:*"]}}`, `invalid allowed domain "::1:*": an IPv6 address with a port needs brackets: [::1]:*`},
		{"port not a number", `{"network": {"allowedDomains": ["github.com:http"]}}`, `other than host:port (1-65535) or host:*`},
		{"too broad wildcard", `{"network": {"allowedDomains": ["*.com"]}}`, `invalid allowed domain "*.com": wildcard pattern too broad (e.g., *.com not allowed)`},
		{"inner wildcard", `{"network": {"deniedDomains": ["git*.com"]}}`, `invalid denied domain "git*.com": only *.domain.com wildcard patterns are allowed`},
		{"star in denied", `{"network": {"deniedDomains": ["*"]}}`, `invalid denied domain "*": only *.domain.com wildcard patterns are allowed`},
		{"no dot", `{"network": {"allowedDomains": ["intranet"]}}`, `invalid allowed domain "intranet": invalid domain format: a name of one label (other than localhost) is refused; use a name with a dot, mapped to its address in network.hosts if DNS does not know it`},
		{"leading dot", `{"network": {"allowedDomains": [".example.com"]}}`, `invalid domain format: it starts or ends with a dot; write "example.com" (that host) or "*.example.com" (its subdomains)`},
		{"trailing dot", `{"network": {"deniedDomains": ["example.com."]}}`, `invalid denied domain "example.com.": invalid domain format: it starts or ends with a dot; write "example.com"`},
		{"dots only", `{"network": {"allowedDomains": [".."]}}`, `invalid domain format: no name; write a host name such as example.com`},
		// The fix names only forms that are valid themselves.
		{"leading dot on a TLD", `{"network": {"allowedDomains": [".com"]}}`, `invalid allowed domain ".com": invalid domain format: it starts or ends with a dot, and without the dots "com" is refused too: invalid domain format: a name of one label`},
		{"leading dot and a double dot", `{"network": {"allowedDomains": [".a..com"]}}`, `invalid allowed domain ".a..com": invalid domain format: it starts or ends with a dot, and without the dots "a..com" is refused too: invalid domain format: an empty label (..)`},
		{"leading dot on localhost", `{"network": {"allowedDomains": [".localhost"]}}`, `invalid allowed domain ".localhost": invalid domain format: it starts or ends with a dot; write "localhost" (line 1)`},
		{"empty label", `{"network": {"allowedDomains": ["*.a..com"]}}`, `invalid domain format: an empty label (a trailing or double dot); remove the extra dot`},
		{"double dot", `{"network": {"allowedDomains": ["a..b.com"]}}`, `invalid domain format: an empty label (..); remove the extra dot`},
		{"empty domain", `{"network": {"allowedDomains": [""]}}`, `invalid allowed domain "": empty domain; remove the entry (line 1)`},
		{"bad local port", `{"network": {"allowLocalOutboundPorts": [0]}}`, `network.allowLocalOutboundPorts: invalid port 0 (must be 1-65535)`},
		{"bad local port high", `{"network": {"allowLocalOutboundPorts": [70000]}}`, `invalid port 70000`},
		{"bad proxy port", `{"network": {"socksProxyPort": -1}}`, `network.socksProxyPort: invalid port -1`},
		{"host with path", `{"ssh": {"allowedHosts": ["host/x"]}}`, `invalid ssh.allowedHosts "host/x": host pattern cannot contain protocol or path`},
		{"host with port", `{"ssh": {"deniedHosts": ["host:22"]}}`, `invalid ssh.deniedHosts "host:22": host pattern cannot contain port; specify port in SSH command instead`},
		{"denied host with a leading space", `{"ssh": {"deniedHosts": [" prod-db"]}}`, `invalid ssh.deniedHosts " prod-db": host pattern starts or ends with whitespace, so it matches no host; remove the whitespace ("prod-db")`},
		{"allowed host with a trailing tab", `{"ssh": {"allowedHosts": ["dev\t"]}}`, `invalid ssh.allowedHosts "dev\t": host pattern starts or ends with whitespace`},
		{"host with a space inside", `{"ssh": {"deniedHosts": ["prod db"]}}`, `invalid ssh.deniedHosts "prod db": host pattern contains whitespace, which no host name has`},
		{"host with user", `{"ssh": {"allowedHosts": ["me@host"]}}`, `host pattern should not contain username; specify just the host`},
		{"empty host", `{"ssh": {"allowedHosts": [""]}}`, `empty host pattern`},
		{"leading space in allowWrite", "{\"filesystem\": {\"allowWrite\": [\n\".\",\n\" ./out\"]}}",
			`invalid configuration: filesystem.allowWrite " ./out" starts or ends with whitespace, so it names no file you meant; remove the whitespace ("./out") (line 3)`},
		{"trailing space in denyRead", `{"filesystem": {"denyRead": ["~/.ssh "]}}`, `filesystem.denyRead "~/.ssh " starts or ends with whitespace, so it names no file you meant; remove the whitespace ("~/.ssh")`},
		{"trailing tab in denyWrite", `{"filesystem": {"denyWrite": ["**/.env\t"]}}`, `filesystem.denyWrite "**/.env\t" starts or ends with whitespace`},
		{"trailing newline in allowRead", `{"filesystem": {"allowRead": ["/data\n"]}}`, `filesystem.allowRead "/data\n" starts or ends with whitespace`},
		{"leading space in allowExecute", `{"filesystem": {"allowExecute": [" /opt/tool"]}}`, `filesystem.allowExecute " /opt/tool" starts or ends with whitespace`},
		{"trailing space in a unix socket", `{"network": {"allowUnixSockets": ["/run/docker.sock "]}}`, `network.allowUnixSockets "/run/docker.sock " starts or ends with whitespace`},
		{"trailing space in extends", "{\n\"extends\": \"./base.json \"}", `extends "./base.json " starts or ends with whitespace, so it names no file you meant; remove the whitespace ("./base.json") (line 2)`},
		{"leading space in an extends template", `{"extends": " code"}`, `extends " code" starts or ends with whitespace`},
		{"invalid UTF-8 in a path", "{\"filesystem\": {\n  \"denyRead\": [\"~/.ssh\", \"~/caf\xe9\"]}}",
			`field "filesystem.denyRead[1]" at line 2, column 32: byte 0xe9 in a string is not UTF-8; save the file as UTF-8`},
		{"invalid UTF-8 after an escape", "{\"command\": {\"deny\": [\"a\\tb\xff\"]}}",
			`field "command.deny[0]" at line 1, column 28: byte 0xff in a string is not UTF-8`},
		{"invalid UTF-8 in a string field", "{\"extends\": \"./b\xc3\"}", `field "extends" at line 1, column 17: byte 0xc3`},
		{"invalid UTF-8 in a key", "{\"network\": {\"allowed\xffDomains\": []}}", `a key in "network" at line 1, column 22: byte 0xff`},
		{"lone low surrogate", `{"filesystem": {"denyWrite": ["x\udc80y"]}}`,
			`field "filesystem.denyWrite[0]" at line 1, column 33: \udc80 is half of a UTF-16 surrogate pair, which is no character; write the character itself, or both halves (as in "\ud83d\ude00")`},
		{"lone high surrogate", `{"filesystem": {"denyWrite": ["\ud83dx"]}}`, `column 32: \ud83d is half of a UTF-16 surrogate pair`},
		{"high surrogate before another escape", `{"filesystem": {"denyWrite": ["\ud83d\u0041"]}}`, `column 32: \ud83d is half`},
		{"two high surrogates", `{"filesystem": {"denyWrite": ["\ud83d\ud83d"]}}`, `column 32: \ud83d is half`},
		{"high surrogate at the end", `{"filesystem": {"denyWrite": ["\uD83D"]}}`, `column 32: \uD83D is half`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			if err == nil {
				t.Fatalf("Parse(%s) succeeded, want error containing %q", tt.src, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name, src string
		check     func(*Config) bool
	}{
		{"empty", "", func(c *Config) bool { return reflect.DeepEqual(c, &Config{}) }},
		{"whitespace", " \n\t ", func(c *Config) bool { return reflect.DeepEqual(c, &Config{}) }},
		{"empty object", "{}", func(c *Config) bool { return reflect.DeepEqual(c, &Config{}) }},
		{"comments only object", "// hi\n{ /* x */ }\n", func(c *Config) bool { return reflect.DeepEqual(c, &Config{}) }},
		{"case-insensitive keys", `{"Network": {"AllowedDomains": ["a.com"]}}`,
			func(c *Config) bool { return len(c.Network.AllowedDomains) == 1 }},
		{"null section", `{"network": null}`, func(c *Config) bool { return reflect.DeepEqual(c, &Config{}) }},
		{"null list", `{"command": {"deny": null}}`, func(c *Config) bool { return c.Command.Deny == nil }},
		{"null optional bool", `{"command": {"useDefaults": null}}`, func(c *Config) bool { return c.Command.UseDefaults == nil }},
		{"false optional bool", `{"command": {"useDefaults": false}}`,
			func(c *Config) bool { return c.Command.UseDefaults != nil && !*c.Command.UseDefaults }},
		{"star allowed", `{"network": {"allowedDomains": ["*"]}}`, func(c *Config) bool { return c.Network.AllowsAllDomains() }},
		{"IPv6 host", `{"ssh": {"allowedHosts": ["fe80::1", "::1"]}}`, func(c *Config) bool { return len(c.SSH.AllowedHosts) == 2 }},
		{"IP domain", `{"network": {"deniedDomains": ["169.254.169.254"]}}`, func(c *Config) bool { return true }},
		{"extends kept by Parse", `{"extends": "code"}`, func(c *Config) bool { return c.Extends == "code" }},
		{"unicode escapes", `{"command": {"deny": ["git\u0020push"]}}`, func(c *Config) bool { return c.Command.Deny[0] == "git push" }},
		{"escapes", `{"command": {"deny": ["\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00x"]}}`,
			func(c *Config) bool { return c.Command.Deny[0] == "\"\\/\b\f\n\r\té€😀x" }},
		{"a replacement character written out", "{\"command\": {\"deny\": [\"a\uFFFD\", \"\xef\xbf\xbd\\t\"]}}",
			func(c *Config) bool { return c.Command.Deny[0] == "a\uFFFD" && c.Command.Deny[1] == "\uFFFD\t" }},
		{"whitespace inside paths", `{"filesystem": {"allowWrite": ["./My Documents", "~/a b/c"], "denyRead": ["~/x\ty"]}, "network": {"allowUnixSockets": ["/run/my sock"]}}`,
			func(c *Config) bool { return len(c.Filesystem.AllowWrite) == 2 && c.Filesystem.DenyRead[0] == "~/x\ty" }},
		{"byte order mark", "\xef\xbb\xbf{\"command\": {\"deny\": [\"x\"]}}", func(c *Config) bool { return len(c.Command.Deny) == 1 }},
		// hujson ends a // comment only at a newline.
		{"line comment at the end without a newline", "{\"command\": {\"deny\": [\"x\"]}}\n// last", func(c *Config) bool { return len(c.Command.Deny) == 1 }},
		{"line comment on the last line", "{\"command\": {\"deny\": [\"x\"]}} // last", func(c *Config) bool { return len(c.Command.Deny) == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("Parse(%s) = %+v", tt.src, c)
			}
		})
	}
}

func TestLoadFileWildcardWarning(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(absTestdata(t), "wildcard.json")
	c, sources, err := Resolve(LoadOptions{SettingsPath: file, Home: dir, Cwd: dir, ConfigDir: dir, NoProject: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Network.AllowsAllDomains() {
		t.Error(`"*" was dropped`)
	}
	w := Warnings(sources)
	if len(w) != 1 || !strings.Contains(w[0], `contains "*"`) || !strings.HasPrefix(w[0], file+": ") {
		t.Errorf("warnings = %q", w)
	}
	// Templates using "*" produce no warning.
	_, sources, err = Resolve(LoadOptions{Template: "code-relaxed", Home: dir, Cwd: dir, ConfigDir: dir, NoProject: true})
	if err != nil {
		t.Fatal(err)
	}
	if w := Warnings(sources); len(w) != 0 {
		t.Errorf("template warnings = %q", w)
	}
}

func TestLoadFileMissingAndEmpty(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadFile(filepath.Join(dir, "nope.json"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: err = %v", err)
	}
	c, err := LoadFile(filepath.Join(testdata, "whitespace.json"))
	if err != nil || !reflect.DeepEqual(c, &Config{}) {
		t.Errorf("empty file: %+v, %v", c, err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDomainPortForm: fence accepts an optional ":port" or ":*" on allowed and
// denied domains (an extension over upstream), validated like the host.
func TestDomainPortForm(t *testing.T) {
	for _, d := range []string{"github.com:443", "127.0.0.1:8080", "localhost:3000", "*.example.com:8443", "[::1]:8080", "api.test:*", "*.example.com:*", "[::1]:*", "localhost:*"} {
		if _, err := Parse([]byte(`{"network": {"allowedDomains": ["` + d + `"]}}`)); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	for _, d := range []string{"github.com:0", "*.com:80", "exa mple.com:80", "[zz]:80", "a:b:80", "a:b:*", "[zz]:*", ":*", "*.com:*"} {
		if _, err := Parse([]byte(`{"network": {"allowedDomains": ["` + d + `"]}}`)); err == nil {
			t.Errorf("%s: accepted", d)
		}
	}
}

// "localhost" in any case is accepted, as the proxy matches names without
// regard to case: "LOCALHOST:8080" was refused as "a name of one label
// (other than localhost)".
func TestLocalhostAnyCase(t *testing.T) {
	for _, d := range []string{"LOCALHOST", "Localhost:3000", "localHost:*"} {
		for _, field := range []string{"allowedDomains", "deniedDomains"} {
			if _, err := Parse([]byte(`{"network": {"` + field + `": ["` + d + `"]}}`)); err != nil {
				t.Errorf("%s %q: %v", field, d, err)
			}
		}
	}
}

// A "!" in a class that does not open it is no shell negation: accepted.
func TestParseClassWithBang(t *testing.T) {
	for _, src := range []string{`{"filesystem": {"denyWrite": ["x[\\][!a]"]}}`, `{"filesystem": {"denyWrite": ["x[^!]", "x[\\!a]", "a\\[!b]"]}}`} {
		if _, err := Parse([]byte(src)); err != nil {
			t.Errorf("Parse(%s): %v", src, err)
		}
	}
}

// TestUnquoteMatchesEncodingJSON: for every valid string, unquote decodes
// as encoding/json does; for invalid UTF-8 and lone surrogates, where
// encoding/json writes U+FFFD, it reports the problem instead.
func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	for _, lit := range []string{`""`, `"a"`, `"\\"`, `"\u0000"`, `"\u00e9\u00E9é"`, `"\ud800\udc00"`, `"\udbff\udfff"`,
		`"x\/y\"z"`, `"🙂\ud83d\ude42"`, "\"\xe2\x82\xac\\n\"", `"\uFFFD"`, `"\uffff"`} {
		got, _, problem := unquote(hujson.Literal(lit))
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatal(err)
		}
		if problem != "" || got != want {
			t.Errorf("unquote(%s) = %q, %q; want %q", lit, got, problem, want)
		}
	}
	for lit, at := range map[string]int{"\"\xff\"": 1, "\"ab\xc3\"": 3, "\"\\n\xed\xa0\x80\"": 3, `"\udc00"`: 1, `"a\ud800"`: 2,
		`"\ud800\ud800"`: 1, `"\ud800\n"`: 1, `"\ud800\u0041"`: 1, `"\udfff\ud800"`: 1} {
		if got, i, problem := unquote(hujson.Literal(lit)); problem == "" || i != at {
			t.Errorf("unquote(%q) = %q, %d, %q; want a problem at %d", lit, got, i, problem, at)
		}
	}
}

// TestLoadFileInvalidString: the error names the file, the field, the
// line and the column.
func TestLoadFileInvalidString(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fence.json")
	write(t, p, "{\n  \"filesystem\": {\n    \"denyRead\": [\"~/.aws\", \"~/.ss\xe8\"]\n  }\n}\n")
	_, err := LoadFile(p)
	want := "config " + p + `: field "filesystem.denyRead[1]" at line 3, column 34: byte 0xe8 in a string is not UTF-8; save the file as UTF-8`
	if err == nil || err.Error() != want {
		t.Errorf("LoadFile = %v\nwant %s", err, want)
	}
}

// network.hosts lines are read as a hosts file's: a "#" starts a comment,
// and every name is one the proxy could be asked for ("bad_name!",
// "-x.com" and "a..b" were accepted and mapped nothing; "x.com # comment"
// mapped "#" and "comment").
func TestHostsLines(t *testing.T) {
	for _, line := range []string{"127.0.0.1 api.test", "127.0.0.1 API.test. other.test # comment", "::1 svc", "10.0.0.1 my_host.internal\\t# tabs"} {
		if _, err := Parse([]byte(`{"network": {"hosts": ["` + line + `"]}}`)); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
	for line, want := range map[string]string{
		"127.0.0.1 bad_name!":     `"bad_name!" is not a host name`,
		"127.0.0.1 -x.com":        `"-x.com" is not a host name (label "-x" starts or ends with '-'`,
		"127.0.0.1 a..b":          `"a..b" is not a host name (an empty label)`,
		"127.0.0.1 *.x.com":       `"*.x.com" is not a host name`,
		"127.0.0.1 x.com:80":      `"x.com:80" is not a host name`,
		"127.0.0.1 # a comment":   "needs an address and at least one name",
		"nope x.com":              `"nope" is not an IP address`,
		"127.0.0.1 good.test a.-": `"a.-" is not a host name`,
	} {
		_, err := Parse([]byte(`{"network": {"hosts": ["` + line + `"]}}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", line, err, want)
		}
	}
	n := NetworkConfig{Hosts: []string{"127.0.0.1 API.test. other.test # comment here"}}
	m := n.HostsMap()
	if len(m) != 2 || len(m["api.test"]) != 1 || len(m["other.test"]) != 1 {
		t.Errorf("HostsMap of a line with a comment: %v; want api.test and other.test alone", m)
	}
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse: the loader never panics, and what it accepts survives a
// Marshal/Parse round trip unchanged.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"full.jsonc", "typo.json", "nested-typo.json", "wrong-type.json", "empty-path.json", "wildcard.json", "whitespace.json"} {
		b, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, ti := range Templates() {
		b, err := templateSource(ti.Name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{"", "{}", "[]", "null", `{"extends": "code"}`, `{"network": {"allowLocalOutboundPorts": [1, 65535]}}`, `{"a": {"b": [}}`, "{\"allowPty\": true,,}", `{"command": {"useDefaults": null}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of a parsed config: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(normalizeEmpty(c), normalizeEmpty(back)) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, back)
		}
	})
}

// normalizeEmpty makes empty lists nil: Marshal omits them, so [] and
// absent are the same config.
func normalizeEmpty(c *Config) *Config {
	return Merge(nil, c)
}

// FuzzCheckCommand: preflight never panics, is deterministic, and returns
// only its two error types.
func FuzzCheckCommand(f *testing.F) {
	seeds := []string{
		"git push", "ls && git push", `bash -c "git push"`, "env git push", "command git push",
		"X=git; $X push", "echo $(git push)", "bash <<EOF\ngit push\nEOF", `echo "unterminated`,
		"ssh -p 22 user@prod-db.example.com 'ls && rm -rf /'", "{git,push}", "find . -exec rm -rf {} +",
		"f() { git push; }; f", "cat <(ls) | xargs -n1 nice -n5 git push", "$'\\x67it' push",
		"for i in 1 2; do timeout 5 git push; done", "((x++))", "[[ -f x ]] && git push", "a=(1 2); ${a[0]}",
		"eval \"$(echo git push)\"", "ls 2>&1 >/dev/null &", "case x in x) git push;; esac", "coproc git push",
		"git $(printf '%-3s%b' pu 'sh\\c')", "source <(echo -e 'git\\x20push')", "bash /dev/stdin <<< 'git push'",
		"printf 'a\\0push' | xargs -0 -I{} git {}", "docker run -itv /:/h --mount=type=bind,src=/,dst=/x a",
		"printf -v x '%s' push; git $x", "IFS=, read -ra a <<< 'x,push'; git ${a[1]}",
		"printf 'a\\npush\\n' | while read x; do git $x; done", "mapfile -t -C 'git #' -c 1 a <<< push",
		"f(){ shift 2; git \"$@\"; }; f a b push", "X=xpush; git ${X#?} ${X//[!a-z]/} ${X:1:4} ${X^^} ${@: -1}",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	c, err := Template("code")
	if err != nil {
		f.Fatal(err)
	}
	c.SSH = SSHConfig{AllowedHosts: []string{"*.example.com"}, DeniedHosts: []string{"prod-db.example.com"}, AllowedCommands: []string{"ls"}, InheritDeny: true}
	f.Fuzz(func(t *testing.T, cmd string) {
		err := CheckCommand(cmd, c)
		var be *CommandBlockedError
		var se *SSHBlockedError
		if err != nil && !errors.As(err, &be) && !errors.As(err, &se) {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		again := CheckCommand(cmd, c)
		if (err == nil) != (again == nil) || err != nil && err.Error() != again.Error() {
			t.Fatalf("not deterministic: %v / %v", err, again)
		}
	})
}

package fence

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSSHIncludeArgs(t *testing.T) {
	got := sshArgs([]byte(`# Include not-this
Host x
	ProxyCommand nc %h %p
  include config.d/*   other.conf
Include="~/quoted path/a.conf" b.conf # trailing
INCLUDE=/abs/c.conf
Includes not-a-keyword
Match host y
	Include  match.conf
`), "include")
	want := []string{"config.d/*", "other.conf", "~/quoted path/a.conf", "b.conf", "/abs/c.conf", "match.conf"}
	if !slices.Equal(got, want) {
		t.Errorf("sshArgs include = %q, want %q", got, want)
	}
}

// TestSSHIncludes: literal includes (relative to ~/.ssh, "~/", absolute;
// missing ones too) and what they include, a last-component glob as a
// pattern with its matches, a loop.
func TestSSHIncludes(t *testing.T) {
	home := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".ssh/config", "Include config.d/* ~/dots/ssh.conf\nInclude /nonexistent/x.conf\n")
	write(".ssh/config.d/a", "Host a\n")
	// A directory the glob matches (old configs kept aside): ssh reads it
	// as empty; it is not an error.
	write(".ssh/config.d/old/b", "Host b\n")
	write("dots/ssh.conf", "Include nested.conf\nInclude ~/dots/ssh.conf\n") // relative: ~/.ssh/nested.conf
	s := &Spec{Home: home}
	paths, patterns, err := s.sshIncludes()
	if err != nil {
		t.Fatal(err)
	}
	wantPaths := []string{filepath.Join(home, ".ssh/config.d/a"), filepath.Join(home, ".ssh/config.d/old"), filepath.Join(home, "dots/ssh.conf"), "/nonexistent/x.conf", filepath.Join(home, ".ssh/nested.conf")}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("paths = %q, want %q", paths, wantPaths)
	}
	if want := []string{filepath.Join(home, ".ssh/config.d/*")}; !slices.Equal(patterns, want) {
		t.Errorf("patterns = %q, want %q", patterns, want)
	}
}

// sshGlob: ssh's glob(3) syntax in filepath.Match's.
func TestSSHGlob(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"config.d/*", "config.d/*"},
		{"hosts/[!_]*.conf", "hosts/[^_]*.conf"},
		{"[^a]x", `[\^a]x`},
		{"x[^]y", `x[\^]y`},
		{"[!]", `\[!]`},
		{"[[:alnum:]_]*", "[a-zA-Z0-9_]*"},
		{"[[:]", `[\[:]`},
		{"[]a]", `[\]a]`},
		{"[-_]x", `[\-_]x`},
		{"[_-]x", `[_\-]x`},
		{"[a-c]", "[a-c]"},
		{`a\[b`, `a\[b`},
		{`foo\bar`, "foobar"},
		{"x[", `x\[`},
		{"a[b/c]", `a\[b/c]`},
		{"/h[1]/.ssh/x", "/h[1]/.ssh/x"},
		{"[[:alpha:]-[:digit:]]", `[a-zA-Z\-0-9]`},
		{"[a-c-e]", `[a-c\-e]`},
	} {
		got, err := sshGlob(c.in)
		if err != nil || got != c.want {
			t.Errorf("sshGlob(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if _, err := filepath.Match(got, ""); err != nil {
			t.Errorf("sshGlob(%q) = %q: not a valid pattern: %v", c.in, got, err)
		}
	}
	if _, err := sshGlob("[[:nope:]]"); err == nil {
		t.Error("an unknown class name: no error")
	}
	// Files the glob matches as ssh reads it are what it includes.
	for _, n := range []string{"a.conf", "_x.conf", "!.conf"} {
		got, _ := sshGlob("[!_]*.conf")
		m, _ := filepath.Match(got, n)
		if want := n != "_x.conf"; m != want {
			t.Errorf("[!_]*.conf on %q: %v, want %v", n, m, want)
		}
	}
}

// Include lines split as ssh splits them (argv_split): each case is one
// that fence used to read otherwise, so that the file ssh includes was
// not the one fence protected.
func TestSSHIncludeArgsAsSSH(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{`Include 'q1 x'`, []string{"q1 x"}},
		{`Include q2\ x`, []string{"q2 x"}},
		{`Include "q3"x`, []string{"q3x"}},
		{`Include q13"x y"`, []string{"q13x y"}},
		{`Include q4\\*`, []string{`q4\*`}},
		{`Include "#q5"`, []string{"#q5"}},
		{`"Include" q6`, []string{"q6"}},
		{`Include a b # c`, []string{"a", "b"}},
		{`include=x`, []string{"x"}},
		{`Include foo\bar`, []string{`foo\bar`}},
		{`Include 'unclosed`, nil},
		{`In"clude" /x`, []string{"/x"}},
		{`"Include"=/x`, []string{"=/x"}},
		{`Include = /y`, []string{"/y"}},
		{`Include=  /z`, []string{"/z"}},
		{`Include ""`, nil},
		{`IncludeX y`, nil},
	} {
		if got := sshArgs([]byte(c.line+"\n"), "include"); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.line, got, c.want)
		}
	}
}

// IdentityFile arguments as ssh expands them: "~" and %d are the home, %%
// a percent sign; one that depends on the connection (%h, %r), on the
// environment (${VAR}) or on the directory ssh runs in is left out, and
// so is "none".
func TestIdentityArgs(t *testing.T) {
	s := &Spec{Home: "/h"}
	got := s.identityArgs([]byte(`IdentityFile ~/.ssh/a
Host x
  IdentityFile %d/b%%c
  identityfile="/k/d"
  IdentityFile none
  IdentityFile ~/%h/e
  IdentityFile ${HOME}/f
  IdentityFile rel/g
  IdentityFile /k/h%
`))
	want := []string{"/h/.ssh/a", "/h/b%c", "/k/d"}
	if !slices.Equal(got, want) {
		t.Errorf("identityArgs = %q, want %q", got, want)
	}
	// ${VAR} is the command's environment, as ssh expands it; a name
	// that is not set (ssh refuses the line) or an unclosed one names
	// nothing.
	s = &Spec{Home: "/h", Env: []string{"KEYS=/old", "KEYS=/keys", "EMPTY="}}
	got = s.identityArgs([]byte(`IdentityFile ${KEYS}/work.pem
IdentityFile ${EMPTY}/root.pem
IdentityFile ~/${KEYS}x
IdentityFile ${UNSET}/a
IdentityFile ${KEYS/b
IdentityFile ${}/c
`))
	want = []string{"/keys/work.pem", "/root.pem", "/h/keysx"}
	if !slices.Equal(got, want) {
		t.Errorf("identityArgs with ${VAR} = %q, want %q", got, want)
	}
	// %i, %l and %L (the uid, the host name, whole and up to its first
	// dot) are the same for every connection: ~/keys/%L.key names a
	// fixed file, which ssh reads.
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	short, _, _ := strings.Cut(host, ".")
	s = &Spec{Home: "/h"}
	got = s.identityArgs([]byte("IdentityFile ~/keys/%L.key\nIdentityFile /k/%l-%i\n"))
	want = []string{"/h/keys/" + short + ".key", fmt.Sprintf("/k/%s-%d", host, os.Getuid())}
	if !slices.Equal(got, want) {
		t.Errorf("identityArgs with %%i, %%l, %%L = %q, want %q", got, want)
	}
}

// Private keys in a subdirectory of ~/.ssh that is a symlink to a
// directory (~/.ssh/keys -> ~/secure/keys) are hidden, as in a real one;
// a public key that an IdentityFile names (IdentitiesOnly with an agent:
// ~/.ssh/github.pub, ~/agent/github.pub) is not hidden, whatever its name,
// and a private key named x.pub is.
func TestSSHKeysSymlinkedDirAndPublicIdentity(t *testing.T) {
	home := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	priv := "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n"
	write("secure/keys/work", priv)
	write("agent/github.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me@host\n")
	write("agent/odd.pub", priv)
	write("agent/deploy", "whatever it holds\n")
	write(".ssh/config", "Host *\n  IdentityFile ~/agent/github.pub\n  IdentityFile ~/agent/odd.pub\n  IdentityFile ~/agent/deploy\n")
	if err := os.Symlink(filepath.Join(home, "secure/keys"), filepath.Join(home, ".ssh/keys")); err != nil {
		t.Fatal(err)
	}
	s := &Spec{Home: home, Cwd: home}
	var got []string
	for _, c := range s.credentials() {
		got = append(got, c.pattern)
	}
	for _, want := range []string{filepath.Join(home, ".ssh/keys/work"), filepath.Join(home, "agent/odd.pub"), filepath.Join(home, "agent/deploy")} {
		if !slices.Contains(got, want) {
			t.Errorf("%s not hidden: %q", want, got)
		}
	}
	if p := filepath.Join(home, "agent/github.pub"); slices.Contains(got, p) {
		t.Errorf("public key %s hidden", p)
	}
}

// A PEM private key after other lines ("Bag Attributes" from openssl
// pkcs12 -nodes, a comment, a blank line), which ssh -i reads as a key
// (OpenSSL skips what comes before "-----BEGIN"), is hidden in ~/.ssh and
// its subdirectories, and one that an IdentityFile names is not taken for
// a public key because its first line starts with "ssh-".
func TestSSHKeysPEMAfterOtherLines(t *testing.T) {
	home := t.TempDir()
	write := func(rel, body string) string {
		p := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"
	want := []string{
		write(".ssh/work.pem", "Bag Attributes\n    friendlyName: work\nKey Attributes: <No Attributes>\n"+pem),
		write(".ssh/keys/deploy.pem", "# deploy key\r\n"+pem),
		write(".ssh/keys/blank", "\n"+pem),
		write("keys/prod", "ssh-rsa key for prod\n"+pem),
	}
	pub := write("keys/agent.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me@host\n")
	notes := write(".ssh/keys/notes", "keys are in the vault\n")
	write(".ssh/config", "Host *\n  IdentityFile ~/keys/prod\n  IdentityFile ~/keys/agent.pub\n")
	s := &Spec{Home: home, Cwd: home}
	var got []string
	for _, c := range s.credentials() {
		got = append(got, c.pattern)
	}
	for _, p := range want {
		if !slices.Contains(got, p) {
			t.Errorf("%s not hidden: %q", p, got)
		}
	}
	for _, p := range []string{pub, notes} {
		if slices.Contains(got, p) {
			t.Errorf("%s hidden: %q", p, got)
		}
	}
}

// A subdirectory of ~/.ssh with more files than fence reads the first line
// of is hidden whole; a smaller one has only its private keys hidden.
func TestSSHKeysLargeSubdirHiddenWhole(t *testing.T) {
	home := t.TempDir()
	big, small := filepath.Join(home, ".ssh", "big"), filepath.Join(home, ".ssh", "small")
	for _, d := range []string{big, small} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i := range maxKeyCandidates + 1 {
		if err := os.WriteFile(filepath.Join(big, fmt.Sprintf("f%d", i)), []byte("note\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(small, "k"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(small, "note"), []byte("note\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Spec{Home: home, Cwd: home}
	got := s.sshPrivateKeys()
	slices.Sort(got)
	if want := []string{big, filepath.Join(small, "k")}; !slices.Equal(got, want) {
		t.Errorf("sshPrivateKeys = %q, want %q", got, want)
	}
}

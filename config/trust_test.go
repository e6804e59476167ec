package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// trust records the project file p as trusted in o's store, as `fence config
// trust` does.
func trust(t testing.TB, o LoadOptions, p string) {
	t.Helper()
	if _, err := TrustProject(o.TrustStore, p, o.Home, true); err != nil {
		t.Fatal(err)
	}
}

func mustParse(t *testing.T, s string) *Config {
	t.Helper()
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return c
}

// looseningCases sets each config field in a project config on top of an
// empty base (or the base given): whether fence then enforces a looser
// policy. Every field of Config must be here (TestLooseningCoversEveryField),
// so that a new field cannot slip through the trust check unclassified.
var looseningCases = []struct {
	field, base, project string
	loosens              bool
}{
	{"$schema", "", `{"$schema": "x"}`, false},
	{"extends", "", `{"extends": "code"}`, true}, // its template's allowWrite, domains, ...
	{"allowPty", "", `{"allowPty": true}`, true},
	{"network.allowedDomains", "", `{"network": {"allowedDomains": ["a.example"]}}`, true},
	{"network.allowedDomains", `{"network": {"allowedDomains": ["*"]}}`, `{"network": {"allowedDomains": ["a.example"]}}`, false},
	{"network.allowedDomains", `{"network": {"allowedDomains": ["a.example"]}}`, `{"network": {"allowedDomains": ["a.example"]}}`, false},
	{"network.deniedDomains", "", `{"network": {"deniedDomains": ["a.example"]}}`, false},
	{"network.allowUnixSockets", "", `{"network": {"allowUnixSockets": ["/run/x.sock"]}}`, true},
	{"network.allowAllUnixSockets", "", `{"network": {"allowAllUnixSockets": true}}`, true},
	{"network.allowLocalBinding", "", `{"network": {"allowLocalBinding": true}}`, true},
	{"network.allowLocalOutbound", "", `{"network": {"allowLocalOutbound": true}}`, true},
	{"network.allowLocalOutbound", `{"network": {"allowLocalOutbound": true}}`, `{"network": {"allowLocalOutbound": false}}`, false},
	{"network.allowLocalOutboundPorts", "", `{"network": {"allowLocalOutboundPorts": [5432]}}`, true},
	{"network.httpProxyPort", "", `{"network": {"httpProxyPort": 8080}}`, false},
	{"network.socksProxyPort", "", `{"network": {"socksProxyPort": 1081}}`, false},
	{"network.hosts", "", `{"network": {"hosts": ["169.254.169.254 api.example"]}}`, true},
	{"filesystem.defaultDenyRead", "", `{"filesystem": {"defaultDenyRead": true}}`, false},
	{"filesystem.wslInterop", "", `{"filesystem": {"wslInterop": true}}`, true},
	{"filesystem.wslInterop", "", `{"filesystem": {"wslInterop": false}}`, false},
	{"filesystem.allowRead", "", `{"filesystem": {"allowRead": ["~/.ssh"]}}`, true},
	{"filesystem.allowExecute", "", `{"filesystem": {"allowExecute": ["/opt/x"]}}`, true},
	{"filesystem.denyRead", "", `{"filesystem": {"denyRead": ["secret"]}}`, false},
	{"filesystem.allowWrite", "", `{"filesystem": {"allowWrite": ["/"]}}`, true},
	{"filesystem.allowWrite", `{"filesystem": {"allowWrite": ["."]}}`, `{"filesystem": {"allowWrite": ["."]}}`, false},
	{"filesystem.denyWrite", "", `{"filesystem": {"denyWrite": ["x"]}}`, false},
	{"filesystem.allowGitConfig", "", `{"filesystem": {"allowGitConfig": true}}`, true},
	{"command.deny", "", `{"command": {"deny": ["x"]}}`, false},
	{"command.allow", "", `{"command": {"allow": ["git push"]}}`, true},
	{"command.useDefaults", "", `{"command": {"useDefaults": false}}`, true},
	{"command.useDefaults", "", `{"command": {"useDefaults": true}}`, false},
	// No host lists: no ssh policy, everything allowed; any rule narrows.
	{"ssh.allowedHosts", "", `{"ssh": {"allowedHosts": ["*"], "allowAllCommands": true}}`, false},
	{"ssh.allowedHosts", `{"ssh": {"allowedHosts": ["a"]}}`, `{"ssh": {"allowedHosts": ["b"]}}`, true},
	{"ssh.allowedHosts", `{"ssh": {"deniedHosts": ["a"]}}`, `{"ssh": {"allowedHosts": ["b"]}}`, false},
	{"ssh.deniedHosts", `{"ssh": {"allowedHosts": ["a"]}}`, `{"ssh": {"deniedHosts": ["b"]}}`, false},
	{"ssh.allowedCommands", `{"ssh": {"allowedHosts": ["a"]}}`, `{"ssh": {"allowedCommands": ["ls"]}}`, true},
	{"ssh.deniedCommands", `{"ssh": {"allowedHosts": ["a"]}}`, `{"ssh": {"deniedCommands": ["rm"]}}`, false},
	{"ssh.allowAllCommands", `{"ssh": {"allowedHosts": ["a"]}}`, `{"ssh": {"allowAllCommands": true}}`, true},
	{"ssh.inheritDeny", `{"ssh": {"allowedHosts": ["a"]}}`, `{"ssh": {"inheritDeny": true}}`, false},
}

func TestLoosening(t *testing.T) {
	for _, c := range looseningCases {
		t.Run(c.field+" "+c.project, func(t *testing.T) {
			var base *Config
			if c.base != "" {
				base = mustParse(t, c.base)
			}
			project := mustParse(t, c.project)
			if project.Extends != "" {
				var err error
				l := chainLoader{}
				if project, err = l.template(project.Extends, "", 0); err != nil {
					t.Fatal(err)
				}
			}
			got := Loosening(base, Merge(base, project))
			if (len(got) > 0) != c.loosens {
				t.Errorf("Loosening(%s, +%s) = %q; want loosening %v", c.base, c.project, got, c.loosens)
			}
		})
	}
}

// Every field of the config, by its JSON path, has a case above.
func TestLooseningCoversEveryField(t *testing.T) {
	have := map[string]bool{}
	for _, c := range looseningCases {
		have[c.field] = true
	}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Type.Kind() == reflect.Struct {
				walk(prefix+name+".", f.Type)
				continue
			}
			if !have[prefix+name] {
				t.Errorf("config field %s has no loosening case: say whether a project config setting it loosens the policy (Loosening)", prefix+name)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
}

// A project config that loosens the policy applies once trusted as it is,
// and asks again once it (or what it extends) changes; one that only
// tightens needs no trust.
func TestResolveUntrustedProject(t *testing.T) {
	e, sub := newRepoEnv(t)
	o := e.opts()
	o.Cwd = sub
	p := filepath.Join(e.cwd, "fence.json")
	write(t, p, `{"extends": "./base.json", "filesystem": {"denyRead": ["secret"]}}`)
	write(t, filepath.Join(e.cwd, "base.json"), `{}`)
	if _, _, err := Resolve(o); err != nil {
		t.Fatalf("a project config that only tightens: %v", err)
	}

	write(t, filepath.Join(e.cwd, "base.json"), `{"filesystem": {"allowWrite": ["/"]}, "network": {"allowAllUnixSockets": true}}`)
	_, _, err := Resolve(o)
	var ue *UntrustedProjectError
	if !errors.As(err, &ue) || ue.Path != p || ue.Changed ||
		!slices.Equal(ue.Loosens, []string{"network.allowAllUnixSockets", `filesystem.allowWrite "/"`}) {
		t.Fatalf("untrusted loosening through extends: got %v", err)
	}
	for _, want := range []string{p + " is not trusted", "fence config trust", "--no-project"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Shown, marked, by config show.
	oi := o
	oi.Inspect = true
	c, sources, err := Resolve(oi)
	if err != nil || !sources[len(sources)-1].Untrusted || !slices.Contains(c.Filesystem.AllowWrite, "/") {
		t.Fatalf("Inspect: %v, %+v", err, sources)
	}
	if s := sources[len(sources)-1].String(); !strings.Contains(s, "NOT TRUSTED") {
		t.Errorf("source string %q does not say it is not trusted", s)
	}
	oi.NoProject = true
	if _, _, err := Resolve(oi); err != nil {
		t.Fatalf("NoProject: %v", err)
	}

	trust(t, o, p)
	c, sources, err = Resolve(o)
	if err != nil || !slices.Contains(c.Filesystem.AllowWrite, "/") || sources[len(sources)-1].Untrusted {
		t.Fatalf("trusted: %v", err)
	}
	if st, err := os.Stat(o.TrustStore); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("trust store %s: %v (want mode 0600)", o.TrustStore, err)
	}

	// Trust holds where a symlink to the project is the working
	// directory, and trust given there holds in the project itself.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(e.cwd, link); err != nil {
		t.Fatal(err)
	}
	ol := o
	ol.Cwd = link
	if _, _, err := Resolve(ol); err != nil {
		t.Fatalf("trusted, through a symlink to the project: %v", err)
	}
	c, _ = LoadProject(p, o.Home)
	if err := SetTrust(o.TrustStore, p, Digest(c), false); err != nil {
		t.Fatal(err)
	}
	trust(t, ol, filepath.Join(link, "fence.json"))
	if _, _, err := Resolve(o); err != nil {
		t.Fatalf("trusted through a symlink, in the project: %v", err)
	}

	// Another checkout whose fence.json is a symlink to the trusted one
	// is not trusted by it: the trust was given to that project, not to
	// the config wherever a checkout points at it.
	other := t.TempDir()
	for _, name := range []string{"fence.json", "base.json"} {
		if err := os.Symlink(filepath.Join(e.cwd, name), filepath.Join(other, name)); err != nil {
			t.Fatal(err)
		}
	}
	oo := o
	oo.Cwd = other
	if _, _, err := Resolve(oo); !errors.As(err, &ue) || ue.Changed {
		t.Fatalf("a checkout whose fence.json is a symlink to a trusted project's: want it untrusted, got %v", err)
	}

	// A change in the extended file is a change, and the error names
	// that file, not the project file.
	base := filepath.Join(e.cwd, "base.json")
	write(t, base, `{"filesystem": {"allowWrite": ["/", "/x"]}}`)
	if _, _, err := Resolve(o); !errors.As(err, &ue) || !ue.Changed || !slices.Equal(ue.ChangedFiles, []string{base}) ||
		!strings.Contains(err.Error(), p+" is trusted, but "+base+", which it extends, changed since; it loosens the policy") {
		t.Fatalf("extended file changed after trust: %v", err)
	}
	// The project file itself, alone or with the file it extends.
	trust(t, o, p)
	write(t, p, `{"extends": "./base.json", "filesystem": {"denyRead": ["secret"], "allowWrite": ["/y"]}}`)
	if _, _, err := Resolve(o); !errors.As(err, &ue) || !slices.Equal(ue.ChangedFiles, []string{p}) ||
		!strings.Contains(err.Error(), p+" changed since you trusted it and loosens the policy") {
		t.Fatalf("project file changed after trust: %v", err)
	}
	write(t, base, `{"filesystem": {"allowWrite": ["/", "/z"]}}`)
	if _, _, err := Resolve(o); !errors.As(err, &ue) ||
		!strings.Contains(err.Error(), p+" changed since you trusted it, and so did "+base+", which it extends; it loosens the policy") {
		t.Fatalf("both changed after trust: %v", err)
	}
	// Trust recorded without the files (a store written before fence
	// recorded them): which one changed is not known.
	c, _ = LoadProject(p, o.Home)
	if err := SetTrust(o.TrustStore, p, "sha256:old", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resolve(o); !errors.As(err, &ue) || ue.FilesKnown ||
		!strings.Contains(err.Error(), p+" or a file it extends changed since you trusted it") {
		t.Fatalf("changed after trust, files not recorded: %v", err)
	}
	// Trust taken back.
	trust(t, o, p)
	c, _ = LoadProject(p, o.Home)
	if err := SetTrust(o.TrustStore, p, Digest(c), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resolve(o); !errors.As(err, &ue) || ue.Changed {
		t.Fatalf("trust removed: %v", err)
	}
	// A broken store is an error, not an empty one.
	write(t, o.TrustStore, "{")
	if _, _, err := Resolve(o); err == nil || !strings.Contains(err.Error(), o.TrustStore) {
		t.Fatalf("broken trust store: %v", err)
	}
}

// A trust store that cannot be read stops fence with one line that names it
// once and says what to do (it said "read trusted project configs P: open
// P: permission denied").
func TestReadTrustError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, TrustFileName)
	if err := os.Symlink(TrustFileName, p); err != nil { // a loop
		t.Fatal(err)
	}
	_, err := readTrust(p)
	if err == nil || strings.Count(err.Error(), p) != 1 || !strings.HasSuffix(err.Error(), "; fix or remove it, then trust your projects again") {
		t.Errorf("readTrust of a link loop: %v", err)
	}
}

// A file name a checkout brings is printed quoted when it holds what a
// terminal would act on: "b\x1b[8m.json", extended by a fence.json,
// made the rest of `fence config show` invisible, "NOT TRUSTED" included,
// and so the refusal's and `fence config trust`'s lists.
func TestShownEscapes(t *testing.T) {
	e, _ := newRepoEnv(t)
	name := "b\x1b[8m.json"
	p := filepath.Join(e.cwd, "fence.json")
	write(t, filepath.Join(e.cwd, name), `{"filesystem": {"allowWrite": ["~"]}}`)
	write(t, p, `{"extends": "./b\u001b[8m.json"}`)
	o := e.opts()
	o.Inspect = true
	_, sources, err := Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := sources[0].String(); strings.ContainsRune(got, 0x1b) || !strings.Contains(got, `"`+filepath.Join(e.cwd, `b\x1b[8m.json`)+`"`) {
		t.Errorf("Source.String() = %q, want the name quoted", got)
	}
	trust(t, o, p)
	write(t, filepath.Join(e.cwd, name), `{"filesystem": {"allowWrite": ["/"]}}`)
	o.Inspect = false
	if _, _, err = Resolve(o); err == nil || strings.ContainsRune(err.Error(), 0x1b) {
		t.Errorf("refusal of a changed chain: %q, want the name quoted", err)
	}
	for in, want := range map[string]string{"/p/a b.json": "/p/a b.json", "/p/\u202egnp.json": `"/p/\u202egnp.json"`, "/p/\xff": `"/p/\xff"`, "/p/é": "/p/é"} {
		if got := Shown(in); got != want {
			t.Errorf("Shown(%q) = %s, want %s", in, got, want)
		}
	}
}

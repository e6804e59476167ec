package seatbelt

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden profiles in testdata/seatbelt")

// form is one parsed SBPL expression: an atom, a string, a regex or a list.
type form struct {
	kind string // "atom", "string", "regex", "list"
	text string
	list []form
}

// readSBPL parses a profile the way SBPL's reader does for what Profile
// emits (lists, atoms, "strings" with backslash escapes, #"regexes",
// ; comments), so that tests see the rules sandbox-exec would see, not the
// text.
func readSBPL(t *testing.T, src string) []form {
	t.Helper()
	var forms []form
	i := 0
	var read func() form
	skip := func() {
		for i < len(src) {
			switch {
			case src[i] == ' ' || src[i] == '\n' || src[i] == '\t':
				i++
			case src[i] == ';':
				for i < len(src) && src[i] != '\n' {
					i++
				}
			default:
				return
			}
		}
	}
	str := func() string {
		var b strings.Builder
		i++ // opening quote
		for {
			if i >= len(src) {
				t.Fatalf("unterminated string in profile")
			}
			c := src[i]
			i++
			switch c {
			case '\\':
				b.WriteByte(src[i])
				i++
			case '"':
				return b.String()
			default:
				b.WriteByte(c)
			}
		}
	}
	read = func() form {
		skip()
		switch {
		case src[i] == '(':
			i++
			f := form{kind: "list"}
			for {
				skip()
				if i >= len(src) {
					t.Fatalf("unbalanced ( in profile")
				}
				if src[i] == ')' {
					i++
					return f
				}
				f.list = append(f.list, read())
			}
		case src[i] == ')':
			t.Fatalf("unbalanced ) in profile at %d", i)
		case src[i] == '"':
			return form{kind: "string", text: str()}
		case strings.HasPrefix(src[i:], `#"`):
			i++
			return form{kind: "regex", text: str()}
		}
		j := i
		for i < len(src) && !strings.ContainsRune(" \n\t()\";", rune(src[i])) {
			i++
		}
		return form{kind: "atom", text: src[j:i]}
	}
	for skip(); i < len(src); skip() {
		forms = append(forms, read())
	}
	return forms
}

// rule is a top-level (allow|deny OPS... FILTERS...) form, flattened.
type rule struct {
	action  string
	ops     []string
	filters []form
}

func rules(t *testing.T, src string) []rule {
	t.Helper()
	var out []rule
	for _, f := range readSBPL(t, src) {
		if f.kind != "list" || len(f.list) == 0 || f.list[0].kind != "atom" {
			t.Fatalf("top-level form is not a rule: %+v", f)
		}
		r := rule{action: f.list[0].text}
		for _, x := range f.list[1:] {
			if x.kind == "atom" {
				r.ops = append(r.ops, x.text)
			} else {
				r.filters = append(r.filters, x)
			}
		}
		out = append(out, r)
	}
	return out
}

// sample is a policy using every option.
func sample() *Options {
	return &Options{
		LogTag:          "CMD64_dGVzdA==_END_abc_SBX",
		DefaultDenyRead: true,
		Readable:        []string{"/usr", "/System", "/Users/u/proj"},
		DenyRead:        []string{"/Users/u/proj/secrets/**", "/Users/u/proj/*.pem"},
		Hidden:          []string{"/Users/u/.ssh/id_*", "/Users/u/.aws/credentials"},
		Unhidden:        []string{"/Users/u/.ssh/id_ed25519.pub"},
		Writable:        []string{"/Users/u/proj", "/private/var/folders/xy/T/fence-1"},
		DenyWrite:       []string{"/Users/u/proj/.bashrc", "/Users/u/proj/.git/hooks", "/Users/u/proj/**/*.key"},
		Grants:          []string{"/Users/u/proj/.tool"},
		DenyExec:        []string{"reboot", "mkfs.ext4", "/usr/local/bin/danger"},
		Network: Network{
			ProxyPorts: []int{50001, 50002}, LocalBinding: true, BindPorts: []int{8080},
			LocalOutboundPorts: []int{5432}, UnixSockets: []string{"/private/var/run/docker.sock"},
		},
		Terminals:       []string{"/dev/ttys004"},
		OutputTerminals: []string{"/dev/ttys006"},
		AllowPty:        true,
	}
}

func TestGoldenProfiles(t *testing.T) {
	cases := map[string]*Options{
		"default":      {Hidden: []string{"/Users/u/.ssh/id_*"}, DenyWrite: []string{"/Users/u/proj/.bashrc"}, DenyExec: []string{"reboot"}, Network: Network{ProxyPorts: []int{50001, 50002}}},
		"everything":   sample(),
		"unrestricted": {Writable: []string{"/Users/u/proj"}, Network: Network{Unrestricted: true, ProxyPorts: []int{50001, 50002}}},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Profile(o)
			if err != nil {
				t.Fatal(err)
			}
			rules(t, got) // it parses
			path := filepath.Join("..", "testdata", "seatbelt", name+".sb")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./seatbelt -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("profile differs from %s (go test ./seatbelt -update rewrites it after review):\n%s", path, got)
			}
		})
	}
}

// TestDenialsComeLast: SBPL lets a later rule win, so every file and exec
// denial must follow every file allow, or an allowWrite would undo a
// denyWrite under it. The only allows after a denial are deliberate
// carve-outs: a credential lifted by allowRead, the run's terminal, ptys.
func TestDenialsComeLast(t *testing.T) {
	got, err := Profile(sample())
	if err != nil {
		t.Fatal(err)
	}
	rs := rules(t, got)
	firstDeny := -1
	matches := func(r rule, path string) bool {
		for _, f := range r.filters {
			if f.kind == "list" && len(f.list) == 2 && f.list[0].text == "regex" {
				if regexp.MustCompilePOSIX(f.list[1].text).MatchString(path) {
					return true
				}
			}
			if f.kind == "list" && len(f.list) == 2 && f.list[0].text == "subpath" && f.list[1].text == path {
				return true
			}
		}
		return false
	}
	carveOut := func(r rule) bool {
		return matches(r, "/Users/u/.ssh/id_ed25519.pub") || r.ops[0] == "pseudo-tty" || strings.Contains(fmt.Sprint(r.filters), "/dev/ttys004") || strings.Contains(fmt.Sprint(r.filters), "/dev/ttys006") ||
			strings.Contains(fmt.Sprint(r.filters), "/dev/ptmx") || strings.Contains(fmt.Sprint(r.filters), "com.apple.sandbox.pty")
	}
	for i, r := range rs {
		for _, op := range r.ops {
			file := strings.HasPrefix(op, "file-") || op == "process-exec"
			switch {
			case !file:
			case r.action == "deny" && firstDeny < 0:
				firstDeny = i
			case r.action == "allow" && firstDeny >= 0 && !carveOut(r):
				t.Errorf("rule %d (allow %v %v) comes after the first file denial %d", i, r.ops, r.filters, firstDeny)
			}
		}
	}
	if firstDeny < 0 {
		t.Fatalf("no file denial")
	}
	// Unhidden sits between Hidden and DenyRead: it lifts a credential,
	// but not a denyRead entry.
	hidden, lift, deny := -1, -1, -1
	for i, r := range rs {
		switch {
		case r.action == "deny" && r.ops[0] == "file-read*" && matches(r, "/Users/u/.aws/credentials"):
			hidden = i
		case r.action == "allow" && matches(r, "/Users/u/.ssh/id_ed25519.pub"):
			lift = i
		case r.action == "deny" && r.ops[0] == "file-read*" && matches(r, "/Users/u/proj/secrets/x"):
			deny = i
		}
	}
	if hidden < 0 || lift < 0 || deny < 0 || !(hidden < lift && lift < deny) {
		t.Errorf("order hidden %d, unhidden %d, denyRead %d: want all, increasing", hidden, lift, deny)
	}
	// Every denial carries the log tag.
	for _, r := range rs {
		if r.action != "deny" {
			continue
		}
		last := r.filters[len(r.filters)-1]
		if len(last.list) != 3 || last.list[0].text != "with" || last.list[2].text != "CMD64_dGVzdA==_END_abc_SBX" {
			t.Errorf("denial %v %v lacks the log tag", r.ops, r.filters)
		}
	}
}

// TestQuotingCannotInjectRules: a path is data. One that looks like SBPL
// must come out as one string of one rule, not as rules of its own.
func TestQuotingCannotInjectRules(t *testing.T) {
	evil := `/Users/u/x") (allow file-write-data (subpath "/`
	evil2 := `/Users/u/y\") (allow network-outbound) ; \`
	o := &Options{Writable: []string{Literal(evil), Literal(evil2)}, Network: Network{ProxyPorts: []int{1}}}
	got, err := Profile(o)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range rules(t, got) {
		for _, f := range r.filters {
			if f.kind == "list" && f.list[0].text == "subpath" && len(f.list) == 2 {
				paths = append(paths, f.list[1].text)
				if f.list[1].text == "/" && r.action == "allow" && r.ops[0] == "file-write-data" {
					t.Errorf("injected rule: %v %v", r.ops, r.filters)
				}
			}
		}
		if r.action == "allow" && r.ops[0] == "network-outbound" && len(r.filters) == 0 {
			t.Errorf("injected network rule")
		}
	}
	for _, want := range []string{strings.TrimSuffix(evil, "/"), evil2} {
		found := false
		for _, p := range paths {
			found = found || p == want
		}
		if !found {
			t.Errorf("path %q not read back as one string; subpaths read: %q", want, paths)
		}
	}
}

func TestRefusesWhatItCannotExpress(t *testing.T) {
	for _, o := range []*Options{
		{Writable: []string{"relative/path"}},
		{DenyRead: []string{"/a/b\nc"}},
		{DenyWrite: []string{`/a/b\`}},
		{DenyWrite: []string{"/p/[-a]x"}},
		{DenyWrite: []string{"/p/[a-]x"}},
		{DenyWrite: []string{"/p/[z-a]x"}},
		// A range across '/' would match into subdirectories.
		{DenyWrite: []string{"/p/x[.-0]y"}},
		{DenyExec: []string{"./deploy.sh"}},
		{Terminals: []string{"/dev/ttys001\")"}},
		{DenyWrite: []string{"/a/[a/b"}},
		{DenyWrite: []string{"/a/[*]"}},
		{DenyExec: []string{"a/b"}},
		{DenyExec: []string{""}},
		{Network: Network{ProxyPorts: []int{0}}},
		{Network: Network{BindPorts: []int{70000}}},
		{LogTag: `a"b`},
		// Longer than sandbox-exec reads once case-folded.
		{DenyWrite: []string{"/" + strings.Repeat("abcdefgh/", 40)}},
	} {
		if p, err := Profile(o); err == nil {
			t.Errorf("Profile(%+v) = nil error; profile:\n%s", o, p)
		}
	}
}

// TestPathRegex checks the translated patterns with Go's POSIX regular
// expressions, which agree with Seatbelt's on the subset used (bracket
// expressions, ^ $ . * ? ( ) |).
func TestPathRegex(t *testing.T) {
	for _, c := range []struct {
		glob    string
		fold    bool
		match   []string
		nomatch []string
	}{
		{glob: "/h/.ssh/id_*",
			match:   []string{"/h/.ssh/id_rsa", "/h/.ssh/id_", "/h/.ssh/id_rsa.pub", "/h/.ssh/id_rsa/inner"},
			nomatch: []string{"/h/.ssh/known_hosts", "/h/.ssh/sub/id_rsa", "/h/xssh/id_rsa", "/h/.ssh/id", "/h/.ssh/ID_RSA"}},
		// Denials fold case: APFS finds ~/.SSH/ID_RSA.
		{glob: "/h/.ssh/id_*", fold: true,
			match:   []string{"/h/.ssh/id_rsa", "/h/.SSH/ID_RSA", "/H/.Ssh/Id_x"},
			nomatch: []string{"/h/.ssh/known_hosts", "/h/xssh/id_rsa"}},
		{glob: "/p/proj/.bashrc", fold: true,
			match:   []string{"/p/proj/.bashrc", "/p/proj/.BASHRC", "/p/proj/.bashrc/x"},
			nomatch: []string{"/p/proj/.bashrcx", "/p/proj/xbashrc"}},
		{glob: "/p/*.pem", match: []string{"/p/a.pem", "/p/.pem"}, nomatch: []string{"/p/apem", "/p/a.pem.bak", "/p/d/a.pem"}},
		{glob: "/p/**/*.key", match: []string{"/p/a.key", "/p/d/e/a.key"}, nomatch: []string{"/p/a.keys", "/q/a.key"}},
		{glob: "/p/secret*/**", match: []string{"/p/secret", "/p/secrets/x/y"}, nomatch: []string{"/p/public/secret"}},
		{glob: "/p/file?.txt", match: []string{"/p/file1.txt"}, nomatch: []string{"/p/file.txt", "/p/file/.txt"}},
		{glob: "/p/[ab]x*", match: []string{"/p/ax", "/p/bxy"}, nomatch: []string{"/p/cx", "/p/Ax"}},
		{glob: "/p/[ab]x*", fold: true, match: []string{"/p/ax", "/p/BX"}, nomatch: []string{"/p/cx"}},
		{glob: "/p/[a-c]x", fold: true, match: []string{"/p/bx", "/p/BX"}, nomatch: []string{"/p/dx", "/p/-x"}},
		{glob: "/p/[^ab]x", match: []string{"/p/cx"}, nomatch: []string{"/p/ax", "/p//x"}},
		{glob: "/p/[a-c_]x", match: []string{"/p/_x", "/p/ax"}, nomatch: []string{"/p/-x", "/p/dx"}},
		// Folded ranges that mix letters and other characters.
		{glob: "/p/[0-F]x", fold: true, match: []string{"/p/5x", "/p/Cx", "/p/cx"}, nomatch: []string{"/p/gx", "/p/Gx"}},
		{glob: "/p/[Z-a]x", fold: true, match: []string{"/p/Zx", "/p/zx", "/p/ax", "/p/Ax", "/p/_x"}, nomatch: []string{"/p/bx", "/p/Yx"}},
		// The root, and trailing slashes: "/" is everything.
		{glob: "/", match: []string{"/", "/etc/passwd"}},
		{glob: "/", fold: true, match: []string{"/", "/etc/passwd"}},
		{glob: "/a/b/", fold: true, match: []string{"/a/b", "/A/b/c"}, nomatch: []string{"/a/bc"}},
		// A trailing slash after a name that ends in a backslash (escaped):
		// the slash goes, the escaped backslash stays.
		{glob: Literal(`/a/b\`) + "/", fold: true, match: []string{`/a/b\`, `/A/b\/c`}, nomatch: []string{`/a/b\x`, `/a/b`}},
		{glob: Literal(`/a/b\`) + "//", match: []string{`/a/b\`, `/a/b\/c`}},
		// An escaped slash is a slash too.
		{glob: `/a/b\/`, match: []string{"/a/b", "/a/b/c"}, nomatch: []string{`/a/b\`}},
		// Any character can be written: quotes, '^', backslashes, ']'.
		{glob: Literal(`/a/"q"^\]`) + "*", fold: true, match: []string{`/a/"q"^\]`, `/A/"Q"^\]x`}, nomatch: []string{`/a/"q"x\]`, `/a/q`}},
		{glob: "/p/a+b(c){d}|e$*", match: []string{"/p/a+b(c){d}|e$", "/p/a+b(c){d}|e$f"}, nomatch: []string{"/p/aab(c){d}|e$", "/p/e"}},
		// Escaped glob characters are literal: a directory named
		// "proj [old]" is not a class.
		{glob: Literal("/w/proj [old]") + "/.bashrc", fold: true,
			match:   []string{"/w/proj [old]/.bashrc", "/w/PROJ [OLD]/.bashrc"},
			nomatch: []string{"/w/proj o/.bashrc", "/w/proj l/.bashrc"}},
		{glob: Literal("/w/a*b?c") + "/*.pem", match: []string{"/w/a*b?c/k.pem"}, nomatch: []string{"/w/aXbYc/k.pem"}},
	} {
		re, err := pathRegex(c.glob, c.fold, true)
		if err != nil {
			t.Errorf("pathRegex(%q): %v", c.glob, err)
			continue
		}
		rx, err := regexp.CompilePOSIX(re)
		if err != nil {
			t.Errorf("pathRegex(%q) = %q does not compile: %v", c.glob, re, err)
			continue
		}
		for _, m := range c.match {
			if !rx.MatchString(m) {
				t.Errorf("pathRegex(%q, fold %v) = %q does not match %q", c.glob, c.fold, re, m)
			}
		}
		for _, m := range c.nomatch {
			if rx.MatchString(m) {
				t.Errorf("pathRegex(%q, fold %v) = %q matches %q", c.glob, c.fold, re, m)
			}
		}
	}
}

// TestDenialsFoldCase: every path denial is a case-folding regular
// expression, also for plain paths, and a path with glob characters in its
// name stays one path.
func TestDenialsFoldCase(t *testing.T) {
	p, err := Profile(&Options{DenyWrite: []string{Literal("/w/proj [old]") + "/.bashrc"}, Hidden: []string{"/h/.aws/credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rules(t, p) {
		if r.action != "deny" || !strings.HasPrefix(r.ops[0], "file-") || r.ops[0] == "file-ioctl" || len(r.filters) == 0 {
			continue
		}
		f := r.filters[0]
		if f.list[0].text == "regex" && (strings.HasPrefix(f.list[1].text, "^/dev/") || strings.HasPrefix(f.list[1].text, "^/[dD][eE][vV]/")) || f.list[0].text == "vnode-type" { // devices
			continue
		}
		n++
		if f.list[0].text != "regex" {
			t.Errorf("denial %v filters with %s, want a case-folding regex", r.ops, f.list[0].text)
			continue
		}
		rx := regexp.MustCompilePOSIX(f.list[1].text)
		for _, want := range []string{"/w/PROJ [OLD]/.BASHRC", "/H/.AWS/CREDENTIALS", "/W/PROJ [OLD]", "/h/.AWS", "/H", "/W", "/SYSTEM", "/SYSTEM/VOLUMES", "/SYSTEM/VOLUMES/DATA"} {
			// The data volume's name for the same file is denied too,
			// and the directories above it are pinned.
			if rx.MatchString(want) || rx.MatchString("/System/Volumes/Data"+want) {
				goto matched
			}
		}
		t.Errorf("denial %v %q matches none of the expected paths", r.ops, f.list[1].text)
	matched:
	}
	if n < 4 {
		t.Errorf("%d path denials, want the two paths and their directories:\n%s", n, p)
	}
}

// TestDataVolumeDenialFoldsCase: with defaultDenyRead, /System is readable
// and the data volume under it is not, in any spelling: on a
// case-insensitive system volume /System/Volumes/data/Users/u is the same
// directory as /System/Volumes/Data/Users/u, and (subpath "/System") allows
// it.
func TestDataVolumeDenialFoldsCase(t *testing.T) {
	p, err := Profile(&Options{DefaultDenyRead: true, Readable: []string{"/System"}})
	if err != nil {
		t.Fatal(err)
	}
	rs := rules(t, p)
	for _, path := range []string{"/System/Volumes/Data/Users/u/notes", "/System/Volumes/data/Users/u/notes", "/system/VOLUMES/dAtA/Users/u/notes", "/System/Volumes/DATA"} {
		denied := false
		for _, r := range rs {
			if len(r.filters) == 0 || !slices.Contains(r.ops, "file-read*") {
				continue
			}
			f := r.filters[0]
			var m bool
			switch f.list[0].text {
			case "subpath":
				m = path == f.list[1].text || strings.HasPrefix(path, strings.TrimSuffix(f.list[1].text, "/")+"/")
			case "regex":
				m = regexp.MustCompilePOSIX(f.list[1].text).MatchString(path)
			}
			if m {
				denied = r.action == "deny" // the last match wins
			}
		}
		if !denied {
			t.Errorf("%s is readable:\n%s", path, p)
		}
	}
}

// lastMatch returns the action of the last rule of rs for op that matches
// path by a subpath, literal or regex filter, or by none ("" if none).
func lastMatch(rs []rule, op, path string) string {
	action := ""
	for _, r := range rs {
		if !slices.ContainsFunc(r.ops, func(ro string) bool {
			return ro == op || strings.HasSuffix(ro, "*") && strings.HasPrefix(op, strings.TrimSuffix(ro, "*"))
		}) {
			continue
		}
		m := len(r.filters) == 0 || r.filters[0].kind != "list"
		if !m && len(r.filters[0].list) == 2 {
			f := r.filters[0]
			switch f.list[0].text {
			case "subpath":
				m = path == f.list[1].text || f.list[1].text == "/" || strings.HasPrefix(path, f.list[1].text+"/")
			case "literal":
				m = path == f.list[1].text
			case "regex":
				m = regexp.MustCompilePOSIX(f.list[1].text).MatchString(path)
			case "with":
				m = true
			}
		}
		if m {
			action = r.action
		}
	}
	return action
}

// TestDiskDevicesDenied: a command run as root could read (and write)
// every file through the disks' device nodes, past every denial; /dev is
// readable otherwise, and so are the devices everyone uses.
func TestDiskDevicesDenied(t *testing.T) {
	for _, o := range []*Options{{}, {DefaultDenyRead: true, Readable: []string{"/dev"}}, {Writable: []string{"/"}}} {
		p, err := Profile(o)
		if err != nil {
			t.Fatal(err)
		}
		rs := rules(t, p)
		for _, dev := range []string{"/dev/disk0", "/dev/rdisk0", "/dev/disk3s5", "/dev/rdisk12s1", "/DEV/RDISK1"} {
			for _, op := range []string{"file-read-data", "file-read-metadata", "file-write-data"} {
				if got := lastMatch(rs, op, dev); got != "deny" {
					t.Errorf("%+v: %s of %s: last rule %q, want deny", o, op, dev, got)
				}
			}
		}
		if got := lastMatch(rs, "file-read-data", "/dev/null"); got != "allow" {
			t.Errorf("%+v: /dev/null read: %q", o, got)
		}
		// Root's mknod of a disk's node in a writable directory (here
		// "/", or none) would be another name for it: refused by the
		// type of the node created; a file or directory there is not.
		for _, c := range []struct{ typ, want string }{
			{"BLOCK-DEVICE", "deny"}, {"CHARACTER-DEVICE", "deny"}, {"REGULAR-FILE", "allow"}, {"DIRECTORY", "allow"},
		} {
			got := lastCreate(rs, "/Users/u/proj/disk", c.typ)
			if len(o.Writable) == 0 && c.want == "allow" {
				continue // nothing is writable
			}
			if got != c.want {
				t.Errorf("%+v: create a %s in a writable directory: last rule %q, want %s", o, c.typ, got, c.want)
			}
		}
	}
}

// lastCreate is lastMatch for file-write-create of a node of type typ
// (vnode-type) at path.
func lastCreate(rs []rule, path, typ string) string {
	action := lastMatch(rs, "file-write-create", path)
	if action == "" {
		action = "deny" // (deny default)
	}
	// lastMatch sees no vnode-type filter; the rules that have one come
	// after the allows in Profile's order.
	for _, r := range rs {
		if len(r.filters) != 1 || r.filters[0].kind != "list" || len(r.filters[0].list) != 2 || r.filters[0].list[0].text != "vnode-type" {
			continue
		}
		if r.filters[0].list[1].text == typ && slices.ContainsFunc(r.ops, func(o string) bool { return o == "file-write-create" || o == "file-write*" }) {
			action = r.action
		}
	}
	return action
}

func TestDenyExecMatchesAnyDirectoryAndCase(t *testing.T) {
	got, err := Profile(&Options{DenyExec: []string{"reboot", "mkfs.ext4"}})
	if err != nil {
		t.Fatal(err)
	}
	var res []*regexp.Regexp
	for _, r := range rules(t, got) {
		if r.action == "deny" && r.ops[0] == "process-exec" {
			res = append(res, regexp.MustCompilePOSIX(r.filters[0].list[1].text))
		}
	}
	if len(res) != 2 {
		t.Fatalf("%d exec denials, want 2:\n%s", len(res), got)
	}
	for _, p := range []string{"/sbin/reboot", "/Users/u/bin/REBOOT", "/x/Reboot"} {
		if !res[0].MatchString(p) {
			t.Errorf("%s not denied", p)
		}
	}
	for _, p := range []string{"/sbin/rebooter", "/sbin/xreboot", "/reboot/x"} {
		if res[0].MatchString(p) {
			t.Errorf("%s denied", p)
		}
	}
	if !res[1].MatchString("/sbin/mkfs.ext4") || res[1].MatchString("/sbin/mkfsxext4") {
		t.Errorf("mkfs.ext4's dot is not literal: %s", res[1])
	}
}

func TestNetworkRules(t *testing.T) {
	restricted, err := Profile(&Options{Network: Network{ProxyPorts: []int{40001, 40002}, LocalOutbound: true}})
	if err != nil {
		t.Fatal(err)
	}
	var outbound []string
	for _, r := range rules(t, restricted) {
		if r.ops[0] == "network*" {
			t.Errorf("restricted profile allows network*")
		}
		if r.ops[0] == "network-outbound" {
			f := r.filters[0]
			// (remote ip "localhost:P"): the destination. (local ...)
			// would match the socket's own address.
			if f.list[0].text != "remote" || f.list[1].text != "ip" {
				t.Errorf("outbound rule filters on %v, want (remote ip ...)", f)
			}
			outbound = append(outbound, f.list[2].text)
		}
	}
	if strings.Join(outbound, " ") != "localhost:40001 localhost:40002 localhost:*" {
		t.Errorf("outbound destinations %q", outbound)
	}
	// Unrestricted: every address, but no unix socket except the
	// resolver's and those listed, in that order (a later rule wins).
	open, err := Profile(&Options{Network: Network{Unrestricted: true, UnixSockets: []string{"/run/ok.sock", "/tmp/own"}}})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range rules(t, open) {
		if !strings.HasPrefix(r.ops[0], "network") {
			continue
		}
		desc := r.action + " " + strings.Join(r.ops, " ")
		if len(r.filters) > 0 && len(r.filters[0].list) == 2 {
			desc += " " + r.filters[0].list[0].text + " " + r.filters[0].list[1].text
		}
		order = append(order, desc)
	}
	want := []string{
		"allow network*",
		"deny network-outbound network-bind subpath /",
		"allow network-outbound literal /private/var/run/mDNSResponder",
		"allow network* subpath /run/ok.sock",
		"allow network* subpath /tmp/own",
	}
	if !slices.Equal(order, want) {
		t.Errorf("unrestricted network rules:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	none, err := Profile(&Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules(t, none) {
		if r.action == "allow" && strings.HasPrefix(r.ops[0], "network") {
			t.Errorf("profile without proxies allows %v %v", r.ops, r.filters)
		}
	}
}

func TestAncestorsArePinned(t *testing.T) {
	got, err := ancestors([]string{"/Users/u/proj/.bashrc", "/Users/u/.ssh/id_*", "/Users/u/p*/x", "/top", Literal("/w/a*b") + "/.zshrc"})
	if err != nil {
		t.Fatal(err)
	}
	want := "/Users /Users/u /Users/u/.ssh /Users/u/proj /w /w/a*b"
	if strings.Join(got, " ") != want {
		t.Errorf("ancestors = %q, want %q", got, want)
	}
	p, err := Profile(&Options{DenyWrite: []string{"/Users/u/proj/.claude/commands"}})
	if err != nil {
		t.Fatal(err)
	}
	// .claude may not exist yet: it can be neither created (as a
	// symlink elsewhere, or by renaming a prepared directory there) nor
	// removed or renamed.
	var pinned []string
	for _, r := range rules(t, p) {
		if r.action == "deny" && slices.Equal(r.ops, []string{"file-write-unlink", "file-write-create"}) {
			rx := regexp.MustCompilePOSIX(r.filters[0].list[1].text)
			for _, d := range []string{"/Users", "/Users/u", "/Users/u/proj", "/Users/u/proj/.claude", "/Users/u/proj/.CLAUDE"} {
				if rx.MatchString(d) {
					pinned = append(pinned, d)
				}
			}
			if rx.MatchString("/Users/u/proj/.claude/x") {
				t.Errorf("pin %s reaches below its directory", rx)
			}
		}
	}
	if strings.Join(pinned, " ") != "/Users /Users/u /Users/u/proj /Users/u/proj/.claude /Users/u/proj/.CLAUDE" {
		t.Errorf("pinned %q:\n%s", pinned, p)
	}
	// Above a hidden path, directories may be created (a first run of
	// cargo makes ~/.cargo) but not removed or renamed.
	p, err = Profile(&Options{Hidden: []string{"/Users/u/.cargo/credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p, `(deny file-write-unlink (regex "^/[uU][sS][eE][rR][sS]/[uU]/\\.[cC][aA][rR][gG][oO]$"))`) || strings.Contains(p, "file-write-unlink file-write-create") {
		t.Errorf("directories above a hidden path:\n%s", p)
	}
}

// TestRemoveOnly: a removable path may be removed and nothing else (the
// allow of unlink comes after its denial); the directories above it, not
// themselves removable, may be neither removed nor renamed, but created.
func TestRemoveOnly(t *testing.T) {
	p, err := Profile(&Options{Writable: []string{"/w"}, RemoveOnly: []string{"/w/.git/worktrees/x", "/w/.git/worktrees/x/commondir"}})
	if err != nil {
		t.Fatal(err)
	}
	re := `(regex "^/[wW]/\\.[gG][iI][tT]/[wW][oO][rR][kK][tT][rR][eE][eE][sS]/[xX]/[cC][oO][mM][mM][oO][nN][dD][iI][rR]$")`
	deny := strings.Index(p, `(deny file-write* `+re)
	allow := strings.Index(p, `(allow file-write-unlink `+re+`)`)
	if deny < 0 || allow < deny || strings.Contains(p, `(subpath "/w/.git/worktrees/x`) {
		t.Errorf("commondir: want its denial, then unlink allowed, for the path itself:\n%s", p)
	}
	if !strings.Contains(p, `(deny file-write-unlink (regex "^/[wW]/\\.[gG][iI][tT]/[wW][oO][rR][kK][tT][rR][eE][eE][sS]$"))`) {
		t.Errorf("the worktrees directory: want it held (no unlink, no rename):\n%s", p)
	}
	if strings.Contains(p, "file-write-unlink file-write-create") || strings.Contains(p, `(deny file-write-unlink (regex "^/[wW]/\\.[gG][iI][tT]/[wW][oO][rR][kK][tT][rR][eE][eE][sS]/[xX]$"))`) {
		t.Errorf("a removable directory held, or a directory above pinned against creation:\n%s", p)
	}
	// The same under a directory whose name holds glob characters.
	p, err = Profile(&Options{Writable: []string{"/w[1]"}, RemoveOnly: []string{Literal("/w[1]/.git/worktrees/x"), Literal("/w[1]/.git/worktrees/x/commondir")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(p, "\n") {
		if strings.HasPrefix(l, "(deny file-write-unlink") && strings.Contains(l, "[xX]$") {
			t.Errorf("a removable directory under /w[1] held: %s", l)
		}
	}
	if !strings.Contains(p, `(allow file-write-unlink (regex "^/[wW]\\[1\\]/`) {
		t.Errorf("no removable path under /w[1]:\n%s", p)
	}
	// A held directory can be neither removed nor made (as a symlink);
	// a path also in DenyWrite stays denied whole.
	p, err = Profile(&Options{Writable: []string{"/w"}, Held: []string{"/w/.git/worktrees"},
		RemoveOnly: []string{"/w/.git/config"}, DenyWrite: []string{"/w/.git/config"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p, `(deny file-write-unlink file-write-create (regex "^/[wW]/\\.[gG][iI][tT]/[wW][oO][rR][kK][tT][rR][eE][eE][sS]$"))`) {
		t.Errorf("a held directory:\n%s", p)
	}
	allow = strings.Index(p, `(allow file-write-unlink (regex "^/[wW]/\\.[gG][iI][tT]/[cC][oO][nN][fF][iI][gG]$"))`)
	deny = strings.LastIndex(p, `(deny file-write* (regex "^/[wW]/\\.[gG][iI][tT]/[cC][oO][nN][fF][iI][gG](/.*)?$"))`)
	if allow < 0 || deny < allow {
		t.Errorf("a path both removable and denied: want the denial last:\n%s", p)
	}
}

// TestNoCreate: a NoCreate pattern refuses creating a match, either case,
// and nothing else: an existing match stays writable; the directories
// above its fixed part are pinned.
func TestNoCreate(t *testing.T) {
	p, err := Profile(&Options{Writable: []string{"/w"}, NoCreate: []string{"/w/.git/modules/*"}})
	if err != nil {
		t.Fatal(err)
	}
	create := `(deny file-write-create (regex "^/[wW]/\\.[gG][iI][tT]/[mM][oO][dD][uU][lL][eE][sS]/[^/]*$"))`
	if i := strings.Index(p, create); i < 0 || i < strings.Index(p, `(allow file-write* (subpath "/w"))`) {
		t.Errorf("want %s after the allow:\n%s", create, p)
	}
	if !strings.Contains(p, `(deny file-write-unlink file-write-create (regex "^/[wW]/\\.[gG][iI][tT]/[mM][oO][dD][uU][lL][eE][sS]$"))`) {
		t.Errorf("modules not pinned:\n%s", p)
	}
	for _, r := range rules(t, p) {
		if r.action == "deny" && slices.Contains(r.ops, "file-write*") && strings.Contains(fmt.Sprint(r.filters), "[mM][oO][dD][uU][lL][eE][sS]") {
			t.Errorf("a NoCreate pattern denies writes: %v %v", r.ops, r.filters)
		}
	}
}

// TestGrants: a grant's name (a path a later run grants whatever it leads
// to) may be created as a directory or a regular file, in either case of
// its letters, and as nothing else: the denial comes after the allow,
// names that path alone, and covers its data-volume name. Nothing above it
// is pinned, and nothing but its creation is denied.
func TestGrants(t *testing.T) {
	p, err := Profile(&Options{Writable: []string{"/Users/u"}, Grants: []string{"/Users/u/.codex"}})
	if err != nil {
		t.Fatal(err)
	}
	allow := strings.Index(p, `(allow file-write* (subpath "/Users/u"))`)
	var found []string
	for _, r := range rules(t, p) {
		if r.action != "deny" || !slices.Contains(r.ops, "file-write-create") {
			continue
		}
		if len(r.filters) == 1 && r.filters[0].kind == "list" && r.filters[0].list[0].text == "vnode-type" {
			continue // no device nodes anywhere (TestDiskDevicesDenied)
		}
		if !slices.Equal(r.ops, []string{"file-write-create"}) || len(r.filters) != 1 {
			t.Errorf("a grant's rule denies more than creation: %v %v", r.ops, r.filters)
			continue
		}
		f := r.filters[0]
		if f.kind != "list" || len(f.list) != 4 || f.list[0].text != "require-all" || f.list[1].list[0].text != "regex" ||
			fmt.Sprint(f.list[2]) != fmt.Sprint(form{kind: "list", list: []form{{kind: "atom", text: "require-not"}, {kind: "list", list: []form{{kind: "atom", text: "vnode-type"}, {kind: "atom", text: "DIRECTORY"}}}}}) ||
			fmt.Sprint(f.list[3]) != fmt.Sprint(form{kind: "list", list: []form{{kind: "atom", text: "require-not"}, {kind: "list", list: []form{{kind: "atom", text: "vnode-type"}, {kind: "atom", text: "REGULAR-FILE"}}}}}) {
			t.Errorf("want (require-all (regex ...) (require-not (vnode-type DIRECTORY)) (require-not (vnode-type REGULAR-FILE))), got %v", f)
			continue
		}
		rx := regexp.MustCompilePOSIX(f.list[1].list[1].text)
		for _, path := range []string{"/Users/u/.codex", "/Users/u/.CODEX", "/System/Volumes/Data/Users/u/.codex"} {
			if rx.MatchString(path) {
				found = append(found, path)
			}
		}
		for _, path := range []string{"/Users/u/.codex/x", "/Users/u", "/Users/u/.codex2"} {
			if rx.MatchString(path) {
				t.Errorf("a grant's rule %s matches %s", rx, path)
			}
		}
	}
	slices.Sort(found)
	if strings.Join(found, " ") != "/System/Volumes/Data/Users/u/.codex /Users/u/.CODEX /Users/u/.codex" {
		t.Errorf("grant rules match %q:\n%s", found, p)
	}
	if i := strings.Index(p, "(deny file-write-create (require-all"); i < allow {
		t.Errorf("the grant's denial does not follow the allow:\n%s", p)
	}
	if strings.Contains(p, "file-write-unlink") {
		t.Errorf("a grant pins a directory:\n%s", p)
	}
	// A name with glob characters is one path.
	p, err = Profile(&Options{Writable: []string{"/w"}, Grants: []string{Literal("/w/a*[1]")}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p, `(regex "^/[wW]/[aA]\\*\\[1\\]$")`) {
		t.Errorf("a grant with glob characters:\n%s", p)
	}
}

// TestCovers: what an allow of a pattern covers, a match and what is below
// it, as the profile's (subpath) and expressions do.
func TestCovers(t *testing.T) {
	for _, c := range []struct {
		p        string
		yes, not []string
	}{
		{"/Users/u", []string{"/Users/u", "/Users/u/x/y"}, []string{"/Users/uv", "/Users", "/"}},
		{"/", []string{"/", "/x"}, nil},
		{"/Users/u/.claude*", []string{"/Users/u/.claude", "/Users/u/.claude-x/y"}, []string{"/Users/u", "/Users/u/x/.claude"}},
		{"/w/**/b", []string{"/w/b", "/w/a/c/b/d"}, []string{"/w", "/w/a"}},
		{Literal("/w[1]"), []string{"/w[1]/x"}, []string{"/w1/x"}},
	} {
		covers, err := Covers(c.p)
		if err != nil {
			t.Fatal(err)
		}
		for _, y := range c.yes {
			if !covers(y) {
				t.Errorf("%s does not cover %s", c.p, y)
			}
		}
		for _, n := range c.not {
			if covers(n) {
				t.Errorf("%s covers %s", c.p, n)
			}
		}
	}
	if _, err := Covers("rel"); err == nil {
		t.Errorf("a relative pattern accepted")
	}
}

// TestHiddenSocketsStayClosed: allowAllUnixSockets (or a listed
// directory above) does not open a socket under a hidden path, such as
// gpg-agent's in ~/.gnupg; the denial comes after the allow.
func TestHiddenSocketsStayClosed(t *testing.T) {
	p, err := Profile(&Options{Hidden: []string{"/Users/u/.gnupg"}, Network: Network{AllUnixSockets: true}})
	if err != nil {
		t.Fatal(err)
	}
	allow, deny := -1, -1
	for i, r := range rules(t, p) {
		switch {
		case r.action == "allow" && r.ops[0] == "network*":
			allow = i
		case r.action == "deny" && r.ops[0] == "network-outbound" && len(r.filters) > 0 && r.filters[0].list[0].text == "regex" &&
			regexp.MustCompilePOSIX(r.filters[0].list[1].text).MatchString("/Users/u/.gnupg/S.gpg-agent"):
			deny = i
		}
	}
	if allow < 0 || deny < allow {
		t.Errorf("unix allow at %d, denial of ~/.gnupg's sockets at %d:\n%s", allow, deny, p)
	}
}

// TestDenyExecDataVolume: a program denied by path is also denied under
// the data volume's name for it.
func TestDenyExecDataVolume(t *testing.T) {
	p, err := Profile(&Options{DenyExec: []string{"/usr/local/bin/x"}})
	if err != nil {
		t.Fatal(err)
	}
	var res []*regexp.Regexp
	for _, r := range rules(t, p) {
		if r.action == "deny" && r.ops[0] == "process-exec" {
			res = append(res, regexp.MustCompilePOSIX(r.filters[0].list[1].text))
		}
	}
	for _, path := range []string{"/usr/local/bin/x", "/System/Volumes/Data/usr/local/bin/x"} {
		if !slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(path) }) {
			t.Errorf("%s may be executed:\n%s", path, p)
		}
	}
}

func TestTerminals(t *testing.T) {
	p, err := Profile(&Options{Terminals: []string{"/dev/ttys004"}})
	if err != nil {
		t.Fatal(err)
	}
	rs := rules(t, p)
	deny, own, sti := -1, -1, -1
	for i, r := range rs {
		for _, f := range r.filters {
			if len(f.list) < 2 {
				continue
			}
			switch {
			case r.action == "deny" && f.list[0].text == "regex" && regexp.MustCompilePOSIX(f.list[1].text).MatchString("/dev/ttys004"):
				deny = i
			case r.action == "allow" && f.list[1].text == "/dev/ttys004":
				own = i
			case r.action == "deny" && f.list[0].text == "ioctl-command" && f.list[1].text == "2147578994":
				sti = i
			}
		}
		if r.action == "allow" && r.ops[0] == "pseudo-tty" {
			t.Errorf("pseudo-tty allowed without AllowPty")
		}
	}
	if deny < 0 || own < deny || sti < own {
		t.Errorf("other terminals denied at %d, own allowed at %d, TIOCSTI denied at %d: want all three, in that order:\n%s", deny, own, sti, p)
	}
	// Another terminal in any spelling: /DEV is /dev on a case-insensitive
	// root volume.
	for _, other := range []string{"/dev/ttys007", "/DEV/ttys007", "/Dev/TTYS007"} {
		for _, op := range []string{"file-read-data", "file-write-data", "file-ioctl"} {
			if got := lastMatch(rs, op, other); got != "deny" {
				t.Errorf("%s of %s: last rule %q, want deny", op, other, got)
			}
		}
	}
	// TIOCEXCL and TIOCSETD (<sys/ttycom.h>: _IO('t', 13), _IOW('t', 27,
	// int)) are refused too, after the terminals' allows, as Linux's
	// seccomp refuses them: both outlive the run on the user's terminal.
	for _, c := range []string{"536900621", "2147775515"} {
		at := -1
		for i, r := range rs {
			for _, f := range r.filters {
				if r.action == "deny" && slices.Equal(r.ops, []string{"file-ioctl"}) && len(f.list) == 2 && f.list[0].text == "ioctl-command" && f.list[1].text == c {
					at = i
				}
			}
		}
		if at < own {
			t.Errorf("ioctl %s denied at %d, want after the terminal's allow at %d:\n%s", c, at, own, p)
		}
	}
	// A terminal of the output only: written and controlled, not read.
	p, err = Profile(&Options{OutputTerminals: []string{"/dev/ttys005"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p, `(allow file-read-metadata file-write-data file-ioctl (literal "/dev/ttys005"))`) || strings.Contains(p, `(allow file-read* file-write* file-ioctl (literal "/dev/ttys005"))`) {
		t.Errorf("output terminal:\n%s", p)
	}
	p, err = Profile(&Options{AllowPty: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p, `(extension "com.apple.sandbox.pty")`) || !strings.Contains(p, "(allow pseudo-tty)") {
		t.Errorf("AllowPty: no pty rules:\n%s", p)
	}
}

func TestCommand(t *testing.T) {
	c := Command("(version 1)", []string{"-weird", "arg"})
	if c.Path != "/usr/bin/sandbox-exec" {
		t.Errorf("path %q", c.Path)
	}
	if strings.Join(c.Args, "|") != "sandbox-exec|-p|(version 1)|--|-weird|arg" {
		t.Errorf("args %q", c.Args)
	}
}

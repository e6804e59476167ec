package fence

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// gitConfigCases are config files in the forms git accepts, the odd ones
// included, and ones it refuses (valid false).
var gitConfigCases = []struct {
	name  string
	text  string
	valid bool
}{
	{"plain", "[include]\n\tpath = a.inc\n", true},
	{"key on the header's line", "[include] path = r.inc\n", true},
	{"tab before the subsection", "[includeIf\t\"gitdir:/\"]\n\tpath = h.inc\n", true},
	{"continuation", "[include]\n\tpath = pro\\\nj/h.inc\n", true},
	{"quotes inside", "[include]\n\tpath = pr\"oj\"/m.inc\n\tpath = \"proj\"/n.inc\n", true},
	{"escapes", "[include]\n\tpath = \"q\\\".inc\"\n\tpath = t\\t.inc\n\tpath = b\\\\s\n", true},
	{"byte order mark", "\xef\xbb\xbf[include]\n\tpath = bom.inc\n", true},
	{"dotted header", "[includeIf.Foo]\n\tpath = d.inc\n[INCLUDE]\n\tPATH = up.inc\n", true},
	{"comments", "# top\n; top\n[include] ; c\n\tpath = c.inc # c\n\tpath = \"c # d.inc\"\n", true},
	{"inner blanks", "[include]\n\tpath = a  b\t c \n", true},
	{"subsection escapes", "[submodule \"a\\\"b\\\\c\\d\"]\n\tpath = x\n", true},
	{"boolean and empty", "[core]\n\tbare\n\tempty =\n", true},
	{"CRLF", "[include]\r\n\tpath = crlf.inc\r\n", true},
	{"no final newline", "[include]\n\tpath = eof.inc", true},
	{"unterminated header", "[include\n\tpath = x\n", false},
	{"key outside a section", "path = x\n[include]\npath = y\n", true},
	{"open quote", "[include]\n\tpath = \"x\n", false},
	{"bad escape", "[include]\n\tpath = x\\q\n", false},
	{"bad key", "[include]\n\tpa_th = x\n", false},
	{"no equals", "[include]\n\tpath x\n", false},
}

// TestParseGitConfig compares parseGitConfig with git itself (git config
// --file F --list -z) on each case: same entries, same refusals.
func TestParseGitConfig(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("needs git in PATH to compare with")
	}
	dir := t.TempDir()
	for _, c := range gitConfigCases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			if err := os.WriteFile(f, []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(git, "config", "--file", f, "--list", "-z")
			cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, gitErr := cmd.Output()
			es, err := parseGitConfig([]byte(c.text))
			if (gitErr == nil) != c.valid {
				t.Fatalf("git config: %v; the case says valid=%v", gitErr, c.valid)
			}
			if (err == nil) != c.valid {
				t.Fatalf("parseGitConfig: %v; git says valid=%v", err, c.valid)
			}
			if !c.valid {
				// The same line as git's "bad config line N".
				if m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(stderr.String()); m == nil || !strings.Contains(err.Error(), "line "+m[1]+" ") {
					t.Errorf("parseGitConfig: %v; git: %s", err, stderr.String())
				}
				return
			}
			var got []string
			for _, e := range es {
				k := e.section + "."
				if e.section == "" {
					k = ""
				}
				if e.sub != "" {
					k += e.sub + "."
				}
				got = append(got, k+e.key+"\n"+e.value)
			}
			var want []string
			for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
				if kv == "" {
					continue
				}
				// git prints a key without a value without the newline.
				if !strings.Contains(kv, "\n") {
					kv += "\n"
				}
				want = append(want, kv)
			}
			if !slices.Equal(got, want) {
				t.Errorf("parseGitConfig = %q, git = %q", got, want)
			}
		})
	}
}

// TestGitIncludesAsGitForms: include paths in the odd forms git reads
// them (gitConfigCases), ".." after a symlinked directory (where the
// kernel takes it), and "~user/".
func TestGitIncludesAsGitForms(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(root, "home")
	dots := filepath.Join(root, "proj", "dots")
	for _, d := range []string{filepath.Join(home, ".config"), filepath.Join(dots, "git")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A stow-style link: ~/.config/git -> proj/dots/git.
	if err := os.Symlink(filepath.Join(dots, "git"), filepath.Join(home, ".config", "git")); err != nil {
		t.Fatal(err)
	}
	xdg := filepath.Join(home, ".config", "git", "config")
	if err := os.WriteFile(xdg, []byte("\xef\xbb\xbf[include] path = ../shared.inc\n[includeIf\t\"gitdir:/\"]\n\tpath = h\\\n.inc\n\tpath = pr\"oj\"/m.inc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Spec{Home: home}
	got, err := s.gitIncludes([]string{xdg})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, ".config", "git") + "/"
	want := []string{dir + "../shared.inc", dir + "h.inc", dir + "proj/m.inc"}
	if !slices.Equal(got, want) {
		t.Fatalf("gitIncludes = %q, want %q", got, want)
	}
	// Where the first one leads: beside the link's target, not in ~/.config.
	if r, err := s.paths.evalMissing(got[0], nil); err != nil || r != filepath.Join(dots, "shared.inc") {
		t.Errorf("%s resolves to %q (%v), want %s", got[0], r, err, filepath.Join(dots, "shared.inc"))
	}
	// "~user/" is that user's home, as git expands it.
	if p, ok := s.gitIncludePath("~root/x.inc", xdg); !ok || p != "/root/x.inc" {
		t.Errorf(`gitIncludePath("~root/x.inc") = %q, %v; want /root/x.inc`, p, ok)
	}
	if _, ok := s.gitIncludePath("~no-such-user-here/x.inc", xdg); ok {
		t.Error("an unknown ~user/ expanded")
	}
	// A file git would refuse is an error, not a quiet "no includes".
	if err := os.WriteFile(xdg, []byte("[include]\n\tpath = \"open\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.gitIncludes([]string{xdg}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("an unparsable config: %v; want an error naming line 2", err)
	}
}

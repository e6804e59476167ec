package early

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsfence/fence/config"
)

// Guess must say "sandbox" exactly when the CLI will run a command, or
// fence would clone namespaces for --version and subcommands (an aborted
// spawn), or lose the head start for commands.
func TestGuessSandbox(t *testing.T) {
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"-- true", true},
		{"true", true},
		{"ls -l", true},
		{"-c true", true},
		{"--c true", true},
		{"-m -d -- npm install", true},
		{"-t code -- claude", true},
		{"-s fence.json ./build.sh", true},
		{"-p 8080 -- srv", true},
		{"--", false},
		{"", false},
		{"-v", false},
		{"--version", false},
		{"-h", false},
		{"--help", false},
		{"--list-templates", false},
		{"--linux-features", false},
		{"config show", false},
		{"import --claude", false},
		{"completion bash", false},
		{"help", false},
		{"-s config", false}, // "config" is the value of -s; no command follows
		{"-t code", false},
		{"-d", false},
	} {
		if got, _ := Guess(strings.Fields(tc.args)); got != tc.want {
			t.Errorf("Guess(%q) sandbox = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// ConfigSharesHost reads the files fence will read (the -s file, else the
// user's default config when no -t is given; the project's fence.json) and
// says "host network" when one of them allows every domain or extends a
// host-network template.
func TestConfigSharesHost(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) string {
		t.Helper()
		p := root + "/" + rel
		if err := os.MkdirAll(p[:strings.LastIndexByte(p, '/')], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	relaxed := write("cfg/relaxed.json", `{"network": {"allowedDomains": ["*"]}} // JSONC`)
	strict := write("cfg/strict.json", `{"network": {"allowedDomains": ["example.com"]}}`)
	extends := write("cfg/extends.json", `{"extends": "code-relaxed"}`)
	for _, d := range []string{"home", "xdg", "plain", "repo/.git", "repo/sub/dir"} {
		if err := os.MkdirAll(root+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOME", root+"/home")
	t.Setenv("XDG_CONFIG_HOME", root+"/xdg")
	check := func(name, cwd string, args string, want bool) {
		t.Helper()
		t.Chdir(cwd)
		if got := ConfigSharesHost(strings.Fields(args)); got != want {
			t.Errorf("%s: ConfigSharesHost(%q) in %s = %v, want %v", name, args, cwd, got, want)
		}
	}
	plain := root + "/plain"
	check("no config", plain, "-- true", false)
	check("-s relaxed", plain, "-s "+relaxed+" -- true", true)
	check("--settings=relaxed", plain, "--settings="+relaxed+" -- true", true)
	check("-s relative", root+"/cfg", "-s relaxed.json -- true", true)
	check("-s strict", plain, "-s "+strict+" -- true", false)
	check("-s extends code-relaxed", plain, "-s "+extends+" -- true", true)
	check("-s after the command is the command's", plain, "true -s "+relaxed, false)

	write("xdg/fence/fence.json", `{"network": {"allowedDomains": ["*"]}}`)
	check("user config", plain, "-- true", true)
	check("user config, -t given (not read)", plain, "-t code -- true", false)
	check("user config, -s given (not read)", plain, "-s "+strict+" -- true", false)
	if err := os.Remove(root + "/xdg/fence/fence.json"); err != nil {
		t.Fatal(err)
	}
	write("home/.fence.json", `{"extends": "disable-telemetry"}`)
	// As config.DefaultPath: the legacy file only without a fence
	// directory in the config directory.
	check("legacy user config beside a fence config directory", plain, "-- true", false)
	if err := os.Remove(root + "/xdg/fence"); err != nil {
		t.Fatal(err)
	}
	check("legacy user config", plain, "-- true", true)
	if err := os.Remove(root + "/home/.fence.json"); err != nil {
		t.Fatal(err)
	}

	write("repo/fence.json", `{"network": {"allowedDomains": ["*"]}}`)
	check("project config at the repository root", root+"/repo/sub/dir", "-t code -- true", true)
	write("repo/sub/fence.json", `{"network": {"allowedDomains": ["example.com"]}}`)
	check("the nearest project config wins", root+"/repo/sub/dir", "-- true", false)
	write("fence.json", `{"network": {"allowedDomains": ["*"]}}`)
	check("a fence.json above cwd outside a repository", plain, "-- true", false)
	check("cwd's own fence.json outside a repository", root, "-- true", true)

	// A FIFO is not opened (the open would wait for a writer).
	if err := syscall.Mkfifo(root+"/cfg/fifo.json", 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(plain)
	done := make(chan bool)
	go func() {
		done <- ConfigSharesHost([]string{"-s", root + "/cfg/fifo.json", "--", "true"})
	}()
	select {
	case got := <-done:
		if got {
			t.Error("a FIFO as the -s file: host network")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ConfigSharesHost blocked on a FIFO")
	}
}

// early finds the user's and the project's config where the config package
// does (config.DefaultPath, config.FindProjectConfig); the test imports
// config, the package does not (TestEarlyPackagesStayLight).
func TestConfigLookupsMatchConfig(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string, dir bool) {
		t.Helper()
		p := root + "/" + rel
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if dir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	isFile := func(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }
	read := func(ps []string) string {
		for _, p := range ps {
			if isFile(p) {
				return p
			}
		}
		return ""
	}
	for i, tree := range [][]string{
		{},
		{"home/.fence.json"},
		{"home/.config/fence/", "home/.fence.json"},
		{"home/.config/fence/fence.json", "home/.fence.json"},
		{"xdg/fence/fence.json"},
		{"repo/.git/", "repo/fence.json", "repo/a/b/"},
		{"repo/.git/", "repo/fence.json", "repo/a/fence.json", "repo/a/b/"},
		{"repo/.git", "repo/a/fence.json/", "repo/fence.json", "repo/a/b/"},
		{"fence.json", "repo/a/b/"},
		{"repo/a/b/fence.json"},
	} {
		base := root + "/" + strconv.Itoa(i)
		for _, rel := range tree {
			mk(strconv.Itoa(i)+"/"+strings.TrimSuffix(rel, "/"), strings.HasSuffix(rel, "/"))
		}
		for _, xdg := range []string{"", base + "/xdg"} {
			t.Setenv("HOME", base+"/home")
			t.Setenv("XDG_CONFIG_HOME", xdg)
			want := config.DefaultPath(base + "/home")
			if !isFile(want) {
				want = ""
			}
			if got := read(userConfigs()); got != want {
				t.Errorf("tree %v, XDG_CONFIG_HOME=%q: early reads the user config %q, config %q", tree, xdg, got, want)
			}
		}
		cwd := base + "/repo/a/b"
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			t.Fatal(err)
		}
		want, err := config.FindProjectConfig(cwd)
		if err != nil {
			// fence stops on it (a directory named fence.json):
			// early's guess is not used.
			continue
		}
		if got := projectConfig(cwd); got != want {
			t.Errorf("tree %v: early's project config %q, config's %q", tree, got, want)
		}
	}
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad configuration: exit 1, a one-line error on stderr naming the file
// (and the field where there is one), and the command does not run. Each
// config would otherwise allow the command to write its marker file in the
// workspace, and the command prints RAN first, so a run is visible either
// way.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name    string
		content string // "" = the -s file does not exist
		field   string // must appear in the message
	}{
		{name: "missing file"},
		{name: "invalid JSON", content: `{"filesystem":{"allowWrite":["."]},`},
		{name: "invalid JSON garbage", content: `{"filesystem":{"allowWrite":["."]}} trailing`},
		{name: "unknown field", content: `{"filesystem":{"allowWrite":["."],"allowWrites":["x"]}}`, field: "allowWrites"},
		{name: "unknown top-level field", content: `{"filesystem":{"allowWrite":["."]},"fileSystem":{}}`, field: "fileSystem"},
		{name: "wrong type string for array", content: `{"filesystem":{"allowWrite":["."],"denyRead":"secret.txt"}}`, field: "denyRead"},
		{name: "wrong type string for bool", content: `{"filesystem":{"allowWrite":["."],"allowGitConfig":"yes"}}`, field: "allowGitConfig"},
		{name: "wrong type number in array", content: `{"filesystem":{"allowWrite":[".", 5]}}`, field: "allowWrite"},
		{name: "empty path", content: `{"filesystem":{"allowWrite":["."],"denyWrite":[""]}}`, field: "denyWrite"},
		{name: "empty allowWrite path", content: `{"filesystem":{"allowWrite":[".", ""]}}`, field: "allowWrite"},
		{name: "trailing space in a path", content: `{"filesystem":{"allowWrite":["."],"denyRead":["~/.ssh "]}}`, field: `denyRead "~/.ssh "`},
		{name: "invalid UTF-8 in a path", content: "{\"filesystem\":{\"allowWrite\":[\".\"],\"denyRead\":[\"secr\xe9t\"]}}", field: "denyRead[0]\" at line 1, column 52"},
		{name: "lone surrogate in a path", content: `{"filesystem":{"allowWrite":["."],"denyWrite":["x\udc80"]}}`, field: "denyWrite[0]\" at line 1, column 50"},
		// Found when the merged config is planned, and named all the same.
		{name: "clashing proxy ports", content: `{"network":{"httpProxyPort":1080}}`, field: "httpProxyPort from "},
		{name: "local port on a proxy port", content: `{"network":{"allowLocalOutboundPorts":[3128]}}`, field: "allowLocalOutboundPorts has 3128 (from "},
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		for i, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				cfg := s.path("no-such-config.json")
				if c.content != "" {
					cfg = s.config("bad-"+string(rune('a'+i))+".json", c.content)
				}
				marker := unique("marker-")
				res := s.fence("-s", cfg, "-c", "echo RAN; touch "+marker)
				if res.code != 1 {
					t.Errorf("want exit 1: %v", res)
				}
				msg := strings.TrimSuffix(res.stderr, "\n")
				if msg == "" || strings.Contains(msg, "\n") {
					t.Errorf("want a one-line error on stderr, got %q", res.stderr)
				}
				if !strings.Contains(msg, cfg) {
					t.Errorf("error %q does not name the file %s", msg, cfg)
				}
				if c.field != "" && !strings.Contains(msg, c.field) {
					t.Errorf("error %q does not name the field %q", msg, c.field)
				}
				if strings.Contains(res.stdout, "RAN") {
					t.Errorf("the command ran despite the bad config: stdout %q", res.stdout)
				}
				mustNotExist(t, s.path(marker), "command must not run with a bad config")
			})
		}
		// Control: the same command with a good config runs and writes.
		cfg := s.config("good.json", `{"filesystem":{"allowWrite":["."]}}`)
		res := s.mustRun("-s", cfg, "-c", "echo RAN; touch good-marker")
		if res.stdout != "RAN\n" {
			t.Errorf("good config: stdout %q, want RAN", res.stdout)
		}
		mustHaveContent(t, s.path("good-marker"), "", "good config: the command's marker")
	})
}

// TestConfigErrorsNameSources: an error about a value of the merged config
// names the file of the extends chain the value came from.
func TestConfigErrorsNameSources(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		base := s.config("base.json", `{"network":{"allowLocalOutboundPorts":[5000]}, "filesystem":{"defaultDenyRead":true}}`)
		top := s.config("top.json", `{"extends":"./base.json", "filesystem":{"allowRead":["."]}}`)
		res := s.fence("-s", top, "-p", "5000", "--", "true")
		want := "Error: -p 5000: network.allowLocalOutboundPorts (from " + base + ") forwards that port from the sandbox to the host already; use one direction\n"
		if res.code != 1 || res.stderr != want {
			t.Errorf("-p of a port the config forwards: want exit 1 and %q: %v", want, res)
		}
		top = s.config("top2.json", `{"extends":"./base.json"}`)
		res = s.fence("-s", top, "--", "true")
		want = "(filesystem.defaultDenyRead, from " + base + ")"
		if res.code != 1 || !strings.Contains(res.stderr, want) {
			t.Errorf("working directory not readable: want exit 1 and %q: %v", want, res)
		}
	})
}

// TestConfigLinkTargets: a user config that is a symlink leading nowhere,
// or to a file this user may not reach, stops the run (its rules would be
// dropped without a word); one that root may reach loads for root.
func TestConfigLinkTargets(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		link := s.path("home/.config/fence/fence.json")
		s.symlink(s.path("moved/fence.json"), "home/.config/fence/fence.json")
		res := s.fence("--", "true")
		if res.code != 1 || !strings.Contains(res.stderr, "user config "+link+" is a symlink that leads nowhere") {
			t.Errorf("a dangling user config: %v", res)
		}
		if os.Geteuid() != 0 {
			return // a file out of this user's reach needs another user
		}
		// A directory only root may search, holding the real config.
		locked := s.path("locked")
		if err := os.MkdirAll(locked, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(locked, "fence.json"), []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(link); err != nil {
			t.Fatal(err)
		}
		s.symlink(filepath.Join(locked, "fence.json"), "home/.config/fence/fence.json")
		res = s.fence("--", "true")
		switch {
		case s.r.root() && res.code != 0:
			t.Errorf("root, a user config in a root-only directory: %v", res)
		case !s.r.root() && (res.code != 1 || !strings.Contains(res.stderr, "may not reach")):
			t.Errorf("a user config out of this user's reach: %v", res)
		}
	})
}

// A working directory reached through a symlink: the sandbox cannot create
// the project fence.json there (it would loosen the next run started from
// the same place), as it cannot from the directory's resolved path.
func TestProjectConfigSymlinkedCwd(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		link := s.symlink("repo", "link")
		cfg := s.config("cwd-cfg.json", `{"filesystem":{"allowWrite":["."]}}`)
		res := s.fenceWith(opts{dir: link, env: []string{"PWD=" + link}}, "-s", cfg, "-c",
			`echo ok > control.txt; echo '{"filesystem":{"allowWrite":["/"]}}' > fence.json && echo WROTE`)
		if !ranInside(t, res) {
			return
		}
		mustHaveContent(t, s.path("repo/control.txt"), "ok\n", "control write in the symlinked working directory")
		if strings.Contains(res.stdout, "WROTE") {
			t.Errorf("the sandbox created the project config through the symlinked working directory: %v", res)
		}
		mustNotExist(t, s.path("repo/fence.json"), "project fence.json through a symlinked working directory")
	})
}

// The user config directory decides whether the legacy ~/.fence.json is
// read: created inside the sandbox, it would drop the legacy config (and
// its denyRead) from every later run. It cannot be created, under
// ~/.config or $XDG_CONFIG_HOME, nor removed where it exists.
func TestConfigDirCannotBeCreated(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("home/.config")
		xdg := s.mkdir("xdg")
		s.write("home/.fence.json", `{"filesystem":{"allowWrite":["~/.config","`+xdg+`"]}}`)
		for _, c := range []struct {
			env []string
			dir string
		}{
			{nil, filepath.Join(s.home, ".config/fence")},
			{[]string{"XDG_CONFIG_HOME=" + xdg}, filepath.Join(xdg, "fence")},
		} {
			res := s.fenceWith(opts{env: c.env}, "--", "sh", "-c", `mkdir "$(dirname "$1")/other" && echo control; mkdir "$1" && echo CREATED`, "sh", c.dir)
			if !ranInside(t, res) {
				continue
			}
			if res.stdout != "control\n" {
				t.Errorf("creating %s: want only the control directory made: %v", c.dir, res)
			}
			mustNotExist(t, c.dir, "the user config directory, created inside")
		}
		// Where it exists (and the legacy file is not read) it stays.
		s.mkdir("xdg/fence")
		res := s.fenceWith(opts{env: []string{"XDG_CONFIG_HOME=" + xdg}}, "-s", s.config("cfgdir.json", `{"filesystem":{"allowWrite":["`+xdg+`"]}}`),
			"--", "sh", "-c", `rmdir "$1" || mv "$1" "$1.old"`, "sh", filepath.Join(xdg, "fence"))
		if ranInside(t, res) && res.code == 0 {
			t.Errorf("removing the user config directory succeeded: %v", res)
		}
		if st, err := os.Stat(filepath.Join(xdg, "fence")); err != nil || !st.IsDir() {
			t.Errorf("the user config directory is gone from the host: %v", err)
		}
	})
}

// A .git between the working directory and its repository's root ends the
// search for the project fence.json there: created inside the sandbox, it
// would drop the root's fence.json from the next run started from the same
// directory. Outside a repository, one in a parent would bring the parents'
// fence.json files in. Neither can be created, and the root's .git cannot
// be moved away; repositories below the working directory, and one in a
// working directory outside any repository (git init), still can.
func TestProjectConfigGitMarkers(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		s.write("repo/fence.json", `{"filesystem":{"denyRead":["secret.txt"]}}`)
		sub := s.mkdir("repo/sub")
		cfg := s.config("markers.json", `{"filesystem":{"allowWrite":["`+s.path("repo")+`","`+s.path("plain")+`"]}}`)
		script := `try() { "$@" 2>/dev/null; case $? in 0) echo "DONE:$*";; 127) echo "DONE:$* (exit 127, not run: this check proves nothing)";; esac; }
mkdir -p below/.git && echo control
try mkdir .git
try sh -c 'echo "gitdir: /x" > .git'
try ln -s ../.git .git
try mv ../.git ../.git-old
try rm -rf ../.git`
		res := s.fenceWith(opts{dir: sub}, "-s", cfg, "-c", script)
		if ranInside(t, res) && res.stdout != "control\n" {
			t.Errorf("want only the control repository below the working directory made: %v", res)
		}
		mustNotExist(t, filepath.Join(sub, ".git"), "a .git between the working directory and the root")
		if st, err := os.Stat(s.path("repo/.git")); err != nil || !st.IsDir() {
			t.Errorf("the root's .git was moved or removed: %v", err)
		}
		// Outside a repository.
		proj := s.mkdir("plain/proj")
		res = s.fenceWith(opts{dir: proj}, "-s", cfg, "-c", `mkdir .git && echo control; mkdir ../.git && echo CREATED`)
		if ranInside(t, res) && res.stdout != "control\n" {
			t.Errorf("want only git init in the working directory: %v", res)
		}
		mustNotExist(t, s.path("plain/.git"), "a .git in a parent of a working directory outside any repository")
	})
}

// A project fence.json found above the working directory (at the
// repository's top, fence started in a subdirectory) hides and protects
// its relative paths where it is, not only below the working directory:
// ../secret.txt was readable and ../config/app.yml writable. Its grants
// stay the working directory's.
func TestProjectConfigDenialsFromItsDirectory(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		s.write("repo/fence.json", `{"filesystem":{"denyRead":["secret.txt"],"denyWrite":["config/*.yml"]}}`)
		s.write("repo/secret.txt", "TOP-SECRET\n")
		s.write("repo/config/app.yml", "orig\n")
		s.write("repo/sub/secret.txt", "SUB-SECRET\n")
		sub := s.path("repo/sub")
		cfg := s.config("w.json", `{"filesystem":{"allowWrite":["`+s.path("repo")+`"]}}`)
		res := s.fenceWith(opts{dir: sub}, "-s", cfg, "-c", `cat ../secret.txt secret.txt; echo x >> ../config/app.yml && echo APPENDED; echo ok > ../other.txt && echo control`)
		if !ranInside(t, res) || strings.Contains(res.stdout, "SECRET") || strings.Contains(res.stdout, "APPENDED") || !strings.Contains(res.stdout, "control") {
			t.Errorf("started in a subdirectory, the project config's denials did not hold where it is: %v", res)
		}
		mustHaveContent(t, s.path("repo/config/app.yml"), "orig\n", "a denyWrite entry of the project config, from a subdirectory")
	})
}

// A fence.json applies to every run started in its directory or below: one
// planted in a subdirectory of the workspace, or an existing one changed,
// would loosen the next run started there. None can be created, changed,
// removed or renamed anywhere the sandbox can write, while the project's
// own committed fence.json keeps applying and stays readable.
func TestProjectConfigPlantedInSubdir(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("repo/.git/HEAD", "ref: refs/heads/main\n")
		s.write("repo/fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		s.fenceWith(opts{dir: s.path("repo")}, "config", "trust")
		s.write("repo/pkg2/fence.json", "{}\n")
		// A fence.json that is a symlink: what it leads to decides a
		// later run from pkg3 (review: it used to be writable).
		s.write("repo/cfg/pkg3.json", "{}\n")
		if err := os.MkdirAll(s.path("repo/pkg3"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../cfg/pkg3.json", s.path("repo/pkg3/fence.json")); err != nil {
			t.Fatal(err)
		}
		script := `try() { "$@" 2>/dev/null; case $? in 0) echo "DONE:$*";; 127) echo "DONE:$* (exit 127, not run: this check proves nothing)";; esac; }
echo ok > control.txt && cat fence.json >/dev/null && echo control
mkdir -p pkg deep/er && echo mkdirs
try sh -c 'echo "{\"filesystem\":{\"allowWrite\":[\"/\"]}}" > pkg/fence.json'
try sh -c 'echo "{}" > deep/er/fence.json'
try sh -c 'echo "{}" > tmp.json && mv tmp.json pkg/fence.json'
try ln -s ../fence.json pkg/fence.json
try ln fence.json pkg/fence.json
try cp fence.json pkg/fence.json
try mkdir pkg/fence.json
try sh -c 'echo x >> pkg2/fence.json'
try truncate -c -s 0 pkg2/fence.json
try python3 -c 'import os; os.close(os.open("pkg2/fence.json", os.O_WRONLY))'
try rm pkg2/fence.json
try mv pkg2/fence.json pkg2/old.json
try sh -c 'echo "{}" > tmp2.json && mv -f tmp2.json pkg2/fence.json'
try sh -c 'ln -s pkg2/fence.json lnk && echo x > lnk'
try sh -c 'echo x > pkg3/fence.json'
try truncate -s 0 pkg3/fence.json
try sh -c 'ln -s pkg3/fence.json chain && echo x > chain'
try truncate -s 0 chain`
		res := s.fenceWith(opts{dir: s.path("repo")}, "-c", script)
		if !ranInside(t, res) {
			return
		}
		if res.stdout != "control\nmkdirs\n" {
			t.Errorf("want only the control write (the project config applies) and the directories: %v", res)
		}
		for _, p := range []string{"pkg/fence.json", "deep/er/fence.json", "pkg2/old.json"} {
			mustNotExist(t, s.path("repo/"+p), "a fence.json planted or moved in the workspace")
		}
		mustHaveContent(t, s.path("repo/pkg2/fence.json"), "{}\n", "an existing fence.json in a subdirectory")
	})
}

// TestConfigUnreadable: a config file that exists but cannot be read, or
// that sits in a directory this user may not search, stops the run with a
// one-line error naming it; only a file that is not there means "no
// config". (It used to mean the defaults for the user config: its
// denyRead and command rules dropped without a word.) Root reads them all,
// which shows that each config is valid; a directory where the file
// should be stops both.
func TestConfigUnreadable(t *testing.T) {
	const cfg = `{"command":{"deny":["nope-never"]}}`
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		lock := func(rel string) {
			t.Helper()
			p := s.path(rel)
			if err := os.Chmod(p, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(p, 0o755) })
		}
		cases := []struct {
			name   string
			setup  func() (args, env []string, dir string)
			names  string // the path the error must name
			denied bool   // only another user is refused (EACCES)
		}{
			{"user config directory unsearchable", func() ([]string, []string, string) {
				s.write("h1/.config/fence/fence.json", cfg)
				lock("h1/.config/fence")
				return nil, []string{"HOME=" + s.path("h1")}, ""
			}, s.path("h1/.config/fence/fence.json"), true},
			{"user config unreadable", func() ([]string, []string, string) {
				s.write("h2/.config/fence/fence.json", cfg)
				lock("h2/.config/fence/fence.json")
				return nil, []string{"HOME=" + s.path("h2")}, ""
			}, s.path("h2/.config/fence/fence.json"), true},
			{"XDG_CONFIG_HOME unsearchable", func() ([]string, []string, string) {
				s.write("x3/fence/fence.json", cfg)
				lock("x3")
				return nil, []string{"HOME=" + s.mkdir("h3"), "XDG_CONFIG_HOME=" + s.path("x3")}, ""
			}, s.path("x3/fence"), true},
			{"legacy user config unreadable", func() ([]string, []string, string) {
				s.write("h4/.fence.json", cfg)
				lock("h4/.fence.json")
				return nil, []string{"HOME=" + s.path("h4")}, ""
			}, s.path("h4/.fence.json"), true},
			{"settings file unreadable", func() ([]string, []string, string) {
				s.config("c5.json", cfg)
				lock("c5.json")
				return []string{"-s", s.path("c5.json")}, nil, ""
			}, s.path("c5.json"), true},
			{"settings file in an unsearchable directory", func() ([]string, []string, string) {
				s.config("d6/c.json", cfg)
				lock("d6")
				return []string{"-s", s.path("d6/c.json")}, nil, ""
			}, s.path("d6/c.json"), true},
			{"extends target unreadable", func() ([]string, []string, string) {
				s.config("b7.json", cfg)
				lock("b7.json")
				return []string{"-s", s.config("c7.json", `{"extends":"./b7.json"}`)}, nil, ""
			}, s.path("b7.json"), true},
			{"extends target in an unsearchable directory", func() ([]string, []string, string) {
				s.config("d8/b.json", cfg)
				lock("d8")
				return []string{"-s", s.config("c8.json", `{"extends":"./d8/b.json"}`)}, nil, ""
			}, s.path("d8/b.json"), true},
			{"project config unreadable", func() ([]string, []string, string) {
				s.write("p9/fence.json", cfg)
				lock("p9/fence.json")
				return nil, nil, s.path("p9")
			}, s.path("p9/fence.json"), true},
			{"user config a directory", func() ([]string, []string, string) {
				s.mkdir("h10/.config/fence/fence.json")
				return nil, []string{"HOME=" + s.path("h10")}, ""
			}, s.path("h10/.config/fence/fence.json") + " is a directory", false},
		}
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				args, env, dir := c.setup()
				res := s.fenceWith(opts{env: env, dir: dir}, append(args, "-c", "echo RAN")...)
				if c.denied && s.r.root() {
					if res.code != 0 || res.stdout != "RAN\n" {
						t.Errorf("root reads it: want the command run: %v", res)
					}
					return
				}
				msg := strings.TrimSuffix(res.stderr, "\n")
				if res.code != 1 || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "Error: ") || strings.Contains(res.stdout, "RAN") {
					t.Errorf("want exit 1 with a one-line error and the command not run: %v", res)
				}
				if !strings.Contains(msg, c.names) {
					t.Errorf("error %q does not name %s", msg, c.names)
				}
				if c.denied && !strings.Contains(msg, "permission denied") {
					t.Errorf("error %q does not say why (permission denied)", msg)
				}
				// It names a fix, and the path once, not an open(2)
				// error that repeats it.
				if c.denied && !strings.Contains(msg, "chmod") && !strings.Contains(msg, "searchable") && !strings.Contains(msg, "search the directories") {
					t.Errorf("error %q does not say how to fix it", msg)
				}
				if strings.Contains(msg, "open "+c.names) {
					t.Errorf("error %q repeats the path in an open error", msg)
				}
				// Another user's home kept by sudo -u: the fix names HOME.
				// Also when the user config is there but unreadable (fence
				// config init makes it 0600).
				if c.denied && (strings.HasPrefix(msg, "Error: user config ") || strings.Contains(c.name, "user config")) && !strings.Contains(msg, "set HOME") {
					t.Errorf("error %q does not offer to set HOME", msg)
				}
			})
		}
	})
}

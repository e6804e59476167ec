package e2e

import (
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

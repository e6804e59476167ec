package fence

import (
	"os"
	"strings"
	"testing"
)

// Without PATH in the environment (env -i, cron), -c finds bash where bash
// itself looks when PATH is unset, instead of failing with "bash not found
// in PATH; install bash".
func TestResolveShellUnsetPATH(t *testing.T) {
	if !isExecutable("/usr/bin/bash") && !isExecutable("/bin/bash") {
		t.Skip("no bash in /usr/bin or /bin")
	}
	sh, err := resolveShell("default", []string{"HOME=/"})
	if err != nil {
		t.Fatalf("resolveShell without PATH: %v", err)
	}
	if !strings.HasSuffix(sh, "/bash") {
		t.Errorf("resolveShell without PATH = %s", sh)
	}
}

// nsexec's lookPath keeps a copy of bashDefaultPath (it cannot import this
// package): the command lookup and the denied-program masks must search
// the same directories.
func TestBashDefaultPathInSync(t *testing.T) {
	b, err := os.ReadFile("nsexec/init_linux.go")
	if err != nil {
		t.Fatal(err)
	}
	if want := `const bashDefaultPath = "` + bashDefaultPath + `"`; !strings.Contains(string(b), want) {
		t.Errorf("nsexec/init_linux.go lacks %s", want)
	}
}

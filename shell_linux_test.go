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
	// fence's own PATH is unset too (env -i fence -c ...): a lookup in
	// the test process's PATH would pass whatever resolveShell does.
	t.Setenv("PATH", "")
	os.Unsetenv("PATH")
	sh, err := resolveShell("default", []string{"HOME=/"})
	if err != nil {
		t.Fatalf("resolveShell without PATH: %v", err)
	}
	if !strings.HasSuffix(sh, "/bash") {
		t.Errorf("resolveShell without PATH = %s", sh)
	}
}

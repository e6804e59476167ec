package e2e

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestFailClosedWithoutUserNamespaces: when user namespaces cannot be
// created, fence refuses to run the command and names the sysctl to fix. The
// test lowers user.max_user_namespaces to 0 inside a user namespace of its
// own (the limit is per namespace), so the host is untouched.
func TestFailClosedWithoutUserNamespaces(t *testing.T) {
	unshare := need(t, "unshare")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		marker := s.path("ran")
		cmd := exec.Command(unshare, "--user", "--map-root-user", "sh", "-c",
			`echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" -- touch "$1"`, fenceBin, marker)
		cmd.Dir = s.dir
		cmd.Env = s.env()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.r.cred}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("want exit 1, got %v\n%s", err, out)
		}
		msg := strings.TrimSpace(string(out))
		if !strings.Contains(msg, "user.max_user_namespaces=0") || strings.Contains(msg, "\n") {
			t.Errorf("want one line naming user.max_user_namespaces=0, got:\n%s", out)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("the command ran without a sandbox")
		}
	})
}

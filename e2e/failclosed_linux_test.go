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

// TestFailClosedUnlistableCredentials: a credential directory the user can
// search but not list (~/.ssh mode 0311) still lets the command open the
// keys it guesses by name, and fence cannot see which ones to hide there.
// Root lists it anyway and hides the keys; any other user gets a one-line
// refusal naming the credential pattern, and the command does not run.
// Either way the key never reaches the command.
func TestFailClosedUnlistableCredentials(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("home/.ssh")
		s.write("home/.ssh/id_rsa", "PRIVATE-KEY-MATERIAL")
		s.own(s.path("home/.ssh/id_rsa"), 0o600)
		s.own(s.path("home/.ssh"), 0o311)
		marker := s.path("ran")
		res := s.fence("--", "sh", "-c", `touch "$0"; cat ~/.ssh/id_rsa`, marker)
		if strings.Contains(res.stdout, "PRIVATE-KEY-MATERIAL") {
			t.Fatalf("the command read the key: %v", res)
		}
		if s.r.root() {
			ranInside(t, res) // and the key, masked, read as empty
			return
		}
		msg := strings.TrimSpace(res.stderr)
		if res.code != 1 || !strings.Contains(msg, `"~/.ssh/id_*"`) || !strings.Contains(msg, "searched but not read") || strings.Contains(msg, "\n") {
			t.Errorf("want exit 1 and one line naming ~/.ssh/id_* and the cause: %v", res)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("the command ran")
		}
	})
}

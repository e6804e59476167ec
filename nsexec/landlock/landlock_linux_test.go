package landlock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const childEnv = "FENCE_LANDLOCK_TEST_CHILD"

// TestMain runs the restricted half of each test in a re-executed child:
// Landlock can never be lifted, so the test process itself stays free.
func TestMain(m *testing.M) {
	if dirs := os.Getenv(childEnv); dirs != "" {
		os.Exit(child(strings.Split(dirs, ":")))
	}
	os.Exit(m.Run())
}

// child applies Policy{Writable: [allowed]} and tries to write into allowed
// and denied; it exits 0 only if the first works and the second fails with
// EACCES, and if an ioctl on /dev/tty-like devices stays possible.
func child(dirs []string) int {
	allowed, denied := dirs[0], dirs[1]
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		os.Stderr.WriteString("no_new_privs: " + err.Error() + "\n")
		return 2
	}
	if _, err := Apply(Policy{Writable: []string{allowed}}); err != nil {
		os.Stderr.WriteString("apply: " + err.Error() + "\n")
		return 2
	}
	if err := os.WriteFile(filepath.Join(allowed, "ok"), []byte("x"), 0o644); err != nil {
		os.Stderr.WriteString("write allowed: " + err.Error() + "\n")
		return 3
	}
	err := os.WriteFile(filepath.Join(denied, "no"), []byte("x"), 0o644)
	if !errors.Is(err, unix.EACCES) {
		os.Stderr.WriteString("write denied: got " + errString(err) + ", want EACCES\n")
		return 4
	}
	// Reads stay allowed everywhere.
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		os.Stderr.WriteString("read: " + err.Error() + "\n")
		return 5
	}
	// openpty needs IOCTL_DEV on /dev/ptmx (granted under /dev).
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err == nil {
		defer unix.Close(fd)
		if _, err := unix.IoctlGetInt(fd, unix.TIOCGPTN); err != nil {
			os.Stderr.WriteString("ioctl ptmx: " + err.Error() + "\n")
			return 6
		}
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return "success"
	}
	return err.Error()
}

func TestApplyRestrictsWrites(t *testing.T) {
	if ABI() == 0 {
		t.Skip("kernel has no Landlock (needs CONFIG_SECURITY_LANDLOCK and landlock in lsm=)")
	}
	allowed, denied := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+allowed+":"+denied)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restricted child: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(denied, "no")); err == nil {
		t.Fatal("file outside the writable set was created")
	}
	if _, err := os.Stat(filepath.Join(allowed, "ok")); err != nil {
		t.Fatalf("file in the writable set missing: %v", err)
	}
}

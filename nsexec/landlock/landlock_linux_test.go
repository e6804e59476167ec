package landlock

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

const childEnv = "FENCE_LANDLOCK_TEST_CHILD"

// TestMain runs the restricted half of each test in a re-executed child:
// Landlock can never be lifted, so the test process itself stays free.
func TestMain(m *testing.M) {
	if base := os.Getenv(childEnv); base != "" {
		if err := child(base); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// layout makes the tree the child works on under base:
//
//	allowed/          writable hierarchy (with sub/ for cross-directory renames)
//	denied/existing   a file outside the writable set
//	denied/sub/       a directory outside it
//	single/f          a single writable file
//	single/g          its neighbour, not writable
func layout(base string) error {
	for _, d := range []string{"allowed/sub", "denied/sub", "single"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range []string{"allowed/move-in", "allowed/move-out", "denied/existing", "single/f", "single/g"} {
		if err := os.WriteFile(filepath.Join(base, f), []byte("orig"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// child applies Policy{Writable: [allowed, single/f, a missing path]} and
// checks each right fence's writable set is made of, granted inside it and
// refused (EACCES; EXDEV for a rename Landlock refuses across rules)
// outside, and that an ioctl on /dev/ptmx stays possible.
func child(base string) error {
	p := func(rel string) string { return filepath.Join(base, rel) }
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, err := Apply(Policy{Writable: []string{p("allowed"), p("single/f"), p("missing")}}); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	type op struct {
		what string
		f    func() error
	}
	granted := []op{
		{"create a file in allowed", func() error { return os.WriteFile(p("allowed/new"), []byte("x"), 0o644) }},
		{"mkdir in allowed", func() error { return unix.Mkdir(p("allowed/dir"), 0o755) }},
		{"symlink in allowed", func() error { return unix.Symlink("new", p("allowed/link")) }},
		{"mkfifo in allowed", func() error { return unix.Mkfifo(p("allowed/fifo"), 0o644) }},
		{"truncate in allowed", func() error { return unix.Truncate(p("allowed/new"), 0) }},
		{"unlink in allowed", func() error { return unix.Unlink(p("allowed/link")) }},
		{"rmdir in allowed", func() error { return unix.Rmdir(p("allowed/dir")) }},
		// Across directories: needs the refer right (git's object
		// store, mv, package managers).
		{"rename across directories in allowed", func() error { return unix.Rename(p("allowed/new"), p("allowed/sub/new")) }},
		{"write the single writable file", func() error { return os.WriteFile(p("single/f"), []byte("x"), 0o644) }},
		{"truncate the single writable file", func() error { return unix.Truncate(p("single/f"), 0) }},
		{"read outside", func() error { _, err := os.ReadFile(p("denied/existing")); return err }},
		{"list outside", func() error { _, err := os.ReadDir(p("denied")); return err }},
	}
	for _, o := range granted {
		if err := o.f(); err != nil {
			return fmt.Errorf("%s: %v, want success", o.what, err)
		}
	}
	refused := []op{
		{"create a file in denied", func() error { return os.WriteFile(p("denied/new"), []byte("x"), 0o644) }},
		{"open an existing file in denied to write", func() error {
			f, err := os.OpenFile(p("denied/existing"), os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"truncate(2) in denied", func() error { return unix.Truncate(p("denied/existing"), 0) }},
		{"unlink in denied", func() error { return unix.Unlink(p("denied/existing")) }},
		{"rmdir in denied", func() error { return unix.Rmdir(p("denied/sub")) }},
		{"mkdir in denied", func() error { return unix.Mkdir(p("denied/dir"), 0o755) }},
		{"symlink in denied", func() error { return unix.Symlink("x", p("denied/link")) }},
		{"mkfifo in denied", func() error { return unix.Mkfifo(p("denied/fifo"), 0o644) }},
		{"unix socket in denied", func() error {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				return fmt.Errorf("socket: %w (not the check)", err)
			}
			defer unix.Close(fd)
			return unix.Bind(fd, &unix.SockaddrUnix{Name: p("denied/sock")})
		}},
		{"rename from allowed into denied", func() error { return unix.Rename(p("allowed/move-out"), p("denied/moved")) }},
		{"rename from denied into allowed", func() error { return unix.Rename(p("denied/existing"), p("allowed/moved")) }},
		{"hard link from allowed into denied", func() error { return unix.Link(p("allowed/move-in"), p("denied/linked")) }},
		{"write the single file's neighbour", func() error { return os.WriteFile(p("single/g"), []byte("x"), 0o644) }},
		{"create beside the single writable file", func() error { return os.WriteFile(p("single/new"), []byte("x"), 0o644) }},
		{"unlink the single writable file", func() error { return unix.Unlink(p("single/f")) }},
	}
	for _, o := range refused {
		err := o.f()
		if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EXDEV) {
			return fmt.Errorf("%s: %v, want EACCES (or EXDEV)", o.what, errString(err))
		}
	}
	// openpty needs IOCTL_DEV on /dev/ptmx (granted under /dev).
	if _, err := os.Stat("/dev/ptmx"); err == nil {
		fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			return fmt.Errorf("open /dev/ptmx: %w", err)
		}
		defer unix.Close(fd)
		if _, err := unix.IoctlGetInt(fd, unix.TIOCGPTN); err != nil {
			return fmt.Errorf("ioctl ptmx: %w", err)
		}
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "success"
	}
	return err.Error()
}

func TestApplyRestrictsWrites(t *testing.T) {
	if !Usable() {
		t.Skipf("kernel Landlock ABI %d, fence needs ABI %d (Linux 5.19, CONFIG_SECURITY_LANDLOCK and landlock in lsm=)", ABI(), MinABI)
	}
	base := t.TempDir()
	if err := layout(base); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restricted child: %v\n%s", err, out)
	}
	// What the child was refused left the host's tree as it was.
	for _, f := range []string{"denied/new", "denied/dir", "denied/link", "denied/fifo", "denied/sock", "denied/moved", "denied/linked", "allowed/moved", "single/new"} {
		if _, err := os.Lstat(filepath.Join(base, f)); err == nil {
			t.Errorf("%s was created outside the writable set", f)
		}
	}
	for f, want := range map[string]string{"denied/existing": "orig", "single/g": "orig", "allowed/move-out": "orig", "single/f": ""} {
		if b, err := os.ReadFile(filepath.Join(base, f)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", f, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "allowed/sub/new")); err != nil {
		t.Errorf("the rename across directories in the writable set: %v", err)
	}
}

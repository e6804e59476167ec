package nsexec

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/nsfence/fence/nsexec/seccomp"
	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// IsProbe reports whether this process is a feature probe (see Features).
func IsProbe() bool { return len(os.Args) > 0 && os.Args[0] == spawn.ProbeArg0 }

// Probe runs inside the probe's namespaces: it checks that the seccomp
// filter loads and exits 0, or 3 if it does not. It never returns.
func Probe() {
	// no_new_privs is per thread; seccomp must load on the same one.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		os.Exit(3)
	}
	if err := seccomp.Load(); err != nil {
		os.Exit(3)
	}
	// The command's filter with the write guard's listener (seccomp user
	// notification) chained after it, as the init stage loads them:
	// nothing this process does before it exits is guarded.
	if _, err := seccomp.LoadCommand(seccomp.GuardCreate); err != nil {
		os.Exit(4)
	}
	os.Exit(0)
}

// Features is what --linux-features reports.
type Features struct {
	// Namespaces maps "user", "mount", "pid", "net", "ipc", "uts" to nil if
	// a namespace of that kind could be created here, or the error.
	Namespaces map[string]error
	// Seccomp is nil if the filter loads inside a sandbox.
	Seccomp error
	// Blocker names what keeps user namespaces from this process, if it
	// knows: a sysctl that disables them, or a fence sandbox around it.
	Blocker string
	// Listener is nil if the write guard's seccomp listener loads inside
	// a sandbox; MountAPI and CloseRange are nil if the mount API
	// (open_tree, mount_setattr) and close_range(CLOSE_RANGE_CLOEXEC) are
	// there: the init stage needs all three.
	Listener, MountAPI, CloseRange error
}

// ProbeFeatures creates each kind of namespace once, in a short-lived child
// of this binary, and loads the seccomp filter there. It costs a few process
// starts, so fence runs it only for --linux-features, never per command.
func ProbeFeatures() Features {
	f := Features{Namespaces: map[string]error{}, Blocker: userNSBlocker()}
	if f.Blocker == "" && os.Getenv("FENCE_SANDBOX") == "1" {
		f.Blocker = insideFence
	}
	kinds := []struct {
		name string
		flag uintptr
	}{
		{"user", 0}, {"mount", unix.CLONE_NEWNS}, {"pid", unix.CLONE_NEWPID},
		{"net", unix.CLONE_NEWNET}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS},
	}
	for _, k := range kinds {
		// The child ran in the namespace if it got as far as the filter:
		// exit 3 or 4 says only that a filter failed, reported below.
		err := probe(unix.CLONE_NEWUSER | k.flag)
		var ee *exec.ExitError
		if errors.As(err, &ee) && (ee.ExitCode() == 3 || ee.ExitCode() == 4) {
			err = nil
		}
		f.Namespaces[k.name] = err
	}
	if err := probe(spawn.CloneFlags | unix.CLONE_NEWNET); err != nil {
		var ee *exec.ExitError
		switch {
		case seccomp.Unsupported() != nil:
			f.Seccomp = seccomp.Unsupported()
		case errors.As(err, &ee) && ee.ExitCode() == 3:
			f.Seccomp = errors.New("the seccomp filter failed to load (kernel without CONFIG_SECCOMP_FILTER?)")
		case errors.As(err, &ee) && ee.ExitCode() == 4:
			f.Listener = errors.New("the write guard's seccomp listener failed to load (it needs Linux 5.9; a seccomp profile, or another sandbox's listener, may refuse it)")
		default:
			f.Seccomp = fmt.Errorf("not tested: %w", err)
		}
	}
	// The mount API: a call with a bad descriptor says EBADF, EINVAL (or
	// EPERM, unprivileged) where the kernel has it, ENOSYS where not.
	for _, call := range []struct {
		name string
		err  error
	}{
		{"open_tree", func() error { _, err := unix.OpenTree(-1, "", 0); return err }()},
		{"mount_setattr", unix.MountSetattr(-1, "", 0, &unix.MountAttr{})},
	} {
		if errors.Is(call.err, unix.ENOSYS) {
			f.MountAPI = fmt.Errorf("%s: %w (it needs Linux 5.12; a seccomp profile may refuse it)", call.name, call.err)
			break
		}
	}
	// close_range of descriptors no process has.
	if err := unix.CloseRange(math.MaxInt32-1, math.MaxInt32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		f.CloseRange = fmt.Errorf("close_range(CLOSE_RANGE_CLOEXEC): %w (it needs Linux 5.11; a seccomp profile may refuse it)", err)
	}
	return f
}

func probe(flags uintptr) error {
	uid, gid := os.Getuid(), os.Getgid()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{spawn.ProbeArg0},
		Env:  []string{"GOMAXPROCS=1"},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  flags,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
		},
	}
	return cmd.Run()
}

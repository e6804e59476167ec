package spawn

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nsfence/fence/nsexec/spawn/internal/nofile"
)

// Why fence clones the init stage itself instead of calling
// syscall.ForkExec: with CLONE_NEWUSER in the flags, ForkExec makes a full
// copy of the supervisor (fork, not vfork), because its child waits, before
// exec, for the parent to write the uid and gid maps. Copying the page
// tables, and afterwards the copy-on-write faults of every page the
// supervisor touches again, cost ~0.9 ms of each start on a 2-core VM,
// before the init stage can begin its own. Here the child shares the
// supervisor's memory and stack (CLONE_VM|CLONE_VFORK) and execs at once;
// the maps are written after the exec (writeIDMaps), before the policy goes
// out. Nothing in the init stage depends on its ids until the policy
// arrives: its capabilities come from the ambient set, which exec keeps
// whether or not the ids are mapped yet.

// rawVfork is clone(flags|…) returning twice, in assembly
// (vfork_linux_amd64.s): see there for the return address.
func rawVfork(flags uintptr) (pid uintptr, errno uintptr)

// vforkSpec is everything the child needs, prepared by the parent: the
// child may not allocate, take locks or grow its stack.
type vforkSpec struct {
	flags uintptr
	path  *byte
	argv  **byte
	envv  **byte
	// fds are placed at 0, 1, 2, ... in the child. None may be below
	// len(fds) (the parent dups them up there), so that placing one never
	// overwrites another that is still to be placed.
	fds     []int
	ambient []uintptr
	hdr     unix.CapUserHeader
	caps    [2]unix.CapUserData
	all     uint64 // every signal, for rt_sigprocmask
	mask    uint64 // the calling thread's mask before the fork
	act     [4]uint64
	// nofile, when its soft limit is not 0, is the open-file limit to
	// set before the exec: the one fence started with (package nofile).
	nofile [2]uint64
	// errno is where the child reports a failed step; the parent reads it
	// once the child is gone (shared memory, CLONE_VM).
	errno uintptr
}

// vforkChild forks, and in the child sets up the init stage's process and
// execs it. Returning in the parent, it must return at once and use nothing
// from its frame but rawVfork's results: the child has been running in
// that frame.
//
// The child runs on the parent's stack with the parent's memory, so it
// makes only raw syscalls, writes nothing but its own locals and the
// scratch fields of s (caps, act, errno), and never returns (nosplit: a
// stack check could call into the runtime).
//
//go:noinline
//go:nosplit
//go:norace
func vforkChild(s *vforkSpec) (pid, errno uintptr) {
	// No signal may run a Go handler in the child, where it would act on
	// the parent's runtime state: blocked from before the clone (the
	// child inherits the mask) until the handlers are reset below.
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&s.all)), uintptr(unsafe.Pointer(&s.mask)), 8, 0, 0)
	pid, errno = rawVfork(s.flags | unix.CLONE_VM | unix.CLONE_VFORK | uintptr(unix.SIGCHLD))
	if errno != 0 || pid != 0 {
		return
	}
	// The child, in the new namespaces, with every capability in the new
	// user namespace until exec.
	var e syscall.Errno
	if len(s.ambient) > 0 {
		// An ambient capability must be inheritable first.
		if _, _, e = syscall.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&s.hdr)), uintptr(unsafe.Pointer(&s.caps[0])), 0); e != 0 {
			goto fail
		}
		for _, c := range s.ambient {
			s.caps[c>>5].Inheritable |= 1 << (c & 31)
		}
		if _, _, e = syscall.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&s.hdr)), uintptr(unsafe.Pointer(&s.caps[0])), 0); e != 0 {
			goto fail
		}
		for _, c := range s.ambient {
			if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, c, 0, 0, 0); e != 0 {
				goto fail
			}
		}
	}
	// Tied to the thread that cloned us: the caller keeps it alive.
	if _, _, e = syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0); e != 0 {
		goto fail
	}
	for i, fd := range s.fds {
		// dup3 onto a free number clears close-on-exec on the copy.
		if _, _, e = syscall.RawSyscall(unix.SYS_DUP3, uintptr(fd), uintptr(i), 0); e != 0 {
			goto fail
		}
	}
	// Every handler the runtime installed goes back to SIG_DFL before the
	// mask is restored; an ignored signal stays ignored (a supervisor
	// under nohup passes that on, as any parent does). exec would reset
	// the handlers too, but only after the mask let a signal through.
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig == uintptr(unix.SIGKILL) || sig == uintptr(unix.SIGSTOP) {
			continue
		}
		if _, _, e = syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&s.act[0])), 8, 0, 0); e != 0 {
			continue // a number the kernel does not know
		}
		if h := s.act[0]; h != 0 && h != 1 { // neither SIG_DFL nor SIG_IGN
			s.act = [4]uint64{}
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&s.act[0])), 0, 8, 0, 0)
		}
	}
	// Lowering a soft limit always succeeds; the fds open above it stay.
	if s.nofile[0] != 0 {
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&s.nofile)), 0, 0, 0); e != 0 {
			goto fail
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&s.mask)), 0, 8, 0, 0)
	_, _, e = syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(s.path)), uintptr(unsafe.Pointer(s.argv)), uintptr(unsafe.Pointer(s.envv)))
fail:
	s.errno = uintptr(e)
	for {
		syscall.RawSyscall(unix.SYS_EXIT, 253, 0, 0)
	}
}

// beforeIDMaps, set by a test, runs in forkInit between the init stage's
// exec and the writing of its id maps: a supervisor slow to write them.
var beforeIDMaps func()

// forkInit creates the namespaces and execs the init stage in them, then
// maps the caller's ids into its user namespace. On error nothing is left
// running.
func forkInit(spec *initSpec) (int, error) {
	// Root and unprivileged callers alike get initCaps as ambient
	// capabilities: the ids are not mapped yet when the init stage execs,
	// so exec treats it as an ordinary user, whose capabilities survive
	// only as ambient ones.
	pid, err := vforkExec("/proc/self/exe", spec.args, initEnv, CloneFlags, spec.files, initCaps)
	if errors.Is(err, unix.EACCES) && spec.uid == 0 {
		// A binary that root may run only through CAP_DAC_OVERRIDE (owned
		// by another user, mode 0700): that capability counts only for
		// files whose owner is mapped in the new user namespace, and
		// nothing is mapped yet at the exec. ForkExec maps the ids first.
		// (For anyone else mapping first changes nothing.)
		return forkExecInit(spec)
	}
	if err != nil {
		return 0, err
	}
	if beforeIDMaps != nil {
		beforeIDMaps()
	}
	if err := writeIDMaps(pid, spec.uid, spec.gid); err != nil {
		killReap(pid)
		return 0, fmt.Errorf("map ids into the sandbox: %w", err)
	}
	return pid, nil
}

// vforkExec starts path in a child cloned with flags (plus CLONE_VM,
// CLONE_VFORK and SIGCHLD), with files as its fds 0, 1, 2, ..., ambient
// raised, Pdeathsig SIGKILL, and the signal dispositions and mask an exec
// leaves (handlers reset, ignores kept, the caller's mask). It returns the
// child's pid once the child has exec'd (or was killed before it could:
// the caller finds that out from the child), or the error of the step
// that failed (the child is reaped then).
func vforkExec(path string, args, env []string, flags uintptr, files [4]int, ambient []uintptr) (int, error) {
	for _, c := range ambient {
		if c >= 64 { // vforkChild's capability sets have two 32-bit words
			return 0, fmt.Errorf("start %s: capability %d out of range", path, c)
		}
	}
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	argv, err := syscall.SlicePtrFromStrings(args)
	if err != nil {
		return 0, err
	}
	envv, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return 0, err
	}
	// Copies above 0-3, where the child puts them: dup3 in the child then
	// never overwrites a file it has still to place. Close-on-exec, so
	// that no other fork of the caller inherits them.
	var fds [4]int
	for i, fd := range files {
		if fds[i], err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, len(fds)); err != nil {
			closeFDs(fds[:i])
			return 0, fmt.Errorf("prepare the fds of %s: %w", path, err)
		}
	}
	defer closeFDs(fds[:])
	s := &vforkSpec{flags: flags, path: p, argv: &argv[0], envv: &envv[0], fds: fds[:], ambient: ambient}
	s.all = ^uint64(0)
	s.hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	s.nofile = startNofile()
	// As syscall.ForkExec does: no fd may be created without
	// close-on-exec by other code while the child could inherit it.
	syscall.ForkLock.Lock()
	pid, errno := vforkChild(s)
	// The parent continues here, with its thread's signal mask still
	// blocking everything (vforkChild): restore it first.
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&s.mask)), 0, 8, 0, 0)
	syscall.ForkLock.Unlock()
	if errno != 0 {
		return 0, &CloneError{fmt.Errorf("clone %s: %w", path, syscall.Errno(errno))}
	}
	if s.errno != 0 {
		reap(int(pid))
		return 0, fmt.Errorf("start %s: %w", path, syscall.Errno(s.errno))
	}
	return int(pid), nil
}

// startNofile is the open-file limit a child of fence starts with: the
// soft limit fence was started with, where Go's syscall package has raised
// it since (as syscall.ForkExec puts it back), under the current hard
// limit. {0, 0} leaves the limit as it is.
func startNofile() [2]uint64 {
	soft, ok := nofile.Soft()
	var now unix.Rlimit
	if !ok || soft == 0 || unix.Getrlimit(unix.RLIMIT_NOFILE, &now) != nil || soft >= now.Cur {
		return [2]uint64{}
	}
	return [2]uint64{soft, now.Max}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// writeIDMaps maps ids into the user namespace of pid, which the caller
// created. Root keeps the identity mapping of every id, so file ownership
// looks the same inside (the command still ends up with no capabilities:
// the init stage empties its bounding set). An unprivileged caller can map
// only itself: uid→uid and gid→gid keep the command's identity, and
// setgroups must be denied before the gid map is written.
func writeIDMaps(pid, uid, gid int) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if uid == 0 {
		// Root of a user namespace that maps only part of the ids (a
		// rootless container, unshare -Ur), or root without CAP_SETUID
		// or CAP_SETGID (a container that dropped them), may map no more
		// than it has: then root alone, as any other user maps itself,
		// with setgroups denied so that one gid can be mapped without
		// CAP_SETGID. A failed write leaves a map unwritten, so a second
		// try is allowed.
		const all = "0 0 4294967295\n"
		full := true
		if err := writeProc(dir+"uid_map", all); err != nil {
			if !errors.Is(err, unix.EPERM) {
				return err
			}
			if err := writeProc(dir+"uid_map", "0 0 1\n"); err != nil {
				return err
			}
			full = false
		}
		if full {
			err := writeProc(dir+"gid_map", all)
			if err == nil || !errors.Is(err, unix.EPERM) {
				return err
			}
		}
	}
	if uid != 0 {
		if err := writeProc(dir+"uid_map", fmt.Sprintf("%d %d 1\n", uid, uid)); err != nil {
			return err
		}
	}
	if err := writeProc(dir+"setgroups", "deny"); err != nil {
		return err
	}
	return writeProc(dir+"gid_map", fmt.Sprintf("%d %d 1\n", gid, gid))
}

func writeProc(path, content string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	_, err = unix.Write(fd, []byte(content))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

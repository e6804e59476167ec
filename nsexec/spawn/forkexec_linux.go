package spawn

import (
	"math"
	"syscall"
)

// allIDs is the length of root's identity mapping: every uid and gid, or
// as many as an int holds on 32-bit architectures (where fence refuses to
// run anyway, having no seccomp filter for them).
const allIDs = min(1<<32-1, math.MaxInt)

// forkExecInit creates the namespaces and execs the init stage in them with
// syscall.ForkExec, which maps the ids before the exec. fence's own vfork
// (vfork_linux_amd64.go) exists for amd64 only so far; on arm64 this
// slower path does the same job, and on amd64 it is the fallback for the
// one exec the vfork cannot make (see forkInit there).
func forkExecInit(spec *initSpec) (int, error) {
	attr := &syscall.SysProcAttr{
		Cloneflags: CloneFlags,
		// The init stage dies with the supervisor; the kernel then kills the
		// whole PID namespace.
		Pdeathsig:   syscall.SIGKILL,
		AmbientCaps: initCaps,
	}
	// Root keeps the identity mapping of every id, an unprivileged caller
	// maps only itself (see writeIDMaps on amd64).
	if spec.uid == 0 {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: allIDs}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: allIDs}}
		attr.GidMappingsEnableSetgroups = true
	} else {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: spec.uid, HostID: spec.uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: spec.gid, HostID: spec.gid, Size: 1}}
	}
	f := spec.files
	pattr := &syscall.ProcAttr{
		Env:   initEnv,
		Files: []uintptr{uintptr(f[0]), uintptr(f[1]), uintptr(f[2]), uintptr(f[3])},
		Sys:   attr,
	}
	pid, err := syscall.ForkExec("/proc/self/exe", spec.args, pattr)
	if err == syscall.EPERM && spec.uid == 0 {
		// Root that may not map every id (see writeIDMaps on amd64):
		// root alone, setgroups denied.
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: spec.gid, HostID: spec.gid, Size: 1}}
		attr.GidMappingsEnableSetgroups = false
		pid, err = syscall.ForkExec("/proc/self/exe", spec.args, pattr)
	}
	if err != nil {
		// ForkExec does not say which step failed; the clone is the one
		// that fails on a host that refuses namespaces.
		return 0, &CloneError{err}
	}
	return pid, nil
}

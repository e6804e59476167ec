//go:build linux

package nsexec

import "golang.org/x/sys/unix"

// decode maps a guarded syscall to a creation request (arm64 has only the
// *at calls).
func decode(d seccompData) (creation, bool) {
	a := d.Args
	fd := func(i int) int32 { return int32(a[i]) }
	switch d.Nr {
	case unix.SYS_OPENAT:
		return creation{op: opOpen, dirfd: fd(0), path: uintptr(a[1]), flags: int(int32(a[2])), mode: uint32(a[3])}, true
	case unix.SYS_MKDIRAT:
		return creation{op: opMkdir, dirfd: fd(0), path: uintptr(a[1]), mode: uint32(a[2])}, true
	case unix.SYS_MKNODAT:
		return creation{op: opMknod, dirfd: fd(0), path: uintptr(a[1]), mode: uint32(a[2]), dev: a[3]}, true
	case unix.SYS_SYMLINKAT:
		return creation{op: opSymlink, target: uintptr(a[0]), dirfd: fd(1), path: uintptr(a[2])}, true
	case unix.SYS_LINKAT:
		return creation{op: opLink, oldDirfd: fd(0), oldPath: uintptr(a[1]), dirfd: fd(2), path: uintptr(a[3]), flags: int(int32(a[4]))}, true
	case unix.SYS_RENAMEAT2:
		return creation{op: opRename, oldDirfd: fd(0), oldPath: uintptr(a[1]), dirfd: fd(2), path: uintptr(a[3]), flags: int(uint32(a[4]))}, true
	case unix.SYS_RENAMEAT:
		return creation{op: opRename, oldDirfd: fd(0), oldPath: uintptr(a[1]), dirfd: fd(2), path: uintptr(a[3])}, true
	case unix.SYS_TRUNCATE:
		return creation{op: opTruncate, dirfd: unix.AT_FDCWD, path: uintptr(a[0]), length: a[1]}, true
	case unix.SYS_UNLINKAT:
		return creation{op: opUnlink, dirfd: fd(0), path: uintptr(a[1]), flags: int(int32(a[2]))}, true
	case unix.SYS_UMASK:
		return creation{op: opUmask}, true
	case unix.SYS_CLONE:
		return creation{op: opOwnFS}, true
	case unix.SYS_CONNECT:
		return creation{op: opConnect, sockfd: fd(0), addr: uintptr(a[1]), addrLen: int(uint32(a[2]))}, true
	case unix.SYS_BIND:
		return creation{op: opBind, sockfd: fd(0), addr: uintptr(a[1]), addrLen: int(uint32(a[2]))}, true
	}
	return creation{}, false
}

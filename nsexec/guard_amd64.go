//go:build linux

package nsexec

import "golang.org/x/sys/unix"

// decode maps a guarded syscall to a creation request (amd64 has the legacy
// non-*at calls too).
func decode(d seccompData) (creation, bool) {
	a := d.Args
	fd := func(i int) int32 { return int32(a[i]) }
	switch d.Nr {
	case unix.SYS_OPENAT:
		return creation{op: opOpen, dirfd: fd(0), path: uintptr(a[1]), flags: int(int32(a[2])), mode: uint32(a[3])}, true
	case unix.SYS_OPEN:
		return creation{op: opOpen, dirfd: unix.AT_FDCWD, path: uintptr(a[0]), flags: int(int32(a[1])), mode: uint32(a[2])}, true
	case unix.SYS_CREAT:
		return creation{op: opOpen, dirfd: unix.AT_FDCWD, path: uintptr(a[0]), flags: unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, mode: uint32(a[1])}, true
	case unix.SYS_MKDIRAT:
		return creation{op: opMkdir, dirfd: fd(0), path: uintptr(a[1]), mode: uint32(a[2])}, true
	case unix.SYS_MKDIR:
		return creation{op: opMkdir, dirfd: unix.AT_FDCWD, path: uintptr(a[0]), mode: uint32(a[1])}, true
	case unix.SYS_MKNODAT:
		return creation{op: opMknod, dirfd: fd(0), path: uintptr(a[1]), mode: uint32(a[2]), dev: a[3]}, true
	case unix.SYS_MKNOD:
		return creation{op: opMknod, dirfd: unix.AT_FDCWD, path: uintptr(a[0]), mode: uint32(a[1]), dev: a[2]}, true
	case unix.SYS_SYMLINKAT:
		return creation{op: opSymlink, target: uintptr(a[0]), dirfd: fd(1), path: uintptr(a[2])}, true
	case unix.SYS_SYMLINK:
		return creation{op: opSymlink, target: uintptr(a[0]), dirfd: unix.AT_FDCWD, path: uintptr(a[1])}, true
	case unix.SYS_LINKAT:
		return creation{op: opLink, oldDirfd: fd(0), oldPath: uintptr(a[1]), dirfd: fd(2), path: uintptr(a[3]), flags: int(int32(a[4]))}, true
	case unix.SYS_LINK:
		return creation{op: opLink, oldDirfd: unix.AT_FDCWD, oldPath: uintptr(a[0]), dirfd: unix.AT_FDCWD, path: uintptr(a[1])}, true
	case unix.SYS_RENAMEAT2:
		return creation{op: opRename, oldDirfd: fd(0), oldPath: uintptr(a[1]), dirfd: fd(2), path: uintptr(a[3]), flags: int(uint32(a[4]))}, true
	case unix.SYS_RENAMEAT:
		return creation{op: opRename, oldDirfd: fd(0), oldPath: uintptr(a[1]), dirfd: fd(2), path: uintptr(a[3])}, true
	case unix.SYS_RENAME:
		return creation{op: opRename, oldDirfd: unix.AT_FDCWD, oldPath: uintptr(a[0]), dirfd: unix.AT_FDCWD, path: uintptr(a[1])}, true
	case unix.SYS_TRUNCATE:
		return creation{op: opTruncate, dirfd: unix.AT_FDCWD, path: uintptr(a[0]), length: a[1]}, true
	case unix.SYS_UNLINKAT:
		return creation{op: opUnlink, dirfd: fd(0), path: uintptr(a[1]), flags: int(int32(a[2]))}, true
	case unix.SYS_UNLINK:
		return creation{op: opUnlink, dirfd: unix.AT_FDCWD, path: uintptr(a[0])}, true
	case unix.SYS_RMDIR:
		return creation{op: opUnlink, dirfd: unix.AT_FDCWD, path: uintptr(a[0]), flags: unix.AT_REMOVEDIR}, true
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

package cfgfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// oPath is O_PATH (not in package syscall; golang.org/x/sys/unix would make
// the config package depend on it, and config stays pure Go, deps_test.go).
// The value is that of every architecture fence builds for
// (TestOPathMatchesUnix).
const oPath = 0x200000

// Read returns the contents of the config file at path (symlinks
// followed). The null device reads as an empty file (a config "blanked"
// with a symlink to /dev/null). Anything else that is not a regular file
// of at most MaxSize on a real file system is an error, and is never
// opened for reading: opening a FIFO waits for a writer, opening some
// devices acts (a watchdog, a tape), and reading files of procfs, sysfs,
// tracefs and the like can take what it reads (/proc/kmsg). A regular
// file whose read would wait is an error too. What no open flag prevents:
// the lookup of a path through a hung NFS or FUSE mount, or an automount,
// can still wait, and FUSE files ignore O_NONBLOCK.
//
// The path is opened once, with O_PATH, which opens nothing; every check
// is made on that descriptor, and the read goes through
// /proc/self/fd/N, which reaches the same file whatever the path names by
// then.
func Read(path string) ([]byte, error) {
	fd, err := open(path, oPath)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	var null syscall.Stat_t
	if syscall.Stat(os.DevNull, &null) == nil && st.Dev == null.Dev && st.Ino == null.Ino {
		return nil, nil
	}
	if err := check(modeOf(st.Mode), st.Size); err != nil {
		return nil, err
	}
	var sfs syscall.Statfs_t
	if err := syscall.Fstatfs(fd, &sfs); err != nil {
		return nil, &fs.PathError{Op: "fstatfs", Path: path, Err: err}
	}
	if name := pseudoFS(int64(sfs.Type)); name != "" {
		return nil, fmt.Errorf("is a file of %s, not a config file; replace it with a regular file or remove it", name)
	}
	rfd, err := reopen("/proc/self/fd/"+strconv.Itoa(fd), syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY)
	if err != nil {
		if errors.Is(err, syscall.EACCES) {
			// The file's own mode: this user may not read it.
			return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES}
		}
		// Not ENOENT as such: the file is there, /proc is not.
		return nil, fmt.Errorf("reading it needs /proc mounted: %v", err)
	}
	defer syscall.Close(rfd)
	return readAll(rfd, path, st.Size)
}

// reopen is open for the read through /proc/self/fd; a variable so that
// tests can see what reaches it, and how.
var reopen = open

// modeOf turns st_mode's file type into an fs.FileMode for check.
func modeOf(m uint32) fs.FileMode {
	switch m & syscall.S_IFMT {
	case syscall.S_IFREG:
		return 0
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	}
	return fs.ModeIrregular
}

// pseudoFS names the kernel's pseudo file systems, whose regular files
// are interfaces rather than data, or returns "".
func pseudoFS(magic int64) string {
	switch uint32(magic) {
	case 0x9fa0:
		return "procfs"
	case 0x62656572:
		return "sysfs"
	case 0x74726163:
		return "tracefs"
	case 0x64626720:
		return "debugfs"
	case 0x73636673:
		return "securityfs"
	case 0x27e0eb, 0x63677270:
		return "cgroupfs"
	case 0xcafe4a11:
		return "bpffs"
	case 0x62656570:
		return "configfs"
	case 0xde5e81e4:
		return "efivarfs"
	case 0x6165676c:
		return "pstore"
	case 0x65735543:
		return "fusectl"
	case 0x67596969:
		return "rpc_pipefs" // a read takes an NFS upcall off its queue
	case 0xf97cff8c:
		return "selinuxfs"
	case 0x6e667364:
		return "nfsd"
	case 0x42494e4d:
		return "binfmt_misc"
	case 0xa647361:
		return "functionfs"
	case 0xabba1974:
		return "xenfs"
	}
	return ""
}

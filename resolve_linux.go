package fence

import (
	"encoding/binary"
	"strings"

	"golang.org/x/sys/unix"
)

// maxListed bounds the directories listNames lists: past it a lookup per
// name is the cheaper way.
const maxListed = 1024

// maxListedSize bounds them by their size as fstat reports it, so that a
// directory of many names is not read only to be given up: ext4's
// /usr/bin of 1,058 names is 36 kB, five 8 kB reads and a thousand names
// kept, then dropped. (A directory's size is what its file system makes
// it: ext4's blocks, tmpfs's 20 bytes a name; maxListed still applies.)
const maxListedSize = 32 << 10

// listNames is listDirNames; a variable so that tests can model file
// systems whose lookups fail, which listDirNames does not list.
var listNames = listDirNames

// listDirNames returns the names in the directory dir, for answering lookups
// of names missing from it (resolver.missing), or nil where a listing
// cannot stand for those lookups:
//   - a file system that lookups and listings may disagree on (autofs,
//     which mounts on lookup; FUSE and network file systems, whose
//     listings a server makes; /proc): only ext2/3/4, XFS, Btrfs, F2FS,
//     tmpfs and overlayfs are listed;
//   - a name in it that is not printable ASCII (Unicode case folding and
//     normalisation could make a lookup find it under another name);
//   - a directory whose names are matched without regard to case (ext4,
//     F2FS and tmpfs casefold, XFS ascii-ci): the first name with a letter
//     is looked up with its case swapped, and found;
//   - more than maxListed names, a size over maxListedSize, or any
//     failure.
func listDirNames(dir string) map[string]struct{} {
	fd, err := openList(dir)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Size > maxListedSize {
		return nil
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) != nil {
		return nil
	}
	if !listedFS(sfs) {
		return nil
	}
	names := make(map[string]struct{}, 32)
	lettered := ""
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil
		}
		if n <= 0 {
			break
		}
		// The names are sliced out of one copy of what was read, not
		// copied one by one (unix.ParseDirent): in a process that has
		// just started, every new heap page is a page fault.
		blob := string(buf[:n])
		for off := 0; off < n; {
			// struct linux_dirent64: ino (8 bytes), off (8), reclen
			// (2), type (1), the name, NUL-terminated and padded.
			if off+19 > n {
				return nil
			}
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen < 19 || off+reclen > n {
				return nil
			}
			name := blob[off+19 : off+reclen]
			if i := strings.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			ino := binary.NativeEndian.Uint64(buf[off:])
			off += reclen
			if ino == 0 || name == "." || name == ".." {
				continue
			}
			if !printableASCII(name) {
				return nil
			}
			names[name] = struct{}{}
			if lettered == "" && swapCase(name) != name {
				lettered = name
			}
		}
		if len(names) > maxListed {
			return nil
		}
	}
	if lettered != "" {
		swapped := swapCase(lettered)
		if _, ok := names[swapped]; !ok {
			name, err := unix.BytePtrFromString(swapped)
			if err != nil {
				return nil
			}
			var st unix.Stat_t
			e := lstatAt(fd, name, &st)
			for e == unix.EINTR {
				e = lstatAt(fd, name, &st)
			}
			if e != unix.ENOENT {
				return nil // found under another case, or unknown
			}
		}
	}
	return names
}

// listedFS reports whether listDirNames lists directories of the file
// system sfs describes.
func listedFS(sfs unix.Statfs_t) bool {
	// The magic's type is int32 on 386 and int64 elsewhere: compared as
	// the 32-bit value it is.
	switch uint32(sfs.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC, unix.TMPFS_MAGIC, unix.OVERLAYFS_SUPER_MAGIC:
		return true
	}
	return false
}

// swapCase returns s with its ASCII letters' case swapped.
func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

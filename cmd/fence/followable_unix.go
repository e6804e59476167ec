//go:build unix

package main

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// followable applies the kernel's fs.protected_symlinks rule to the link
// described by link, in directory dir: in a sticky, world-writable
// directory only a link of the caller's or of the directory's owner is
// followed.
func followable(link fs.FileInfo, dir string) error {
	ls, ok := link.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	ds, ok := di.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	sticky := di.Mode()&fs.ModeSticky != 0 && di.Mode().Perm()&0o002 != 0
	if !sticky || int(ls.Uid) == os.Geteuid() || ls.Uid == ds.Uid {
		return nil
	}
	return errors.New("a symlink of another user in a sticky directory; refusing to follow it (write to the file itself with -o)")
}

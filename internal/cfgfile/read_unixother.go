//go:build unix && !linux

package cfgfile

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Read returns the contents of the config file at path (symlinks
// followed), as on Linux but without O_PATH: a file swapped in between the
// stat and the open is opened (without waiting, and not as a controlling
// terminal) before it is refused.
func Read(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
		return nil, nil
	}
	if err := check(st.Mode(), st.Size()); err != nil {
		return nil, err
	}
	fd, err := open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	// What was opened is what was checked: the path could have been
	// replaced in between.
	var fst syscall.Stat_t
	if err := syscall.Fstat(fd, &fst); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Dev != fst.Dev || sys.Ino != fst.Ino {
		return nil, fmt.Errorf("changed while being opened; run fence again")
	}
	return readAll(fd, path, st.Size())
}

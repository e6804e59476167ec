//go:build unix

package cfgfile

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Read returns the contents of the config file at path (symlinks
// followed). The null device reads as an empty file (a config "blanked"
// with a symlink to /dev/null). Anything else that is not a regular file
// of at most MaxSize is an error, and is never opened: opening a FIFO
// waits for a writer, opening some devices acts (a watchdog, a tape). A
// regular file that would block on read (a pseudo-file such as
// tracefs's trace_pipe) is an error too.
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
	var fd int
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
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
	buf := make([]byte, 0, st.Size()+1)
	chunk := make([]byte, 32<<10)
	for {
		n, err := syscall.Read(fd, chunk)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return nil, fmt.Errorf("reading it would wait (a pseudo-file, not a config file); replace it with a JSON file or remove it")
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return buf, nil
		}
		if buf = append(buf, chunk[:n]...); len(buf) > MaxSize {
			return nil, check(fs.FileMode(0), int64(len(buf)))
		}
	}
}

// check refuses what is not a regular file of at most MaxSize.
func check(mode fs.FileMode, size int64) error {
	if !mode.IsRegular() {
		kind := "not a regular file"
		switch t := mode.Type(); {
		case t&fs.ModeNamedPipe != 0:
			kind = "a FIFO"
		case t&fs.ModeDir != 0:
			kind = "a directory"
		case t&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			kind = "a device"
		case t&fs.ModeSocket != 0:
			kind = "a socket"
		}
		return fmt.Errorf("is %s, not a regular file; replace it with a JSON file or remove it", kind)
	}
	if size > MaxSize {
		return fmt.Errorf("is %d bytes, more than a config file may have (%d); shorten it", size, MaxSize)
	}
	return nil
}

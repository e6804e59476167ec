//go:build unix

package cfgfile

import (
	"fmt"
	"io/fs"
	"syscall"
)

// readAll reads the non-blocking descriptor fd of path (size bytes at its
// stat) to its end. A read that would wait is an error, and so is more
// than MaxSize.
func readAll(fd int, path string, size int64) ([]byte, error) {
	buf := make([]byte, 0, size+1)
	chunk := make([]byte, 32<<10)
	for {
		n, err := syscall.Read(fd, chunk)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return nil, fmt.Errorf("reading it would wait (a pseudo-file, not a config file); replace it with a regular file or remove it")
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return buf, nil
		}
		if buf = append(buf, chunk[:n]...); len(buf) > MaxSize {
			return nil, check(0, int64(len(buf)))
		}
	}
}

// open is open(2) of path with flags, again after EINTR, as an
// *fs.PathError on failure.
func open(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags|syscall.O_CLOEXEC, 0)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

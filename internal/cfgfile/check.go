package cfgfile

import (
	"fmt"
	"io/fs"
)

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
		return fmt.Errorf("is %s, not a regular file; replace it with a regular file or remove it", kind)
	}
	if size > MaxSize {
		return fmt.Errorf("is %d bytes, more than a config file may have (%d); shorten it", size, MaxSize)
	}
	return nil
}

//go:build unix

package main

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// errorText is the text of the error fence stops with. One that the
// open-file limit caused names the limit: at a low `ulimit -n` the error
// was a mount ("clone /dev/random: too many open files"), or a credential
// path fence "cannot check", with a fix for the file system. PID 1's errors
// arrive as text, hence the match on the message too.
func errorText(err error) string {
	msg := err.Error()
	if !errors.Is(err, syscall.EMFILE) && !strings.Contains(msg, syscall.EMFILE.Error()) {
		return msg
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return msg
	}
	return fmt.Sprintf("%s (fence ran out of file descriptors: its open-file limit, ulimit -n, is %d; raise it)", msg, lim.Cur)
}

//go:build !(linux && amd64)

package sigfwd

import "syscall"

// Catch is Notify: fence's own handler exists for linux/amd64 only.
func Catch(sigs []syscall.Signal) (*Catcher, error) { return Notify(sigs), nil }

//go:build !linux

package spawn

import (
	"errors"
	"os"
	"time"
)

// Child is a spawned init stage; there is none off Linux.
type Child struct {
	Pid         int
	Ctrl        *os.File
	HostNetwork bool
	T0, T1      int64
}

// unsupportedError is the error of every call off Linux.
type unsupportedError struct{}

func (unsupportedError) Error() string {
	return "spawn: linux namespaces are not available on this system"
}

func (unsupportedError) Unwrap() error { return errors.ErrUnsupported }

// Start fails closed off Linux.
func Start(hostNetwork bool, stdin, stdout, stderr *os.File) (*Child, error) {
	return nil, unsupportedError{}
}

// StartFromInit fails closed off Linux.
func StartFromInit(hostNetwork bool) (*Child, error) { return nil, unsupportedError{} }

// Wait fails off Linux.
func (c *Child) Wait() error { return unsupportedError{} }

// Release does nothing off Linux.
func (c *Child) Release() {}

// Now returns a monotonic timestamp in nanoseconds.
func Now() int64 { return time.Now().UnixNano() }

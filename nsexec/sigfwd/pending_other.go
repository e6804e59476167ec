//go:build !linux

package sigfwd

// kernelPending is false: no portable way to see signals that are sent and
// not yet handled.
func kernelPending(uint64) bool { return false }

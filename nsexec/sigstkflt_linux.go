//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package nsexec

import "golang.org/x/sys/unix"

// sigStkflt is SIGSTKFLT, which the Go runtime treats as a fault.
const sigStkflt = unix.SIGSTKFLT

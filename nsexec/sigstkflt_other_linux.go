//go:build linux && (mips || mipsle || mips64 || mips64le)

package nsexec

import "golang.org/x/sys/unix"

// sigStkflt: MIPS has no SIGSTKFLT; SIGSEGV stands in (already listed).
const sigStkflt = unix.SIGSEGV

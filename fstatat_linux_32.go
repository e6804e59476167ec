//go:build linux && (386 || arm || mips || mipsle)

package fence

import "golang.org/x/sys/unix"

// sysFstatat is the fstatat that fills a unix.Stat_t (struct stat64 on
// 32-bit architectures).
const sysFstatat = unix.SYS_FSTATAT64

//go:build linux && !386 && !arm && !mips && !mipsle

package fence

import "golang.org/x/sys/unix"

// sysFstatat is the fstatat that fills a unix.Stat_t.
const sysFstatat = unix.SYS_NEWFSTATAT

package nofile

// prlimit is prlimit64(0, RLIMIT_NOFILE, nil, old) in assembly
// (nofile_linux_amd64.s): this package may not import syscall. It returns
// the raw result, 0 or -errno.
func prlimit(old *[2]uint64) int64

func get(l *[2]uint64) bool { return prlimit(l) == 0 }

// Package cfgfile reads a config file that fence found on its own (a
// project's fence.json, the user's config, a file named by extends)
// without waiting on a FIFO, a device or a pseudo-file, and without the
// side effects of opening or reading those: a checkout can put anything at
// those paths, a FIFO, a device, a symlink into /sys. (A lookup through a
// hung network or FUSE mount can still wait; see Read.)
//
// It is a package of its own because two places read such files: the
// config loader, and cmd/fence/internal/early, which glances at them from a
// package init before the rest of fence has started and must not import
// the config package (deps_test.go). It imports only the lowest layers of
// the standard library (os, syscall, strconv, fmt, io/fs) for that reason,
// and does nothing at init.
package cfgfile

// MaxSize bounds a config file: a policy is a few kilobytes.
const MaxSize = 1 << 20

package landlock

import (
	"errors"
	"fmt"
	"os"

	ll "github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// Policy is what Landlock enforces.
type Policy struct {
	// Writable hierarchies (directories or files). Missing paths are
	// skipped. Everything else is read-only.
	Writable []string
}

// handledFS is every filesystem right up to ABI 7 that fence restricts.
// BestEffort drops the rights an older kernel does not know.
const handledFS = ll.AccessFSSet(llsys.AccessFSExecute | llsys.AccessFSWriteFile |
	llsys.AccessFSReadFile | llsys.AccessFSReadDir | llsys.AccessFSRemoveDir |
	llsys.AccessFSRemoveFile | llsys.AccessFSMakeChar | llsys.AccessFSMakeDir |
	llsys.AccessFSMakeReg | llsys.AccessFSMakeSock | llsys.AccessFSMakeFifo |
	llsys.AccessFSMakeBlock | llsys.AccessFSMakeSym | llsys.AccessFSRefer |
	llsys.AccessFSTruncate | llsys.AccessFSIoctlDev)

const readRights = ll.AccessFSSet(llsys.AccessFSExecute | llsys.AccessFSReadFile | llsys.AccessFSReadDir)

const writeRights = ll.AccessFSSet(llsys.AccessFSWriteFile|llsys.AccessFSRemoveDir|
	llsys.AccessFSRemoveFile|llsys.AccessFSMakeDir|llsys.AccessFSMakeReg|
	llsys.AccessFSMakeSock|llsys.AccessFSMakeFifo|llsys.AccessFSMakeSym|
	llsys.AccessFSTruncate) | readRights

const fileRights = ll.AccessFSSet(llsys.AccessFSExecute | llsys.AccessFSReadFile |
	llsys.AccessFSWriteFile | llsys.AccessFSTruncate)

// ABI returns the Landlock ABI version of the running kernel, or 0 if
// Landlock is unavailable (not built in, or not in the lsm= list).
func ABI() int {
	v, err := llsys.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return v
}

// MinABI is the oldest Landlock ABI that fence uses. ABI 1 (Linux 5.13 to
// 5.18) has no refer right: its domains refuse every rename and link
// across directories, in the writable paths too (git's object store, mv,
// package managers), so go-landlock's best effort mode drops the whole
// ruleset there rather than break them. fence then runs on the mount
// policy alone, as on a kernel without Landlock.
const MinABI = 2

// Usable reports whether Apply enforces Landlock on this kernel.
func Usable() bool { return ABI() >= MinABI }

// ErrUnavailable means the kernel has no usable Landlock.
var ErrUnavailable = errors.New("landlock is not available")

// Apply enforces p on the calling thread, which must be locked to its OS
// thread and have no_new_privs set, and returns the ABI used. Processes the
// thread starts afterwards inherit the restriction. If the kernel
// has no Landlock it returns ErrUnavailable and restricts nothing; the caller
// decides whether that is acceptable.
func Apply(p Policy) (int, error) {
	abi := ABI()
	if abi < MinABI {
		return 0, ErrUnavailable
	}
	cfg, err := ll.NewConfig(handledFS, ll.ScopedSet(llsys.ScopeAbstractUnixSocket|llsys.ScopeSignal))
	if err != nil {
		return 0, fmt.Errorf("landlock config: %w", err)
	}
	rules := []ll.Rule{
		ll.PathAccess(readRights, "/"),
		// Terminals, ptmx and pts need IOCTL_DEV; /dev itself is a
		// read-only tmpfs, so the write rights only reach existing nodes,
		// /dev/pts and /dev/shm.
		ll.PathAccess(writeRights, "/dev").WithIoctlDev().IgnoreIfMissing(),
	}
	for _, w := range p.Writable {
		st, err := os.Stat(w)
		switch {
		case err != nil:
			continue // missing: nothing to grant
		case st.IsDir():
			rules = append(rules, ll.PathAccess(writeRights, w).WithRefer())
		default:
			// A single file: directory rights (make_*, remove_*, refer,
			// read_dir) are invalid on it.
			rules = append(rules, ll.PathAccess(fileRights, w))
		}
	}
	fd, flags, err := cfg.BestEffort().NewRulesetFD(rules...)
	if err != nil {
		return 0, fmt.Errorf("build landlock ruleset (ABI %d): %w", abi, err)
	}
	if fd < 0 {
		return 0, ErrUnavailable
	}
	defer unix.Close(fd)
	// The calling thread only: the command is forked from it. The init
	// stage's other threads serve the creation guard, which must be able to
	// read the command's memory; Landlock forbids that across sibling
	// domains, and per-thread restriction would create one domain per thread.
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(fd), uintptr(flags), 0); e != 0 {
		return 0, fmt.Errorf("apply landlock (ABI %d): %w", abi, e)
	}
	return abi, nil
}

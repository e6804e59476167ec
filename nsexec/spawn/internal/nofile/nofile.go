// Package nofile keeps the soft open-file limit (RLIMIT_NOFILE) that fence
// was started with, for the sandboxed command.
//
// Go's syscall package raises the soft limit to the hard one in its init
// function and puts the original back only in the children it starts
// itself (syscall.ForkExec, os/exec). fence starts the init stage with its
// own vfork (package spawn), so the init stage, and the command after it,
// inherited the raised limit: `ulimit -Sn 1024; fence -- cmd` gave cmd a
// soft limit of the hard one less one (524287, say), which makes programs
// that loop over every possible descriptor slow and those built on
// select(2) misbehave. spawn sets the limit read here in its child before
// the exec, so that the init stage starts with what fence started with and
// Go's own restore in the init stage's ForkExec hands it to the command.
//
// A package of its own because of when its init function must run: before
// syscall's. Go initialises, at each step, the first package in import-path
// order whose imports are all initialised. This package imports nothing,
// so it is ready from the start, and its path sorts before "syscall", which
// therefore cannot be initialised first. It must keep importing nothing
// (deps_test.go checks it) and its init does one raw syscall: the only
// package-level work fence does besides package early's.
package nofile

// limit is {soft, hard} as the kernel's struct rlimit64; read reports
// whether it was read.
var (
	limit [2]uint64
	read  bool
)

func init() { read = get(&limit) }

// Soft returns the soft open-file limit fence was started with, and false
// where this package cannot read it (every platform but linux/amd64, where
// spawn uses syscall.ForkExec and so Go's own restore).
func Soft() (uint64, bool) { return limit[0], read }

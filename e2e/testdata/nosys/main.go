//go:build linux

// Command nosys runs a program under a seccomp filter that fails chosen
// system calls, as a kernel without them or a container's seccomp profile
// would, for the e2e tests of what fence does then:
//
//	nosys ERRNO CALL[,CALL...] PROGRAM [ARGS...]
//
// ERRNO is a number (38 is ENOSYS, 1 EPERM). A CALL is close_range,
// mount_setattr, open_tree, or seccomp_listener (seccomp(2) asked for a
// user-notification listener). It sets no_new_privs, as an unprivileged
// filter needs, and execs PROGRAM.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

type rule struct {
	nr      uint32
	arg     int    // -1: every call
	argMask uint32 // with arg: calls whose arg (low 32 bits) has any of these bits
}

var rules = map[string]rule{
	"close_range":      {unix.SYS_CLOSE_RANGE, -1, 0},
	"mount_setattr":    {unix.SYS_MOUNT_SETATTR, -1, 0},
	"open_tree":        {unix.SYS_OPEN_TREE, -1, 0},
	"seccomp_listener": {unix.SYS_SECCOMP, 1, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER},
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: nosys ERRNO CALL[,CALL...] PROGRAM [ARGS...]")
		os.Exit(2)
	}
	errno, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ret := bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(errno)}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArch, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
	}
	for _, name := range strings.Split(os.Args[2], ",") {
		r, ok := rules[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "nosys: unknown call %q\n", name)
			os.Exit(2)
		}
		if r.arg < 0 {
			prog = append(prog,
				bpf.LoadAbsolute{Off: 0, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: r.nr, SkipFalse: 1},
				ret)
			continue
		}
		prog = append(prog,
			bpf.LoadAbsolute{Off: 0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: r.nr, SkipFalse: 3},
			bpf.LoadAbsolute{Off: uint32(16 + 8*r.arg), Size: 4}, // low half, little-endian
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: r.argMask, SkipFalse: 1},
			ret)
	}
	prog = append(prog, bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW})
	raw, err := bpf.Assemble(prog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, in := range raw {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// no_new_privs is a thread's: the seccomp call below must run on the
	// thread that set it, or an unprivileged user's filter is refused
	// with EACCES when the scheduler moves this goroutine in between.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "no_new_privs:", err)
		os.Exit(2)
	}
	// TSYNC: every thread of this Go program, so that the exec, from
	// whichever thread, carries the filter.
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		fmt.Fprintln(os.Stderr, "seccomp:", e)
		os.Exit(2)
	}
	err = syscall.Exec(os.Args[3], os.Args[3:], os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(127)
}

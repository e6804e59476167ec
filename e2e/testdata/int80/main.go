//go:build linux && amd64

// Command int80 makes one getpid system call through the ABI named by its
// argument, for the e2e tests of fence's seccomp filter:
//
//	native  the amd64 syscall instruction (must work)
//	int80   the i386 ABI, `int $0x80` with eax=20 (must be killed)
//	x32     the x32 ABI, number 0x40000000+39 (must be killed)
//
// It prints "<mode> returned ..." only if the call came back.
package main

import (
	"fmt"
	"os"
	"syscall"
)

// int80Getpid is getpid through `int $0x80` (int80_amd64.s).
func int80Getpid() uintptr

const x32Bit = 0x40000000

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: int80 native|int80|x32")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "native":
		r, _, errno := syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
		if errno != 0 {
			fmt.Println("native failed:", errno)
			os.Exit(1)
		}
		fmt.Println("native getpid", r)
	case "int80":
		r := int80Getpid()
		fmt.Println("int80 returned", int32(r))
	case "x32":
		r, _, errno := syscall.RawSyscall(x32Bit+syscall.SYS_GETPID, 0, 0, 0)
		fmt.Println("x32 returned", int64(r), errno)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

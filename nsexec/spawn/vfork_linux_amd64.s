// Written for fence; see vfork_linux_amd64.go for why this is assembly.

#include "textflag.h"

// func rawVfork(flags uintptr) (pid uintptr, errno uintptr)
//
// clone(flags, 0, 0, 0, 0): with CLONE_VM|CLONE_VFORK the child runs on
// this very stack until it execs or exits, while the calling thread is
// suspended. Its first call would overwrite our return address at 0(SP),
// so the address waits in R12 (each task has its own registers) and is put
// back once the syscall returns in the parent.
TEXT ·rawVfork(SB),NOSPLIT|NOFRAME,$0-24
	MOVQ	flags+0(FP), DI
	XORQ	SI, SI	// no new stack: share the parent's
	XORQ	DX, DX	// parent_tid
	XORQ	R10, R10	// child_tid
	XORQ	R8, R8	// tls
	MOVQ	$56, AX	// SYS_clone
	POPQ	R12
	SYSCALL
	PUSHQ	R12
	CMPQ	AX, $0xfffffffffffff001
	JCC	failed
	MOVQ	AX, pid+8(FP)
	MOVQ	$0, errno+16(FP)
	RET
failed:
	NEGQ	AX
	MOVQ	AX, errno+16(FP)
	MOVQ	$0, pid+8(FP)
	RET

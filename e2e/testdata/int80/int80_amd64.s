//go:build linux && amd64

#include "textflag.h"

// func int80Getpid() uintptr
// getpid is number 20 in the i386 system call table.
TEXT ·int80Getpid(SB), NOSPLIT, $0-8
	MOVQ $20, AX
	INT $0x80
	MOVQ AX, ret+0(FP)
	RET

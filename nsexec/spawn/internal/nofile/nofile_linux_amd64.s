// Written for fence; see nofile.go for why this is assembly.

#include "textflag.h"

// func prlimit(old *[2]uint64) int64
TEXT ·prlimit(SB),NOSPLIT,$0-16
	XORQ	DI, DI	// pid 0: this process
	MOVQ	$7, SI	// RLIMIT_NOFILE
	XORQ	DX, DX	// no new limit
	MOVQ	old+0(FP), R10
	MOVQ	$302, AX	// SYS_prlimit64
	SYSCALL
	MOVQ	AX, ret+8(FP)
	RET

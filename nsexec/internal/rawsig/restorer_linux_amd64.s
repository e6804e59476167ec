// Written for fence; see restorer_linux_amd64.go.

#include "textflag.h"

// restorer is the sa_restorer of fence's assembly handlers.
TEXT ·restorer(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$15, AX	// SYS_rt_sigreturn
	SYSCALL
	INT	$3	// not reached

// func RestorerAddr() uintptr
TEXT ·RestorerAddr(SB),NOSPLIT,$0-8
	LEAQ	·restorer(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

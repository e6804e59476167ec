// Written for fence: see raw_linux_amd64.go.

#include "textflag.h"

// handler is the signal handler: the kernel calls it with the signal's
// number in DI, on the thread's signal stack (SA_ONSTACK: every thread of
// a Go program has one), with every signal blocked (sa_mask). It counts
// the signal in handled (an atomic.Uint64, whose value is its first
// word), writes the number as one byte to fwdFD, takes the count back if
// the write failed, and returns through rawsig's restorer; rt_sigreturn
// restores every register it changes. Counted before the write: a reader
// of the pipe never sees a byte that handled does not count yet.
TEXT ·handler(SB),NOSPLIT|NOFRAME,$0
	SUBQ	$8, SP
	MOVB	DI, 0(SP)
	LOCK
	INCQ	·handled(SB)
	MOVLQSX	·fwdFD(SB), DI
	MOVQ	SP, SI
	MOVQ	$1, DX
	MOVQ	$1, AX	// SYS_write
	SYSCALL
	CMPQ	AX, $1
	JEQ	done
	LOCK
	DECQ	·handled(SB)
done:
	ADDQ	$8, SP
	RET

// func handlerAddr() uintptr
TEXT ·handlerAddr(SB),NOSPLIT,$0-8
	LEAQ	·handler(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

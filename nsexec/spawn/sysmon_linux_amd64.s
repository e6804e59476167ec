// Written for fence; see sysmon_linux_amd64.go.

#include "textflag.h"

// slackHandler is the handler of sysmonSignal. The kernel calls it on the
// signalled thread's signal stack (SA_ONSTACK), with every signal blocked
// (sa_mask). On the thread slackTarget alone (not on one that a stray
// signal to the whole process reached), it sets the timer slack to slackNs
// and counts itself in slackDone. It returns through rawsig's restorer;
// rt_sigreturn restores every register it changes.
TEXT ·slackHandler(SB),NOSPLIT|NOFRAME,$0
	MOVQ	·slackTarget(SB), R9
	MOVQ	$186, AX	// SYS_gettid
	SYSCALL
	CMPQ	AX, R9
	JNE	done
	MOVQ	$157, AX	// SYS_prctl
	MOVQ	$29, DI	// PR_SET_TIMERSLACK
	MOVQ	·slackNs(SB), SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	TESTQ	AX, AX
	JNZ	done	// not counted: the caller sees the thread unchanged
	MOVL	$1, R9
	LOCK
	XADDL	R9, ·slackDone(SB)
done:
	RET

// func slackHandlerAddr() uintptr
TEXT ·slackHandlerAddr(SB),NOSPLIT,$0-8
	LEAQ	·slackHandler(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

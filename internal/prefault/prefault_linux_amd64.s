// Written for fence; see prefault.go for what this does and why.

#include "textflag.h"

#define SYS_madvise 28
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23

// POPULATE is madvise(start &^ 4095, end - that, advice), for symbols
// start and end; the result is ignored.
#define POPULATE(start, end, advice) \
	LEAQ	start, DI; \
	ANDQ	$~4095, DI; \
	LEAQ	end, SI; \
	SUBQ	DI, SI; \
	MOVQ	$advice, DX; \
	MOVQ	$SYS_madvise, AX; \
	SYSCALL

// entry is the ELF entry point (the linker's -E flag, LDFlag). The kernel
// starts it with the stack pointer at argc, which the runtime's entry
// reads: nothing here changes the stack (the call's return address goes
// below it and is popped again), and the runtime's entry reads no register.
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	CALL	fence_prefault_populate(SB)
	JMP	_rt0_amd64_linux(SB)

// fence_prefault_populate maps the binary's data, bss and read-only data,
// for an entry point to call before the runtime starts (this one, and
// fence's own in nsexec/spawn). Its name has no package part so that other
// packages' assembly can call it (the assembler cannot name a symbol whose
// import path has a dot). SYSCALL clobbers only AX, CX, R11 and what is
// set for it: DI, SI and DX. Errors are ignored: this only saves page
// faults.
TEXT fence_prefault_populate(SB),NOSPLIT|NOFRAME,$0
	// noptrdata, data and bss, which the linker lays out in that order,
	// are written by the runtime's start: a private copy of each page, or
	// a zeroed one, in one call instead of a fault each. The noptrbss
	// after them, most of it crypto's 32 MB DRBG buffer, is left to fault
	// in as it is used.
	POPULATE(runtime·noptrdata(SB), runtime·ebss(SB), MADV_POPULATE_WRITE)
	// The read-only data through the pc-value tables, which the runtime's
	// start, its type and interface tables and every stack walk read: the
	// pages are the page cache's, mapped and not copied. The text is not
	// (fault-around maps it 16 pages a fault; populating it measured no
	// gain).
	POPULATE(runtime·rodata(SB), runtime·epclntab(SB), MADV_POPULATE_READ)
	RET

// func madvise(addr, n, advice uintptr) int64
TEXT ·madvise(SB),NOSPLIT,$0-32
	MOVQ	addr+0(FP), DI
	MOVQ	n+8(FP), SI
	MOVQ	advice+16(FP), DX
	MOVQ	$SYS_madvise, AX
	SYSCALL
	MOVQ	AX, ret+24(FP)
	RET

// func getpid() int64
TEXT ·getpid(SB),NOSPLIT,$0-8
	MOVQ	$39, AX	// SYS_getpid
	SYSCALL
	MOVQ	AX, ret+0(FP)
	RET

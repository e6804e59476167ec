// Written for fence; see prefault.go for what this does and why.

#include "textflag.h"

#define SYS_close 3
#define SYS_mmap 9
#define SYS_madvise 28
#define SYS_openat 257
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
// set for it: DI, SI and DX, and remapTail's registers. Errors are
// ignored: this only saves page faults.
TEXT fence_prefault_populate(SB),NOSPLIT|NOFRAME,$0
	// Before the read-only data's populate below, which then maps its
	// last 2 MB block with one huge page too.
	LEAQ	8(SP), DI	// the kernel's stack: argc, above the return address
	CALL	remapTail<>(SB)
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

#define AT_PHDR 3
#define AT_PHNUM 5
#define PT_LOAD 1
#define PT_PHDR 6
#define HUGE 0x200000
#define O_RDONLY_CLOEXEC 0x80000
#define AT_FDCWD -100
#define PROT_READ 1
#define MAP_PRIVATE_FIXED 0x12

DATA selfExe<>+0(SB)/8, $"/proc/se"
DATA selfExe<>+8(SB)/8, $"lf/exe\x00\x00"
GLOBL selfExe<>(SB), RODATA|NOPTR, $16

// remapTail maps the last 2 MB block of the read-only data's segment in
// full from the executable, where the segments are aligned to 2 MB
// (spawn.LDFlags' -R): the kernel maps a file's 2 MB folio with one huge
// page only into a mapping that covers its whole block, and the segment
// ends inside its last block (the rest of that block, up to the next
// segment's start, is the file's zero padding and was not mapped). The
// read-only data's first blocks are mapped whole already. DI is the
// kernel's initial stack pointer (argc, argv, envp, auxv), for the
// program headers' address in auxv (AT_PHDR).
//
// Every step checks what the next one relies on and returns without a
// change otherwise: the program headers found, the segment that holds
// runtime·rodata found, the block starting inside that segment, at a
// file offset aligned to 2 MB, and ending before the next segment, whose
// file data starts past the block's (so the file is long enough), and
// /proc/self/exe opened. The mapping replaces part of one with the same
// bytes of the same file, read-only and private as it was.
//
// Registers: R8 AT_PHDR, R9 AT_PHNUM, R10 the load bias, R12/R13/R14
// the segment's address, file offset and file size, R15 the next
// segment's address, R11 its file offset (SYSCALL clobbers R11, and
// there is none before its last use), BX a program header. Not BP: the
// runtime's frame-pointer walks start from it.
TEXT remapTail<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	0(DI), AX	// argc
	LEAQ	16(DI)(AX*8), BX	// envp: past argv and its NULL
envp:
	MOVQ	0(BX), AX
	ADDQ	$8, BX
	TESTQ	AX, AX
	JNE	envp
	XORQ	R8, R8
	XORQ	R9, R9
auxv:
	MOVQ	0(BX), AX
	TESTQ	AX, AX
	JEQ	phdrs
	CMPQ	AX, $AT_PHDR
	JNE	notPhdr
	MOVQ	8(BX), R8
notPhdr:
	CMPQ	AX, $AT_PHNUM
	JNE	notPhnum
	MOVQ	8(BX), R9
notPhnum:
	ADDQ	$16, BX
	JMP	auxv
phdrs:
	TESTQ	R8, R8
	JEQ	done
	// The load bias: AT_PHDR less PT_PHDR's address (0 unless PIE).
	MOVQ	R8, BX
	MOVQ	R9, CX
findPhdr:
	TESTQ	CX, CX
	JEQ	done
	CMPL	0(BX), $PT_PHDR
	JEQ	bias
	ADDQ	$56, BX
	DECQ	CX
	JMP	findPhdr
bias:
	MOVQ	R8, R10
	SUBQ	16(BX), R10
	// The PT_LOAD that holds runtime·rodata, and the lowest one above it.
	LEAQ	runtime·rodata(SB), DX
	XORQ	R12, R12
	MOVQ	$-1, R15
	XORQ	R11, R11
	MOVQ	R8, BX
	MOVQ	R9, CX
loads:
	TESTQ	CX, CX
	JEQ	found
	CMPL	0(BX), $PT_LOAD
	JNE	nextLoad
	MOVQ	16(BX), AX
	ADDQ	R10, AX	// its address
	CMPQ	AX, DX
	JA	above
	MOVQ	AX, SI
	ADDQ	40(BX), SI	// its end in memory
	CMPQ	DX, SI
	JAE	nextLoad
	MOVQ	AX, R12
	MOVQ	8(BX), R13
	MOVQ	32(BX), R14
	JMP	nextLoad
above:
	CMPQ	AX, R15
	JAE	nextLoad
	CMPQ	32(BX), $0
	JEQ	nextLoad	// no file data: says nothing of the file's length
	MOVQ	AX, R15
	MOVQ	8(BX), R11
nextLoad:
	ADDQ	$56, BX
	DECQ	CX
	JMP	loads
found:
	TESTQ	R12, R12
	JEQ	done
	// The block: the segment's end rounded down to 2 MB, within the
	// segment, not at its end (a segment that ends on a block boundary
	// is mapped whole already).
	MOVQ	R12, SI
	ADDQ	R14, SI	// the end of the segment's file data
	MOVQ	SI, DI
	ANDQ	$~(HUGE-1), DI	// the block
	CMPQ	DI, SI
	JEQ	done
	CMPQ	DI, R12
	JB	done
	// Its file offset, which must be aligned as the block is.
	MOVQ	DI, R9
	SUBQ	R12, R9
	ADDQ	R13, R9
	TESTQ	$(HUGE-1), R9
	JNE	done
	// Below the next segment, in memory and in the file.
	LEAQ	HUGE(DI), AX
	CMPQ	AX, R15
	JA	done
	LEAQ	HUGE(R9), AX
	CMPQ	AX, R11
	JA	done
	MOVQ	DI, R12	// the block
	MOVQ	$AT_FDCWD, DI
	LEAQ	selfExe<>(SB), SI
	MOVQ	$O_RDONLY_CLOEXEC, DX
	XORQ	R10, R10
	MOVQ	$SYS_openat, AX
	SYSCALL
	CMPQ	AX, $0
	JLT	done
	MOVQ	AX, R13	// the fd
	MOVQ	R12, DI
	MOVQ	$HUGE, SI
	MOVQ	$PROT_READ, DX
	MOVQ	$MAP_PRIVATE_FIXED, R10
	MOVQ	R13, R8
	// R9: the file offset
	MOVQ	$SYS_mmap, AX
	SYSCALL
	MOVQ	R13, DI
	MOVQ	$SYS_close, AX
	SYSCALL
done:
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

// Written for fence; see prefault.go for what this does and why.

#include "textflag.h"

#define SYS_close 3
#define SYS_fstat 5
#define SYS_mmap 9
#define SYS_munmap 11
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
// import path has a dot). It must be CALLed from the ELF entry point
// itself, with the kernel's stack untouched above the return address
// (remapTail reads argc, argv, envp and auxv there). It clobbers AX, BX,
// CX, DX, SI, DI and R8 to R15; not BP, from which the runtime's
// frame-pointer walks start. Errors are ignored: this only saves page
// faults.
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
#define PROT_NONE 0
#define PROT_READ 1
#define MAP_PRIVATE_FIXED 0x12
#define MAP_PRIVATE_ANON_NOREPLACE 0x100022

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
// change otherwise: the program headers found; the segment that holds
// runtime·rodata found, all of it file data (no zero-filled tail the file
// would overwrite); the block starting inside it, at a file offset aligned
// to 2 MB, and ending below every segment above it; the file at least that
// long, by the program headers and by fstat (which also tells a
// /proc/self/exe that is not this file); the rest of the block, past the
// segment, free (an anonymous mapping of it with MAP_FIXED_NOREPLACE, Linux
// 4.17, lands there, or nothing is changed). The file mapping then
// replaces the segment's tail and that placeholder with the same bytes of
// the same file, read-only and private as they were. /proc/self/exe is
// what the init stage is exec'd from too. One failure is not undone:
// since Linux 6.12 a mmap that fails after the old mapping is gone (out
// of memory for the new one, a file system shut down) leaves the range
// unmapped, and the runtime then faults at its start.
//
// Registers: R8 AT_PHDR, R9 AT_PHNUM, R10 the load bias, R12/R13/R14
// the segment's address, file offset and size, R15 the lowest address of a
// segment above it, R11 the file's length as far as the segments show
// (SYSCALL clobbers R11: it is last read before the first one), BX a
// program header.
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
	// The PT_LOAD that holds runtime·rodata, the lowest one above it, and
	// the end of the file data of all of them. Elf64_Phdr: p_type at 0,
	// p_offset 8, p_vaddr 16, p_filesz 32, p_memsz 40; 56 bytes.
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
	MOVQ	8(BX), AX
	ADDQ	32(BX), AX	// the end of its file data
	CMPQ	AX, R11
	JBE	fileEnd
	MOVQ	AX, R11
fileEnd:
	MOVQ	16(BX), AX
	ADDQ	R10, AX	// its address
	CMPQ	AX, DX
	JA	above
	MOVQ	AX, SI
	ADDQ	40(BX), SI	// its end in memory
	CMPQ	DX, SI
	JAE	nextLoad
	MOVQ	32(BX), SI
	CMPQ	SI, 40(BX)
	JNE	done	// a zero-filled tail
	MOVQ	AX, R12
	MOVQ	8(BX), R13
	MOVQ	SI, R14
	JMP	nextLoad
above:
	CMPQ	AX, R15
	JAE	nextLoad
	MOVQ	AX, R15
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
	ADDQ	R14, SI	// the segment's end
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
	// Below the segments above it, and within the file.
	LEAQ	HUGE(DI), AX
	CMPQ	AX, R15
	JA	done
	LEAQ	HUGE(R9), AX
	CMPQ	AX, R11
	JA	done
	MOVQ	DI, R12	// the block
	MOVQ	AX, R13	// the file length it needs
	// The placeholder: the rest of the block, from the segment's last
	// page on, must be free.
	ADDQ	$4095, SI
	ANDQ	$~4095, SI
	MOVQ	SI, R14
	MOVQ	SI, DI
	LEAQ	HUGE(R12), SI
	SUBQ	R14, SI
	MOVQ	$PROT_NONE, DX
	MOVQ	$MAP_PRIVATE_ANON_NOREPLACE, R10
	MOVQ	$-1, R8
	MOVQ	R9, R15	// the file offset, past the mmap
	XORQ	R9, R9
	MOVQ	$SYS_mmap, AX
	SYSCALL
	CMPQ	AX, R14
	JEQ	placed
	CMPQ	AX, $-4095
	JAE	done	// EEXIST: something is there
	// A kernel before 4.17 took the flag for a hint and put it elsewhere.
	MOVQ	AX, DI
	LEAQ	HUGE(R12), SI
	SUBQ	R14, SI
	MOVQ	$SYS_munmap, AX
	SYSCALL
	JMP	done
placed:
	MOVQ	$AT_FDCWD, DI
	LEAQ	selfExe<>(SB), SI
	MOVQ	$O_RDONLY_CLOEXEC, DX
	XORQ	R10, R10
	MOVQ	$SYS_openat, AX
	SYSCALL
	CMPQ	AX, $0
	JLT	unplace
	MOVQ	AX, R8	// the fd
	// fstat: st_size (at 48 of 144 bytes) must cover the block.
	SUBQ	$144, SP
	MOVQ	R8, DI
	MOVQ	SP, SI
	MOVQ	$SYS_fstat, AX
	SYSCALL
	MOVQ	48(SP), CX
	ADDQ	$144, SP
	TESTQ	AX, AX
	JNE	closeUnplace
	CMPQ	CX, R13
	JLT	closeUnplace
	MOVQ	R12, DI
	MOVQ	$HUGE, SI
	MOVQ	$PROT_READ, DX
	MOVQ	$MAP_PRIVATE_FIXED, R10
	MOVQ	R15, R9	// the file offset; R8 the fd
	MOVQ	$SYS_mmap, AX
	SYSCALL
	MOVQ	R8, DI
	MOVQ	$SYS_close, AX
	SYSCALL
	RET
closeUnplace:
	MOVQ	R8, DI
	MOVQ	$SYS_close, AX
	SYSCALL
unplace:
	MOVQ	R14, DI
	LEAQ	HUGE(R12), SI
	SUBQ	R14, SI
	MOVQ	$SYS_munmap, AX
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

// func readFile(path *byte, buf *byte, n uintptr) int64
// reads up to n bytes of the file at the NUL-terminated path: the count,
// or -errno.
TEXT ·readFile(SB),NOSPLIT,$0-32
	MOVQ	$AT_FDCWD, DI
	MOVQ	path+0(FP), SI
	MOVQ	$O_RDONLY_CLOEXEC, DX
	XORQ	R10, R10
	MOVQ	$SYS_openat, AX
	SYSCALL
	CMPQ	AX, $0
	JLT	readDone
	MOVQ	AX, R8
	MOVQ	AX, DI
	MOVQ	buf+8(FP), SI
	MOVQ	n+16(FP), DX
	XORQ	AX, AX	// SYS_read
	SYSCALL
	MOVQ	AX, R9
	MOVQ	R8, DI
	MOVQ	$SYS_close, AX
	SYSCALL
	MOVQ	R9, AX
readDone:
	MOVQ	AX, ret+24(FP)
	RET

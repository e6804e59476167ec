// Written for fence; see prefault.go for what this does and why.

#include "go_asm.h"
#include "textflag.h"

#define SYS_close 3
#define SYS_fstat 5
#define SYS_ioctl 16
#define SYS_pread64 17
#define SYS_mmap 9
#define SYS_munmap 11
#define SYS_madvise 28
#define SYS_fadvise64 221
#define SYS_openat 257
#define MADV_POPULATE_READ 22
#define MADV_HUGEPAGE 14

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

// fence_prefault_populate maps the binary's read-only data (not its data
// and bss, which fault in as they are written), for an entry point to
// call before the runtime starts (this one, and fence's own in
// nsexec/spawn). Its name has no package part so that other
// packages' assembly can call it (the assembler cannot name a symbol whose
// import path has a dot). It must be CALLed from the ELF entry point
// itself, with the kernel's stack untouched above the return address
// (remapTail reads argc, argv, envp and auxv there). It clobbers AX, BX,
// CX, DX, SI, DI and R8 to R15; not BP, from which the runtime's
// frame-pointer walks start. Errors are ignored: this only saves page
// faults.
TEXT fence_prefault_populate(SB),NOSPLIT|NOFRAME,$0
	// First: the read-only data marked for huge pages before anything
	// reads it (the file names the calls below open are in it), so that
	// what the page cache misses of it is read in 2 MB folios, which the
	// populate below maps whole.
	LEAQ	8(SP), DI	// the kernel's stack: argc, above the return address
	CALL	hugeRodata<>(SB)
	// Before the read-only data's populate below, which then maps its
	// last 2 MB block with one huge page too.
	LEAQ	8(SP), DI
	CALL	remapTail<>(SB)
	LEAQ	8(SP), DI
	CALL	healRodata<>(SB)
	// Before the runtime's start, whose code is the text's first block.
	LEAQ	8(SP), DI
	CALL	hugeText<>(SB)
	// noptrdata, data and bss (~400 kB) are not populated: they fault in
	// as fence writes them: ~40 of their ~100 pages in either process. A
	// write populate copies or zeroes every page, and where a fault costs
	// ~1.3 µs (bare metal, or a VM whose MMU is the hardware's) that took
	// longer than the faults it saved: `fence -- true` 0.35 ms sooner
	// without it (docs/benchmarking.md, "The network namespace on PID 1's
	// main thread, the data left to fault in"). It paid only where a
	// fault trapped into the hypervisor (10-20 µs).
	//
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

// OPEN opens the file at the NUL-terminated path, read-only and
// close-on-exec: the descriptor in AX, or -errno.
#define OPEN(path) \
	MOVQ	$AT_FDCWD, DI; \
	LEAQ	path, SI; \
	MOVQ	$O_RDONLY_CLOEXEC, DX; \
	XORQ	R10, R10; \
	MOVQ	$SYS_openat, AX; \
	SYSCALL

// remappedTail is the address of the block that remapTail mapped whole,
// or 0.
GLOBL remappedTail<>(SB), NOPTR, $8

DATA selfExe<>+0(SB)/8, $"/proc/se"
DATA selfExe<>+8(SB)/8, $"lf/exe\x00\x00"
GLOBL selfExe<>(SB), RODATA|NOPTR, $16

// segment finds the PT_LOAD segment that holds the address in DX, in the
// program headers that auxv (AT_PHDR, AT_PHNUM) points to. DI is the
// kernel's initial stack pointer (argc, argv, envp, auxv). It returns R12
// the segment's address (with the load bias), R13 its file offset, R14 its
// size, SI its flags (PF_*), R15 the lowest address of a segment above it
// (-1 if none) and R11 the end of the file data of all PT_LOADs; R12 is 0
// if there is no such segment, or if it is not all file data (a
// zero-filled tail). It clobbers AX, BX, CX, R8, R9 and R10; not DX or DI.
//
// Registers: R8 AT_PHDR, R9 AT_PHNUM, R10 the load bias, BX a program
// header.
TEXT segment<>(SB),NOSPLIT|NOFRAME,$0
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
	JEQ	none
	// The load bias: AT_PHDR less PT_PHDR's address (0 unless PIE).
	MOVQ	R8, BX
	MOVQ	R9, CX
findPhdr:
	TESTQ	CX, CX
	JEQ	none
	CMPL	0(BX), $PT_PHDR
	JEQ	bias
	ADDQ	$56, BX
	DECQ	CX
	JMP	findPhdr
bias:
	MOVQ	R8, R10
	SUBQ	16(BX), R10
	// The PT_LOAD that holds DX, the lowest one above it, and
	// the end of the file data of all of them. Elf64_Phdr: p_type at 0,
	// p_flags 4, p_offset 8, p_vaddr 16, p_filesz 32, p_memsz 40; 56
	// bytes.
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
	JNE	none	// a zero-filled tail
	MOVQ	AX, R12
	MOVQ	BX, R13	// its program header
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
	JEQ	none
	MOVL	4(R13), SI	// p_flags
	MOVQ	32(R13), R14
	MOVQ	8(R13), R13
	RET
none:
	XORQ	R12, R12
	RET

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
// the same file, read-only and private as they were, and marked for huge
// pages as the segment is (hugeRodata); remappedTail records the block.
// /proc/self/exe is what the init stage is exec'd from too. One failure
// is not undone:
// since Linux 6.12 a mmap that fails after the old mapping is gone (out
// of memory for the new one, a file system shut down) leaves the range
// unmapped, and the runtime then faults at its start.
//
// Registers: R12/R13/R14 the segment's address, file offset and size, R15
// the lowest address of a segment above it, R11 the file's length as far
// as the segments show (segment's results; SYSCALL clobbers R11: it is
// last read before the first one).
TEXT remapTail<>(SB),NOSPLIT|NOFRAME,$0
	LEAQ	runtime·rodata(SB), DX
	CALL	segment<>(SB)
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
	OPEN(selfExe<>(SB))
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
	MOVQ	AX, R15
	MOVQ	R8, DI
	MOVQ	$SYS_close, AX
	SYSCALL
	// Marked as the segment is (hugeRodata), which it then rejoins.
	CMPQ	R15, R12
	JNE	done
	MOVQ	R12, remappedTail<>(SB)
	MOVQ	R12, DI
	MOVQ	$HUGE, SI
	MOVQ	$MADV_HUGEPAGE, DX
	MOVQ	$SYS_madvise, AX
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

#define PF_R 4
#define PROT_READ_WRITE 3
#define MAP_PRIVATE_ANON 0x22
#define SYS_mprotect 10
#define PF_R_X 5
#define PROT_READ_EXEC 5
#define POSIX_FADV_DONTNEED 4
#define PAGEMAP_SCAN 0xc0606610
#define PAGE_IS_HUGE 0x40
#define PAGE_IS_FILE 0x4
#define PAGE_IS_PRESENT 0x8
#define PM_MMAP_EXCLUSIVE 56

DATA selfPagemap<>+0(SB)/8, $"/proc/se"
DATA selfPagemap<>+8(SB)/8, $"lf/pagem"
DATA selfPagemap<>+16(SB)/8, $"ap\x00\x00\x00\x00\x00\x00"
GLOBL selfPagemap<>(SB), RODATA|NOPTR, $24

// SEGMENT finds the segment that holds sym (segment, with DI the kernel's
// initial stack pointer) and jumps to fail unless there is one, all file
// data, with exactly the flags (PF_*) given.
#define SEGMENT(sym, flags, fail) \
	LEAQ	sym, DX; \
	CALL	segment<>(SB); \
	TESTQ	R12, R12; \
	JEQ	fail; \
	CMPL	SI, $flags; \
	JNE	fail

// BLOCK sets R9 to the file offset of the 2 MB block at BX, in the
// segment at R12 (file offset R13, size R14), and jumps to fail unless it
// is aligned as the block is; it then compares the block's end (AX) with
// the segment's (CX), for the caller's jump.
#define BLOCK(fail) \
	MOVQ	BX, R9; \
	SUBQ	R12, R9; \
	ADDQ	R13, R9; \
	TESTQ	$(HUGE-1), R9; \
	JNE	fail; \
	LEAQ	HUGE(BX), AX; \
	LEAQ	(R12)(R14*1), CX; \
	CMPQ	AX, CX

// STILLSMALL ends the rereads for this start (rereadState 2) if the block
// at BX, just read again, is still in small pages that this process alone
// maps (blockSmall): the kernel or the file system did not give it 2 MB
// folios after all (rereadable cannot tell every such case), or another
// process maps pages of it. Then, or else, it goes on at next.
#define STILLSMALL(next) \
	CALL	blockSmall<>(SB); \
	TESTQ	AX, AX; \
	JEQ	next; \
	MOVQ	$2, rereadState<>(SB)

// hugeText marks the text's segment for huge pages (MADV_HUGEPAGE), so
// that a fault that misses the page cache reads the block in a 2 MB
// folio, which it then maps whole, and heals its whole 2 MB blocks where
// the page cache holds them in small folios that no other process maps
// (blockSmall, reread). DI is the kernel's initial stack pointer
// (segment's).
//
// Why: a file's page cache keeps the folios it was read in, and a block
// read by a fault on a mapping without the mark (fence's first start after
// a boot, or after the kernel reclaimed the file's pages), by execve or by
// read(2) is in small folios, which every start then maps and touches one
// 4 kB page at a time: the paravirtualised MMU of the VMs fence is
// measured on charges ~9 µs for each page's first touch, and one 2 MB page
// costs that once. Two blocks always are, after the file's pages were
// reclaimed: the first, the runtime's code, whose start execve's read of
// the ELF header put in small folios, and the one that holds this code,
// which the kernel's first fault, at the entry point, read in small folios
// before anything could mark it. `fence -- true` took 7.9 ms longer in
// that state (docs/benchmarking.md, "Huge pages after a reread"). The
// blocks are clean (copies of the file): evicted, they are read again,
// once, by the start that finds them so, and the starts after it, the
// init stage's first, find the 2 MB folios. The block that holds this
// code is read again by a copy of reread in a page of its own, as its
// mapping is replaced under it. A block still small after its reread
// (blockSmall again) ends the rereads for this start: the kernel or the
// file system did not give it 2 MB folios after all (rereadable cannot
// tell every such case), or another process maps pages of it.
//
// The segment must be readable and executable (PF_R|PF_X, mapped
// PROT_READ|PROT_EXEC) and all file data, each block inside it at a file
// offset aligned as it is.
//
// Registers: R12/R13/R14 the segment's address, file offset and size, BX
// a block, R9 its file offset.
TEXT hugeText<>(SB),NOSPLIT|NOFRAME,$0
	SEGMENT(runtime·text(SB), PF_R_X, textDone)
	// The mark, on the whole segment (its one mapping).
	MOVQ	R12, DI
	ANDQ	$~4095, DI
	LEAQ	4095(R12)(R14*1), SI
	ANDQ	$~4095, SI
	SUBQ	DI, SI
	MOVQ	$MADV_HUGEPAGE, DX
	MOVQ	$SYS_madvise, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	textDone	// no transparent huge pages in this kernel
	LEAQ	(HUGE-1)(R12), BX
	ANDQ	$~(HUGE-1), BX
textBlock:
	BLOCK(textDone)
	JA	textDone
	CALL	blockSmall<>(SB)
	TESTQ	AX, AX
	JEQ	nextText
	MOVQ	$PROT_READ_EXEC, R15
	// Where this code (hugeText, blockSmall, reread, and the callers
	// the calls return to, which the linker lays out beside them) is
	// not, reread runs in place.
	LEAQ	hugeText<>(SB), CX
	ANDQ	$~(HUGE-1), CX
	CMPQ	BX, CX
	JEQ	trampoline
	LEAQ	reread<>(SB), CX
	ANDQ	$~(HUGE-1), CX
	CMPQ	BX, CX
	JEQ	trampoline
	CALL	reread<>(SB)
	JMP	checkText
trampoline:
	// The copy must come from inside the segment.
	LEAQ	reread<>(SB), AX
	ADDQ	$const_rereadSize, AX
	LEAQ	(R12)(R14*1), CX
	CMPQ	AX, CX
	JA	nextText
	// A page mapped writable and filled from the executable, not from
	// memory, where a debugger may have set a breakpoint. What it reads
	// must be the code it copies (else a breakpoint, or /proc/self/exe
	// is not the file mapped: the block is left alone). The page is then
	// made executable and no longer writable.
	PUSHQ	R9
	XORQ	DI, DI
	MOVQ	$4096, SI
	MOVQ	$PROT_READ_WRITE, DX
	MOVQ	$MAP_PRIVATE_ANON, R10
	MOVQ	$-1, R8
	XORQ	R9, R9
	MOVQ	$SYS_mmap, AX
	SYSCALL
	POPQ	R9
	CMPQ	AX, $-4095
	JAE	checkText
	PUSHQ	AX	// the page, at 0(SP) but between the pushes below
	OPEN(selfExe<>(SB))
	CMPQ	AX, $0
	JLT	unmapTrampoline
	PUSHQ	AX	// the fd; the page at 8(SP)
	MOVQ	AX, DI
	MOVQ	8(SP), SI
	MOVQ	$const_rereadSize, DX
	LEAQ	reread<>(SB), R10
	SUBQ	R12, R10
	ADDQ	R13, R10	// its file offset
	MOVQ	$SYS_pread64, AX
	SYSCALL
	MOVQ	AX, DX	// the count (SYSCALL keeps DX)
	POPQ	DI
	MOVQ	$SYS_close, AX
	SYSCALL
	CMPQ	DX, $const_rereadSize
	JNE	unmapTrampoline
	MOVQ	0(SP), SI
	LEAQ	reread<>(SB), DI
	MOVQ	$const_rereadSize, CX
	CLD
	REP;	CMPSB
	JNE	unmapTrampoline
	MOVQ	0(SP), DI
	MOVQ	$4096, SI
	MOVQ	$PROT_READ_EXEC, DX
	MOVQ	$SYS_mprotect, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	unmapTrampoline
	MOVQ	$PROT_READ_EXEC, R15
	MOVQ	0(SP), AX
	CALL	AX
unmapTrampoline:
	POPQ	DI
	MOVQ	$4096, SI
	MOVQ	$SYS_munmap, AX
	SYSCALL
checkText:
	STILLSMALL(nextText)
nextText:
	ADDQ	$HUGE, BX
	JMP	textBlock
textDone:
	RET

// SCAN asks PAGEMAP_SCAN (the pagemap's descriptor in R8, struct
// pm_scan_arg at SP) and jumps to found, with DX 0, unless it found no
// page (AX 0, or -errno).
#define SCAN(found) \
	MOVQ	R8, DI; \
	MOVQ	$PAGEMAP_SCAN, SI; \
	MOVQ	SP, DX; \
	MOVQ	$SYS_ioctl, AX; \
	SYSCALL; \
	XORQ	DX, DX; \
	TESTQ	AX, AX; \
	JNE	found

// blockSmall reports in AX whether the 2 MB block of the executable's
// mapping at BX should be read again (1) or not (0): touched (a fault
// maps it, with one huge page where the page cache holds it in a 2 MB
// folio), it is mapped without a huge page (PAGEMAP_SCAN, Linux 6.7;
// before it, the answer is 0) and with no private page (a debugger's
// breakpoint or a uprobe's copy of a page, which a fresh mapping would
// drop), its first page is mapped by this process alone
// (PM_MMAP_EXCLUSIVE in /proc/self/pagemap): pages of the block that
// another process maps would stay in the page cache and keep the block in
// small folios; and the file's page cache can hold it in a 2 MB folio
// (rereadable). It clobbers CX, DX, SI, DI, R8, R10 and R11.
//
// The frame: struct pm_scan_arg at 0 (96 bytes; the pagemap entry is read
// there after it is used) and one struct page_region at 96 (24).
TEXT blockSmall<>(SB),NOSPLIT|NOFRAME,$0
	MOVB	(BX), AX
	SUBQ	$128, SP
	XORQ	DX, DX	// the answer
	OPEN(selfPagemap<>(SB))
	XORQ	DX, DX
	CMPQ	AX, $0
	JLT	smallDone
	MOVQ	AX, R8
	MOVQ	$96, 0(SP)	// size
	MOVQ	$0, 8(SP)	// flags
	MOVQ	BX, 16(SP)	// start
	LEAQ	HUGE(BX), AX
	MOVQ	AX, 24(SP)	// end
	MOVQ	$0, 32(SP)	// walk_end
	LEAQ	96(SP), AX
	MOVQ	AX, 40(SP)	// vec
	MOVQ	$1, 48(SP)	// vec_len
	MOVQ	$0, 56(SP)	// max_pages
	MOVQ	$0, 64(SP)	// category_inverted
	MOVQ	$PAGE_IS_HUGE, 72(SP)	// category_mask
	MOVQ	$0, 80(SP)	// category_anyof_mask
	MOVQ	$PAGE_IS_HUGE, 88(SP)	// return_mask
	SCAN(smallClose)	// 1: a huge page; < 0: no PAGEMAP_SCAN
	// A private page in it (present, not the file's): a debugger's
	// breakpoint, or a uprobe's, which a fresh mapping would drop.
	MOVQ	$0, 32(SP)	// walk_end
	MOVQ	$PAGE_IS_FILE, 64(SP)	// category_inverted
	MOVQ	$(PAGE_IS_PRESENT|PAGE_IS_FILE), 72(SP)	// category_mask
	MOVQ	$PAGE_IS_PRESENT, 88(SP)	// return_mask
	SCAN(smallClose)
	MOVQ	R8, DI
	MOVQ	SP, SI
	MOVQ	$8, DX
	MOVQ	BX, R10
	SHRQ	$(12-3), R10	// the entry of the page at BX: (BX / 4096) * 8
	MOVQ	$SYS_pread64, AX
	SYSCALL
	XORQ	DX, DX
	CMPQ	AX, $8
	JNE	smallClose
	MOVQ	0(SP), AX
	BTQ	$PM_MMAP_EXCLUSIVE, AX
	JCC	smallClose
	MOVQ	R8, 0(SP)	// the fd, past rereadable
	CALL	rereadable<>(SB)
	MOVQ	0(SP), R8
	MOVQ	AX, DX
smallClose:
	MOVQ	R8, DI
	MOVQ	$SYS_close, AX
	SYSCALL
smallDone:
	ADDQ	$128, SP
	MOVQ	DX, AX
	RET

#define SYS_statfs 137
#define SYS_uname 63
#define SYS_statx 332
#define EXT4_SUPER_MAGIC 0xef53
#define XFS_SUPER_MAGIC 0x58465342
#define STATX_ATTR_NO_LARGE_FOLIOS 0x300800 // ENCRYPTED, VERITY, DAX
#define SYS_prctl 157
#define PR_GET_THP_DISABLE 42
#define FS_IOC_GET_ENCRYPTION_POLICY_EX 0xc0096616
#define FS_IOC_MEASURE_VERITY 0xc0046686
#define FS_IOC_GETFLAGS 0x80086601
#define FS_JOURNAL_DATA_FL 0x4000
#define EOPNOTSUPP 95

// rereadState is rereadable's answer once it has one: 0 not yet, 1 yes,
// 2 no.
GLOBL rereadState<>(SB), NOPTR, $8

// rereadable reports in AX whether the page cache of the executable's
// file keeps what a fault on a mapping marked for huge pages reads in 2
// MB folios, and the kernel maps them for this process (1), or not (0):
// else reread would evict the blocks and read them back in small folios
// again, at every start. It does where the file system supports large
// folios for the file: XFS (since Linux 5.18), and ext4 since Linux 6.16
// on a file system without the encrypt and verity features, for a file
// whose data is not journaled; on neither with DAX (a statx attribute),
// which has no page cache; and not for a process with
// PR_SET_THP_DISABLE. ext4 mounted data=journal has none either, and is
// not told apart: hugeText and healRodata then stop after one block,
// still small (blockSmall after reread), at each start. The answer is
// kept for the rest of the start (rereadState). It clobbers CX, DX, SI,
// DI, R8, R10 and R11.
//
// The frame: struct utsname (390 bytes), struct statfs (120), the ioctls'
// arguments or struct statx (256) at 0.
TEXT rereadable<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	rereadState<>(SB), AX
	CMPQ	AX, $1
	JEQ	yes
	TESTQ	AX, AX
	JNE	no
	SUBQ	$400, SP
	// Not for a process whose transparent huge pages are off
	// (PR_SET_THP_DISABLE, which children inherit): the kernel maps no
	// file huge pages for it, whatever the page cache holds.
	MOVQ	$PR_GET_THP_DISABLE, DI
	XORQ	SI, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	MOVQ	$SYS_prctl, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	answerNo
	// The file system.
	LEAQ	selfExe<>(SB), DI
	MOVQ	SP, SI
	MOVQ	$SYS_statfs, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	answerNo
	MOVQ	0(SP), R8	// f_type
	CMPQ	R8, $XFS_SUPER_MAGIC
	JEQ	attributes
	CMPQ	R8, $EXT4_SUPER_MAGIC
	JNE	answerNo
	// ext4: the kernel's release, major.minor at least 6.16.
	MOVQ	SP, DI
	MOVQ	$SYS_uname, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	answerNo
	LEAQ	130(SP), SI	// release, after sysname and nodename (65 bytes each)
	XORQ	CX, CX	// major
major:
	MOVBQZX	0(SI), AX
	INCQ	SI
	CMPQ	AX, $'.'
	JEQ	minorStart
	SUBQ	$'0', AX
	CMPQ	AX, $9
	JA	answerNo
	IMULQ	$10, CX
	ADDQ	AX, CX
	JMP	major
minorStart:
	XORQ	DX, DX	// minor
minor:
	MOVBQZX	0(SI), AX
	INCQ	SI
	SUBQ	$'0', AX
	CMPQ	AX, $9
	JA	version
	IMULQ	$10, DX
	ADDQ	AX, DX
	JMP	minor
version:
	CMPQ	CX, $6
	JA	ext4Features
	JB	answerNo
	CMPQ	DX, $16
	JB	answerNo
ext4Features:
	// ext4 keeps large folios for no file of a file system with the
	// encrypt or verity feature, nor for a file whose data is journaled:
	// the two ioctls fail with EOPNOTSUPP where the feature is off (with
	// ENODATA where it is on and the file has none), and the journaling
	// is an inode flag (a file system mounted data=journal is not told
	// apart).
	OPEN(selfExe<>(SB))
	CMPQ	AX, $0
	JLT	answerNo
	MOVQ	AX, R8
	MOVQ	$0, 0(SP)	// zeroed arguments for the ioctls
	MOVQ	$0, 8(SP)
	MOVQ	$0, 16(SP)
	MOVQ	$0, 24(SP)
	MOVQ	R8, DI
	MOVQ	$FS_IOC_GET_ENCRYPTION_POLICY_EX, SI
	MOVQ	SP, DX
	MOVQ	$SYS_ioctl, AX
	SYSCALL
	CMPQ	AX, $-EOPNOTSUPP
	JNE	closeNo
	MOVQ	R8, DI
	MOVQ	$FS_IOC_MEASURE_VERITY, SI
	MOVQ	SP, DX
	MOVQ	$SYS_ioctl, AX
	SYSCALL
	CMPQ	AX, $-EOPNOTSUPP
	JNE	closeNo
	MOVQ	$0, 0(SP)
	MOVQ	R8, DI
	MOVQ	$FS_IOC_GETFLAGS, SI
	MOVQ	SP, DX
	MOVQ	$SYS_ioctl, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	closeNo
	MOVL	0(SP), AX
	TESTL	$FS_JOURNAL_DATA_FL, AX
	JNE	closeNo
	MOVQ	R8, DI
	MOVQ	$SYS_close, AX
	SYSCALL
attributes:
	// statx(AT_FDCWD, "/proc/self/exe", 0, 0, buf): stx_attributes at 8.
	MOVQ	$AT_FDCWD, DI
	LEAQ	selfExe<>(SB), SI
	XORQ	DX, DX
	XORQ	R10, R10
	MOVQ	SP, R8
	MOVQ	$SYS_statx, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	answerNo
	MOVQ	8(SP), AX
	TESTQ	$STATX_ATTR_NO_LARGE_FOLIOS, AX
	JNE	answerNo
	ADDQ	$400, SP
	MOVQ	$1, rereadState<>(SB)
yes:
	MOVQ	$1, AX
	RET
closeNo:
	MOVQ	R8, DI
	MOVQ	$SYS_close, AX
	SYSCALL
answerNo:
	ADDQ	$400, SP
	MOVQ	$2, rereadState<>(SB)
no:
	XORQ	AX, AX
	RET

// reread reads the 2 MB block of the executable's mapping at BX (file
// offset R9, protection R15, PROT_*) again, as one 2 MB folio, which it
// maps with one huge page: the block's mapping is replaced by a fresh one
// of the same file, offset and protection (which drops this process's
// page table of it: a huge page maps only where there is none), the
// block is evicted from the page cache (POSIX_FADV_DONTNEED; it is clean,
// a copy of the file), and, marked for huge pages, a touch reads it back.
// Pages of it that another process maps stay, and it is read back in
// small folios, as before. As in remapTail, a mmap that fails after the
// old mapping is gone is not undone. No code that runs until it returns
// may be in the block: hugeText runs a copy of it (rereadSize bytes) from
// a page of its own for the block that holds its code, which is why it
// names no symbol (an address relative to the program counter would be
// wrong there) and builds the file's name on the stack. It clobbers AX,
// CX, DX, SI, DI, R8, R10, R11 and R15.
TEXT reread<>(SB),NOSPLIT|NOFRAME,$0
	SUBQ	$16, SP
	MOVQ	$0x65732f636f72702f, AX	// "/proc/se"
	MOVQ	AX, 0(SP)
	MOVQ	$0x6578652f666c, AX	// "lf/exe\0\0"
	MOVQ	AX, 8(SP)
	MOVQ	$AT_FDCWD, DI
	MOVQ	SP, SI
	MOVQ	$O_RDONLY_CLOEXEC, DX
	XORQ	R10, R10
	MOVQ	$SYS_openat, AX
	SYSCALL
	ADDQ	$16, SP
	CMPQ	AX, $0
	JLT	rereadDone
	MOVQ	AX, R8
	MOVQ	BX, DI
	MOVQ	$HUGE, SI
	MOVQ	R15, DX
	MOVQ	$MAP_PRIVATE_FIXED, R10
	MOVQ	$SYS_mmap, AX	// R8 the fd, R9 the offset
	SYSCALL
	MOVQ	AX, R15
	CMPQ	R15, BX
	JNE	rereadClose
	MOVQ	R8, DI
	MOVQ	R9, SI
	MOVQ	$HUGE, DX
	MOVQ	$POSIX_FADV_DONTNEED, R10
	MOVQ	$SYS_fadvise64, AX
	SYSCALL
rereadClose:
	MOVQ	R8, DI
	MOVQ	$SYS_close, AX
	SYSCALL
	CMPQ	R15, BX
	JNE	rereadDone
	MOVQ	BX, DI
	MOVQ	$HUGE, SI
	MOVQ	$MADV_HUGEPAGE, DX
	MOVQ	$SYS_madvise, AX
	SYSCALL
	MOVB	(BX), AX
rereadDone:
	RET

// healRodata heals (blockSmall, reread) each 2 MB block of the read-only
// data's segment that is mapped whole: those inside its file data, and
// the last one if remapTail mapped it. DI is the kernel's initial stack
// pointer (segment's).
//
// Why: besides the causes hugeText names, execve zeroes the data's last
// page past the file data, a fault whose read-ahead (8 MB on the VMs fence
// is measured on) reads much of the read-only data in small folios.
//
// Registers: R12/R13/R14 the segment's address, file offset and size, BX
// a block, R9 its file offset.
TEXT healRodata<>(SB),NOSPLIT|NOFRAME,$0
	SEGMENT(runtime·rodata(SB), PF_R, rodataHealed)
	LEAQ	(HUGE-1)(R12), BX
	ANDQ	$~(HUGE-1), BX
rodataBlock:
	BLOCK(rodataHealed)
	JBE	rodataWhole
	CMPQ	BX, remappedTail<>(SB)
	JNE	rodataHealed
rodataWhole:
	CALL	blockSmall<>(SB)
	TESTQ	AX, AX
	JEQ	nextRodata
	MOVQ	$PROT_READ, R15
	CALL	reread<>(SB)
	STILLSMALL(nextRodata)
nextRodata:
	ADDQ	$HUGE, BX
	JMP	rodataBlock
rodataHealed:
	RET

// hugeRodata marks the read-only data's segment for huge pages (MADV_
// HUGEPAGE), so that a fault or populate that misses the page cache reads
// the block in a 2 MB folio, which it then maps whole; remapTail marks the
// mapping of the last block that it adds. The range runs to the end of
// that last block, where no segment starts inside it: the call fails on
// the gap (ENOMEM) after marking what is mapped. DI is the kernel's
// initial stack pointer (segment's).
TEXT hugeRodata<>(SB),NOSPLIT|NOFRAME,$0
	LEAQ	runtime·rodata(SB), DX
	CALL	segment<>(SB)
	TESTQ	R12, R12
	JEQ	rodataDone
	LEAQ	(R12)(R14*1), SI
	LEAQ	(HUGE-1)(SI), CX
	ANDQ	$~(HUGE-1), CX	// the end of its last block
	CMPQ	CX, R15
	JBE	rodataEnd
	LEAQ	4095(SI), CX	// a segment above starts inside it
	ANDQ	$~4095, CX
rodataEnd:
	MOVQ	R12, DI
	ANDQ	$~4095, DI
	MOVQ	CX, SI
	SUBQ	DI, SI
	MOVQ	$MADV_HUGEPAGE, DX
	MOVQ	$SYS_madvise, AX
	SYSCALL
rodataDone:
	RET

// func rereadable() bool
// rereadable<> takes ~410 bytes of stack below its caller's stack
// pointer: the frame reserves them (the prologue checks there is room),
// and the call is made from its top.
TEXT ·rereadable(SB),0,$432-1
	ADDQ	$432, SP
	CALL	rereadable<>(SB)
	SUBQ	$432, SP
	MOVB	AX, ret+0(FP)
	RET

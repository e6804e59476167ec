// Package prefault maps, with one system call each, memory that every
// fence process is about to touch page by page: the binary's read-only
// data (from the ELF entry point, before the Go runtime starts; where the
// segments are aligned to 2 MB, the read-only data's last block is mapped
// whole first, so that huge pages can map all of it), and the first part
// of the Go heap (from an init function that runs before any other
// package's does work), where it can as one transparent huge page. The
// binary's data and bss are left to fault in: a populate copies every
// page of them, and fence writes ~40 of their ~100 (see the entry's code).
//
// Why: each fence start is two Go processes (the supervisor and the
// sandbox's init stage), and they took ~800 page faults between them
// against `true`'s ~50. On the 2-core VMs fence is measured on, whose MMU
// is paravirtualised, a fault is a trap into the hypervisor: 10–20 µs, a
// write to a page of the binary's data (a copy) the dearest. One
// madvise(MADV_POPULATE_WRITE or MADV_POPULATE_READ) maps a range for
// about 1 µs a page, and `fence -- true` started 13% sooner
// (docs/benchmarking.md, "Page faults, populated ahead"). A page populated
// that way still costs the hypervisor ~9 µs at its first touch; a 2 MB
// huge page costs it once for all 512 (docs/benchmarking.md, "The heap in
// huge pages").
//
// Where the page cache holds the executable's text or read-only data in
// small folios (read by execve, or by faults before anything asked for
// huge pages: after a boot, or after the kernel reclaimed the file's
// pages), the entry reads those 2 MB blocks again, once, as 2 MB folios,
// unless another process maps them (docs/benchmarking.md, "Huge pages
// after a reread").
//
// What it must not do: decide anything, or change what any byte of memory
// holds. A kernel without MADV_POPULATE_* (before Linux 5.14) answers
// EINVAL and nothing changes; one without MADV_COLLAPSE (Linux 6.1), with
// transparent huge pages set to "never" (which MADV_COLLAPSE would ignore:
// fence reads the setting), or out of free huge pages gets the heap
// populated in small pages; a range that is not mapped is left alone. It
// reads no environment and no arguments; the files it reads are the huge
// page settings in /sys, its own executable (/proc/self/exe, which the
// init stage is exec'd from too) and its own page map (/proc/self/pagemap).
//
// Why a package of its own: its populate routine (assembly,
// fence_prefault_populate) must run from the ELF entry point, before the
// runtime's own (_rt0_amd64_linux): fence's entry point is nsexec/spawn's,
// which calls it first (spawn.LDFlags; the Makefile and the test builds
// pass them), and this package's entry function (LDFlag) does only that,
// for binaries that spawn nothing, such as its tests'; and its init
// function must run before the other
// packages' allocate, which it does because it imports nothing (Go
// initialises, at each step, the first package in import-path order whose
// imports are ready; deps_test.go checks the imports). Built without the
// flag (go install), only the heap is populated. On every platform but
// linux/amd64 it does nothing.
package prefault

// EntrySymbol is the linker's name of the entry function.
const EntrySymbol = "github.com/nsfence/fence/internal/prefault.entry"

// LDFlag returns the linker flag that makes the entry function the ELF
// entry point of a binary built for goos/goarch that imports this package,
// or "" where there is none.
func LDFlag(goos, goarch string) string {
	if goos == "linux" && goarch == "amd64" {
		return "-E=" + EntrySymbol
	}
	return ""
}

// Heap sizes populated in small pages from the heap's first free page up,
// where the heap's huge page could not be had: the supervisor's start used
// more than 1 MB above it (2 MB measured best, 4 MB no better;
// docs/benchmarking.md); the init stage, which lives as long as the
// sandbox, little, and there the rest would be resident memory for
// nothing.
const (
	supervisorHeap = 2 << 20
	initStageHeap  = 256 << 10
)

// hugePage is the size of a transparent huge page on linux/amd64 (a PMD).
const hugePage = 2 << 20

// heapStart and heapLen are the range init populated, heapHuge whether
// it is a huge page that the kernel collapsed, nextMarked whether the
// block after it was mapped and marked for huge pages then, for the tests.
var (
	heapStart, heapLen uintptr
	heapHuge           bool
	nextMarked         bool
)

func init() { heapStart, heapLen, heapHuge = populateHeap() }

// Heap returns the start and length of the heap range that this process's
// init populated, or 0, 0 where it did nothing, and whether that range is
// one huge page. A range in small pages is populated where the runtime
// had mapped it then.
func Heap() (start, n uintptr, huge bool) { return heapStart, heapLen, heapHuge }

// NextMarked reports whether init marked the block after the heap's huge
// page for huge pages where the runtime had certainly mapped it (in the
// same 4 MB step): the supervisor's does. A block the runtime maps later
// is a new mapping, unmarked.
func NextMarked() bool { return nextMarked }

// Rereadable reports whether the entry would read blocks of the
// executable that the page cache holds in small folios again
// (linux/amd64): whether the file's page cache keeps 2 MB folios, as far
// as its file system and the kernel tell.
func Rereadable() bool { return rereadable() }

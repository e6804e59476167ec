// Package prefault maps, with one system call each, memory that every
// fence process is about to touch page by page: the binary's read-only
// data (from the ELF entry point, before the Go runtime starts; where the
// segments are aligned to 2 MB, the read-only data's last block is mapped
// whole first, so that huge pages can map all of it). The binary's data
// and bss are left to fault in: a populate copies every page of them, and
// fence writes ~40 of their ~100 (see the entry's code). So is the Go
// heap: it was made one transparent huge page, which after a pause cost a
// VM whose host backs memory on first touch ~3.5 ms a page
// (docs/benchmarking.md, "Huge pages after a pause").
//
// Why: each fence start is two Go processes (the supervisor and the
// sandbox's init stage), and they took ~800 page faults between them
// against `true`'s ~50. On the 2-core VMs fence is measured on, whose MMU
// is paravirtualised, a fault is a trap into the hypervisor: 10–20 µs, a
// write to a page of the binary's data (a copy) the dearest. One
// madvise(MADV_POPULATE_WRITE or MADV_POPULATE_READ) maps a range for
// about 1 µs a page, and `fence -- true` started 13% sooner
// (docs/benchmarking.md, "Page faults, populated ahead"). Where a fault
// costs ~1.3 µs (bare metal, or a VM whose MMU is the hardware's), only
// the read-only data's populate, which maps and copies nothing, still
// pays.
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
// EINVAL and nothing changes; a range that is not mapped is left alone. It
// reads no environment and no arguments; the files it reads are its own
// executable (/proc/self/exe, which the init stage is exec'd from too) and
// its own page map (/proc/self/pagemap).
//
// Why a package of its own: its populate routine (assembly,
// fence_prefault_populate) must run from the ELF entry point, before the
// runtime's own (_rt0_amd64_linux): fence's entry point is nsexec/spawn's,
// which calls it first (spawn.LDFlags; the Makefile and the test builds
// pass them), and this package's entry function (LDFlag) does only that,
// for binaries that spawn nothing, such as its tests'. It has no init
// function. Built without the flag (go install), it does nothing; nor on
// any platform but linux/amd64.
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

// Rereadable reports whether the entry would read blocks of the
// executable that the page cache holds in small folios again
// (linux/amd64): whether the file's page cache keeps 2 MB folios, as far
// as its file system and the kernel tell.
func Rereadable() bool { return rereadable() }

package prefault

import "unsafe"

// In prefault_linux_amd64.s; each returns the raw result (-errno on
// failure).
func madvise(addr, n, advice uintptr) int64
func getpid() int64

//go:noescape
func readFile(path *byte, buf *byte, n uintptr) int64

// rereadable is the entry's rereadable, in prefault_linux_amd64.s.
func rereadable() bool

// rereadSize is the length of the copy of reread (prefault_linux_amd64.s)
// that hugeText runs from a page of its own: at least its code's
// (TestRereadSize).
const rereadSize = 384

const (
	madvHugepage      = 14 // MADV_HUGEPAGE
	madvPopulateWrite = 23 // MADV_POPULATE_WRITE, Linux 5.14
	madvCollapse      = 25 // MADV_COLLAPSE, Linux 6.1
	eagain            = 11
)

// probe keeps the allocation that locates the heap on the heap.
var probe *[64]byte

// populateHeap maps the heap where the start's allocations are about to
// land: the runtime's page allocator hands out the lowest free pages
// first, so from the page of a fresh small allocation up.
//
// First as a huge page: MADV_COLLAPSE makes the 2 MB block around that
// page one, the runtime's pages already in it copied over (~0.5 ms), and
// every later first touch of the block is free. In the supervisor, whose
// start uses more than what is left of the block, the next block (if the
// runtime had mapped it: it maps the heap 4 MB at a time) is marked
// MADV_HUGEPAGE, so its first touch faults in a huge page too. The init
// stage lives as long as the sandbox: one block, 2 MB resident.
//
// Built by make (the runtime overlay, internal/rtoverlay), the
// runtime advised the heap MADV_HUGEPAGE as it mapped it: the block is a
// huge page from its first touch and the collapse finds it one (~0.03-0.09
// ms). This stays for binaries built without the overlay.
//
// Else as small pages, MADV_POPULATE_WRITE of a fixed size. The init stage
// is PID 1 of its namespace; so is a supervisor that is a container's
// entry point, which then gets the init stage's share (a little slower,
// nothing else).
func populateHeap() (uintptr, uintptr, bool) {
	probe = new([64]byte)
	first := uintptr(unsafe.Pointer(probe)) &^ 4095
	block := first &^ (hugePage - 1)
	initStage := getpid() == 1
	r := int64(-1)
	if hugePagesAllowed() {
		r = madvise(block, hugePage, madvCollapse)
		// EAGAIN: a page of the block was busy for a moment (not yet
		// on the kernel's page lists, or locked), in ~3% of starts
		// measured; a retry (two at most) got it in every one of 300.
		for try := 0; r == -eagain && try < 2; try++ {
			r = madvise(block, hugePage, madvCollapse)
		}
	}
	if r == 0 {
		if !initStage {
			// The runtime maps the heap in 4 MB-aligned steps: a next
			// block in the same step is mapped; one in the next step
			// may be only reserved, and a mark on that is lost when
			// the runtime maps it (a new mapping).
			const step = 4 << 20
			next := block + hugePage
			r := madvise(next, hugePage, madvHugepage)
			nextMarked = r == 0 && next&^(step-1) == block&^(step-1)
		}
		return block, hugePage, true
	}
	n := uintptr(supervisorHeap)
	if initStage {
		n = initStageHeap
	}
	// The range can run past the mapped part: the kernel then populates
	// up to there and fails. What is past it faults in as it is used.
	madvise(first, n, madvPopulateWrite)
	return first, n, false
}

// The administrator's transparent huge page settings: for 2 MB pages
// (Linux 6.8), and for all, which "inherit" there defers to.
const (
	thp2MB = "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled\x00"
	thpAll = "/sys/kernel/mm/transparent_hugepage/enabled\x00"
)

// hugePagesAllowed reports whether the administrator left 2 MB transparent
// huge pages on ("always" or "madvise"): MADV_COLLAPSE itself ignores the
// setting, even "never", which fence honours. A kernel without the files
// has none to give.
func hugePagesAllowed() bool { return thpAllowed(thp2MB, thpAll) }

// thpAllowed is hugePagesAllowed with the settings files at the paths
// given (NUL-terminated), for the tests.
func thpAllowed(for2MB, forAll string) bool {
	switch thpSetting(for2MB) {
	case thpNever:
		return false
	case thpOn:
		return true
	}
	return thpSetting(forAll) == thpOn
}

// A settings file's choice.
const (
	thpUnknown = iota // no file, or another word ("inherit")
	thpOn             // "always" or "madvise"
	thpNever
)

// thpSetting returns the bracketed choice in the settings file at path
// ("always [madvise] never"). It allocates nothing: it runs before the
// heap is populated.
func thpSetting(path string) int {
	var buf [64]byte
	n := readFile(unsafe.StringData(path), &buf[0], uintptr(len(buf)))
	if n <= 0 {
		return thpUnknown
	}
	s := buf[:n]
	for i, c := range s {
		if c != '[' {
			continue
		}
		for j := i + 1; j < len(s); j++ {
			if s[j] == ']' {
				switch string(s[i+1 : j]) {
				case "always", "madvise":
					return thpOn
				case "never":
					return thpNever
				}
				return thpUnknown
			}
		}
	}
	return thpUnknown
}

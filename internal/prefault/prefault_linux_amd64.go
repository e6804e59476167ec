package prefault

import "unsafe"

// In prefault_linux_amd64.s; each returns the raw result (-errno on
// failure).
func madvise(addr, n, advice uintptr) int64
func getpid() int64

const madvPopulateWrite = 23 // MADV_POPULATE_WRITE, Linux 5.14

// probe keeps the allocation that locates the heap on the heap.
var probe *[64]byte

// populateHeap maps the heap from the page of a fresh small allocation
// up: the runtime's page allocator hands out the lowest free pages first,
// so the start's allocations land there. The init stage is PID 1 of its
// namespace; so is a supervisor that is a container's entry point, which
// then gets the smaller size (a little slower, nothing else).
func populateHeap() (uintptr, uintptr) {
	probe = new([64]byte)
	start := uintptr(unsafe.Pointer(probe)) &^ 4095
	n := uintptr(supervisorHeap)
	if getpid() == 1 {
		n = initStageHeap
	}
	// The runtime maps the heap in 4 MB steps from a random page: the
	// range can run past the mapped part, and the kernel then populates
	// up to there and fails. What is past it faults in as it is used.
	madvise(start, n, madvPopulateWrite)
	return start, n
}

//go:build linux

// Command show reports, as its main function starts, how much of its own
// memory is mapped, for internal/prefault's tests:
//
//	rodata RSS SIZE   the executable's read-only mappings: kB mapped, kB
//	                  (from smaps; the entry may have split it in two)
//	data ANON SIZE    its file-backed writable mapping: kB of private
//	                  copies (what a write makes), kB
//	bss RESIDENT PAGES   a 1 MB array in the bss that nothing touches:
//	                  pages resident, pages
//	heap N RESIDENT MAPPED HUGE   what prefault populated (bytes), and of
//	                  the part the runtime had mapped, how many pages are
//	                  resident and how many there are; 1 if prefault
//	                  reports the range as a huge page, else 0
//	hugeheap KB NEXT MARKED STEP   kB of huge pages in the mapping that
//	                  holds the heap's range; whether the block after it
//	                  is marked for huge pages (1), not (0), or not mapped
//	                  (-1); 1 if prefault reports marking it; 1 if that
//	                  block is in the range's 4 MB step (the runtime maps
//	                  the heap in those: it was mapped at init)
//	rereadable R      1 if prefault.Rereadable, else 0
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/nsfence/fence/internal/prefault"
	"golang.org/x/sys/unix"

	// Linked for its entry point, fence's (the tests link either).
	_ "github.com/nsfence/fence/nsexec/spawn"
)

// untouched is 1 MB of the binary's data, untouchedBSS 1 MB of its bss
// (pointers: .bss, not .noptrbss), that nothing reads or writes: only a
// populated data segment has them resident at main.
var (
	untouched    = [131072]uint64{1: 1}
	untouchedBSS [131072]*byte
)

func main() {
	// Before anything else allocates or reads: what prefault left.
	start, n, huge := prefault.Heap()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		fail(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		fail(err)
	}
	defer f.Close()
	var cur string // the current mapping's kind, or ""
	var heapEnd uintptr
	// The heap's mapping (it holds start) and the one that holds the
	// block after a huge range: kB of huge pages, and the flags.
	var inHeap, inNext bool
	heapHugeKB, next := 0, -1
	sizes := map[string][2]int{}
	var size int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			cur = ""
			lo, hi, _ := strings.Cut(fields[0], "-")
			l, _ := strconv.ParseUint(lo, 16, 64)
			h, _ := strconv.ParseUint(hi, 16, 64)
			path := ""
			if len(fields) >= 6 {
				path = fields[5]
			}
			switch {
			case path == exe && fields[1] == "r--p":
				cur = "rodata"
			case path == exe && fields[1] == "rw-p":
				cur = "data"
			}
			inHeap = uintptr(l) <= start && start < uintptr(h)
			if inHeap {
				heapEnd = uintptr(h)
			}
			inNext = huge && uintptr(l) <= start+n && start+n < uintptr(h) && fields[1] == "rw-p"
			if inNext {
				next = 0
			}
			continue
		}
		if inHeap && len(fields) >= 2 && fields[0] == "AnonHugePages:" {
			heapHugeKB, _ = strconv.Atoi(fields[1])
		}
		if inNext && fields[0] == "VmFlags:" && slices.Contains(fields[1:], "hg") {
			next = 1
		}
		if cur == "" || len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "Size:":
			size = v
		case "Rss:":
			if cur == "rodata" {
				r := sizes[cur]
				sizes[cur] = [2]int{r[0] + v, r[1] + size}
			}
		case "Anonymous:":
			if cur == "data" {
				sizes[cur] = [2]int{v, size}
			}
		}
	}
	if err := sc.Err(); err != nil {
		fail(err)
	}
	for _, k := range []string{"rodata", "data"} {
		fmt.Printf("%s %d %d\n", k, sizes[k][0], sizes[k][1])
	}
	// The array's whole pages: its first and last may hold other
	// variables.
	bssStart := (uintptr(unsafe.Pointer(&untouchedBSS)) + 4095) &^ 4095
	bssEnd := (uintptr(unsafe.Pointer(&untouchedBSS)) + unsafe.Sizeof(untouchedBSS)) &^ 4095
	resident, pages := residentPages(bssStart, bssEnd)
	fmt.Printf("bss %d %d\n", resident, pages)
	resident, pages = 0, 0
	if n > 0 && heapEnd > start {
		resident, pages = residentPages(start, min(start+n, heapEnd))
	}
	h := 0
	if huge {
		h = 1
	}
	fmt.Printf("heap %d %d %d %d\n", n, resident, pages, h)
	marked := 0
	if prefault.NextMarked() {
		marked = 1
	}
	step := 0
	if huge && (start+n)&^(4<<20-1) == start&^(4<<20-1) {
		step = 1
	}
	fmt.Printf("hugeheap %d %d %d %d\n", heapHugeKB, next, marked, step)
	reread := 0
	if prefault.Rereadable() {
		reread = 1
	}
	fmt.Printf("rereadable %d\n", reread)
	// Keeps untouched linked, without reading it.
	if uintptr(unsafe.Pointer(&untouched)) == 0 {
		os.Exit(3)
	}
}

// residentPages reports how many of the pages in [start, end) are
// resident (mincore), and how many there are.
func residentPages(start, end uintptr) (int, int) {
	vec := make([]byte, (end-start)/4096)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, start, end-start, uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		fail(fmt.Errorf("mincore: %w", e))
	}
	resident := 0
	for _, b := range vec {
		resident += int(b & 1)
	}
	return resident, len(vec)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "show:", err)
	os.Exit(1)
}

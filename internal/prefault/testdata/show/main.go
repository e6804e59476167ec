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
//	anon HUGE ADVISED   kB of huge pages in its mappings of no file, and
//	                  how many of those are advised MADV_HUGEPAGE ("hg")
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
	// Whether the current mapping is of no file; the anonymous mappings'
	// kB of huge pages, and how many are advised for them.
	var anon bool
	anonHugeKB, advised := 0, 0
	sizes := map[string][2]int{}
	var size int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			cur = ""
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
			anon = path == "" || strings.HasPrefix(path, "[anon:") || path == "[heap]"
			continue
		}
		if anon && len(fields) >= 2 && fields[0] == "AnonHugePages:" {
			kb, _ := strconv.Atoi(fields[1])
			anonHugeKB += kb
		}
		if anon && fields[0] == "VmFlags:" && slices.Contains(fields[1:], "hg") {
			advised++
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
	fmt.Printf("anon %d %d\n", anonHugeKB, advised)
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

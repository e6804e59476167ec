//go:build linux

// Command heapadvice is package rtoverlay's test program for Write: it
// prints the VmFlags (/proc/self/smaps) of the mapping that holds its heap,
// then the number of other mappings of no file, advised MADV_HUGEPAGE
// ("hg") and resident, such as the block the runtime's bookkeeping is
// carved from (named "[anon: Go: immortal metadata]" where the kernel
// names mappings).
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"
)

var sink *[256]byte

func main() {
	sink = new([256]byte)
	addr := uint64(uintptr(unsafe.Pointer(sink)))
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer f.Close()
	var heap string
	others := 0
	in, anon, resident := false, false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		fields := strings.Fields(l + " x")
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(lo, ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = a <= addr && addr < b
				// No file: no name, or one the kernel or the
				// runtime gave it ("[anon: ...]").
				f := strings.Fields(l)
				anon = len(f) == 5 || strings.HasPrefix(f[5], "[anon")
				resident = false
				continue
			}
		}
		if v, ok := strings.CutPrefix(l, "Rss:"); ok {
			resident = strings.Fields(v)[0] != "0"
		}
		if v, ok := strings.CutPrefix(l, "VmFlags:"); ok {
			switch {
			case in:
				heap = strings.TrimSpace(v)
			case anon && resident && strings.Contains(" "+v+" ", " hg "):
				others++
			}
		}
	}
	if heap == "" {
		fmt.Println("error: no mapping holds the heap")
		os.Exit(1)
	}
	fmt.Println(heap)
	fmt.Println(others)
}

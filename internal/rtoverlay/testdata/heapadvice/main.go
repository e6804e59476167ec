//go:build linux

// Command heapadvice is package rtoverlay's test program for Write: it
// prints the VmFlags (/proc/self/smaps) of the mapping that holds its heap.
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
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(l + " x")[0], "-"); ok && !strings.HasSuffix(lo, ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = a <= addr && addr < b
				continue
			}
		}
		if v, ok := strings.CutPrefix(l, "VmFlags:"); ok && in {
			fmt.Println(strings.TrimSpace(v))
			return
		}
	}
	fmt.Println("error: no mapping holds the heap")
	os.Exit(1)
}

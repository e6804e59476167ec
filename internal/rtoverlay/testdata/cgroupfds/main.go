//go:build linux

// Command cgroupfds is package rtoverlay's test program for the cgroup
// lookup: it prints how many of its descriptors are files of a cgroup file
// system, which the runtime opened at its start if it looked for the
// process's CPU limit (and keeps open), and opens nothing itself.
package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func main() {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	n := 0
	for _, e := range es {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Statfs_t
		if unix.Fstatfs(fd, &st) != nil {
			continue
		}
		if st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC {
			n++
		}
	}
	fmt.Println(n)
}

//go:build linux

// Command idle is package rtoverlay's test program for sysmon's linger: it
// reads its standard input a byte at a time until it is closed, blocked in
// read(2) with every P idle in between, and makes no other system call.
package main

import "syscall"

func main() {
	var b [1]byte
	for {
		n, err := syscall.Read(0, b[:])
		if err != syscall.EINTR && n <= 0 {
			return
		}
	}
}

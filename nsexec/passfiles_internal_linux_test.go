package nsexec

import (
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// pipeFD returns a pipe's read end's descriptor number, its write end
// closed; the read end is closed when the test ends, if still open.
func pipeFD(t *testing.T) int {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	fd, err := unix.FcntlInt(r.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// dropInherited closes PID 1's inherited copy of a pipe passed on, and
// neither a copy that arrived at the pipe's own number (a descriptor the
// caller had close-on-exec) nor another file at that number.
func TestDropInherited(t *testing.T) {
	inherited := pipeFD(t)
	received, err := unix.FcntlInt(uintptr(inherited), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(received) })
	atOwn := pipeFD(t)
	other := pipeFD(t)
	otherPipe := pipeFD(t)
	dropInherited([]int{inherited, atOwn, other}, []int{received, atOwn, otherPipe}, []int{received, atOwn, otherPipe})
	if isOpen(inherited) {
		t.Error("the inherited copy of a pipe passed on stayed open")
	}
	if !isOpen(received) || !isOpen(atOwn) {
		t.Error("a copy that came in was closed")
	}
	if !isOpen(other) {
		t.Error("another pipe at a number passed on was closed")
	}
}

// aboveListLayout makes the layout the placement tests need: pipes a and
// b (copies PID 1 received) and busy (a number PID 1 uses itself, placed
// through ProcAttr.Files), with free numbers below them for the forked
// child's status pipe, and returns next, where the child's first move
// goes: above the list (up to busy) and every descriptor in it (a).
func aboveListLayout(t *testing.T) (a, b, busy, next int) {
	t.Helper()
	var holes []int
	for range 2 {
		h, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		holes = append(holes, h)
	}
	b, busy, a = pipeFD(t), pipeFD(t), pipeFD(t)
	for _, h := range holes {
		unix.Close(h)
	}
	return a, b, busy, max(busy+1, a) + 1
}

// placePassed, then ForkExec: a copy made by dup3 at the number just above
// every descriptor ProcAttr.Files names, where the forked child moves its
// status pipe from a free number below (dup3, close-on-exec), reaches the
// command, and so does a pipe placed through the list.
func TestPlacePassedAboveFiles(t *testing.T) {
	defer func() { passed = nil }()
	a, b, busy, next := aboveListLayout(t)
	if isOpen(next) || slices.Contains([]int{a, b, busy}, next) {
		t.Skipf("descriptor %d is taken in this test process: the layout the test needs is not there", next)
	}
	passed = []int{a, b}
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	targets := []int{busy, next}
	placed := placePassed(targets, attr)
	if !slices.Contains(placed, next) {
		t.Fatalf("placePassed did not place a copy at the free number %d: placed %v", next, placed)
	}
	script := fmt.Sprintf("[ -e /proc/self/fd/%d ] && [ -e /proc/self/fd/%d ]", busy, next)
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, attr)
	for _, f := range placed {
		unix.Close(f)
	}
	if err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if ws.ExitStatus() != 0 {
		t.Errorf("pipes passed on at %d (through the list) and %d (placed just above it): the command lacks one", busy, next)
	}
}

// With no number free above the copies placePassed made (the open-file
// limit just above the highest), the command either gets every pipe or
// does not start: none goes missing.
func TestPlacePassedAtTheLimit(t *testing.T) {
	defer func() { passed = nil }()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	c := pipeFD(t)
	a, b, busy, next := aboveListLayout(t)
	const lim = 1000
	top := lim - 1
	if isOpen(next) || isOpen(top) || old.Max < lim {
		t.Skipf("descriptors %d or %d taken, or a hard limit below %d: the layout the test needs is not there", next, top, lim)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: lim, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	passed = []int{a, b, c}
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	targets := []int{busy, next, top}
	placed := placePassed(targets, attr)
	script := fmt.Sprintf("[ -e /proc/self/fd/%d ] && [ -e /proc/self/fd/%d ] && [ -e /proc/self/fd/%d ]", busy, next, top)
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, attr)
	for _, f := range placed {
		unix.Close(f)
	}
	if err != nil {
		return // refused to start: acceptable, nothing went missing
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if ws.ExitStatus() != 0 {
		t.Errorf("pipes passed on at %d, %d and %d (at the open-file limit): the command started without one", busy, next, top)
	}
}

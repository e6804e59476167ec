package nsexec

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The guard reads the path of each request from the caller's memory, starts
// relative paths at the caller's working directory or fd, and takes the
// caller's socket for connect and bind: process_vm_readv, /proc/PID/cwd,
// /proc/PID/fd/N and pidfd_getfd, which the kernel allows only with ptrace
// access to the caller. A process that made itself non-dumpable (ssh-agent
// and gpg-agent do, to keep their keys from other processes) grants that
// only to CAP_SYS_PTRACE over the sandbox's user namespace, and PID 1's
// threads have no capabilities: such a process could create no file and
// bind no socket.
//
// ptracer is one thread of PID 1 that keeps CAP_SYS_PTRACE in its permitted
// set and raises it only around those accesses to the caller (memory read
// with process_vm_readv: /proc/PID/mem of a non-dumpable process belongs to
// root, whom an unprivileged runner's sandbox does not map), made with raw
// syscalls on that locked thread. Everything else the guard
// does runs without it, so a caller gains nothing: the guard still cannot
// reach another process's fds or memory on its behalf.
type ptracer struct {
	reqs  chan ptraceReq
	ready chan struct{} // closed once the loop holds its own thread
}

type ptraceReq struct {
	path  *byte // openat(AT_FDCWD, path, flags), or
	flags int
	pidfd int // pidfd_getfd(pidfd, fd, 0), or
	fd    int
	pid   int // process_vm_readv(pid, local, 1, remote, 1, 0)
	local *unix.Iovec
	rem   *unix.RemoteIovec
	done  chan ptraceResult
}

type ptraceResult struct {
	fd  int
	err error
}

// tracer is PID 1's ptracer, set up with its capabilities (see
// dropCapabilities); nil elsewhere.
var tracer *ptracer

// startPtracer starts the ptracer's goroutine and returns at once; wait
// reports when it holds a thread of its own. Both must happen before the
// capabilities are dropped: the drop is what leaves that thread (with every
// other thread but the command's) CAP_SYS_PTRACE in its permitted set, and
// the ptracer's thread is then one that existed when the sets were set,
// not one whose set depends on which thread the runtime cloned it from.
func startPtracer() *ptracer {
	p := &ptracer{reqs: make(chan ptraceReq), ready: make(chan struct{})}
	go p.loop()
	return p
}

// wait returns once the ptracer's goroutine is locked to its thread. Not
// waiting in startPtracer lets the thread start (a hand-off through the
// runtime's template thread, then a wait for a CPU) overlap with reading
// the policy and building the mounts, instead of delaying them.
func (p *ptracer) wait() {
	<-p.ready
}

func (p *ptracer) loop() {
	// Never unlocked: this thread alone raises the capability, and no
	// other goroutine may run on it.
	runtime.LockOSThread()
	close(p.ready)
	for r := range p.reqs {
		var res ptraceResult
		// From raise to lower, no thread may be started from this one
		// (it would inherit the raised set): raw syscalls, and the one
		// that is not raw is explained below.
		if err := setPtrace(true); err != nil {
			r.done <- ptraceResult{fd: -1, err: err}
			continue
		}
		var fd uintptr
		var e unix.Errno
		switch {
		case r.path != nil:
			cwd := unix.AT_FDCWD // absolute paths only; a variable, as -100 is no uintptr constant
			fd, _, e = unix.RawSyscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(r.path)), uintptr(r.flags), 0, 0, 0)
		case r.local != nil:
			// Not raw: the read can wait on a page fault of the
			// caller's file-backed memory, and must not hold a P
			// meanwhile. Entering the scheduler here starts no
			// thread from this one: threads for a locked thread come
			// from the runtime's template thread.
			fd, _, e = unix.Syscall6(unix.SYS_PROCESS_VM_READV, uintptr(r.pid), uintptr(unsafe.Pointer(r.local)), 1,
				uintptr(unsafe.Pointer(r.rem)), 1, 0)
		default:
			fd, _, e = unix.RawSyscall(unix.SYS_PIDFD_GETFD, uintptr(r.pidfd), uintptr(r.fd), 0)
		}
		if err := setPtrace(false); err != nil {
			// Still raised: this thread must never run anything else.
			// PID 1 cannot go on safely.
			panic(fmt.Sprintf("lower CAP_SYS_PTRACE: %v", err))
		}
		res.fd = int(fd)
		if e != 0 {
			res.fd, res.err = -1, e
		}
		r.done <- res
	}
}

// setPtrace makes CAP_SYS_PTRACE effective on this thread or not; it stays
// permitted, and is the only capability left.
func setPtrace(on bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Permitted = 1 << unix.CAP_SYS_PTRACE
	if on {
		data[0].Effective = data[0].Permitted
	}
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("set CAP_SYS_PTRACE effective=%v: %w", on, e)
	}
	return nil
}

// callerDenied reports whether err is the refusal of an access to a
// non-dumpable caller's /proc entries.
func callerDenied(err error) bool {
	return tracer != nil && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM))
}

// openCaller opens one of the caller's own /proc entries (its cwd or fd/N),
// with CAP_SYS_PTRACE when the caller is not dumpable. Only paths the
// guard builds from the caller's pid may come here.
func openCaller(path string, flags int) (int, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err == nil || !callerDenied(err) {
		return fd, err
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	done := make(chan ptraceResult, 1)
	tracer.reqs <- ptraceReq{path: p, flags: flags | unix.O_CLOEXEC, done: done}
	r := <-done
	runtime.KeepAlive(p)
	return r.fd, r.err
}

// readCaller reads the caller's memory at addr into buf, with
// CAP_SYS_PTRACE when the caller is not dumpable. It returns how much it
// read: less than len(buf) where the caller's mapping ends.
func readCaller(pid int, addr uintptr, buf []byte) (int, error) {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: addr, Len: len(buf)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err == nil || !callerDenied(err) {
		return n, err
	}
	done := make(chan ptraceResult, 1)
	tracer.reqs <- ptraceReq{pid: pid, local: &local[0], rem: &remote[0], done: done}
	r := <-done
	runtime.KeepAlive(buf)
	return r.fd, r.err
}

// getfdCaller takes a duplicate of the caller's fd through pidfd, with
// CAP_SYS_PTRACE when the caller is not dumpable.
func getfdCaller(pidfd, fd int) (int, error) {
	sock, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err == nil || !callerDenied(err) {
		return sock, err
	}
	done := make(chan ptraceResult, 1)
	tracer.reqs <- ptraceReq{pidfd: pidfd, fd: fd, done: done}
	r := <-done
	return r.fd, r.err
}

package spawn

import (
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nsfence/fence/nsexec/internal/rawsig"
	"golang.org/x/sys/unix"
)

// CoarsenSysmon gives the Go runtime's system monitor thread ("sysmon") of
// this process a timer slack of slack, so that its sleeps last at least
// about that long, until RestoreSysmon. It sends the request and returns at
// once; finish waits (a bounded time) for it to be done, puts back the
// signal action it borrowed, and reports whether sysmon now has the slack.
// finish must be called, once. The caller must be the main thread, during
// package initialisation.
//
// Why: while a process is busy, sysmon wakes every 20 µs, and keeps doing
// so until 50 of its polls in a row found nothing to do (or as long as
// goroutines keep blocking in syscalls); then it backs off to 10 ms. In a
// VM every wake-up is a timer interrupt and a context switch that trap to
// the hypervisor. On two CPUs, the polls of the supervisor's and the init
// stage's sysmons took CPU time from the init stage starting and the
// supervisor computing the policy: `fence -- true` was 0.9 ms faster with
// both coarsened (docs/benchmarking.md, ninth pass). The supervisor must do
// it before the spawn; after it, nothing was gained.
//
// How: the slack is per thread, and only a thread itself (or a holder of
// CAP_SYS_NICE) can set it; sysmon runs no code of ours. So sysmon's
// thread is found (sysmonThread) and sent a signal whose handler,
// installed for the moment, makes the prctl on that thread alone. finish
// restores the signal's previous action (the runtime's) exactly. If sysmon
// cannot be told from the other threads, or the caller blocks the signal
// (the mask is inherited across exec, and the runtime leaves this signal
// blocked if it came so), nothing is done.
func CoarsenSysmon(slack time.Duration) (finish func() bool) {
	none := func() bool { return false }
	if signalBlocked(sysmonSignal) {
		return none
	}
	tid := sysmonThread()
	if tid == 0 {
		return none
	}
	orig, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil || orig <= 0 {
		return none
	}
	restore, ok := borrowSignal(uint64(slack.Nanoseconds()), tid)
	if !ok {
		return none
	}
	if unix.Tgkill(unix.Getpid(), tid, sysmonSignal) != nil {
		restore()
		return none
	}
	sent := Now()
	// Recorded now: should the handler run only after finish gave up on
	// it, RestoreSysmon must still undo it (setting the original slack on
	// a thread that has it does no harm).
	sysmonTid, origSlack = tid, uint64(orig)
	return func() bool {
		defer restore()
		return waitHandled(sent, 2*time.Millisecond)
	}
}

// RestoreSysmon gives sysmon back the timer slack the main thread had when
// CoarsenSysmon ran, or before fence's entry point coarsened it
// (AdoptEntrySlack); it does nothing if neither coarsened sysmon. Once
// the sandbox runs, sysmon's 20 µs polls are wanted again: they hand the processor of a goroutine blocked in a syscall (the
// guard's SECCOMP_IOCTL_NOTIF_RECV) to the others. It may run on any
// goroutine, once.
//
// sysmon alone is signalled, like CoarsenSysmon does. Threads that sysmon
// started meanwhile inherited its slack and keep it; signalling every
// thread instead was tried, but a signal interrupts a blocking syscall that
// the kernel does not restart (a connect with SO_SNDTIMEO that PID 1's
// guard makes for the command), and the command then got an EINTR it
// never asked for.
func RestoreSysmon() {
	tid := sysmonTid
	if tid == 0 {
		return
	}
	sysmonTid = 0
	if tid == findSysmon {
		if tid = firstThread(unix.Getpid()); tid == 0 {
			return
		}
	}
	restore, ok := borrowSignal(origSlack, tid)
	if !ok {
		return
	}
	defer restore()
	if unix.Tgkill(unix.Getpid(), tid, sysmonSignal) != nil {
		return
	}
	// Off the start path, on a goroutine that may sleep: sysmon may be
	// parked, or waiting for a CPU.
	for range 200 {
		if atomic.LoadUint32(&slackDone) != 0 {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// RestoreSysmonLater runs RestoreSysmon after restoreDelay, on a goroutine
// of its own, if CoarsenSysmon signalled sysmon. Right away, restoring
// beside the running command cost time (a first version, which signalled
// every thread, ~0.4 ms of `fence -- true`); a command that ends sooner
// never pays for it, and one that runs longer has its first moments with
// a slow sysmon only.
func RestoreSysmonLater() {
	if sysmonTid != 0 {
		time.AfterFunc(restoreDelay, RestoreSysmon)
	}
}

// SysmonSlack is the slack fence's two processes ask CoarsenSysmon for:
// sysmon's ticks are then at least 1 ms apart.
const SysmonSlack = time.Millisecond

// restoreDelay is how long after the command's start RestoreSysmonLater
// restores: longer than short commands (git status, a compiler's one
// file) take, short against an agent's or a build's run.
const restoreDelay = 50 * time.Millisecond

// sysmonTid is the thread CoarsenSysmon signalled (findSysmon: sysmon,
// whose id RestoreSysmon looks up, AdoptEntrySlack), origSlack the main
// thread's slack then (0 before); RestoreSysmon undoes it. A thread that
// spawns the init stage sets its own slack to origSlack first
// (spawn_linux.go): it may be one sysmon started. Set and read by the main
// thread during package initialisation, and later by one goroutine.
var (
	sysmonTid int
	origSlack uint64
)

// findSysmon in sysmonTid: sysmon's id is not known yet (firstThread).
const findSysmon = -1

// borrowSignal installs slackHandler for sysmonSignal, to set slack on the
// thread target, and returns the function that puts the previous action
// back.
func borrowSignal(slack uint64, target int) (restore func(), ok bool) {
	act := rawsig.Handled(slackHandlerAddr())
	var old rawsig.Action
	slackNs = slack
	slackTarget = uint64(target)
	atomic.StoreUint32(&slackDone, 0)
	if rawsig.Sigaction(sysmonSignal, &act, &old) != nil {
		return nil, false
	}
	// A signal still pending afterwards goes to the runtime's handler,
	// which drops a real-time signal nobody asked for.
	return func() { _ = rawsig.Sigaction(sysmonSignal, &old, nil) }, true
}

// waitHandled waits until the handler has set the slack, at most max after
// sent (when the signal went out): a signal wakes its thread out of a
// sleep at once, but the thread may have to wait for a CPU.
func waitHandled(sent int64, max time.Duration) bool {
	deadline := sent + int64(max)
	for atomic.LoadUint32(&slackDone) == 0 {
		if Now() > deadline {
			return false
		}
		_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
	return true
}

// signalBlocked reports whether the calling thread blocks sig. The runtime
// starts its threads with the mask the process was started with, minus the
// signals it handles itself.
func signalBlocked(sig unix.Signal) bool {
	var cur uint64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, 0, uintptr(unsafe.Pointer(&cur)), 8, 0, 0); e != 0 {
		return true
	}
	return cur&(1<<(uint(sig)-1)) != 0
}

// sysmonSignal is the signal CoarsenSysmon sends: one the Go runtime does
// not use (it reserves SIGRTMIN+1 for AllThreadsSyscall) and fence does not
// forward.
const sysmonSignal = unix.Signal(64) // SIGRTMAX

// sysmonThread returns the thread id of the runtime's sysmon, or 0 if it
// cannot tell which thread that is. sysmon is the first thread the runtime
// starts (runtime.main, before any package is initialised), and thread ids
// are handed out in increasing order, so it is the smallest id above the
// main thread's; the caller is the main thread (package initialisation
// runs there, locked). In the init process of a PID namespace (fence's
// init stage) that is 2, the namespace's second id; /proc there still
// shows the host's ids. Should the ids have wrapped around pid_max since
// the process started, the order says nothing and 0 is returned.
func sysmonThread() int {
	self := unix.Gettid()
	if self != unix.Getpid() {
		return 0 // not the main thread
	}
	if self == 1 && len(os.Args) > 0 && os.Args[0] == InitArg0 {
		return 2
	}
	return firstThread(self)
}

// firstThread returns the id of the first thread that the process whose
// main thread is main started, sysmon (see sysmonThread), as
// /proc/self/task lists it, or 0 if it cannot tell. Any thread of the
// process may ask. (Not 2 for a main thread of id 1: the init stage that
// fence's entry spawned took that id in a supervisor that is PID 1 of its
// namespace, a container's entry point.)
func firstThread(main int) int {
	first, wrapped := 0, false
	if !forEachThread(func(tid int) {
		switch {
		case tid == main:
		case tid < main:
			wrapped = true
		case first == 0 || tid < first:
			first = tid
		}
	}) || wrapped {
		return 0
	}
	return first
}

// forEachThread calls f with the id of every thread of this process, as
// /proc/self/task lists them, and reports whether it could read the list.
// Raw syscalls into a static buffer: in the supervisor this runs before
// the os package's directory code has been used, and its first use (page
// faults, allocations) took longer than everything else here.
func forEachThread(f func(tid int)) bool {
	dir, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(dir)
	for {
		n, err := unix.Getdents(dir, taskDents[:])
		if err != nil {
			return false
		}
		if n <= 0 {
			return true
		}
		for off := 0; off+19 < n; {
			// struct linux_dirent64: ino, off, reclen (u16), type, name.
			reclen := int(taskDents[off+16]) | int(taskDents[off+17])<<8
			if reclen <= 0 || off+reclen > n {
				return false
			}
			tid := atoi(taskDents[off+19 : off+reclen])
			off += reclen
			if tid > 0 {
				f(tid)
			}
		}
	}
}

// taskDents is forEachThread's buffer: static, so that it allocates
// nothing. Its callers never overlap: CoarsenSysmon runs during package
// initialisation, and RestoreSysmon lists threads only in a process whose
// sysmon the entry coarsened (AdoptEntrySlack), which never calls
// CoarsenSysmon.
var taskDents [2048]byte

// atoi parses a decimal directory name; it returns -1 for anything else
// ("." and "..", which come NUL-terminated, end at the NUL).
func atoi(b []byte) int {
	v := 0
	for i, c := range b {
		if c == 0 {
			if i == 0 {
				return -1
			}
			break
		}
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// Shared with slackHandler.
var (
	slackNs     uint64 // the slack to set
	slackTarget uint64 // the thread to set it on
	slackDone   uint32 // set (counted) once the handler has set it
)

// slackHandler is in sysmon_linux_amd64.s; Go never calls it, the kernel
// does. slackHandlerAddr returns its address.
func slackHandler()
func slackHandlerAddr() uintptr

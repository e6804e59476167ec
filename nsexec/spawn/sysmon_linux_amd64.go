package spawn

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CoarsenSysmon gives the Go runtime's system monitor thread ("sysmon") of
// this process a timer slack of slack, so that its sleeps last at least
// about that long. It sends the request and returns at once; finish waits
// (a bounded time) for it to be done, puts back what CoarsenSysmon changed,
// and reports whether sysmon now has the slack. finish must be called, once.
//
// Why: sysmon polls every 20 µs for as long as the process is busy (and
// keeps doing so while a goroutine sits in a blocking syscall), each poll
// a nanosleep. In a VM every wake-up is a timer interrupt and a context
// switch that trap to the hypervisor, and on two CPUs the polls of the
// supervisor's sysmon took CPU time from the init stage starting beside
// it: `fence -- true` was 0.3–0.7 ms faster with the slack, set before the
// init stage's spawn (docs/benchmarking.md, ninth pass). sysmon's other
// duties tolerate the coarser sleep: it takes a processor back from a
// goroutine blocked in a syscall after ~1 ms instead of 20 µs, and
// preempts a goroutine after 10 ms as before.
//
// How: the slack is per thread, and only a thread itself (or a holder of
// CAP_SYS_NICE) can set it; sysmon runs no code of ours. So sysmon's
// thread is found (sysmonThread) and sent a signal whose handler,
// installed for the moment, makes the prctl. finish restores the signal's
// previous action (the runtime's) exactly. No other thread is signalled,
// and if sysmon cannot be told from the others nothing is done. The caller
// must be the main thread, in package initialisation.
func CoarsenSysmon(slack time.Duration) (finish func() bool) {
	tid := sysmonThread()
	if tid == 0 {
		return func() bool { return false }
	}
	h, r := slackAddrs()
	act := sigaction{
		handler:  h,
		flags:    saOnstack | saRestart | saRestorer,
		restorer: r,
		mask:     ^uint64(0),
	}
	var old sigaction
	slackNs = uint64(slack.Nanoseconds())
	atomic.StoreUint32(&slackDone, 0)
	if rtSigaction(sysmonSignal, &act, &old) != nil {
		return func() bool { return false }
	}
	restore := func() {
		// A signal still pending then goes to the runtime's handler,
		// which drops a real-time signal nobody asked for.
		_ = rtSigaction(sysmonSignal, &old, nil)
	}
	if unix.Tgkill(unix.Getpid(), tid, sysmonSignal) != nil {
		restore()
		return func() bool { return false }
	}
	return func() bool {
		defer restore()
		// The signal wakes sysmon out of its sleep at once; by the time
		// the caller gets here the handler has long run.
		deadline := Now() + int64(2*time.Millisecond)
		for atomic.LoadUint32(&slackDone) == 0 {
			if Now() > deadline {
				return false
			}
			_, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		}
		return atomic.LoadInt64(&slackResult) == 0
	}
}

// sysmonSignal is the signal CoarsenSysmon sends: one the Go runtime does
// not use (it reserves SIGRTMIN+1 for AllThreadsSyscall) and fence does not
// forward.
const sysmonSignal = unix.Signal(64) // SIGRTMAX

// sigaction flags: the handler runs on the thread's signal stack (every
// thread of a Go program has one), interrupted syscalls restart where they
// can, and it returns through restorer (x86-64 requires one).
const (
	saOnstack  = 0x08000000
	saRestart  = 0x10000000
	saRestorer = 0x04000000
)

// sysmonThread returns the thread id of the runtime's sysmon, or 0 if it
// cannot tell which thread that is. sysmon is the first thread the runtime
// starts (runtime.main, before any package is initialised), and thread ids
// are handed out in increasing order, so it is the smallest id above the
// main thread's; the caller is the main thread (package initialisation
// runs there, locked). In the init process of a PID namespace (fence's
// init stage) that is 2, the namespace's second id; /proc there still
// shows the host's ids. Should the ids have wrapped around pid_max since
// the process started, the order says nothing and 0 is returned.
//
// Raw syscalls into a static buffer: this runs before the supervisor has
// used the os package's directory code, whose first use (page faults,
// allocations) took longer than all the rest.
func sysmonThread() int {
	self := unix.Gettid()
	if self != unix.Getpid() {
		return 0 // not the main thread
	}
	if self == 1 {
		return 2
	}
	dir, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(dir)
	first := 0
	for {
		n, err := unix.Getdents(dir, sysmonDents[:])
		if err != nil {
			return 0
		}
		if n <= 0 {
			return first
		}
		for off := 0; off+19 < n; {
			// struct linux_dirent64: ino, off, reclen (u16), type, name.
			reclen := int(sysmonDents[off+16]) | int(sysmonDents[off+17])<<8
			if reclen <= 0 || off+reclen > n {
				return 0
			}
			tid := atoi(sysmonDents[off+19 : off+reclen])
			off += reclen
			switch {
			case tid < 0 || tid == self:
			case tid < self:
				return 0 // wrapped around
			case first == 0 || tid < first:
				first = tid
			}
		}
	}
}

// sysmonDents is sysmonThread's buffer: static, so that it allocates
// nothing.
var sysmonDents [2048]byte

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

// sigaction is the kernel's struct sigaction on amd64: handler, flags,
// restorer, and an 8-byte mask.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

func rtSigaction(sig unix.Signal, act, old *sigaction) error {
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0); e != 0 {
		return e
	}
	return nil
}

// Shared with slackHandler.
var (
	slackNs     uint64
	slackResult int64  // prctl's return value, 0 or -errno
	slackDone   uint32 // set once the handler has run
)

// Implemented in sysmon_linux_amd64.s.
func slackAddrs() (h, r uintptr)

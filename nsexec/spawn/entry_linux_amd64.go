package spawn

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	// Defines fence_prefault_populate, which the entry calls first.
	_ "github.com/nsfence/fence/internal/prefault"
)

// Why fence spawns the init stage from its ELF entry point: the init
// stage's Go runtime start (~5 ms on the 2-core VMs measured) overlapped
// only with the supervisor's work after package early's init, which itself
// waited for the supervisor's runtime start. From the entry, before that
// start, the two runtime starts overlap too: `fence -- true` 1.5 ms sooner
// there (docs/benchmarking.md, "The init stage spawned from the ELF
// entry"). The entry reads the command line only as far as it must (a
// command first, "--" or "-c": see entrySpawn), so the init stage learns
// the network mode from the control socket (AskNetArg), and one spawned
// for a command line that runs no sandbox (fence --version -- x) is
// discarded (DiscardEntry).
//
// The child does what vforkChild does, in assembly, minus what cannot
// apply before the runtime has started: no signal handler is installed
// yet, no descriptor was dup'ed above the ones it places, the open-file
// limit is still fence's starting one.

// entryCloneFlags are the clone flags of the spawn from the entry:
// CloneFlags, the memory shared until the child execs (as a vfork's), the
// child's tid cleared at that exec (entryChildTid), and SIGCHLD at exit.
//
// Not CLONE_VFORK, which held the supervisor until the child's exec and
// then woke it on the CPU where the child went on with its exec and its
// runtime's start: the wake-up left the supervisor waiting there, ready
// to run, ~0.7 ms in most starts while the other CPU was idle
// (docs/benchmarking.md, "The supervisor held after the spawn"). Without
// it the supervisor starts its runtime beside the child's exec; the entry
// moves the child off the supervisor's CPU (a kernel that packs tasks,
// as that VM's does, queued it there, behind the supervisor).
const entryCloneFlags = CloneFlags | unix.CLONE_VM | unix.CLONE_CHILD_CLEARTID | uintptr(unix.SIGCHLD)

// futexWait is FUTEX_WAIT (linux/futex.h), which x/sys/unix lacks.
const futexWait = 0

// entryMaskBytes is the size of the CPU masks the entry uses: 1024 CPUs,
// as glibc's cpu_set_t. Where the kernel has more, sched_getaffinity
// refuses it and the entry leaves the child where the kernel put it.
const entryMaskBytes = 128

// entryChildStackSize is the size of the child's stack (entryChildStack).
const entryChildStackSize = 512

// The capabilities the entry raises as ambient ones: initCaps, as
// constants for the assembly (go_asm.h); TestEntryChild checks the two
// agree.
const (
	capSysAdmin       = unix.CAP_SYS_ADMIN
	capNetAdmin       = unix.CAP_NET_ADMIN
	capNetBindService = unix.CAP_NET_BIND_SERVICE
	capSetpcap        = unix.CAP_SETPCAP
	capDacOverride    = unix.CAP_DAC_OVERRIDE
	capSysChroot      = unix.CAP_SYS_CHROOT
	capSysPtrace      = unix.CAP_SYS_PTRACE
	// entryCapMask is their bits in the first word of the capability
	// sets (all are below 32).
	entryCapMask = 1<<capSysAdmin | 1<<capNetAdmin | 1<<capNetBindService | 1<<capSetpcap |
		1<<capDacOverride | 1<<capSysChroot | 1<<capSysPtrace
)

// entrySlackNs is the timer slack, in ns, that the entry gives the threads
// of both processes before their runtimes start (AdoptEntrySlack).
const entrySlackNs = int64(SysmonSlack)

// entryCheck runs the entry's spawn with argc and argv, for tests of
// command lines it must not spawn for (entry_linux_amd64.s).
func entryCheck(argc uintptr, argv **byte)

// entryPlaceCheck runs the entry's move of the child entryPid off the
// calling thread's CPU (entry_linux_amd64.s), for tests; they set
// entryPid and entryPlace first.
func entryPlaceCheck()

// Written by the entry before the runtime starts, read and cleared by
// FromEntry or DiscardEntry.
var (
	// entryPid is the init stage's pid, or 0 if the entry spawned none.
	entryPid int64
	// entryFDs are the control socket's ends: the supervisor's, the
	// child's (closed in the supervisor right after the clone: the child
	// has its own descriptor table).
	entryFDs [2]int32
	// entryErrno is the errno of the child's step that failed; the child
	// writes it (shared memory) before it exits.
	entryErrno int64
	// entryIgnored has bit n set for each signal n of IgnorableSignals
	// that fence inherited ignored, as its entry found them before the
	// runtime started; entrySigOld is the entry's struct sigaction.
	entryIgnored uint64
	entrySigOld  [4]uint64
	// entryPollFD is the child's struct pollfd for its end of the control
	// socket: it looks, once its parent-death signal is set, whether the
	// supervisor is gone already (see the child in the entry).
	entryPollFD [2]int32
	// entryChildTid is 1 from before the clone until the child has
	// exec'd or exited, when the kernel clears it and wakes its futex
	// (CLONE_CHILD_CLEARTID): then entryErrno is final.
	entryChildTid int32
	// entryChildStack is the child's stack: it runs beside this
	// process's runtime, which uses the stack the entry ran on. The child
	// pushes nothing; the stack is there so that nothing it might push
	// could land on the runtime's.
	entryChildStack [entryChildStackSize / 8]uint64
	// entryCPU is the CPU the supervisor ran on after the clone,
	// entryMask its allowed CPUs, entryAway those less entryCPU: the
	// child's for a moment (see the entry).
	entryCPU             uint32
	entryMask, entryAway [entryMaskBytes / 8]uint64
	// entryPlace orders the child's move with its exec: 0, then 1 while
	// the supervisor moves it and 2 once it has, or 3 if the child
	// reached its exec first (and was not moved).
	entryPlace int32
	// entryPlaced are the results of the two sched_setaffinity calls
	// (0 or -errno), 1 for a call not made.
	entryPlaced = [2]int64{1, 1}
	// entryTimes are two timespecs, before and after the clone.
	entryTimes [4]int64
	// entryOrigSlack is the main thread's timer slack before the entry
	// set entrySlackNs on it, or 0 if the entry spawned nothing.
	entryOrigSlack int64
	// entryCapHeader and entryCapData are the child's capget/capset
	// arguments (version 3, this process).
	entryCapHeader = [2]uint32{unix.LINUX_CAPABILITY_VERSION_3, 0}
	entryCapData   [6]uint32
)

// FromEntry takes over the init stage that fence's entry point spawned,
// if it did (else it returns nil, nil): it maps the caller's ids into its
// user namespace and sends it the network mode. On error the init stage
// is killed and reaped, and the caller spawns one itself.
func FromEntry(hostNetwork bool) (*Child, error) {
	if entryPid == 0 {
		return nil, nil
	}
	pid, fd := int(entryPid), int(entryFDs[0])
	entryPid = 0
	// The child exec'd or exited long ago, as a rule: it had the other
	// CPU while this process started its runtime.
	waitEntryChild()
	if entryErrno != 0 {
		// A step of the child's failed (entry_linux_amd64.s): it has
		// exited, and is reaped, not killed (with SIGCHLD ignored it was
		// reaped already, and its pid may be another's). The caller
		// spawns through Go, which reports what fails.
		unix.Close(fd)
		reap(pid)
		return nil, nil
	}
	c := &Child{Pid: pid, Ctrl: os.NewFile(uintptr(fd), "fence-control"), HostNetwork: hostNetwork,
		T0: entryTimes[0]*1e9 + entryTimes[1], T1: entryTimes[2]*1e9 + entryTimes[3],
		spawned: make(chan error, 1), release: make(chan struct{})}
	err := writeIDMaps(pid, os.Getuid(), os.Getgid())
	if err != nil {
		err = fmt.Errorf("map ids into the sandbox: %w", err)
	} else {
		err = sendMode(fd, hostNetwork)
	}
	if err != nil {
		c.Ctrl.Close()
		killReap(pid)
		return nil, err
	}
	c.spawned <- nil
	return c, nil
}

// EntryPlacement reports how fence's entry point moved the init stage it
// spawned off the supervisor's CPU: tried says it narrowed and gave back
// the init stage's allowed CPUs (where fence may run on more than one,
// and the init stage had not reached its exec first), err the first of
// those calls that failed.
func EntryPlacement() (tried bool, err error) {
	if entryPlaced[0] == 1 {
		return false, nil
	}
	for _, r := range entryPlaced {
		if r < 0 {
			return true, fmt.Errorf("set the init stage's allowed CPUs: %w", unix.Errno(-r))
		}
	}
	return true, nil
}

// waitEntryChild waits until the entry's child has exec'd or exited
// (entryChildTid).
func waitEntryChild() {
	for atomic.LoadInt32(&entryChildTid) != 0 {
		// FUTEX_WAIT, not the private one: the kernel's wake-up at the
		// child's exec or exit is a shared one. EAGAIN (cleared
		// meanwhile) and EINTR go round again.
		_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&entryChildTid)), futexWait, 1, 0, 0, 0)
	}
}

// DiscardEntry ends the init stage that fence's entry point spawned, if
// any, for a command that runs no sandbox: its control socket closed, it
// killed and reaped.
func DiscardEntry() {
	if entryPid == 0 {
		return
	}
	pid := int(entryPid)
	entryPid = 0
	unix.Close(int(entryFDs[0]))
	killReap(pid)
}

// AdoptEntrySlack gives this process's main thread back the timer slack it
// had before fence's entry point set SysmonSlack on it, and reports whether
// the entry had set it: then the runtime's threads started so far, sysmon among
// them, were born with SysmonSlack, and CoarsenSysmon has nothing left to
// do (RestoreSysmonLater still gives sysmon its slack back). initStage
// says which of fence's processes this is: the init stage the entry spawned
// (argv[1] AskNetArg), whose default slack is the supervisor's slack at
// the clone, the caller's, or the supervisor. The caller must be the main
// thread, before it starts any thread: a thread inherits its creator's
// slack, and the command is forked from the init stage's main thread. An
// error means the init stage's main thread kept the coarse slack, which the
// command would inherit: the init stage must not start it.
//
// Why from the entry: CoarsenSysmon can only run once package
// initialisation has begun, and until then each sysmon polled every ~0.12
// ms here, 34 of a start's 64 wake-ups (docs/benchmarking.md, "sysmon's
// slack from birth").
func AdoptEntrySlack(initStage bool) (bool, error) {
	if initStage {
		cur, gerr := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		// Whatever that read says: PR_SET_TIMERSLACK 0 sets the default,
		// the creator's slack when the entry cloned this process, before
		// it changed its own, so this gives back what the entry set and
		// changes nothing where it set nothing.
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0); err != nil {
			return false, fmt.Errorf("give the init stage's main thread the caller's timer slack back: %w", err)
		}
		if gerr != nil || int64(cur) != entrySlackNs {
			return false, nil // the entry's prctl did not take (SCHED_FIFO)
		}
		orig, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err != nil || orig <= 0 {
			return false, nil // given back, but not known: sysmon is left as it is
		}
		// sysmon is the runtime's first thread: 2 in a new PID namespace.
		sysmonTid, origSlack = 2, uint64(orig)
		return true, nil
	}
	orig := entryOrigSlack
	entryOrigSlack = 0
	if orig <= 0 {
		return false, nil
	}
	// Even if what follows fails: a thread that spawns an init stage
	// itself gives itself this slack first (spawn_linux.go).
	origSlack = uint64(orig)
	if cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err != nil || int64(cur) != entrySlackNs {
		return false, nil // the entry's prctl did not take
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(orig), 0, 0, 0); err != nil {
		return false, fmt.Errorf("give the supervisor's main thread its timer slack back: %w", err)
	}
	// sysmon's thread id is looked up when its slack is restored, off the
	// start path (RestoreSysmon).
	sysmonTid = findSysmon
	return true, nil
}

// InheritedIgnored reports whether fence inherited sig ignored (SIG_IGN)
// from its caller, for a signal of IgnorableSignals: the runtime has
// installed its own handler over that ignore since, and signal.Ignored
// does not tell (it does for SIGHUP and SIGINT, whose ignore the runtime
// keeps).
func InheritedIgnored(sig syscall.Signal) bool {
	return sig > 0 && sig < 64 && entryIgnored&(1<<uint(sig)) != 0
}

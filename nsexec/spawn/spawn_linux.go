package spawn

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CloneFlags are the namespaces the clone of the init stage creates. A
// sandbox that does not share the host's network gets a network namespace
// too, which the init stage creates itself (nsexec's startEarly): the
// kernel's ~0.7 ms for it then overlaps with the init stage's start-up
// instead of delaying it.
const CloneFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS

// initCaps are the capabilities the init stage needs inside its user
// namespace, and all it keeps, whoever the caller: the vfork spawn gives it
// no more (see forkInit), and where ForkExec's maps the ids before the
// exec (forkExecInit), the init stage lowers its sets to these at the
// start of its Init (nsexec's trimCapabilities). Mounts and
// pivot_root (SYS_ADMIN), lo (NET_ADMIN), listeners on ports below 1024
// inside the sandbox (httpProxyPort 80, allowLocalOutboundPorts 443:
// NET_BIND_SERVICE), dropping the bounding set (SETPCAP), creating mount
// points in directories it does not own (DAC_OVERRIDE), and devpts/dev
// binds (MKNOD is not needed: we bind host device nodes). SYS_PTRACE is
// what the guard's ptracer keeps, alone, to read a non-dumpable caller's
// memory (see nsexec/ptrace_linux.go). All of them act inside the
// sandbox's own namespaces only, and PID 1 drops them before the command
// starts.
var initCaps = []uintptr{
	unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN, unix.CAP_NET_BIND_SERVICE, unix.CAP_SETPCAP,
	unix.CAP_DAC_OVERRIDE, unix.CAP_SYS_CHROOT, unix.CAP_SYS_PTRACE,
}

// InitCapMask is initCaps as a capability set (bit n for capability n),
// for the init stage to keep no more than them (see nsexec's Init).
func InitCapMask() uint64 {
	var m uint64
	for _, c := range initCaps {
		m |= 1 << c
	}
	return m
}

// Child is an init stage that has been spawned and waits for its policy on
// Ctrl. Until Wait has returned nil, Pid and Ctrl must not be used.
type Child struct {
	Pid         int
	Ctrl        *os.File // the supervisor's end of the control socket
	HostNetwork bool
	// T0 and T1 are Now() before and after the clone (FENCE_TIMELINE).
	T0, T1  int64
	spawned chan error    // receives the clone result once
	release chan struct{} // closed when the spawning thread may exit
	once    sync.Once     // closes release
	err     error
	waited  bool
}

// Start creates the namespaces and starts the init stage. nil stdio means
// the caller's own. Called on the main thread (package init functions run
// there; main starts there but may move), it returns once the init stage
// runs;
// elsewhere the clone runs on a dedicated thread that stays alive until
// Release (Pdeathsig fires when the spawning thread exits), and Start
// returns at once. Wait reports the clone's result.
func Start(hostNetwork bool, stdin, stdout, stderr *os.File) (*Child, error) {
	return start(hostNetwork, stdin, stdout, stderr, false)
}

// StartFromInit is Start with the caller's stdio, for a package init
// function only. All init functions run on the startup thread, where the
// runtime keeps them (runtime.LockOSThread's documentation), so the clone
// needs no runtime.LockOSThread of its own: that call would also start the
// runtime's template thread, one more thread for the supervisor to create
// and, at exit, to tear down.
func StartFromInit(hostNetwork bool) (*Child, error) {
	return start(hostNetwork, nil, nil, nil, true)
}

func start(hostNetwork bool, stdin, stdout, stderr *os.File, inInit bool) (*Child, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create control socket: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "fence-control")
	child := os.NewFile(uintptr(fds[1]), "fence-control-child")

	// The files stay referenced until the fork (runtime.KeepAlive below):
	// only their numbers go to the child, and a finalizer must not close
	// them first.
	stdio := [3]*os.File{orStd(stdin, os.Stdin), orStd(stdout, os.Stdout), orStd(stderr, os.Stderr)}
	spec := initSpec{
		uid: os.Getuid(),
		gid: os.Getgid(),
		// The control socket becomes fd 3 (ControlFD).
		files: [4]int{int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd()), int(child.Fd())},
	}
	// The network mode follows on the control socket (spawnInit).
	spec.args = []string{InitArg0, StartArg}
	c := &Child{Ctrl: parent, HostNetwork: hostNetwork, T0: Now(),
		spawned: make(chan error, 1), release: make(chan struct{})}
	// What the caller ignored, the init stage inherits ignored, as from
	// the entry's clone (which precedes the runtime's handlers): the exec
	// keeps an ignore and resets a handler.
	reignoreInherited()
	// Pdeathsig is tied to the thread that forks, not to the process. The
	// Go runtime never ends the main thread before the process, so a clone
	// from there needs nothing more; on a 2-core machine this synchronous
	// clone is also faster than a clone from a fresh thread racing the
	// caller's start-up for the CPUs. Package init functions run on the
	// main thread (the runtime keeps it locked during initialisation).
	if !inInit {
		runtime.LockOSThread()
	}
	if unix.Gettid() == unix.Getpid() {
		if err := callerSlack(); err != nil {
			if !inInit {
				runtime.UnlockOSThread()
			}
			child.Close()
			parent.Close()
			return nil, err
		}
		pid, err := spawnInit(&spec, int(parent.Fd()), hostNetwork)
		if !inInit {
			runtime.UnlockOSThread()
		}
		runtime.KeepAlive(stdio)
		child.Close()
		c.Pid = pid
		c.T1 = Now()
		c.spawned <- err
		return c, nil // nothing waits for release
	}
	if !inInit {
		runtime.UnlockOSThread()
	}
	// Elsewhere a dedicated goroutine locks a thread for the clone and
	// keeps it until release, so the thread cannot end (a goroutine that
	// exits while locked ends its thread) while the sandbox runs.
	go func() {
		runtime.LockOSThread()
		// This may be a thread that sysmon started while CoarsenSysmon's
		// slack was on it. The thread ends with the sandbox.
		if err := callerSlack(); err != nil {
			child.Close()
			c.spawned <- err
			return
		}
		pid, err := spawnInit(&spec, int(parent.Fd()), hostNetwork)
		runtime.KeepAlive(stdio)
		child.Close()
		c.Pid = pid
		c.T1 = Now()
		c.spawned <- err
		if err == nil {
			<-c.release
		}
		// Returning while locked ends the thread: intended.
	}()
	return c, nil
}

// spawnInit starts the init stage (forkInit), whose ids are then mapped,
// and sends it its network mode on ctrl, the supervisor's end of the
// control socket. On error nothing is left running.
func spawnInit(spec *initSpec, ctrl int, hostNetwork bool) (int, error) {
	pid, err := forkInit(spec)
	if err != nil {
		return 0, err
	}
	if err := sendMode(ctrl, hostNetwork); err != nil {
		killReap(pid)
		return 0, err
	}
	return pid, nil
}

// sendMode sends an init stage (StartArg or AskNetArg) its network mode on
// ctrl. Only once its ids are mapped: the init stage waits for it before
// its first step (StartArg).
func sendMode(ctrl int, hostNetwork bool) error {
	mode := []byte{ModeNetNS}
	if hostNetwork {
		mode[0] = ModeHost
	}
	if _, err := unix.Write(ctrl, mode); err != nil {
		return fmt.Errorf("send the network mode to the init stage: %w", err)
	}
	return nil
}

// Wait returns the result of the clone; it may be called more than once,
// from one goroutine at a time. After an error, Ctrl is closed.
func (c *Child) Wait() error {
	if !c.waited {
		c.waited = true
		if c.err = <-c.spawned; c.err != nil {
			c.Ctrl.Close()
		}
	}
	return c.err
}

// Release lets the thread that cloned the init stage exit. Call it once
// the init stage has exited, never before (its Pdeathsig would kill it);
// calls after the first do nothing.
func (c *Child) Release() { c.once.Do(func() { close(c.release) }) }

// initSpec is the init stage to start: forkInit's argument.
type initSpec struct {
	uid, gid int    // the caller's, mapped to themselves
	files    [4]int // become the init stage's fds 0-3
	args     []string
}

// initEnv is the init stage's whole environment. GOMAXPROCS=2, whatever
// the machine: the init stage's set-up runs on two threads at once (the
// network namespace on the ptracer's, the mounts on the main one; with one
// P they would take turns), and more Ps would only start more threads.
// The collector keeps its default: set-up allocates far less than the
// runtime's 4 MB first goal, and turning it off would need runtime/debug
// to turn it back on, a package whose place in the initialisation order
// would make the init stage wait for most of the supervisor's packages
// (cmd/fence/internal/stage). The command's environment travels in the
// policy.
var initEnv = []string{"GOMAXPROCS=2"}

func orStd(f, std *os.File) *os.File {
	if f != nil {
		return f
	}
	return std
}

// Now returns CLOCK_MONOTONIC in nanoseconds, comparable across the
// supervisor and the init stage (FENCE_TIMELINE).
func Now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// callerSlack gives the calling thread, which is about to spawn an init
// stage, the timer slack the caller started fence with (origSlack), if
// fence changed any (CoarsenSysmon, AdoptEntrySlack): the init stage
// inherits it as its default, and the command, forked from the init
// stage's main thread, must have the caller's.
func callerSlack() error {
	s := origSlack
	if s == 0 {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(s), 0, 0, 0); err != nil {
		return fmt.Errorf("give the thread that spawns the init stage the caller's timer slack: %w", err)
	}
	return nil
}

// killReap kills a child that must not run on and reaps it.
func killReap(pid int) {
	_ = unix.Kill(pid, unix.SIGKILL)
	reap(pid)
}

func reap(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// reignoreInherited sets SIG_IGN again, behind the runtime's back, for each
// of IgnorableSignals that fence inherited ignored (InheritedIgnored).
func reignoreInherited() {
	act := [4]uint64{1} // SIG_IGN; the kernel's struct sigaction on amd64 and arm64
	for _, sig := range IgnorableSignals {
		if InheritedIgnored(sig) {
			unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
		}
	}
}

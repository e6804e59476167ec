package nsexec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/nsfence/fence/netns"
	"github.com/nsfence/fence/nsexec/landlock"
	"github.com/nsfence/fence/nsexec/seccomp"
	"github.com/nsfence/fence/nsexec/sigfwd"
	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// Init is the init stage. It runs as PID 1 of the sandbox's namespaces, sets
// the sandbox up as the Options received on the control socket say, starts
// the command, reaps, and exits with the command's status. It never returns.
// Failures before the command starts are reported to the supervisor and end
// with exit status 255.
func Init() {
	// Nothing before this check: the binary run under
	// argv[0] "fence-init" by hand is no sandbox's PID 1, and no
	// supervisor reads a report.
	if err := ownStage(os.Args, unix.Getpid()); err != nil {
		fmt.Fprintf(os.Stderr, "fence: not an init stage that fence started: %v\n", err)
		os.Exit(255)
	}
	// Before LockOSThread, whose template thread inherits this thread's
	// timer slack, and long before the command, forked from this thread,
	// does: the caller's slack back where fence's entry point gave this
	// stage a coarse one (its threads so far, sysmon first, keep it).
	// An error is reported once the policy is read (capErr below).
	bornCoarse, slackErr := spawn.AdoptEntrySlack(len(os.Args) > 1 && os.Args[1] == spawn.AskNetArg)
	// Everything below changes per-thread state (capabilities, no_new_privs,
	// seccomp without TSYNC); the command is forked from this thread.
	runtime.LockOSThread()
	// PID 1's sysmon would poll every 20 µs through the whole set-up, on
	// two CPUs shared with the supervisor (spawn.CoarsenSysmon). It takes
	// effect when sysmon's thread handles the request, which finishSysmon
	// waits for: called once the set-up is over, not here, where the wait
	// (sysmon's thread may need this CPU) delayed reading the policy, by
	// up to its 2 ms bound on a busy machine. An init stage that the
	// entry spawned was born with the slack.
	finishSysmon := func() bool { return true }
	if !bornCoarse {
		finishSysmon = spawn.CoarsenSysmon(spawn.SysmonSlack)
	}
	tl := timeline{{"init-main", Now()}}
	// No more capabilities than initCaps, on every thread, before any
	// work: the vfork spawn execs this stage with its ids unmapped, which
	// leaves it initCaps (ambient) alone, but ForkExec's (arm64, and
	// amd64 where root may run the binary only through CAP_DAC_OVERRIDE)
	// maps them first, and a root caller's stage then starts as root of
	// its namespace, with every capability over every host file the ids
	// map (CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SETUID, ...). Reported
	// once the policy is read, as closeErr is.
	capErr := trimCapabilities(spawn.InitCapMask())
	// Only stdin, stdout and stderr reach the command, and the pipes the
	// supervisor passes on (PassFilesLater). The control socket came as fd 3,
	// which is not close-on-exec (with it the command could talk to the
	// supervisor and to PID 1), and any fd fence itself inherited without
	// close-on-exec would carry host access (a directory fd escapes every
	// mount) into the sandbox.
	// Reported once the policy is read (below): an init stage that exits
	// before the supervisor has sent it leaves the supervisor nothing but
	// a closed socket. Nothing is executed before then.
	closeErr := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	// Before the first step of the set-up: the mode comes once this
	// stage's ids are mapped (spawn.StartArg).
	newNetns, modeErr := networkMode(controlFD)
	if errors.Is(modeErr, io.EOF) {
		os.Exit(255) // the supervisor discarded an init stage it did not need
	}
	// Until the policy arrives the init stage would sit idle while the
	// supervisor loads its config: do the policy-independent work now.
	var early *early
	if modeErr == nil {
		early = startEarly(newNetns)
	}
	o, err := readOptions(controlFD)
	// Non-blocking from here, so that reads wait in the runtime's poller
	// and never hold one of PID 1's two Ps in a blocking syscall.
	if err := unix.SetNonblock(controlFD, true); err != nil {
		os.Exit(255)
	}
	ctrl := os.NewFile(controlFD, "fence-control")
	if errors.Is(err, io.EOF) {
		os.Exit(255) // the supervisor aborted a pending sandbox
	}
	if err != nil {
		fail(ctrl, fmt.Errorf("read policy: %w", err))
	}
	if closeErr != nil {
		fail(ctrl, fmt.Errorf("close the descriptors fence inherited before the command starts: close_range(CLOSE_RANGE_CLOEXEC): %w (it needs Linux 5.11; a seccomp profile may refuse it)", closeErr))
	}
	if slackErr != nil {
		fail(ctrl, slackErr)
	}
	if capErr != nil {
		fail(ctrl, capErr)
	}
	if modeErr != nil {
		fail(ctrl, modeErr)
	}
	tl.mark("policy-received")
	if o.HostNetwork == newNetns {
		fail(ctrl, errors.New("init stage started with the wrong network mode"))
	}
	listeners, err := setup(o, early, &tl, func() ([]string, error) { return readNoExec(controlFD) })
	if err != nil {
		fail(ctrl, err)
	}
	if o.FilesFollow {
		// Sent while the sandbox was built: here long since.
		if passedAt, passed, err = readFiles(controlFD); err != nil {
			fail(ctrl, fmt.Errorf("read the pipes to pass on: %w", err))
		}
	}
	// Before run's RestoreSysmonLater, which borrows the same signal.
	if finishSysmon() {
		tl.mark("init-sysmon")
	}
	cmd, err := prepareCommand(o)
	if err != nil {
		fail(ctrl, err)
	}
	if !o.Timeline {
		tl = nil
	}
	tl.mark("exec")
	// Ready goes out before the command starts, with the listener fds, so
	// the supervisor is serving by the time the command connects.
	if err := sendReady(ctrl, listeners, tl); err != nil {
		os.Exit(255)
	}
	if o.HoldStart && waitStart(ctrl) != nil {
		os.Exit(255) // the supervisor is gone or confused: never start
	}
	os.Exit(run(ctrl, cmd, o))
}

// startCaps is the init stage's permitted capability set once
// trimCapabilities has run (-d prints it).
var startCaps uint64

// trimCapabilities lowers every thread's permitted, effective and
// inheritable sets to their part in mask, where the permitted set holds
// more (the ambient set follows), and records the permitted set in
// startCaps. Where it holds no more, one capget is all it costs.
func trimCapabilities(mask uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData // capabilities 0-31, 32-63
	if err := unix.Capget(&hdr, &d[0]); err != nil {
		return fmt.Errorf("read the init stage's capabilities: %w", err)
	}
	join := func(lo, hi uint32) uint64 { return uint64(lo) | uint64(hi)<<32 }
	permitted := join(d[0].Permitted, d[1].Permitted)
	startCaps = permitted & mask
	if permitted&^mask == 0 {
		return nil
	}
	effective := join(d[0].Effective, d[1].Effective) & mask
	inheritable := join(d[0].Inheritable, d[1].Inheritable) & mask
	d[0].Permitted, d[1].Permitted = uint32(startCaps), uint32(startCaps>>32)
	d[0].Effective, d[1].Effective = uint32(effective), uint32(effective>>32)
	d[0].Inheritable, d[1].Inheritable = uint32(inheritable), uint32(inheritable>>32)
	if _, _, e := psx.Syscall3(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&d[0])), 0); e != 0 {
		return fmt.Errorf("lower the init stage's capabilities to the ones it needs: %w", e)
	}
	return nil
}

// ownStage checks that this process is an init stage that fence spawned:
// argv[0] alone (IsInit) says so, and anyone may set that. Run by root
// outside the namespaces, Init's first steps (startEarly) would make the
// host's mounts private.
func ownStage(args []string, pid int) error {
	if len(args) < 2 || (args[1] != spawn.AskNetArg && args[1] != spawn.StartArg) {
		return fmt.Errorf("arguments %q are not those fence starts its init stage with", args[1:])
	}
	if pid != 1 {
		return fmt.Errorf("it runs as pid %d, not as PID 1 of a sandbox's PID namespace", pid)
	}
	return nil
}

// networkMode reports whether this init stage creates a network namespace
// for the sandbox: the first packet on the control socket fd, one byte
// that the supervisor sends once the stage's ids are mapped and it knows
// the mode (spawn.StartArg, spawn.AskNetArg). io.EOF means the supervisor
// closed the socket instead.
func networkMode(fd int) (bool, error) {
	var b [2]byte
	n, err := retryEINTR(func() (int, error) { return unix.Read(fd, b[:]) })
	switch {
	case err != nil:
		return false, fmt.Errorf("read the network mode: %w", err)
	case n == 0:
		return false, io.EOF
	case n == 1 && b[0] == spawn.ModeNetNS:
		return true, nil
	case n == 1 && b[0] == spawn.ModeHost:
		return false, nil
	}
	return false, fmt.Errorf("read the network mode: unexpected %q", b[:n])
}

// readOptions reads the policy from the control socket fd with blocking
// calls on this (locked) thread. Not through the runtime's poller: while
// this thread is locked and the ptracer's thread is locked to its loop,
// no thread of PID 1 may be waiting in epoll, and a policy that arrived
// was noticed only at sysmon's next poll, coarsened to a millisecond
// (0.3–0.5 ms later; a blocking read wakes ~0.05 ms after the send).
func readOptions(fd int) (*Options, error) {
	m, err := readWhole(func() (message, error) { return readPacket(fd) }, typeOptions)
	if err != nil {
		return nil, err
	}
	if m.Options == nil {
		return nil, errors.New("policy message without options")
	}
	return m.Options, nil
}

// dropInherited closes PID 1's copies of the pipes passed on (numbers, as
// the supervisor has them) that it inherited at the same numbers: held
// here for the sandbox's life, one kept its reader from seeing the end of
// its input when the command closed it. A number is closed only where it
// holds the very pipe that came in passed: PID 1 may have its own
// descriptor there (not every spawn leaves fence's descriptors to it, and
// its runtime opens some before Init, epoll's for a non-blocking stderr),
// and never where a copy that came in landed (a descriptor the caller had
// close-on-exec, which PID 1 did not inherit, can arrive at its number).
//
// numbers and fds are one message's; received, every copy that came in so
// far.
func dropInherited(numbers, fds, received []int) {
	for i, n := range numbers {
		var have, got unix.Stat_t
		if n == controlFD || slices.Contains(received, n) || unix.Fstat(n, &have) != nil || unix.Fstat(fds[i], &got) != nil {
			continue
		}
		if have.Dev == got.Dev && have.Ino == got.Ino {
			unix.Close(n)
		}
	}
}

// passed are PID 1's copies of the pipes passed on, in the order of
// passedAt, their numbers for the command (readFiles): close-on-exec here,
// placed at their numbers in the command only.
var passed, passedAt []int

// readFiles reads the msgFiles (Options.FilesFollow) from the control
// socket fd, non-blocking by then, waiting for them as readNoExec does, and
// returns the numbers they give and the descriptors they carry,
// close-on-exec. The first says how many in all (Seq): a message carries
// at most filesPerMessage.
func readFiles(fd int) (numbers, fds []int, err error) {
	total := -1
	for total < 0 || len(numbers) < total {
		n, f, seq, err := readFilesMessage(fd)
		fds = append(fds, f...)
		if err == nil && total < 0 {
			total = seq
		}
		if err == nil && len(numbers)+len(n) > total {
			err = fmt.Errorf("%d descriptors to pass on arrived, %d announced", len(numbers)+len(n), total)
		}
		if err != nil {
			for _, f := range fds {
				unix.Close(f)
			}
			return nil, nil, err
		}
		// At once, not after the last message: PID 1 holds both copies
		// of each pipe until then.
		dropInherited(n, f, fds)
		numbers = append(numbers, n...)
	}
	return numbers, fds, nil
}

// readFilesMessage reads one msgFiles for readFiles.
func readFilesMessage(fd int) (numbers, fds []int, total int, err error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*filesPerMessage))
	var got, oobn, flags int
	for {
		got, oobn, flags, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != unix.EAGAIN {
			break
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
			return nil, nil, 0, err
		}
	}
	if err != nil {
		return nil, nil, 0, err
	}
	if got == 0 {
		return nil, nil, 0, io.EOF
	}
	if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, scm := range scms {
			if r, err := unix.ParseUnixRights(&scm); err == nil {
				fds = append(fds, r...)
			}
		}
	}
	m, err := decodeMessage(buf[:got])
	switch {
	case err != nil:
	case m.Type != typeFiles:
		err = fmt.Errorf("unexpected message %q", m.Type)
	case flags&(unix.MSG_CTRUNC|unix.MSG_TRUNC) != 0 || len(fds) != len(m.FDs):
		err = fmt.Errorf("%d descriptors arrived for %d numbers", len(fds), len(m.FDs))
		var lim unix.Rlimit
		if flags&unix.MSG_CTRUNC != 0 && unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
			err = fmt.Errorf("%w: the sandbox ran out of file descriptors (its open-file limit, ulimit -n, is %d); raise it, or start fence with fewer pipes open", err, lim.Cur)
		}
	}
	return m.FDs, fds, m.Seq, err
}

// readNoExec reads msgNoExec, the denied programs' paths that follow the
// Options when FS.NoExecFollows, from the control socket fd, non-blocking
// by then. Anything else is an error: the tree is not finished without
// them. The wait, if any, is a blocking poll on this thread, as
// readOptions' read is, not the runtime's poller.
func readNoExec(fd int) ([]string, error) {
	m, err := readWhole(func() (message, error) {
		for {
			m, err := readPacket(fd)
			if !errors.Is(err, unix.EAGAIN) {
				return m, err
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return message{}, err
			}
		}
	}, typeNoExec)
	return m.Paths, err
}

// readWhole reads one whole message of type want with read, a packet at a
// time (a large one comes in typePart packets); any other message is an
// error.
func readWhole(read func() (message, error), want msgType) (message, error) {
	var pt parts
	for {
		m, err := read()
		if err != nil {
			return message{}, err
		}
		m, done, err := pt.add(m)
		if err != nil {
			return message{}, err
		}
		if done {
			if m.Type != want {
				return message{}, fmt.Errorf("unexpected message %q", m.Type)
			}
			return m, nil
		}
	}
}

// readPacket reads one packet of the policy (readOptions, readNoExec).
func readPacket(fd int) (message, error) {
	// Peek at the packet's size first: a maxPacket buffer would be fresh
	// pages to fault in, on every start, for a policy of a few KiB.
	var b [1]byte
	size, err := retryEINTR(func() (int, error) {
		n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_TRUNC)
		return n, err
	})
	if err != nil {
		return message{}, err
	}
	if size == 0 {
		return message{}, io.EOF
	}
	if size > maxMessage {
		return message{}, fmt.Errorf("policy message of %d bytes exceeds %d", size, maxMessage)
	}
	buf := make([]byte, size)
	n, err := retryEINTR(func() (int, error) { return unix.Read(fd, buf) })
	if err != nil {
		return message{}, err
	}
	if n == 0 {
		return message{}, io.EOF
	}
	return decodeMessage(buf[:n])
}

// retryEINTR calls f until it fails with something other than EINTR.
func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}

// waitStart waits for msgStart (Options.HoldStart). Nothing else may come
// first: the supervisor sends signals and connect requests only later.
func waitStart(ctrl *os.File) error {
	buf := make([]byte, 256)
	n, err := ctrl.Read(buf)
	if err != nil {
		return err
	}
	if n == 0 {
		return io.EOF
	}
	m, err := decodeMessage(buf[:n])
	if err != nil {
		return err
	}
	if m.Type != typeStart {
		return fmt.Errorf("unexpected message %q before the command started", m.Type)
	}
	return nil
}

func fail(ctrl *os.File, err error) {
	b := encodeMessage(message{Type: typeError, Err: err.Error()})
	_, _ = ctrl.Write(b)
	os.Exit(255)
}

// timeline collects Stages; a nil timeline records nothing.
type timeline []Stage

func (t *timeline) mark(name string) {
	if *t != nil {
		*t = append(*t, Stage{name, Now()})
	}
}

// Now returns CLOCK_MONOTONIC in nanoseconds (see spawn.Now).
func Now() int64 { return spawn.Now() }

func sendReady(ctrl *os.File, listeners []*os.File, tl timeline) error {
	b := encodeMessage(message{Type: typeReady, Listeners: len(listeners), Stages: tl})
	if ptyMaster != nil {
		// PID 1 keeps no master: the pseudo-terminal hangs up once
		// the supervisor is gone.
		listeners = append(listeners, ptyMaster)
		ptyMaster = nil
	}
	var oob []byte
	if len(listeners) > 0 {
		fds := make([]int, len(listeners))
		for i, f := range listeners {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	// controlFD, not ctrl.Fd(): Fd would switch the socket back to
	// blocking mode.
	err := unix.Sendmsg(controlFD, b, oob, nil, 0)
	for _, f := range listeners {
		f.Close()
	}
	return err
}

// newNetworkNamespace moves the calling thread, alone, into a new network
// namespace, brings its lo up, and returns an fd of the namespace. The
// caller's goroutine must be locked to its thread and stay so.
func newNetworkNamespace() (int, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("create the sandbox's network namespace: %w (the kernel refused a new network namespace; see README#troubleshooting)", err)
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the sandbox's network namespace: %w", err)
	}
	if err := netns.LoopbackUp(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// early is the policy-independent work done before the policy arrives.
type early struct {
	tracer *ptracer // started, not yet trusted with a capability
	// netns is an fd of the sandbox's network namespace, created on PID
	// 1's main thread (see startEarly); -1 when the sandbox shares the
	// host's network or netErr says why it could not be created.
	netns  int
	netErr error
	// root is the policy-independent start of the sandbox's tree
	// (prepareRoot), made on PID 1's main thread too.
	root *rootPrep
}

func startEarly(newNetns bool) *early {
	e := &early{netns: -1}
	// The ptracer's thread costs a thread start: started now, it comes up
	// while PID 1 reads the policy and builds the mounts. It must exist
	// before the capabilities are dropped (dropCapabilities waits for it).
	e.tracer = startPtracer()
	// PID 1 must survive the terminal's SIGINT/SIGQUIT/SIGHUP (delivered to
	// the whole foreground group) and anything the command sends it; the
	// command gets those signals itself, and the supervisor forwards the
	// rest over the control socket. The Go runtime installed handlers that
	// exit or dump on them. They are set to SIG_IGN behind its back instead:
	// signal.Notify would do the job at about 0.2 ms per signal (a round
	// trip through the runtime's signal-mask thread, with this thread
	// locked). Not SIG_DFL, although the kernel drops SIG_DFL signals to a
	// PID namespace's init: while a thread blocks a signal (every signal,
	// during a fork) the kernel queues it instead and hands it to another
	// thread, where SIG_DFL is fatal. The command does not inherit these
	// SIG_IGN: the forked child resets every signal the runtime handles to
	// SIG_DFL before exec (TestCommandSignalDispositions). SIGHUP and SIGINT
	// that PID 1 inherited ignored (fence under nohup or in a background
	// job) the runtime never handled, so they stay ignored for the command,
	// as for any child of fence.
	ignored := []unix.Signal{unix.SIGINT, unix.SIGQUIT, unix.SIGHUP, unix.SIGTERM,
		unix.SIGUSR1, unix.SIGUSR2, unix.SIGPIPE, unix.SIGALRM, unix.SIGABRT}
	for _, sig := range ignored {
		if err := ignoreSignal(sig); err != nil {
			// A platform where the raw call does not fit: the slow,
			// portable way.
			c := make(chan os.Signal, 8)
			ss := make([]os.Signal, len(ignored))
			for i, s := range ignored {
				ss[i] = s
			}
			signal.Notify(c, ss...)
			go func() {
				for range c {
				}
			}()
			break
		}
	}
	// The runtime treats these as faults and crashes on them. Sent by a
	// process (kill, tgkill) they are not faults: signal.Ignore makes the
	// runtime drop those, while a real fault still panics. It changes no
	// disposition and costs no round trip.
	signal.Ignore(unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP,
		unix.SIGSYS, sigStkflt)
	// A signal fence's caller ignored (trap '' PIPE TERM, systemd's
	// SIGPIPE) stays ignored for the command: the fork resets to SIG_DFL
	// only what the runtime handles.
	sigfwd.KeepInheritedIgnores()
	// The sandbox's network namespace, on this thread, while the
	// supervisor still plans: PID 1 would otherwise wait for the policy
	// here. Creating one takes ~0.7 ms of the kernel's time, and bringing
	// lo up can wait for the kernel's rtnl lock (the asynchronous
	// teardown of earlier namespaces takes it). Not in the clone, which
	// the supervisor makes (that time would be its own), nor before this
	// runtime starts (the mode is not known then, and the host's
	// namespace cannot be entered again from this user namespace:
	// docs/benchmarking.md, "The supervisor held after the spawn"), and
	// not on a thread of its own: a thread started now waits for a CPU,
	// both being busy with the two runtimes' start, and was seen to run
	// ~1 ms later, after the mounts ("The network namespace on PID 1's
	// main thread"). setup moves every other thread into it before
	// anything uses the network (joinNetwork).
	if newNetns {
		e.netns, e.netErr = newNetworkNamespace()
	}
	// The part of the tree that no policy changes (prepareRoot), /dev and
	// /proc included: after the policy, PID 1's mounts were the start's
	// critical path. After the network namespace or before it measured
	// the same (docs/benchmarking.md, "/dev and /proc built before the
	// policy").
	e.root = prepareRoot(!newNetns)
	return e
}

// ignoreSignal sets sig's disposition to SIG_IGN behind the Go runtime's
// back. The kernel struct sigaction is {handler, flags, restorer, mask} on
// amd64 and arm64, with an 8-byte mask; SIG_IGN is handler 1.
func ignoreSignal(sig unix.Signal) error {
	act := [4]uint64{1}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
		return fmt.Errorf("ignore %v: %w", sig, e)
	}
	return nil
}

// joinNetwork moves every other thread of PID 1 into the sandbox's
// network namespace, which startEarly created with lo up on this thread,
// at once (AllThreadsSyscall), and opens the proxies' listeners there: the
// listeners, the command forked from this thread, and the connects made
// for -p on any thread must all be inside it, and so must any thread the
// runtime starts later (a thread inherits its creator's). setns needs
// CAP_SYS_ADMIN, and listeners need lo up and capabilities: this precedes
// the capability drop. It needs nothing of the mount tree, and is done
// while PID 1 would otherwise wait for the denied programs (setup).
func joinNetwork(o *Options, e *early) ([]*os.File, error) {
	if e.netErr != nil {
		return nil, e.netErr
	}
	if e.netns < 0 {
		return nil, errors.New("no network namespace was created for the sandbox")
	}
	if _, _, errno := psx.Syscall3(unix.SYS_SETNS, uintptr(e.netns), unix.CLONE_NEWNET, 0); errno != 0 {
		return nil, fmt.Errorf("enter the sandbox's network namespace: %w", errno)
	}
	unix.Close(e.netns)
	e.netns = -1
	var listeners []*os.File
	for _, addr := range o.Listeners {
		f, err := netns.Listen(addr)
		if err != nil {
			closeAll(listeners)
			return nil, err
		}
		listeners = append(listeners, f)
	}
	return listeners, nil
}

// stderr is PID 1's: see RawStderr.
var stderr RawStderr

// setup performs every privileged step, in the only safe order, and leaves
// the init stage with no capabilities, no_new_privs, Landlock and seccomp.
func setup(o *Options, e *early, tl *timeline, readNoExec func() ([]string, error)) ([]*os.File, error) {
	// Non-dumpable first: until the capabilities are gone, nothing in the
	// sandbox may ptrace or read /proc/1/mem of this process.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("set non-dumpable: %w", err)
	}
	// The working directory PID 1 inherited from fence, before buildRoot
	// moves it (staged root): what Dir must be inside (DirIsOwn).
	var own unix.Stat_t
	if o.DirIsOwn {
		if err := unix.Stat(".", &own); err != nil {
			return nil, fmt.Errorf("look at the working directory fence was started in: %w", err)
		}
	}
	// Before buildRoot, whose sandbox /dev covers the host's, through
	// which a passed-through terminal is cloned.
	stdio := cloneStdio(o.PTY)
	// Mounts need CAP_SYS_ADMIN and must precede Landlock, which forbids
	// changes to the mount topology.
	var listeners []*os.File
	joined := o.HostNetwork
	var joinErr error
	noExec := func() ([]string, error) {
		// While the supervisor still looks the denied programs up, where
		// PID 1 waited ~0.2 ms for them: its threads into the network
		// namespace, and the listeners (joinNetwork).
		if !joined {
			joined = true
			if listeners, joinErr = joinNetwork(o, e); joinErr != nil {
				return nil, joinErr
			}
		}
		paths, err := readNoExec()
		tl.mark("noexec-received")
		return paths, err
	}
	if err := buildRoot(&o.FS, o.HostNetwork, e.root, noExec); err != nil {
		if joinErr != nil {
			return nil, joinErr
		}
		if errors.Is(err, unix.ENOSYS) {
			// open_tree, mount_setattr, fsopen: "clone /dev/null:
			// function not implemented" said nothing of the kernel.
			return nil, fmt.Errorf("%w (the kernel lacks the mount API fence builds the sandbox with: it needs Linux 5.12, and a seccomp profile may refuse it)", err)
		}
		return nil, err
	}
	if err := unix.Chdir(o.Dir); err != nil {
		return nil, fmt.Errorf("enter working directory %s inside the sandbox: %w", o.Dir, err)
	}
	if o.DirIsOwn {
		// After the chdir, through the mounts: the directory the
		// command gets must be the one fence was started in, not what
		// a path swapped meanwhile leads to (see DirIsOwn).
		var in unix.Stat_t
		if err := unix.Stat(".", &in); err != nil {
			return nil, fmt.Errorf("look at working directory %s inside the sandbox: %w", o.Dir, err)
		}
		if in.Dev != own.Dev || in.Ino != own.Ino {
			return nil, fmt.Errorf("working directory %s changed while fence started: it is no longer the directory fence was started in (is a directory on the way to it another user's?); run again, or start fence in a directory only you can change", o.Dir)
		}
	}
	tl.mark("mounts")
	if !joined {
		joined = true
		var err error
		if listeners, err = joinNetwork(o, e); err != nil {
			return nil, err
		}
	}
	if o.PTY != 0 {
		// On the sandbox's own devpts (mounted above), so that the
		// command's tty is a name inside the sandbox.
		var err error
		if ptyMaster, err = openPTY(o.TTYFD); err != nil {
			return nil, err
		}
		if n, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
			ptyNull = n
		}
		// PID 1's own descriptors of fence's terminal become the
		// pseudo-terminal too: its messages (-m, command not found)
		// go through the relay, which writes them in the terminal's
		// modes, and PID 1 keeps nothing of fence's terminal.
		for fd := range 3 {
			if o.PTY&(1<<fd) != 0 {
				if err := unix.Dup3(ptySlave, fd, 0); err != nil {
					return nil, fmt.Errorf("set up the sandbox's terminal: %w", err)
				}
			}
		}
	}
	if err := sandboxDevStdio(o.PTY, stdio); err != nil {
		return nil, err
	}
	if !o.HostNetwork {
		// On this thread, in the namespace (/proc/sys/net is the
		// namespace of the thread that opens it), through the sandbox's
		// /proc: not where startEarly made the namespace, before the
		// mounts, where /proc was still the host's, read-only in the
		// tree that buildRoot keeps. It
		// loosens nothing outside the sandbox's own lo: a kernel that
		// refuses it only keeps ports below 1024 closed there.
		_ = netns.AllowLowPorts()
	}
	tl.mark("network")
	// no_new_privs before Landlock (landlock_restrict_self requires it
	// without CAP_SYS_ADMIN) and before seccomp (same rule). It also makes
	// setuid and file capabilities inert for the command.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("set no_new_privs: %w", err)
	}
	// The bounding set can only be emptied while CAP_SETPCAP is held, so
	// this precedes clearing the other sets.
	if err := dropCapabilities(e.tracer); err != nil {
		return nil, err
	}
	// The command enters o.Dir without capabilities. A working directory
	// that PID 1 entered above only by its capabilities (a directory of
	// mode 000 above it, which root, or the user namespace's root over
	// the user's files, passes) failed the command's start with EACCES,
	// which the exec reports as the program's ("fence: sh: permission
	// denied", exit 126). This thread has none left: check it here.
	if err := unix.Chdir(o.Dir); err != nil {
		return nil, fmt.Errorf("enter working directory %s inside the sandbox, where no process has capabilities, not even root: %w; let this user search every directory above it (chmod +x), or start fence in another directory", o.Dir, err)
	}
	if !o.NoLandlock {
		if _, err := landlock.Apply(landlock.Policy{Writable: landlockWritable(o)}); err != nil {
			return nil, err
		}
	}
	tl.mark("landlock")
	// Seccomp last, so the filter needs to allow nothing that setup uses
	// (mount, pivot_root, unshare-free netlink). TSYNC covers every thread.
	if err := seccomp.Load(); err != nil {
		return nil, err
	}
	// The guard filters go on this thread only: the command inherits
	// them, PID 1's other threads serve them (see guard_linux.go).
	mode := 0
	if len(o.FS.Guarded) > 0 {
		mode |= seccomp.GuardCreate
	}
	if len(o.FS.DenyWritePatterns) > 0 || len(o.FS.ProtectedPatterns) > 0 || len(o.FS.Removable) > 0 || len(o.FS.Held) > 0 || len(o.FS.Grants) > 0 || len(o.FS.GrantPatterns) > 0 || o.FS.GitDirs {
		mode |= seccomp.GuardWrite
	}
	// bind of a unix socket creates a name too: guarded whenever names
	// are (allowAllUnixSockets lets every connect through, not that).
	if !o.Unix.AllowAll || len(o.FS.Guarded) > 0 || len(o.FS.ProtectedPatterns) > 0 || len(o.FS.Removable) > 0 || o.FS.GitDirs {
		mode |= seccomp.GuardSocket
	}
	// What PID 1's other threads need and the command must not have
	// (process_vm_readv, with which the guard reads its callers' paths),
	// and the guard's filter chained to it: on this thread only, before
	// the command is forked from it.
	fd, err := seccomp.LoadCommand(mode)
	if err != nil {
		return nil, err
	}
	guardFD = fd
	tl.mark("seccomp")
	if o.Debug {
		var guards []string
		for bit, name := range map[int]string{seccomp.GuardCreate: "create", seccomp.GuardWrite: "write", seccomp.GuardSocket: "socket"} {
			if mode&bit != 0 {
				guards = append(guards, name)
			}
		}
		sort.Strings(guards)
		fmt.Fprintf(stderr, "[fence:linux] init: %d writable, %d read-only, %d masked, %d exec-denied paths; guard %v; landlock %v; %d listeners; capabilities at start %#x\n",
			len(o.FS.Writable), len(o.FS.Protected), len(o.FS.Masked), len(o.FS.NoExec), guards, !o.NoLandlock, len(listeners), startCaps)
		// Built before the policy came, or in place, and why (prepareRoot).
		for _, t := range []struct {
			name string
			err  error
		}{{"/dev", e.root.devErr}, {"/proc", e.root.procErr}} {
			if t.err != nil {
				fmt.Fprintf(stderr, "[fence:linux] init: %s mounted in place, not built ahead: %v\n", t.name, t.err)
			}
		}
	}
	return listeners, nil
}

// devStdio names the memory device (major 1) of minor number m that the
// sandbox's /dev holds, or "". (A switch, not a map: a package-level map
// is built at init, in every process that runs this binary.)
func devStdio(major, m uint32) string {
	if major != 1 {
		return ""
	}
	switch m {
	case 3:
		return "null"
	case 5:
		return "zero"
	case 7:
		return "full"
	case 8:
		return "random"
	case 9:
		return "urandom"
	}
	return ""
}

// sandboxDevStdio gives PID 1 (and so the command) descriptors 0 to 2 (but
// those of the pseudo-terminal, pty's bits) that no mount of the host
// carries, where they are device files. fence's stdio on the host's
// /dev/null (fence ... </dev/null, a service's or a CI job's stdio), or on
// a terminal fence passes through (no job control: a script's fence, setsid),
// is a descriptor on the host's devtmpfs or devpts mount, which is not
// read-only, and the command could change the node itself through it
// (chmod /proc/self/fd/0, touch, user xattrs): run as root, chmod 0 of the
// host's /dev/null, which the sandbox's uid 0 owns; as anyone, chmod 666
// of the user's terminal, which other local users could then open to read
// what is typed there after the run; run as root, chmod 666 of a disk on
// fence's stdio (a block device: the same as a terminal, at the same
// offset). A memory device becomes the
// sandbox's own node (a read-only bind of the same file, cloneDevNodes);
// another device is opened again through the read-only clone of it that
// cloneStdio made, on which chmod fails with EROFS. Both are the same
// device and inode, opened with the same access mode and status flags,
// without becoming a controlling terminal. A device that could not be
// cloned or opened again (a terminal in exclusive mode, one whose name
// leads elsewhere here) keeps the host's descriptor, as before.
func sandboxDevStdio(pty int, clones [3]int) error {
	for fd := range 3 {
		if pty&(1<<fd) != 0 {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || !isDevice(&st) {
			continue
		}
		name := ""
		if st.Mode&unix.S_IFMT == unix.S_IFCHR {
			name = devStdio(unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		}
		if name == "" && clones[fd] < 0 {
			continue
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return fmt.Errorf("standard descriptor %d: %w", fd, err)
		}
		mode := fl&unix.O_ACCMODE | unix.O_NOCTTY | unix.O_CLOEXEC
		var n int
		if name != "" {
			// One the sandbox's node cannot be opened for (a container
			// whose /dev is a tmpfs of its runtime's: a review saw
			// EACCES there) keeps the host's descriptor, as before: not
			// a reason to refuse the run.
			if n, err = unix.Open("/dev/"+name, mode, 0); err != nil {
				continue
			}
		} else if n, err = unix.Open("/proc/self/fd/"+strconv.Itoa(clones[fd]), mode, 0); err != nil {
			continue
		}
		_, err = unix.FcntlInt(uintptr(n), unix.F_SETFL, fl)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			// A block device is read and written at an offset: the
			// command goes on where fence's descriptor is (a script's
			// `{ head -c 512 >/dev/null; fence ...; } </dev/sdb`), not
			// from the device's start.
			var off int64
			if off, err = unix.Seek(fd, 0, io.SeekCurrent); err == nil {
				_, err = unix.Seek(n, off, io.SeekStart)
			}
		}
		if err == nil {
			err = unix.Dup3(n, fd, 0)
		}
		unix.Close(n)
		if err != nil {
			return fmt.Errorf("put the sandbox's copy of descriptor %d in place: %w", fd, err)
		}
	}
	return nil
}

// isDevice reports whether st is a character or a block device: fence's
// stdio on a block device (fence -- xzcat disk.img.xz >/dev/sdb, run as
// root) is a descriptor on the host's devtmpfs mount as a terminal is,
// and chmod 666 /proc/self/fd/1 made the disk readable and writable by
// every local user after the run.
func isDevice(st *unix.Stat_t) bool {
	t := st.Mode & unix.S_IFMT
	return t == unix.S_IFCHR || t == unix.S_IFBLK
}

// stdioMounts are the read-only clones of cloneStdio. Closing one
// dissolves it, which waits for an RCU grace period: closeMaskFS closes
// them once the command runs.
var stdioMounts []int

// cloneStdio clones, read-only, the mount of each of descriptors 0 to 2
// (but the pseudo-terminal's) that is a device other than those the
// sandbox's /dev has (devStdio) and than /dev/tty, /dev/console and
// /dev/ptmx (major 5: see below): a terminal
// fence passes through, a block device. The descriptor's mount is the host's, which
// open_tree does not clone from this mount namespace: its name under the
// host's /dev is, here, before the sandbox's /dev covers it, and the clone
// is kept only if it holds the same file. -1 where there is none.
func cloneStdio(pty int) [3]int {
	clones := [3]int{-1, -1, -1}
	for fd := range 3 {
		var st, cst unix.Stat_t
		if pty&(1<<fd) != 0 || unix.Fstat(fd, &st) != nil || !isDevice(&st) {
			continue
		}
		// Not the sandbox's own nodes (devStdio), nor /dev/tty, /dev/console
		// and /dev/ptmx (major 5): opened again, /dev/tty is PID 1's
		// controlling terminal, if any, and the terminal behind it
		// (TIOCGDEV) has a number, not a name: a /dev/pts of another
		// devpts instance in fence's mount namespace (a container's) has
		// another terminal under it. They stay the host's.
		if major, minor := unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)); st.Mode&unix.S_IFMT == unix.S_IFCHR && (major == 5 || devStdio(major, minor) != "") {
			continue
		}
		name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil || !strings.HasPrefix(name, "/dev/") {
			continue
		}
		tree, err := unix.OpenTree(unix.AT_FDCWD, name, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_SYMLINK_NOFOLLOW)
		if err != nil {
			continue
		}
		if unix.Fstat(tree, &cst) != nil || cst.Dev != st.Dev || cst.Ino != st.Ino || cst.Rdev != st.Rdev ||
			unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &unix.MountAttr{
				Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC,
			}) != nil {
			unix.Close(tree)
			continue
		}
		clones[fd] = tree
		stdioMounts = append(stdioMounts, tree)
	}
	return clones
}

// guardFD is the notification fd of the creation and socket guards, or -1.
var guardFD = -1

// ptySlave is the sandbox's pseudo-terminal (Options.PTY), PID 1's
// controlling terminal, or -1; ptyMaster its master until sendReady sends
// it to the supervisor.
var (
	ptySlave  = -1
	ptyMaster *os.File
	ptyMu     sync.Mutex // ptySlave, once the command runs
	// ptyNull is /dev/null, opened before Landlock for reap, which puts
	// it on PID 1's descriptors of the pseudo-terminal once the command
	// is done: reap runs on the thread that carries the command's
	// Landlock domain and guard filter, where an open would depend on
	// the policy and could wait for the guard (which takes opens for
	// writing when it guards writes). -1 where it could not be opened
	// (reap closes those descriptors then).
	ptyNull = -1
)

// openPTY opens a pseudo-terminal on the sandbox's devpts with the modes
// and size of fence's terminal (the descriptor tty, one of PID 1's 0 to
// 2), makes it PID 1's controlling terminal in a session of its own, and
// returns its master (ptySlave is the other side). PID 1 leaves fence's
// session with it, and the command, forked later, is never in it.
func openPTY(tty int) (*os.File, error) {
	m, err := unix.Open("/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the sandbox's terminal (/dev/pts/ptmx): %w", err)
	}
	master := os.NewFile(uintptr(m), "fence-pty")
	fail := func(what string, err error) (*os.File, error) {
		master.Close()
		return nil, fmt.Errorf("set up the sandbox's terminal: %s: %w", what, err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlock", err)
	}
	// The peer by its master, not by a name in /dev/pts.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return fail("open the peer", errno)
	}
	slave := int(r)
	ptySlave = slave
	if t, err := unix.IoctlGetTermios(tty, unix.TCGETS); err == nil {
		if err := unix.IoctlSetTermios(slave, unix.TCSETS, t); err != nil {
			return fail("copy the terminal's modes", err)
		}
	}
	if ws, err := unix.IoctlGetWinsize(tty, unix.TIOCGWINSZ); err == nil {
		if err := unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, ws); err != nil {
			return fail("copy the terminal's size", err)
		}
	}
	// A session of PID 1's, controlled by the pseudo-terminal: the
	// command's group is then in it and can be its foreground, while
	// no process of the sandbox stays in fence's session, where it
	// could take the terminal's foreground (TIOCSPGRP).
	if _, err := unix.Setsid(); err != nil {
		return fail("new session", err)
	}
	if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
		return fail("make it the controlling terminal", err)
	}
	return master, nil
}

// landlockWritable lists the hierarchies Landlock lets the command write:
// the writable binds and /tmp (landlock.Apply adds /dev itself), and the
// files of the host's that are its standard streams opened for writing
// (stdioFiles).
func landlockWritable(o *Options) []string {
	return append(append([]string{"/tmp"}, o.FS.Writable...), stdioFiles()...)
}

// stdioFiles returns, as /proc/self/fd/N, PID 1's standard streams (the
// command's) that are regular files open for writing: fence's output
// redirected to a file outside the writable paths (fence ... > out.log).
// The command writes them through its descriptors, and a reopen of one
// (echo x > /dev/stderr, curl -o /dev/stdout: /proc/self/fd/N, which leads
// to the file on its own mount) was refused by Landlock where no writable
// path held the file. Granted for that file alone, which the descriptor
// lets the command write and truncate already; where the write guard
// runs, it opens such a file for the command itself (callerWrites).
func stdioFiles() []string {
	var out []string
	for fd := range 3 {
		var st unix.Stat_t
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_PATH != 0 || fl&unix.O_ACCMODE != unix.O_WRONLY && fl&unix.O_ACCMODE != unix.O_RDWR ||
			unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		out = append(out, "/proc/self/fd/"+strconv.Itoa(fd))
	}
	return out
}

// dropCapabilities empties the bounding, ambient, inheritable, permitted and
// effective sets of this thread, which the command inherits. Even a command
// that is uid 0 inside gains nothing at execve: file capabilities are
// limited by the (empty) bounding set.
//
// Capabilities are per thread. The other threads of PID 1 serve the guard,
// performing file operations for the command, so they must have no more
// power than it: one capset on every thread (psx: the runtime's
// AllThreadsSyscall without cgo, libpsx with it) empties their effective
// set, and their permitted set but for CAP_SYS_PTRACE, which one of them,
// the ptracer (see ptrace_linux.go), raises around its few accesses to a
// non-dumpable caller (memory, cwd, fds); no other code raises it. That also
// empties their ambient set. Their bounding sets are irrelevant: they never
// execve. All-threads calls stop the world, so there is only one. Then this
// thread, which the command is forked from, empties its own sets entirely.
func dropCapabilities(t *ptracer) error {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	// The ptracer's thread must exist before the capset below, which
	// leaves it CAP_SYS_PTRACE permitted (startEarly started it).
	t.wait()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Permitted = 1 << unix.CAP_SYS_PTRACE
	if _, _, e := psx.Syscall3(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("clear capabilities: %w", e)
	}
	// This thread is locked (Init): the capset reaches exactly the thread
	// the command will be forked from.
	data[0].Permitted = 0
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("clear capabilities of the command's thread: %w", e)
	}
	tracer = t
	return nil
}

// command is the program to start inside the sandbox. It is started with
// syscall.ForkExec, not os/exec: any os.Process makes the os package probe
// pidfd support once per process, by forking a child, which costs a
// fraction of a millisecond on every sandbox start.
type command struct {
	path string
	args []string
	attr syscall.ProcAttr
	err  error // lookup failure, reported as the command's start failure
	// pidfd is the command's pidfd with Options.JobControl (-1 if the kernel
	// has none), sent to the supervisor for its job control.
	pidfd int
}

// prepareCommand resolves the program inside the sandbox.
func prepareCommand(o *Options) (*command, error) {
	sys := &syscall.SysProcAttr{}
	c := &command{path: o.Path, args: o.Args, pidfd: -1, attr: syscall.ProcAttr{
		Dir:   o.Dir,
		Env:   o.Env,
		Files: []uintptr{0, 1, 2},
		Sys:   sys,
	}}
	if o.PTY != 0 {
		// A process group of its own in PID 1's session, with the
		// pseudo-terminal for the descriptors that were fence's
		// terminal. Foreground as below; Ctty is PID 1's descriptor.
		for i := range c.attr.Files {
			if o.PTY&(1<<i) != 0 {
				c.attr.Files[i] = uintptr(ptySlave)
			}
		}
		sys.Setpgid = true
		sys.Foreground = o.Foreground
		sys.Ctty = ptySlave
		sys.PidFD = &c.pidfd
	} else if o.TTY {
		// A process group of its own in fence's session: job control
		// and Ctrl-C work like outside, and kill(0, sig) in the sandbox
		// reaches only the command's group. With Foreground the group
		// takes the terminal; SIGTTOU is blocked in the forked child, so
		// the TIOCSPGRP from a background group succeeds.
		sys.Setpgid = true
		sys.Foreground = o.Foreground
		sys.Ctty = o.TTYFD // the command's descriptor, one of 0 to 2
		if o.JobControl {
			sys.PidFD = &c.pidfd
		}
	} else {
		// No terminal: a new session, so there is no controlling tty to
		// inject keystrokes into.
		sys.Setsid = true
	}
	if !strings.Contains(o.Path, "/") {
		// Not found stays an exec failure of the command (127, reported by
		// run), as `bash -c` would report it, not a sandbox failure.
		c.path, c.err = lookPath(o.Path, o.Env)
	}
	return c, nil
}

// placePassed puts the pipes passed on (passed) at their numbers (targets)
// for the command, which attr starts, and returns the descriptors it made
// for them in PID 1, to be closed once the command has started. A number
// that PID 1 leaves free gets a copy without close-on-exec here, which the
// command inherits; attr.Files lists only the others, numbers PID 1 uses
// itself (its control socket is 3, where make's jobserver pipes go too),
// as a list that long costs the forked child a system call per entry
// (bash's process substitution gives 63, a CI runner's leaked pipe 251).
// Nothing else in PID 1 opens descriptors or forks meanwhile.
func placePassed(targets []int, attr *syscall.ProcAttr) (placed []int) {
	var viaFiles []int
	for i, t := range targets {
		if _, err := unix.FcntlInt(uintptr(t), unix.F_GETFD, 0); err == unix.EBADF {
			if unix.Dup3(passed[i], t, 0) == nil {
				placed = append(placed, t)
				continue
			}
		}
		viaFiles = append(viaFiles, i)
	}
	for _, i := range viaFiles {
		t := targets[i]
		for len(attr.Files) <= t {
			// Closed in the child: PID 1's own descriptors are
			// close-on-exec anyway.
			attr.Files = append(attr.Files, ^uintptr(0))
		}
		attr.Files[t] = uintptr(passed[i])
	}
	// A copy made above at a number the list now covers stays as it is.
	for _, t := range placed {
		if t < len(attr.Files) {
			attr.Files[t] = uintptr(t)
		}
	}
	// The forked child moves its status pipe, and the list's descriptors
	// below their places, to numbers above both the list's length and
	// every descriptor in it (dup3, close-on-exec), where they would
	// replace a copy made above: the list then names one descriptor (a
	// copy of its first) above every such copy, and the moves go higher.
	if len(placed) > 0 {
		top := len(attr.Files)
		for _, f := range attr.Files {
			top = max(top, int(f))
		}
		if hi := slices.Max(placed); hi >= top {
			if above, err := unix.FcntlInt(attr.Files[0], unix.F_DUPFD_CLOEXEC, hi+1); err == nil {
				attr.Files[0] = uintptr(above)
				placed = append(placed, above)
			} else {
				// No number free above them (the open-file limit):
				// the list covers every copy instead, so that the
				// moves go above it or the start fails (EBADF),
				// never losing a pipe.
				for len(attr.Files) <= hi {
					attr.Files = append(attr.Files, ^uintptr(0))
				}
				for _, t := range placed {
					attr.Files[t] = uintptr(t)
				}
			}
		}
	}
	return placed
}

// lookPath searches PATH from the command's environment, not ours; bash's
// default search path when the environment has no PATH (env -i), as
// upstream's bash -c did. An empty PATH is the working directory.
func lookPath(file string, env []string) (string, error) {
	path, set := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path, set = v, true
		}
	}
	if !set {
		path = BashDefaultPath
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// isDir reports whether path, relative to dir if it is not absolute, is a
// directory. PID 1's threads have no effective capabilities by now, so it
// sees no more than the command could.
func isDir(path, dir string) bool {
	if !strings.HasPrefix(path, "/") && dir != "" {
		path = dir + "/" + path
	}
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// exists reports whether path, relative to dir if it is not absolute,
// exists.
func exists(path, dir string) bool {
	if !strings.HasPrefix(path, "/") && dir != "" {
		path = dir + "/" + path
	}
	_, err := os.Stat(path)
	return err == nil
}

// run starts the command, forwards signals asked for by the supervisor and
// reaps every child until the command exits. It returns the exit status for
// PID 1, which the supervisor passes on as fence's own.
func run(ctrl *os.File, cmd *command, o *Options) int {
	err := cmd.err
	var child int
	placed := placePassed(passedAt, &cmd.attr)
	if err == nil {
		child, err = syscall.ForkExec(cmd.path, cmd.args, &cmd.attr)
		if errors.Is(err, syscall.ENOEXEC) && !binaryFile(cmd.path) {
			// An executable file with no #! line: a shell script, as
			// execvp(3) and shells run it. Upstream ran every command
			// through bash -c, and bash runs such a file with bash
			// (bashisms and all, where /bin/sh may be dash), so bash
			// from the command's PATH runs it; /bin/sh where there is
			// none. Not a binary for another machine: the shell would
			// report syntax errors in it.
			sh := "/bin/sh"
			if p, err := lookPath("bash", cmd.attr.Env); err == nil {
				sh = p
			}
			child, err = syscall.ForkExec(sh, append([]string{sh, cmd.path}, cmd.args[1:]...), &cmd.attr)
			if err != nil {
				fmt.Fprintf(stderr, "fence: %s has no #! line, and %s cannot run it: %v\n", cmd.args[0], sh, err)
				return 126
			}
		}
	}
	// The command has its copies (or failed to start): PID 1's would keep
	// a pipe's reader from seeing the end of its input.
	for _, f := range slices.Concat(passed, placed) {
		unix.Close(f)
	}
	passed = nil
	if err != nil {
		name := cmd.args[0]
		switch {
		case errors.Is(err, os.ErrNotExist) && cmd.err == nil && elfFile(cmd.path):
			// A program whose dynamic loader (its ELF interpreter) is
			// missing: built for another C library (glibc's, on musl)
			// or without another architecture's libraries. It has no
			// #! line to blame.
			fmt.Fprintf(stderr, "fence: %s: cannot execute: the dynamic loader (ELF interpreter) it names does not exist\n", name)
			return 127
		case errors.Is(err, os.ErrNotExist) && cmd.err == nil && exists(cmd.path, cmd.attr.Dir):
			// The file is there: its #! line names a missing program
			// (bash 5.2: "cannot execute: required file not found", 127).
			fmt.Fprintf(stderr, "fence: %s: cannot execute: the interpreter its #! line names does not exist\n", name)
			return 127
		case errors.Is(err, os.ErrNotExist) && strings.Contains(name, "/"):
			// A path, not looked up in PATH: bash's words.
			fmt.Fprintf(stderr, "fence: %s: no such file or directory\n", name)
			return 127
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintf(stderr, "fence: %s: command not found\n", name)
			return 127
		case errors.Is(err, os.ErrPermission) && isDir(cmd.path, cmd.attr.Dir):
			// execve's EACCES for a directory; bash says "Is a
			// directory" (126 too).
			fmt.Fprintf(stderr, "fence: %s: is a directory\n", name)
		case errors.Is(err, os.ErrPermission):
			fmt.Fprintf(stderr, "fence: %s: permission denied\n", name)
		default:
			fmt.Fprintf(stderr, "fence: start %s: %v\n", name, err)
		}
		return 126
	}
	var started int64
	if o.Timeline {
		started = Now()
	}
	// The supervisor learns the command's pid from its pidfd before any
	// stop is reported (one socket, in order). Without a pidfd it never
	// learns it, and reap continues the command after a ^Z itself.
	report := false
	if o.JobControl {
		var oob []byte
		if cmd.pidfd >= 0 {
			oob = unix.UnixRights(cmd.pidfd)
			report = true
		}
		if err := unix.Sendmsg(controlFD, encodeMessage(message{Type: typeCommand}), oob, nil, 0); err != nil {
			report = false
		}
		if cmd.pidfd >= 0 {
			unix.Close(cmd.pidfd)
		}
	}
	// Off the start path: the command runs meanwhile.
	closeMaskFS()
	// This goroutine's thread alone carries Landlock and the guard's filter
	// (see setup) and must never run the guard; from here on it reaps
	// (below), in wait4, its own system call: its returns wake this
	// thread itself, with no hand-off between OS threads as a channel
	// send to a locked goroutine takes (unless both Ps are busy when
	// wait4 returns), and no thread of its own as a reaping goroutine
	// took (started while the command runs; ~0.15 ms each here,
	// docs/benchmarking.md). The goroutines that wake often for others
	// (control, guard) run unlocked.
	var g *guard
	if guardFD >= 0 {
		g = newGuard(&o.FS, o.Unix)
		if o.Debug || o.Monitor {
			// With SIGTTOU blocked: on the sandbox's terminal, where
			// PID 1's group is never the foreground and is orphaned,
			// a command that set TOSTOP (stty tostop) made every later
			// line fail with EIO, and -m showed none of the refusals
			// that followed. Blocked, the kernel lets the write through.
			g.logf = func(line string) {
				_ = signalsBlocked(func() error {
					_, err := fmt.Fprintln(stderr, line)
					return err
				})
			}
		}
	}
	go controlLoop(ctrl, child)
	if g != nil {
		go serveGuard(guardFD, g)
	}
	// Set-up is over: sysmon's quick polls hand the processor of a
	// goroutine blocked in a syscall (the guard's) to the others. Its
	// slack goes back 50 ms from now, unless the command ends first.
	spawn.RestoreSysmonLater()
	return reap(ctrl, child, report, o, started, g)
}

// reap waits for the command, reaping every orphan re-parented to PID 1 on
// the way, then empties the sandbox and reports the exit status to the
// supervisor, with the files g (if any) knows the sandbox created. It
// returns the status. With report, it also reports each stop of the
// command, for the supervisor's job control. It runs on the thread the
// command was forked from, under the command's Landlock domain and guard
// filter: it opens no file (see ptyNull).
func reap(ctrl *os.File, pid int, report bool, o *Options, started int64, g *guard) int {
	// A blocking wait4 for any child: orphans re-parented to PID 1 are
	// reaped as they come. It does not starve the guard and control
	// goroutines of a P: sysmon hands the P to another thread while a
	// syscall blocks. (os/signal's SIGCHLD would cost two more
	// threads and a locked-thread round trip per start.)
	code, killedBy := 255, 0
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, unix.WUNTRACED, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			break // ECHILD: cannot happen before the command is reaped
		}
		if wpid != pid {
			continue // an orphan re-parented to us
		}
		if ws.Stopped() {
			switch {
			case report:
				// The supervisor decides: stop fence too, so that
				// the shell sees the job stopped, hand the terminal
				// over, or continue the command (fence's job).
				_, _ = ctrl.Write(encodeMessage(message{Type: typeStopped, Signal: int(ws.StopSignal())}))
			case ws.StopSignal() == unix.SIGTSTP:
				// No one to pass the stop on to: the shell waits for
				// fence, which is not stopped, and the terminal would
				// hang for good. The group goes on (a TUI redraws, as
				// after fg). A SIGSTOP sent on purpose stays.
				_ = unix.Kill(-pid, unix.SIGCONT)
			}
			continue
		}
		code = ws.ExitStatus()
		if ws.Signaled() {
			code, killedBy = 128+int(ws.Signal()), int(ws.Signal())
		}
		break
	}
	var exitStages []Stage
	if o.Timeline {
		exitStages = []Stage{{"started", started}, {"command-exited", Now()}}
	}
	// Nothing may outlive the command: kill every other process of the
	// namespace (kill(-1) from PID 1 reaches exactly those) and reap them,
	// so that when the supervisor hears msgExit the sandbox is empty.
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			break // ECHILD: all reaped
		}
	}
	if exitStages != nil {
		exitStages = append(exitStages, Stage{"sandbox-empty", Now()})
	}
	if ptySlave >= 0 {
		// The last descriptors of the pseudo-terminal's peer (PID 1's
		// copies among 0 to 2 too, see setup): the supervisor reads
		// what is left of the output, then EIO, by the time msgExit
		// arrives. PID 1's copies become /dev/null, not a gap that a
		// file opened now (by the guard) would fill and PID 1's stderr
		// write to.
		for fd := range 3 {
			if o.PTY&(1<<fd) != 0 {
				if ptyNull >= 0 {
					_ = unix.Dup3(ptyNull, fd, 0)
				} else {
					unix.Close(fd)
				}
			}
		}
		if ptyNull >= 0 {
			unix.Close(ptyNull)
			ptyNull = -1
		}
		ptyMu.Lock()
		unix.Close(ptySlave)
		ptySlave = -1
		ptyMu.Unlock()
	}
	var created []string
	if g != nil {
		// After the sandbox is empty: nothing can create more.
		created = g.createdFiles(createdBudget)
	}
	b := encodeMessage(message{Type: typeExit, Code: code, Signal: killedBy, Stages: exitStages, Created: created})
	for _, pk := range packets(b) {
		if _, err := ctrl.Write(pk); err != nil {
			break
		}
	}
	return code
}

// stopped reports whether process pid is stopped (state T in its
// /proc/PID/stat; not t, a tracing stop).
func stopped(pid int) bool {
	b, err := readProc("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name's closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'T'
}

// controlLoop serves the supervisor's requests: signals for the command,
// and connections to ports inside the sandbox's network namespace.
func controlLoop(ctrl *os.File, pid int) {
	buf := make([]byte, 4096)
	var frozen map[int]bool // set while the sandbox is frozen
	for {
		n, err := ctrl.Read(buf)
		if err != nil || n == 0 {
			return
		}
		m, err := decodeMessage(buf[:n])
		if err != nil {
			continue
		}
		switch m.Type {
		case typeSignal:
			target := pid
			if m.Group {
				target = -pid // the command leads its group (Setpgid, Setsid)
			}
			_ = unix.Kill(target, unix.Signal(m.Signal))
			if m.Continue && stopped(pid) {
				_ = unix.Kill(target, unix.SIGCONT)
			}
		case typeConnect:
			go connectFor(ctrl, m.Seq, m.Port)
		case typeFreeze:
			if frozen == nil {
				frozen = freeze()
			}
			_, _ = ctrl.Write(encodeMessage(message{Type: typeFrozen}))
		case typeThaw:
			if frozen != nil {
				thaw(frozen)
				frozen = nil
			}
		case typeForeground:
			group := unix.Getpgrp() // PID 1's own
			if m.Group {
				group = pid
			}
			// PID 1 is not in the foreground when it takes the
			// terminal back: the kernel lets it only with SIGTTOU
			// blocked (its group is orphaned: EIO otherwise).
			ptyMu.Lock()
			var err error = unix.EBADF // closed by reap
			if ptySlave >= 0 {
				err = signalsBlocked(func() error {
					return unix.IoctlSetPointerInt(ptySlave, unix.TIOCSPGRP, group)
				})
			}
			ptyMu.Unlock()
			r := message{Type: typeForegrounded, Seq: m.Seq}
			if err != nil {
				r.Err = fmt.Sprintf("set the foreground of the sandbox's terminal: %v", err)
			}
			_, _ = ctrl.Write(encodeMessage(r))
		}
	}
}

// freeze stops every process of the sandbox (but PID 1) while the job is
// stopped, so that none of them goes on meanwhile: not the command's
// children in groups of their own, which could take the terminal from
// the shell then. It returns those that were stopped already (a job the
// command stopped itself), which thaw leaves stopped.
func freeze() map[int]bool {
	stopped := map[int]bool{}
	for pid, state := range sandboxProcesses() {
		if state == "T" || state == "t" {
			stopped[pid] = true
		}
	}
	// kill(-1) from PID 1 reaches every other process of the namespace;
	// a fork under way is restarted, or its child is born stopped.
	_ = unix.Kill(-1, unix.SIGSTOP)
	// The stop takes effect as each process next runs: wait for it (a
	// while), so that the supervisor lets the shell have the terminal
	// only once nothing of the sandbox runs. Not for uninterruptible
	// sleeps (D: a vfork parent whose child stopped before its exec, a
	// slow disk): those take the stop before their next instruction.
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		running := false
		for _, state := range sandboxProcesses() {
			if state == "R" || state == "S" {
				running = true
				break
			}
		}
		if !running {
			break
		}
	}
	return stopped
}

// thaw continues every process of the sandbox that freeze did not find
// stopped: also those born stopped from a fork under way at the freeze.
func thaw(stopped map[int]bool) {
	for pid := range sandboxProcesses() {
		if !stopped[pid] {
			_ = unix.Kill(pid, unix.SIGCONT)
		}
	}
}

// sandboxProcesses returns the processes of the sandbox but PID 1, with
// their state letter from /proc/PID/stat.
func sandboxProcesses() map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st := string(b)
		if f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:]); len(f) > 0 {
			out[pid] = f[0]
		}
	}
	return out
}

// elfFile reports whether the file at path begins as an ELF file does. PID
// 1 is in the command's working directory, so a relative path is the
// command's.
func elfFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	n, _ := io.ReadFull(f, b[:])
	return n == 4 && string(b[:]) == "\x7fELF"
}

// binaryFile reports whether the first line of the file at path (up to 80
// bytes) holds a NUL byte, as a compiled program's does: bash's test
// before it runs a file without #! as a script.
func binaryFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true // unreadable: not for sh either
	}
	defer f.Close()
	b := make([]byte, 80)
	n, _ := f.Read(b)
	if i := bytes.IndexByte(b[:n], '\n'); i >= 0 {
		n = i
	}
	return bytes.IndexByte(b[:n], 0) >= 0
}

// connectFor connects to 127.0.0.1:port in this network namespace, else to
// [::1]:port (a dev server listening on IPv6 only), and sends the socket to
// the supervisor.
func connectFor(ctrl *os.File, seq, port int) {
	reply := message{Type: typeConnected, Seq: seq}
	var oob []byte
	c, err := dialLoopback(port, false, 10*time.Second)
	if errors.Is(err, unix.ECONNREFUSED) {
		// The IPv4 error stands if IPv6 fails too (or is off).
		if c6, err6 := dialLoopback(port, true, 10*time.Second); err6 == nil {
			c, err = c6, nil
		}
	}
	if err != nil {
		reply.Err = err.Error()
	} else {
		defer c.Close()
		rc, rerr := c.SyscallConn()
		if rerr == nil {
			rerr = rc.Control(func(fd uintptr) { oob = unix.UnixRights(int(fd)) })
		}
		if rerr != nil {
			reply.Err = rerr.Error()
			oob = nil
		}
	}
	b := encodeMessage(reply)
	// Sent while c is still open: the fd number in oob must stay valid.
	_ = unix.Sendmsg(controlFD, b, oob, nil, 0)
}

// dialLoopback connects a TCP socket to 127.0.0.1:port, or [::1]:port if
// v6. Raw syscalls, not
// package net: net would put the init stage behind most of the supervisor's
// package initialisation (cmd/fence/internal/stage). Loopback connects
// finish at once unless the listener's backlog is full; then the kernel
// retries the SYN, and the wait, bounded by timeout, is in the runtime's
// poller: a blocking wait would hold an OS thread of PID 1 per pending
// connect (a local user can queue thousands on a -p port).
func dialLoopback(port int, v6 bool, timeout time.Duration) (*os.File, error) {
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	if v6 {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	err = unix.Connect(fd, sa)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return nil, err // the supervisor names the address
	}
	// Non-blocking, so os registers it with the poller.
	f := os.NewFile(uintptr(fd), "sandbox connection")
	if err == nil {
		return f, nil
	}
	if err := f.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		f.Close()
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	var cerr error
	err = rc.Write(func(s uintptr) bool {
		soerr, err := unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			cerr = err
		case soerr != 0:
			cerr = unix.Errno(soerr)
		default:
			// No error and not connected yet: the connect is still in
			// progress (or the wake-up was spurious); wait for writability.
			if _, err := unix.Getpeername(int(s)); errors.Is(err, unix.ENOTCONN) {
				return false
			}
		}
		return true
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = unix.ETIMEDOUT
	}
	if err == nil {
		err = cerr
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

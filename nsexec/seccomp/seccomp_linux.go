//go:build linux && (amd64 || arm64)

package seccomp

import (
	"fmt"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Unsupported is nil: this platform has filters.
func Unsupported() error { return nil }

// Load installs the embedded filter with the argument filter chained in
// front of it (chain) on every thread of the calling process
// (SECCOMP_FILTER_FLAG_TSYNC): one program where there were two, ~0.15 ms
// less to load at every start, less to free at its end, and one program
// fewer to run on each of the command's system calls. The caller must have
// set no_new_privs.
func Load() error {
	if len(program)%8 != 0 || len(program) == 0 {
		return fmt.Errorf("seccomp: embedded filter is corrupt (%d bytes)", len(program))
	}
	prog, err := mainFilter()
	if err != nil {
		return err
	}
	if err := install(prog); err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	return nil
}

// mainFilter returns Load's program: the argument filter chained in front
// of the embedded one.
func mainFilter() ([]byte, error) {
	args, err := argumentFilter()
	if err != nil {
		return nil, fmt.Errorf("assemble argument filter: %w", err)
	}
	prog, err := chain(args, program)
	if err != nil {
		return nil, fmt.Errorf("chain the argument filter to the seccomp filter: %w", err)
	}
	return prog, nil
}

// chain returns one program that decides as first and then installed
// together would (the kernel runs every filter and takes the most
// restrictive action; between equals, the later-installed filter's),
// where first's every answer other than allow is strictly more
// restrictive than then's answer to the same call, or the same answer:
// first runs, each of its allow returns becomes a jump to then's start,
// and its other returns stand. The tests check that condition, for the
// pairs chained here, by running both ways on every system call number.
// first must return constants only, never a log, trace or user
// notification (which would end the program before then could refuse),
// and keep its jumps within itself.
func chain(first, then []byte) ([]byte, error) {
	if len(first)%8 != 0 || len(first) == 0 || len(then)%8 != 0 || len(then) == 0 {
		return nil, fmt.Errorf("chain programs of %d and %d bytes", len(first), len(then))
	}
	n := len(first) / 8
	if n+len(then)/8 > bpfMaxInsns {
		return nil, fmt.Errorf("chained program of %d instructions exceeds %d", n+len(then)/8, bpfMaxInsns)
	}
	out := make([]byte, 0, len(first)+len(then))
	for i := 0; i < n; i++ {
		in := first[8*i : 8*i+8]
		op := uint16(in[0]) | uint16(in[1])<<8
		jt, jf := int(in[2]), int(in[3])
		k := uint32(in[4]) | uint32(in[5])<<8 | uint32(in[6])<<16 | uint32(in[7])<<24
		switch class := op & 0x07; {
		case class == 0x06 && op != opRetK:
			return nil, fmt.Errorf("chain: instruction %d returns a register, not a constant", i)
		case op == opRetK && k&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ALLOW:
			// A jump past first's last instruction, to then's first.
			skip := uint32(n - i - 1)
			out = append(out, byte(opJa), byte(opJa>>8), 0, 0, byte(skip), byte(skip>>8), byte(skip>>16), byte(skip>>24))
			continue
		case op == opRetK && precedence(k) > precedence(unix.SECCOMP_RET_ERRNO):
			return nil, fmt.Errorf("chain: instruction %d returns %#x, which would keep the second program from refusing", i, k)
		case op == opJa && uint64(i)+1+uint64(k) >= uint64(n),
			class == 0x05 && op != opJa && (i+1+jt >= n || i+1+jf >= n):
			return nil, fmt.Errorf("chain: instruction %d jumps past the first program", i)
		case i == n-1 && class != 0x06:
			return nil, fmt.Errorf("chain: the first program does not end with a return")
		}
		out = append(out, in...)
	}
	return append(out, then...), nil
}

// precedence orders seccomp actions as the kernel does (ACTION_ONLY, read
// as signed): the smaller, the more restrictive.
func precedence(ret uint32) int32 { return int32(ret & unix.SECCOMP_RET_ACTION_FULL) }

// Classic BPF encodings chain needs: ret #k, ja +k; and the kernel's
// limit on a program's length (BPF_MAXINSNS).
const (
	opRetK      = 0x06
	opJa        = 0x05
	bpfMaxInsns = 4096
)

// LoadCommand installs, on the calling thread only, the rules that the
// command needs and PID 1's other threads must not have: process_vm_readv
// fails with EPERM (it reads another process's memory; the guard reads its
// callers' paths with it), and, when the calling thread holds group root
// (fence run as root), so does setting the set-group-ID bit (see
// commandFilter). The command, forked from this thread, inherits the
// filter. The caller must have set no_new_privs.
//
// With guard, a mode of LoadGuard (0: none), the guard's program is
// chained after these rules in the same filter (chain; the rules' every
// refusal outranks what the guard would answer), installed as LoadGuard
// installs it, and its user-notification fd is returned; else -1. One
// filter where there were two: less to load and free at each start, and
// one program fewer on each of the command's system calls.
//
// It first sets RLIMIT_CORE to 1 byte, soft and hard, for the whole
// process (PID 1 is not dumpable anyway), which the command inherits and
// cannot change (commandFilter): a crash in the sandbox dumps no core.
// The kernel writes a core file itself, past the write guard (a core
// in a repository's .git/hooks, an existing file named core there
// unlinked first), and hands a core to the host's pipe helper
// (core_pattern |systemd-coredump, |apport) whatever RLIMIT_CORE is
// (0 too), outside the sandbox, as root, which stores it on the host
// (/var/lib/systemd/coredump, /var/crash). A limit of 1 is the kernel's
// own sentinel against recursive dumps: below a page no file is
// written, and a pipe helper is not started.
func LoadCommand(guard int) (int, error) {
	one := unix.Rlimit{Cur: 1, Max: 1}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &one); err != nil {
		return -1, fmt.Errorf("limit core dumps: %w", err)
	}
	prog, err := commandFilter(holdsRootGroup())
	if err != nil {
		return -1, fmt.Errorf("assemble command filter: %w", err)
	}
	if guard != 0 {
		g, err := guardProgram(guard)
		if err != nil {
			return -1, err
		}
		if prog, err = chain(prog, g); err != nil {
			return -1, fmt.Errorf("chain the command filter to the guard filter: %w", err)
		}
		return loadListener(prog)
	}
	fprog := unix.SockFprog{
		Len:    uint16(len(prog) / 8),
		Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0])),
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return -1, fmt.Errorf("load command filter: %w", e)
	}
	return -1, nil
}

// commandFilter returns LoadCommand's program. Only the native ABI needs a
// rule: the main filter kills every other.
//
// With noSetGID, setting the set-group-ID bit (setGIDModes) fails with
// EPERM too. The main filter refuses only set-user-ID, since GNU chmod and
// cp -a keep a group-shared directory's set-group-ID bit and the filter
// cannot tell a directory from a file; a set-group-ID file then gives
// whoever runs it the runner's group. For root that is group root (egid
// 0, /etc/sudoers and every root:root 0640 file): one planted in a
// writable path outlives the sandbox for every user who can reach it.
//
// Signals that PID 1's Go runtime would take for faults fail with EPERM:
// it crashes on a SIGSEGV, SIGBUS, SIGFPE, ... that no kill or tgkill sent
// (it drops those), and a crashed PID 1 ends the sandbox with a Go stack
// dump and exit status 2 in place of the command's. Landlock's signal
// scope does not cover PID 1's main thread, from which the command was
// forked, nor any thread before Linux 6.12. So: rt_sigqueueinfo and
// rt_tgsigqueueinfo to PID 1 (pid_t is an int: the low half),
// pidfd_send_signal with a siginfo of the caller's,
// and fcntl(F_SETSIG) with a standard signal other than SIGIO (with
// F_SETOWN the kernel sends it with a code no process can send); and
// rt_sigqueueinfo of faultSignals to any pid (one of PID 1's threads).
//
// prlimit64 that sets another process's resource limits fails with EPERM
// too: PID 1 has the command's ids, which is all the kernel asks. A new
// RLIMIT_CORE changes nothing (see LoadCommand). So does ioctl(TIOCEXCL),
// which would outlive the sandbox on a terminal fence passes through.
func commandFilter(noSetGID bool) ([]byte, error) {
	eperm := bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
	allow := bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}
	// unchanged answers success without running the syscall.
	unchanged := bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO}
	// argLo and argHi are the offsets of the halves of
	// seccomp_data.args[i] (little-endian); modes, flags and pids are
	// ints.
	argLo := func(i int) uint32 { return uint32(16 + 8*i) }
	argHi := func(i int) uint32 { return argLo(i) + 4 }
	type rule struct {
		nr    uint32
		block []bpf.Instruction // ends with its own returns
	}
	var rules []rule
	if noSetGID {
		for _, c := range setGIDModes {
			var b []bpf.Instruction
			if c.flagsArg >= 0 {
				// The mode counts only when the call creates a file.
				b = append(b,
					bpf.LoadAbsolute{Off: argLo(c.flagsArg), Size: 4},
					bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.O_CREAT, SkipTrue: 2},
					bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.O_TMPFILE &^ unix.O_DIRECTORY, SkipTrue: 1},
					allow)
			}
			b = append(b,
				bpf.LoadAbsolute{Off: argLo(c.modeArg), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.S_ISGID, SkipFalse: 1},
				eperm, allow)
			rules = append(rules, rule{c.nr, b})
		}
	}
	toPID1 := []bpf.Instruction{
		bpf.LoadAbsolute{Off: argLo(0), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipFalse: 1},
		eperm, allow,
	}
	// rt_sigqueueinfo takes any thread id for its pid and signals that
	// thread's process: a thread of PID 1 other than the first stands for
	// PID 1 (ls /proc/1/task), and the runtime starts those whenever it
	// needs one, so no list of ids can be in the filter. The signals
	// PID 1's runtime takes for faults fail to every pid instead: before
	// Linux 6.12 (Landlock's signal scope) nothing else stops them.
	n := uint8(len(faultSignals))
	queue := []bpf.Instruction{
		bpf.LoadAbsolute{Off: argLo(0), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: n + 2}, // → eperm
		bpf.LoadAbsolute{Off: argLo(1), Size: 4},
	}
	for i, sig := range faultSignals {
		queue = append(queue, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(sig), SkipTrue: n - uint8(i)}) // → eperm
	}
	queue = append(queue, allow, eperm)
	withInfo := []bpf.Instruction{
		bpf.LoadAbsolute{Off: argLo(2), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 2}, // → eperm
		bpf.LoadAbsolute{Off: argHi(2), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1}, // → allow
		eperm, allow,
	}
	setSig := []bpf.Instruction{
		bpf.LoadAbsolute{Off: argLo(1), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.F_SETSIG, SkipTrue: 5}, // → allow
		bpf.LoadAbsolute{Off: argLo(2), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 3},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(unix.SIGIO), SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 32, SkipTrue: 1}, // real-time signals
		eperm, allow,
	}
	// prlimit64 that sets another process's limits (pid not 0, a new
	// limit given): EPERM. The kernel lets a process with the same ids
	// set them, and PID 1 and its threads have the command's: lowering
	// PID 1's RLIMIT_NOFILE made every guarded call fail with EMFILE,
	// RLIMIT_CPU, RLIMIT_AS or RLIMIT_NPROC killed it (and the sandbox
	// with it) at the command's choosing, and no list of PID 1's thread
	// ids can be in a filter. Reading any process's limits stays
	// allowed (new NULL), and so does setting the caller's own with pid
	// 0, as glibc's and musl's setrlimit and Go's syscall.Setrlimit do;
	// prlimit(getpid(), ...) fails.
	//
	// RLIMIT_CORE stays the 1 byte the init stage set (see
	// LoadCommand): a new one for it succeeds and changes nothing, with
	// no old limit asked for (setrlimit, ulimit -c, ssh-agent's
	// setrlimit(RLIMIT_CORE, 0), which exits if that fails), and fails
	// with EPERM otherwise (the filter cannot fill the old one in).
	otherLimits := []bpf.Instruction{
		bpf.LoadAbsolute{Off: argLo(2), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 2}, // → pid
		bpf.LoadAbsolute{Off: argHi(2), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 9}, // → allow: a read
		bpf.LoadAbsolute{Off: argLo(0), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 8}, // → eperm
		bpf.LoadAbsolute{Off: argLo(1), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.RLIMIT_CORE, SkipTrue: 5}, // → allow
		bpf.LoadAbsolute{Off: argLo(3), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 4}, // → eperm
		bpf.LoadAbsolute{Off: argHi(3), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 2}, // → eperm
		unchanged, allow, eperm,
	}
	// setrlimit(2) itself (musl falls back to it): RLIMIT_CORE as above.
	coreLimit := []bpf.Instruction{
		bpf.LoadAbsolute{Off: argLo(0), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.RLIMIT_CORE, SkipTrue: 1}, // → unchanged
		allow, unchanged,
	}
	// ioctl(TIOCEXCL) fails with EPERM: on a terminal fence passes
	// through (one on its stdio that is not its controlling terminal, as
	// under setsid) the exclusive mode outlives the sandbox, and every
	// later open of that terminal by name fails with EBUSY for all but
	// root (as TIOCSETD's line discipline would; the main filter). The
	// request is 32 bits wide.
	exclusive := []bpf.Instruction{
		bpf.LoadAbsolute{Off: argLo(1), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCEXCL, SkipTrue: 1}, // → eperm
		allow, eperm,
	}
	rules = append(rules,
		rule{unix.SYS_PROCESS_VM_READV, []bpf.Instruction{eperm}},
		rule{unix.SYS_IOCTL, exclusive},
		rule{unix.SYS_PRLIMIT64, otherLimits},
		rule{unix.SYS_SETRLIMIT, coreLimit},
		rule{unix.SYS_RT_SIGQUEUEINFO, queue},
		rule{unix.SYS_RT_TGSIGQUEUEINFO, toPID1},
		rule{unix.SYS_PIDFD_SEND_SIGNAL, withInfo},
		rule{unix.SYS_FCNTL, setSig},
	)
	// Another architecture's calls are allowed here (Load's filter kills
	// them; LoadCommand chains the guard after this program, which must
	// not turn a kill of the guard's into a refusal). Then
	// seccomp_data.nr, a jump per rule to its block, allow, the blocks.
	ins := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: nativeArch, SkipTrue: uint8(1 + len(rules))}, // → allow
		bpf.LoadAbsolute{Off: 0, Size: 4},
	}
	const head = 3
	at := head + len(rules) + 1 // where the first block starts
	for i, r := range rules {
		skip := at - (head + i + 1)
		if skip > 255 {
			return nil, fmt.Errorf("command filter: jump of %d too long", skip)
		}
		ins = append(ins, bpf.JumpIf{Cond: bpf.JumpEqual, Val: r.nr, SkipTrue: uint8(skip)})
		at += len(r.block)
	}
	ins = append(ins, allow)
	for _, r := range rules {
		ins = append(ins, r.block...)
	}
	return assemble(ins)
}

// faultSignals are the signals PID 1's Go runtime takes for a fault of its
// own (and crashes on) when their code is not a kill's or tgkill's: the ones
// PID 1 ignores only as sent by kill (nsexec's signal.Ignore).
var faultSignals = [...]unix.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS, unix.SIGSTKFLT}

// modeCall is a syscall that sets a file's mode: the index of its mode
// argument and, for open and openat, of its flags (-1: none; the mode
// counts only with O_CREAT or O_TMPFILE).
type modeCall struct {
	nr                uint32
	modeArg, flagsArg int
}

// holdsRootGroup reports whether the calling thread's effective or
// supplementary groups include group root (gid 0 inside the sandbox is
// gid 0 on the host: fence maps ids to themselves).
func holdsRootGroup() bool {
	if unix.Getegid() == 0 {
		return true
	}
	groups, _ := unix.Getgroups()
	for _, g := range groups {
		if g == 0 {
			return true
		}
	}
	return false
}

// Program returns the embedded libseccomp-generated program (for tests).
func Program() []byte { return program }

func install(prog []byte) error {
	fprog := unix.SockFprog{
		Len:    uint16(len(prog) / 8),
		Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0])),
	}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		if errno == unix.EINVAL {
			return fmt.Errorf("%w (is the kernel built without CONFIG_SECCOMP_FILTER?)", errno)
		}
		return errno
	}
	return nil
}

// harmlessPersonas are the personality(2) values that stay allowed: the
// default, PER_LINUX32, UNAME26, their combination, and the 0xffffffff query.
var harmlessPersonas = [...]uint32{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// socketFamilies are the address families socket(2) may create: unix
// sockets (the guard checks their addresses), IP (the network namespace
// holds only lo, so the proxies are the only way out) and netlink (that
// namespace's own routing, getifaddrs). Every other family fails with
// EAFNOSUPPORT, as if the kernel lacked it: AF_VSOCK reaches the
// hypervisor whatever the network namespace, and the rest (packet, CAN,
// Bluetooth, AF_ALG, ...) is attack surface that no sandboxed build needs.
var socketFamilies = [...]uint32{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK}

// argumentFilter returns a filter for the rules on arguments that
// libseccomp cannot express ("not in a set"):
//   - personality(2) fails with EPERM for anything but harmlessPersonas
//     (e.g. READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE would weaken every later
//     exec in the sandbox);
//   - socket(2) and socketpair(2) fail with EAFNOSUPPORT for a family not
//     in socketFamilies (socketpair creates its sockets before it finds
//     the family has no pairs: a vsock module would load for it);
//   - open_tree_attr(2) (Linux 6.15) fails with EPERM, as the embedded
//     filter refuses open_tree and the rest of the mount API: the
//     libseccomp fence is built with does not know its name.
//
// Any other call, and any of another architecture, is allowed here, and
// so left to the embedded filter, which Load chains after this one: the
// kernel's action cache still allows the calls that filter allows whatever
// their arguments without running the program, as it did with two.
func argumentFilter() ([]byte, error) {
	const (
		offNr     = 0
		offArch   = 4
		offArg0Lo = 16 // seccomp_data.args[0], little-endian low half
	)
	allow := bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}
	// arg0In is a block that allows the syscall if the low half of its
	// first argument is one of vals, and fails it with errno otherwise.
	// It ends with its own returns, so its jumps stay within it. Both
	// arguments below are ints: the kernel reads the low half alone (so
	// personality(-1) through glibc is the query too).
	arg0In := func(vals []uint32, errno unix.Errno) []bpf.Instruction {
		n := uint8(len(vals))
		b := []bpf.Instruction{bpf.LoadAbsolute{Off: offArg0Lo, Size: 4}}
		for i, v := range vals {
			b = append(b, bpf.JumpIf{Cond: bpf.JumpEqual, Val: v, SkipTrue: n - uint8(i)}) // → allow
		}
		return append(b, bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(errno)}, allow)
	}
	pers := arg0In(harmlessPersonas[:], unix.EPERM)
	sock := arg0In(socketFamilies[:], unix.EAFNOSUPPORT)

	ins := []bpf.Instruction{
		// Another architecture's calls are the embedded filter's to
		// kill (chained after this one, Load): its numbers are not
		// these.
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: nativeArch, SkipTrue: 5}, // → allow
		bpf.LoadAbsolute{Off: offNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: personalityNr, SkipTrue: 5},                          // → pers
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_SOCKET, SkipTrue: 4 + uint8(len(pers))},     // → sock
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_SOCKETPAIR, SkipTrue: 3 + uint8(len(pers))}, // → sock
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_OPEN_TREE_ATTR, SkipTrue: 1},                // → eperm
		allow,
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	}
	ins = append(ins, pers...)
	ins = append(ins, sock...)
	return assemble(ins)
}

// assemble encodes a classic BPF program as the kernel takes it.
func assemble(ins []bpf.Instruction) ([]byte, error) {
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		out = append(out, byte(r.Op), byte(r.Op>>8), r.Jt, r.Jf,
			byte(r.K), byte(r.K>>8), byte(r.K>>16), byte(r.K>>24))
	}
	return out, nil
}

// Guard modes for LoadGuard.
const (
	GuardCreate = 1 << iota // creation of directory entries
	GuardWrite              // creation, opens for writing, truncate, unlink, rmdir
	GuardSocket             // connect and bind
)

// LoadGuard installs the guard program for mode (see package doc) on the
// calling thread only and returns its user-notification fd. Only the calling
// thread and the processes it starts afterwards are guarded: the handler
// runs on the init stage's other threads, which must not wait on
// themselves. A process can have one notification listener, so each
// combination of modes is one program. The caller must have set
// no_new_privs.
func LoadGuard(mode int) (int, error) {
	prog, err := guardProgram(mode)
	if err != nil {
		return -1, err
	}
	return loadListener(prog)
}

// guardProgram returns the guard's program for mode (LoadGuard).
func guardProgram(mode int) ([]byte, error) {
	if mode&GuardWrite != 0 {
		mode &^= GuardCreate // write includes create
	}
	switch mode {
	case GuardCreate:
		return guardCreate, nil
	case GuardWrite:
		return guardWrite, nil
	case GuardSocket:
		return guardSocket, nil
	case GuardCreate | GuardSocket:
		return guardCreateSocket, nil
	case GuardWrite | GuardSocket:
		return guardWriteSocket, nil
	}
	return nil, fmt.Errorf("seccomp: no guard program for mode %#x", mode)
}

func loadListener(prog []byte) (int, error) {
	if len(prog)%8 != 0 || len(prog) == 0 {
		return -1, fmt.Errorf("seccomp: embedded guard filter is corrupt (%d bytes)", len(prog))
	}
	fprog := unix.SockFprog{
		Len:    uint16(len(prog) / 8),
		Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0])),
	}
	// WAIT_KILLABLE_RECV (Linux 5.19): once PID 1 has received a request,
	// only a fatal signal interrupts the caller. Otherwise a signal that
	// arrives while PID 1 performs the operation (a Go program's SIGURG,
	// a timer, SIGCHLD) restarts the syscall after the fact: mkdir or
	// open(O_EXCL) already done on the caller's behalf then fails with
	// EEXIST. The cost: a guarded syscall that blocks in PID 1 (opening a
	// FIFO with no other end yet) is not interrupted by a signal the
	// caller handles (a shell's Ctrl-C), only by a fatal one, until the
	// other end opens. Older kernels refuse the flag; the guard enforces
	// the same policy without it.
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, uintptr(unsafe.Pointer(&fprog)))
	if errno == unix.EINVAL {
		fd, _, errno = unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
			unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)))
	}
	switch errno {
	case 0:
		return int(fd), nil
	case unix.EBUSY:
		// The kernel allows one listener in a process's filter chain.
		return -1, fmt.Errorf("load guard filter: %w (a seccomp filter with a user-notification listener is already in force on fence: another sandbox or supervisor that uses one runs it; start fence outside it)", errno)
	}
	return -1, fmt.Errorf("load guard filter: %w (the kernel refused a seccomp user-notification listener: it needs Linux 5.9, and a seccomp profile may refuse it)", errno)
}

//go:build linux && (amd64 || arm64)

package seccomp

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nsfence/fence/nsexec/seccomp/internal/bpfvm"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData is a native call of number nr with arg0 as its first
// argument, for the VM.
func seccompData(nr int32, arg0 uint64) []byte { return bpfvm.Data(uint32(nr), nativeArch, arg0) }

// loadVM loads an assembled program into the VM.
func loadVM(t *testing.T, prog []byte, what string) *bpfvm.VM {
	t.Helper()
	vm, err := bpfvm.Load(prog)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return vm
}

func TestArgumentFilter(t *testing.T) {
	prog, err := argumentFilter()
	if err != nil {
		t.Fatal(err)
	}
	vm := loadVM(t, prog, "argument filter")
	const allow, deny = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	const noFamily = unix.SECCOMP_RET_ERRNO | uint32(unix.EAFNOSUPPORT)
	cases := []struct {
		nr   int32
		arg  uint64
		want uint32
	}{
		{personalityNr, 0, allow},
		{personalityNr, 0x8, allow},
		{personalityNr, 0x20000, allow},
		{personalityNr, 0x20008, allow},
		{personalityNr, 0xffffffff, allow},
		{personalityNr, 0x0400000, deny},                // READ_IMPLIES_EXEC
		{personalityNr, 0x0040000, deny},                // ADDR_NO_RANDOMIZE
		{personalityNr, 0x1_00000000, allow},            // the kernel reads 0
		{personalityNr, 0xffffffff_ffffffff, allow},     // personality(-1): the query
		{personalityNr, 0x1_00000000 | 0x0400000, deny}, // READ_IMPLIES_EXEC in the low half
		{personalityNr + 1, 0x0400000, allow},           // other syscalls untouched
		{unix.SYS_SOCKET, unix.AF_UNIX, allow},
		{unix.SYS_SOCKET, unix.AF_INET, allow},
		{unix.SYS_SOCKET, unix.AF_INET6, allow},
		{unix.SYS_SOCKET, unix.AF_NETLINK, allow},
		{unix.SYS_SOCKET, 0xffffffff_00000000 | unix.AF_INET, allow}, // an int: the high half is not read
		{unix.SYS_SOCKET, unix.AF_VSOCK, noFamily},
		{unix.SYS_SOCKET, unix.AF_PACKET, noFamily},
		{unix.SYS_SOCKET, unix.AF_ALG, noFamily},
		{unix.SYS_SOCKET, unix.AF_UNSPEC, noFamily},
		{unix.SYS_SOCKET, 0x1_00000000 | unix.AF_VSOCK, noFamily},
		{unix.SYS_SOCKETPAIR, unix.AF_VSOCK, noFamily},
		{unix.SYS_SOCKETPAIR, unix.AF_UNIX, allow},
		{unix.SYS_SOCKETPAIR + 1, unix.AF_VSOCK, allow}, // other syscalls untouched
		{unix.SYS_OPEN_TREE_ATTR, 0, deny},              // the mount API's newest call
		{unix.SYS_OPEN_TREE_ATTR + 1, 0, allow},
	}
	for _, c := range cases {
		got, err := vm.Run(seccompData(c.nr, c.arg))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("nr %d arg %#x: got %#x, want %#x", c.nr, c.arg, got, c.want)
		}
	}
	// Another architecture's call of the same number is left to the
	// embedded filter chained after this one, which kills it.
	foreign := bpfvm.Data(personalityNr, 0x40000003, 0x0400000) // AUDIT_ARCH_I386
	if got, err := vm.Run(foreign); err != nil || got != allow {
		t.Errorf("i386 call %d arg READ_IMPLIES_EXEC: got %#x (%v), want allowed here", personalityNr, got, err)
	}
}

// together is what the kernel answers for filters installed in order
// (seccomp_run_filters): the most recent runs first, and a later one's
// answer replaces it only if strictly more restrictive.
func together(answers ...uint32) uint32 {
	ret := uint32(unix.SECCOMP_RET_ALLOW)
	for i := len(answers) - 1; i >= 0; i-- {
		if precedence(answers[i]) < precedence(ret) {
			ret = answers[i]
		}
	}
	return ret
}

// TestChainDecidesAsTwoFilters: each program that chain builds answers
// every call as its two parts, installed as two filters, would: Load's
// (the embedded filter, then the argument filter, installed in that order
// before) and LoadCommand's with each guard mode (the command filter, then
// the guard's program). Every system call number (and the x32 ones), for
// the native, i386 and arm architectures and a foreign one, with
// arguments drawn from the values the programs test.
func TestChainDecidesAsTwoFilters(t *testing.T) {
	args, err := argumentFilter()
	if err != nil {
		t.Fatal(err)
	}
	main, err := mainFilter()
	if err != nil {
		t.Fatal(err)
	}
	type pair struct {
		name         string
		chained      *bpfvm.VM
		older, newer *bpfvm.VM
	}
	pairs := []pair{{"Load", loadVM(t, main, "Load's program"), loadVM(t, program, "embedded filter"), loadVM(t, args, "argument filter")}}
	for _, noSetGID := range []bool{false, true} {
		cmd, err := commandFilter(noSetGID)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []int{GuardCreate, GuardWrite, GuardSocket, GuardCreate | GuardSocket, GuardWrite | GuardSocket} {
			g, err := guardProgram(mode)
			if err != nil {
				t.Fatal(err)
			}
			c, err := chain(cmd, g)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("LoadCommand(%#x), noSetGID %v", mode, noSetGID)
			pairs = append(pairs, pair{name, loadVM(t, c, name), loadVM(t, cmd, "command filter"), loadVM(t, g, "guard program")})
		}
	}
	values := []uint64{0, 1, 2, 3, 4, 5, 7, 8, 10, 11, 16, 17, 29, 31, 32, 34, 38, 40, 0x40, 0x400, 0x800, 0xc00,
		0o2755, 0o4755, 0o755, 0x20000, 0x20008, 0x40000, 0x400000, 0x410000, unix.O_TMPFILE, unix.O_CREAT | unix.O_WRONLY,
		unix.TIOCEXCL, unix.TIOCNXCL, unix.TIOCSTI, unix.TIOCSETD, unix.TCGETS, unix.F_SETSIG, unix.F_SETFL, unix.CLONE_NEWUSER,
		unix.AT_FDCWD & 0xffffffff, 0x7fffffff, 0xffffffff, 0x1000, 0x7f00_0000_0000, 0xffff_ffff_0000_0000}
	rnd := rand.New(rand.NewPCG(1, 2))
	var b []byte
	run := func(vm *bpfvm.VM) uint32 {
		got, err := vm.Run(b)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	var nrs []uint32
	for nr := uint32(0); nr < 600; nr++ {
		nrs = append(nrs, nr)
		if nativeArch == unix.AUDIT_ARCH_X86_64 {
			nrs = append(nrs, nr|0x40000000) // x32
		}
	}
	checked := 0
	for _, arch := range []uint32{nativeArch, 0x40000003, 0x40000028, 0} {
		for _, nr := range nrs {
			for v := range 24 {
				var args [6]uint64
				for i := range args {
					if v > 0 {
						args[i] = values[rnd.IntN(len(values))]
						if rnd.IntN(8) == 0 {
							args[i] |= uint64(rnd.Uint32()) << 32
						}
					}
				}
				b = bpfvm.Data(nr, arch, args[:]...)
				for _, p := range pairs {
					want := together(run(p.older), run(p.newer))
					if got := run(p.chained); got != want {
						t.Fatalf("%s: arch %#x nr %d args % x: chained %#x, two filters %#x", p.name, arch, nr, b[16:], got, want)
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d calls answered alike", checked)
}

// TestChain: chain turns first's allow returns, and only those, into jumps
// to then, and refuses a first program that returns a register.
func TestChain(t *testing.T) {
	first, err := assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	then, err := assemble([]bpf.Instruction{bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := chain(first, then)
	if err != nil {
		t.Fatal(err)
	}
	vm := loadVM(t, c, "chained")
	for nr, want := range map[int32]uint32{0: unix.SECCOMP_RET_KILL_PROCESS, 1: unix.SECCOMP_RET_ERRNO | 1, 2: unix.SECCOMP_RET_KILL_PROCESS} {
		if got, err := vm.Run(seccompData(nr, 0)); err != nil || got != want {
			t.Errorf("nr %d: %#x (%v), want %#x", nr, got, err, want)
		}
	}
	regA, err := assemble([]bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}, bpf.RetA{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain(regA, then); err == nil {
		t.Error("chain accepted a program returning register A")
	}
	if _, err := chain(first[:7], then); err == nil {
		t.Error("chain accepted a program of 7 bytes")
	}
	// Answers that would keep then from refusing, jumps out of first, and
	// a first that runs off its end are refused; an allow with data is
	// an allow.
	for what, ins := range map[string][]bpf.Instruction{
		"a log":                {bpf.RetConstant{Val: unix.SECCOMP_RET_LOG}},
		"a user notification":  {bpf.RetConstant{Val: unix.SECCOMP_RET_USER_NOTIF}},
		"a jump past its end":  {bpf.Jump{Skip: 1}, bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}},
		"a conditional past":   {bpf.LoadAbsolute{Off: 0, Size: 4}, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 1}, bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}},
		"no return at its end": {bpf.LoadAbsolute{Off: 0, Size: 4}},
	} {
		p, err := assemble(ins)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chain(p, then); err == nil {
			t.Errorf("chain accepted a first program with %s", what)
		}
	}
	withData, err := assemble([]bpf.Instruction{bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW | 7}})
	if err != nil {
		t.Fatal(err)
	}
	c, err = chain(withData, then)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := loadVM(t, c, "chained").Run(seccompData(0, 0)); err != nil || got != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("an allow with data ended the chained program: %#x (%v)", got, err)
	}
}

func TestEmbeddedProgramChecksArch(t *testing.T) {
	p := Program()
	if len(p) < 16 || len(p)%8 != 0 {
		t.Fatalf("embedded program has %d bytes", len(p))
	}
	// First instruction loads seccomp_data.arch (offset 4): the native-ABI
	// check comes before any syscall number is looked at.
	if op, k := binary.LittleEndian.Uint16(p[0:]), binary.LittleEndian.Uint32(p[4:]); op != 0x20 || k != 4 {
		t.Fatalf("first instruction is op %#x k %d, want ld [4]", op, k)
	}
}

// commandVM runs commandFilter(noSetGID) in the BPF VM on the syscall nr
// with args (each stored as seccompData stores args[0]).
func commandVM(t *testing.T, noSetGID bool) func(nr uint32, args ...uint64) uint32 {
	t.Helper()
	prog, err := commandFilter(noSetGID)
	if err != nil {
		t.Fatal(err)
	}
	vm := loadVM(t, prog, "command filter")
	return func(nr uint32, args ...uint64) uint32 {
		got, err := vm.Run(bpfvm.Data(nr, nativeArch, args...))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
}

// The command filter refuses process_vm_readv always, and the
// set-group-ID bit (on every mode-setting call) when fence runs as root.
func TestCommandFilter(t *testing.T) {
	const allow, deny = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	const tmpfile = unix.O_TMPFILE | unix.O_WRONLY
	for _, noSetGID := range []bool{false, true} {
		run := commandVM(t, noSetGID)
		setgid := uint32(allow)
		if noSetGID {
			setgid = deny
		}
		if got := run(unix.SYS_PROCESS_VM_READV); got != deny {
			t.Errorf("noSetGID %v: process_vm_readv: %#x, want EPERM", noSetGID, got)
		}
		for _, c := range setGIDModes {
			args := make([]uint64, 6)
			if c.flagsArg >= 0 {
				args[c.flagsArg] = unix.O_RDONLY
				args[c.modeArg] = 0o2755
				if got := run(c.nr, args...); got != allow {
					t.Errorf("noSetGID %v: syscall %d without O_CREAT, mode 02755: %#x, want allowed", noSetGID, c.nr, got)
				}
				for _, flags := range []uint64{unix.O_CREAT | unix.O_WRONLY, tmpfile} {
					args[c.flagsArg] = flags
					if got := run(c.nr, args...); got != setgid {
						t.Errorf("noSetGID %v: syscall %d flags %#x mode 02755: %#x, want %#x", noSetGID, c.nr, flags, got, setgid)
					}
				}
				args[c.flagsArg] = unix.O_CREAT | unix.O_WRONLY
			}
			for mode, want := range map[uint64]uint32{0o2755: setgid, 0o2000: setgid, 0o755: allow, 0o1777: allow, 0xffff_0000_0000_0000 | 0o755: allow} {
				args[c.modeArg] = mode
				if got := run(c.nr, args...); got != want {
					t.Errorf("noSetGID %v: syscall %d mode %#o: %#x, want %#x", noSetGID, c.nr, mode, got, want)
				}
			}
		}
		if got := run(unix.SYS_GETPID); got != allow {
			t.Errorf("noSetGID %v: getpid: %#x, want allowed", noSetGID, got)
		}
		// Signals PID 1's runtime would take for faults (see
		// commandFilter).
		for _, c := range []struct {
			nr   uint32
			args []uint64
			want uint32
		}{
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{1, 11, 0x1000}, deny},
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{0xffff_ffff_0000_0001, 11, 0x1000}, deny},
			// Any pid may be a thread of PID 1: the fault signals fail
			// to all, the others only to PID 1.
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{2, 11, 0x1000}, deny},
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{2, 7, 0x1000}, deny},
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{2, uint64(unix.SIGSTKFLT), 0x1000}, deny},
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{2, 0xffff_ffff_0000_0000 | 31, 0x1000}, deny},
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{2, 10, 0x1000}, allow},
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{2, 34, 0x1000}, allow},
			{unix.SYS_RT_SIGQUEUEINFO, []uint64{1, 34, 0x1000}, deny},
			{unix.SYS_RT_TGSIGQUEUEINFO, []uint64{1, 1, 7, 0x1000}, deny},
			{unix.SYS_RT_TGSIGQUEUEINFO, []uint64{7, 7, 7, 0x1000}, allow},
			{unix.SYS_PIDFD_SEND_SIGNAL, []uint64{3, 11, 0}, allow},
			{unix.SYS_PIDFD_SEND_SIGNAL, []uint64{3, 11, 0x1000}, deny},
			{unix.SYS_PIDFD_SEND_SIGNAL, []uint64{3, 11, 0x7f00_0000_0000}, deny},
			{unix.SYS_FCNTL, []uint64{3, unix.F_SETSIG, 7}, deny},
			{unix.SYS_FCNTL, []uint64{3, unix.F_SETSIG, 11}, deny},
			{unix.SYS_FCNTL, []uint64{3, unix.F_SETSIG, 0}, allow},
			{unix.SYS_FCNTL, []uint64{3, unix.F_SETSIG, uint64(unix.SIGIO)}, allow},
			{unix.SYS_FCNTL, []uint64{3, unix.F_SETSIG, 34}, allow},
			{unix.SYS_FCNTL, []uint64{3, unix.F_SETFL, 11}, allow},
			// Another process's limits may be read, not set: PID 1
			// and its threads have the command's ids.
			{unix.SYS_PRLIMIT64, []uint64{1, unix.RLIMIT_NOFILE, 0x1000, 0}, deny},
			{unix.SYS_PRLIMIT64, []uint64{2, unix.RLIMIT_CPU, 0x7f00_0000_0000, 0x2000}, deny},
			{unix.SYS_PRLIMIT64, []uint64{0xffff_ffff_0000_0007, unix.RLIMIT_NOFILE, 0x1000, 0}, deny},
			{unix.SYS_PRLIMIT64, []uint64{1, unix.RLIMIT_NOFILE, 0, 0x1000}, allow},
			{unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_NOFILE, 0x1000, 0}, allow},
			{unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_NOFILE, 0, 0x1000}, allow},
			// RLIMIT_CORE keeps its 1 byte: a new one changes nothing
			// (success) unless the old one is asked for (EPERM).
			{unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_CORE, 0x1000, 0}, unix.SECCOMP_RET_ERRNO},
			{unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_CORE, 0x7f00_0000_0000, 0}, unix.SECCOMP_RET_ERRNO},
			{unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_CORE, 0x1000, 0x2000}, deny},
			{unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_CORE, 0x1000, 0x7f00_0000_0000}, deny},
			{unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_CORE, 0, 0x2000}, allow},
			{unix.SYS_PRLIMIT64, []uint64{1, unix.RLIMIT_CORE, 0x1000, 0}, deny},
			{unix.SYS_SETRLIMIT, []uint64{unix.RLIMIT_CORE, 0x1000}, unix.SECCOMP_RET_ERRNO},
			{unix.SYS_SETRLIMIT, []uint64{unix.RLIMIT_NOFILE, 0x1000}, allow},
			{unix.SYS_IOCTL, []uint64{0, unix.TIOCEXCL}, deny},
			{unix.SYS_IOCTL, []uint64{0, 0xffff_ffff_0000_0000 | unix.TIOCEXCL}, deny},
			{unix.SYS_IOCTL, []uint64{0, unix.TIOCNXCL}, allow},
			{unix.SYS_IOCTL, []uint64{0, unix.TCGETS}, allow},
		} {
			if got := run(c.nr, c.args...); got != c.want {
				t.Errorf("noSetGID %v: syscall %d %#x: %#x, want %#x", noSetGID, c.nr, c.args, got, c.want)
			}
		}
	}
}

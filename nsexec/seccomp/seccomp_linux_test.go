//go:build linux && (amd64 || arm64)

package seccomp

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData builds a struct seccomp_data for the BPF VM. The kernel loads
// 32-bit words in native (little-endian) order; x/net/bpf's VM loads them in
// network order, so each word is stored big-endian at its native offset.
func seccompData(nr int32, arg0 uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[16:], uint32(arg0))     // args[0] low half
	binary.BigEndian.PutUint32(b[20:], uint32(arg0>>32)) // args[0] high half
	return b
}

func TestArgumentFilter(t *testing.T) {
	prog, err := argumentFilter()
	if err != nil {
		t.Fatal(err)
	}
	var raw []bpf.RawInstruction
	for i := 0; i < len(prog); i += 8 {
		raw = append(raw, bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(prog[i:]), Jt: prog[i+2], Jf: prog[i+3],
			K: binary.LittleEndian.Uint32(prog[i+4:]),
		})
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("argument filter does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
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
	}
	for _, c := range cases {
		got, err := vm.Run(seccompData(c.nr, c.arg))
		if err != nil {
			t.Fatal(err)
		}
		if uint32(got) != c.want {
			t.Errorf("nr %d arg %#x: got %#x, want %#x", c.nr, c.arg, got, c.want)
		}
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

// Package bpfvm runs seccomp programs in golang.org/x/net/bpf's virtual
// machine, for the tests of package seccomp (its hand-assembled and chained
// programs) and of package gen (the generated ones, on each architecture's
// numbers): one decoding of the kernel's program format and of struct
// seccomp_data for both. It is a package of its own only so that both test
// suites can share it; the fence binary never imports it.
package bpfvm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// VM is a seccomp program loaded into the virtual machine.
type VM struct{ vm *bpf.VM }

// Load decodes prog, an array of struct sock_filter as the kernel takes it
// (little-endian), into a VM.
func Load(prog []byte) (*VM, error) {
	if len(prog) == 0 || len(prog)%8 != 0 {
		return nil, fmt.Errorf("a program of %d bytes", len(prog))
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
		return nil, errors.New("the program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return nil, err
	}
	return &VM{vm}, nil
}

// Data returns the struct seccomp_data of a call of number nr on the
// audit architecture arch with the arguments args, for Run. The kernel
// loads its 32-bit words in native (little-endian) order; the virtual
// machine loads them in network order, so each word is stored big-endian
// at its native offset.
func Data(nr, arch uint32, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))     // args[i] low half
		binary.BigEndian.PutUint32(b[20+8*i:], uint32(a>>32)) // args[i] high half
	}
	return b
}

// Run returns the program's answer for data (Data).
func (v *VM) Run(data []byte) (uint32, error) {
	got, err := v.vm.Run(data)
	return uint32(got), err
}

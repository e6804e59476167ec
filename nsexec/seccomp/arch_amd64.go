//go:build linux

package seccomp

import (
	_ "embed"

	"golang.org/x/sys/unix"
)

//go:embed filter_amd64.bpf
var program []byte

//go:embed guard_create_amd64.bpf
var guardCreate []byte

//go:embed guard_write_amd64.bpf
var guardWrite []byte

//go:embed guard_socket_amd64.bpf
var guardSocket []byte

//go:embed guard_create_socket_amd64.bpf
var guardCreateSocket []byte

//go:embed guard_write_socket_amd64.bpf
var guardWriteSocket []byte

// nativeArch is seccomp_data.arch of this architecture's native system calls.
const nativeArch = unix.AUDIT_ARCH_X86_64

const personalityNr = 135

// setGIDModes are the syscalls that set a file's mode (commandFilter),
// as gen.go's setUIDModes.
var setGIDModes = [...]modeCall{
	{unix.SYS_CHMOD, 1, -1}, {unix.SYS_FCHMOD, 1, -1}, {unix.SYS_FCHMODAT, 2, -1}, {unix.SYS_FCHMODAT2, 2, -1},
	{unix.SYS_CREAT, 1, -1}, {unix.SYS_OPEN, 2, 1}, {unix.SYS_OPENAT, 3, 2},
	{unix.SYS_MKNOD, 1, -1}, {unix.SYS_MKNODAT, 2, -1},
}

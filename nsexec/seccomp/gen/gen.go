//go:build linux && cgo

package gen

import (
	"fmt"
	"io"
	"os"

	sc "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Arches maps GOARCH to the libseccomp architecture the filter is built for.
var Arches = map[string]sc.ScmpArch{
	"amd64": sc.ArchAMD64,
	"arm64": sc.ArchARM64,
}

// denied syscalls fail with EPERM. Names unknown on an architecture (ioperm
// on arm64, say) are skipped.
var denied = []string{
	// Debugging and memory of other processes. (process_vm_readv is denied
	// to the command by a filter on its thread alone, seccomp.LoadCommand:
	// PID 1's guard reads the caller's memory with it.)
	"ptrace", "process_vm_writev", "kcmp",
	// Kernel keyrings are shared beyond the sandbox.
	"keyctl", "add_key", "request_key",
	// Kernel attack surface with a history of exploits.
	"bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	// Kernel and module loading, power, logs, accounting, swap.
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"reboot", "syslog", "acct", "swapon", "swapoff",
	// Raw I/O ports.
	"ioperm", "iopl",
	// Mount table changes, old and new API.
	"mount", "umount2", "pivot_root", "chroot",
	"fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr",
	// Namespaces: no nested sandbox escapes through fresh capabilities.
	"unshare", "setns",
	// File handles bypass path-based checks (the "shocker" escape).
	"open_by_handle_at", "name_to_handle_at",
	// Obsolete interfaces.
	"uselib", "_sysctl", "quotactl", "quotactl_fd", "lookup_dcookie", "nfsservctl", "vhangup",
}

// nsFlags are the clone flags that create namespaces.
const nsFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// created are the syscalls that create a directory entry. With the creation
// guard on, they go to the init stage (SECCOMP_RET_USER_NOTIF), which refuses
// protected names and performs the rest on the caller's behalf. open and
// openat only when one of the flag bits is set; the flags argument index is
// given.
var created = []guarded{
	{"open", 1}, {"openat", 2}, {"creat", -1},
	{"mkdir", -1}, {"mkdirat", -1}, {"mknod", -1}, {"mknodat", -1},
	{"symlink", -1}, {"symlinkat", -1}, {"link", -1}, {"linkat", -1},
	{"rename", -1}, {"renameat", -1}, {"renameat2", -1},
}

// modified are the further syscalls the write guard sends to the init stage:
// they change or remove an existing entry (open for writing is covered by
// the flag bits below).
var modified = []guarded{
	{"truncate", -1}, {"unlink", -1}, {"unlinkat", -1}, {"rmdir", -1},
}

// tracked are syscalls every guard program only watches: the init
// stage notes the new umask (a value, not a pointer, so letting the kernel
// run the syscall afterwards cannot change what was checked) and answers
// "continue". It then knows every caller's umask without reading
// /proc/PID/status for each file it creates.
var tracked = []string{"umask"}

type guarded struct {
	name     string
	flagsArg int // -1: always
}

// Guard modes: what the guard program sends to the init stage.
const (
	GuardCreate = 1 << iota // creation of directory entries
	GuardWrite              // creation, opens for writing, truncate, unlink, rmdir
	GuardSocket             // connect and bind
)

// Guards are the user-notification programs by file name. A process can
// have only one notification listener, so each combination is one program.
var Guards = map[string]int{
	"guard_create":        GuardCreate,
	"guard_write":         GuardWrite,
	"guard_socket":        GuardSocket,
	"guard_create_socket": GuardCreate | GuardSocket,
	"guard_write_socket":  GuardWrite | GuardSocket,
}

// BuildGuard returns the user-notification program for mode on goarch.
// Create: the syscalls in created go to the init stage (open/openat with
// O_CREAT only), and openat2 fails with ENOSYS (its flags are in memory the
// filter cannot read; callers fall back to openat). Write: as create, plus
// open/openat with any of O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, and the
// syscalls in modified. Socket: connect and bind (their address is in
// memory, so the filter cannot tell AF_UNIX from AF_INET). Everything else is
// allowed; the program is loaded on top of the main one.
func BuildGuard(goarch string, mode int) ([]byte, error) {
	f, arch, err := newFilter(goarch)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	bits := []uint64{unix.O_CREAT}
	calls := created
	if mode&GuardWrite != 0 {
		bits = []uint64{unix.O_CREAT, unix.O_WRONLY, unix.O_RDWR, unix.O_TRUNC}
		calls = append(append([]guarded{}, created...), modified...)
	}
	if mode&(GuardCreate|GuardWrite) != 0 {
		for _, c := range calls {
			nr, ok := ruleNr(c.name, arch)
			if !ok {
				continue // not on this architecture
			}
			if c.flagsArg < 0 {
				if err := f.AddRule(nr, sc.ActNotify); err != nil {
					return nil, fmt.Errorf("guard %s: %w", c.name, err)
				}
				continue
			}
			// One rule per bit: rules for a syscall are ORed.
			for _, b := range bits {
				if err := f.AddRuleConditional(nr, sc.ActNotify, []sc.ScmpCondition{{
					Argument: uint(c.flagsArg), Op: sc.CompareMaskedEqual, Operand1: b, Operand2: b,
				}}); err != nil {
					return nil, fmt.Errorf("guard %s: %w", c.name, err)
				}
			}
		}
		if nr, ok := ruleNr("openat2", arch); ok {
			if err := f.AddRule(nr, sc.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
				return nil, err
			}
		}
	}
	if mode&GuardSocket != 0 {
		for _, name := range []string{"connect", "bind"} {
			nr, ok := ruleNr(name, arch)
			if !ok {
				return nil, fmt.Errorf("no system call %s on %s", name, arch)
			}
			if err := f.AddRule(nr, sc.ActNotify); err != nil {
				return nil, fmt.Errorf("guard %s: %w", name, err)
			}
		}
	}
	// Every mode creates something for the caller (bind creates the
	// socket's file), so every mode watches the umask.
	for _, name := range tracked {
		nr, ok := ruleNr(name, arch)
		if !ok {
			return nil, fmt.Errorf("no system call %s on %s", name, arch)
		}
		if err := f.AddRule(nr, sc.ActNotify); err != nil {
			return nil, fmt.Errorf("guard %s: %w", name, err)
		}
	}
	// A thread cloned without CLONE_FS has a umask of its own, which can
	// later become its process's (an exec from that thread takes over the
	// process id): watched too, so that the init stage stops trusting what
	// it knows of umasks. Thread libraries always share CLONE_FS. (clone3
	// fails with ENOSYS in the main program, so libc falls back to clone,
	// whose flags a filter can read; both ABIs pass them first.)
	clone, ok := ruleNr("clone", arch)
	if !ok {
		return nil, fmt.Errorf("no system call clone on %s", arch)
	}
	if err := f.AddRuleConditional(clone, sc.ActNotify, []sc.ScmpCondition{{
		Argument: 0, Op: sc.CompareMaskedEqual, Operand1: unix.CLONE_THREAD | unix.CLONE_FS, Operand2: unix.CLONE_THREAD,
	}}); err != nil {
		return nil, fmt.Errorf("guard clone: %w", err)
	}
	return export(f)
}

// newFilter returns an allow-by-default filter for goarch's ABI alone;
// other ABIs kill the process.
func newFilter(goarch string) (*sc.ScmpFilter, sc.ScmpArch, error) {
	arch, ok := Arches[goarch]
	if !ok {
		return nil, 0, fmt.Errorf("seccomp: no filter for architecture %s", goarch)
	}
	f, err := sc.NewFilter(sc.ActAllow)
	if err != nil {
		return nil, 0, fmt.Errorf("new filter: %w", err)
	}
	native, err := sc.GetNativeArch()
	if err == nil {
		err = f.SetBadArchAction(sc.ActKillProcess)
	}
	if err == nil {
		err = f.AddArch(arch)
	}
	if err == nil && native != arch {
		err = f.RemoveArch(native)
	}
	if err == nil {
		err = f.SetNoNewPrivsBit(false)
	}
	// A binary tree of syscall numbers instead of a linear chain. The
	// kernel, when a filter is attached, runs it once per syscall number to
	// find the ones it always allows (the seccomp action cache): with a
	// chain every number walks the whole list, with the tree a few levels.
	// The main filter's install went from ~170 to ~100 µs on a 2-core VM,
	// on every sandbox start (docs/benchmarking.md, fifth pass).
	if err == nil {
		err = f.SetOptimize(2)
	}
	if err != nil {
		f.Release()
		return nil, 0, err
	}
	return f, arch, nil
}

func export(f *sc.ScmpFilter) ([]byte, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	errc := make(chan error, 1)
	go func() { errc <- f.ExportBPF(w); w.Close() }()
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("export bpf: %w", err)
	}
	return out, nil
}

// Programs returns every embedded program by file name prefix.
func Programs() map[string]func(goarch string) ([]byte, error) {
	m := map[string]func(string) ([]byte, error){"filter": Build}
	for k, mode := range Guards {
		m[k] = func(a string) ([]byte, error) { return BuildGuard(a, mode) }
	}
	return m
}

// Build returns the BPF program for goarch.
func Build(goarch string) ([]byte, error) {
	// Only the native ABI: any other (i386 int 0x80 on amd64, x32, arm32 on
	// arm64) kills the process, so a compat syscall table cannot be used to
	// get around the rules below.
	f, arch, err := newFilter(goarch)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	eperm := sc.ActErrno.SetReturnCode(int16(unix.EPERM))
	for _, name := range denied {
		nr, ok := ruleNr(name, arch)
		if !ok {
			continue // not on this architecture (negative: libseccomp pseudo-syscall)
		}
		if err := f.AddRule(nr, eperm); err != nil {
			return nil, fmt.Errorf("deny %s: %w", name, err)
		}
	}
	// clone3 passes its flags in memory seccomp cannot read: ENOSYS makes
	// libc fall back to clone, whose flags we can check.
	if nr, ok := ruleNr("clone3", arch); ok {
		if err := f.AddRule(nr, sc.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
			return nil, err
		}
	}
	clone, ok := ruleNr("clone", arch)
	if !ok {
		return nil, fmt.Errorf("no system call clone on %s", arch)
	}
	// clone's flags are argument 0 on amd64 and arm64. One rule per flag:
	// rules for the same syscall are ORed.
	for bit := uint64(1); bit != 0; bit <<= 1 {
		if bit&nsFlags == 0 {
			continue
		}
		if err := f.AddRuleConditional(clone, eperm, []sc.ScmpCondition{{
			Argument: 0, Op: sc.CompareMaskedEqual, Operand1: bit, Operand2: bit,
		}}); err != nil {
			return nil, fmt.Errorf("deny clone flag %#x: %w", bit, err)
		}
	}
	// personality(2) and socket(2) are restricted by a hand-assembled filter that
	// package seccomp chains in front of this program (argumentFilter, chain):
	// libseccomp cannot express "arg0 not in a set".
	// Keystroke injection into the terminal: TIOCSTI pushes input, TIOCLINUX
	// can paste the console selection. TIOCSETD changes the terminal's line
	// discipline, which outlives the sandbox on a terminal fence passes
	// through (one on stdio that is not its controlling terminal: N_NULL
	// leaves it dead), and would load line-discipline modules on demand.
	// The request is 32 bits wide.
	ioctl, ok := ruleNr("ioctl", arch)
	if !ok {
		return nil, fmt.Errorf("no system call ioctl on %s", arch)
	}
	for _, req := range []uint64{unix.TIOCSTI, 0x541C /* TIOCLINUX */, unix.TIOCSETD} {
		if err := f.AddRuleConditional(ioctl, eperm, []sc.ScmpCondition{{
			Argument: 1, Op: sc.CompareMaskedEqual, Operand1: 0xffffffff, Operand2: req,
		}}); err != nil {
			return nil, fmt.Errorf("deny ioctl %#x: %w", req, err)
		}
	}
	if err := denySetUID(f, arch, eperm); err != nil {
		return nil, err
	}
	return export(f)
}

// setUIDModes are the mode arguments (by index) of the syscalls that set a
// file's mode, and for open and openat of the flags argument whose
// creating bits make the mode count (-1: it always counts).
var setUIDModes = []struct {
	name              string
	modeArg, flagsArg int
}{
	{"chmod", 1, -1}, {"fchmod", 1, -1}, {"fchmodat", 2, -1}, {"fchmodat2", 2, -1},
	{"creat", 1, -1}, {"open", 2, 1}, {"openat", 3, 2},
	{"mknod", 1, -1}, {"mknodat", 2, -1},
}

// denySetUID makes setting the set-user-ID bit fail with EPERM: a file the
// command makes set-user-ID in a writable path outlives the sandbox on the
// host, owned by the user fence ran as (root, for fence run as root), for
// anyone who can reach it to run as that user. The set-group-ID bit stays
// allowed: the filter cannot tell a directory from a file, and GNU chmod,
// cp -a and tar keep a directory's set-group-ID bit whenever they change
// its mode, so refusing it broke every chmod in a group-shared directory;
// a set-group-ID file gives only the runner's own groups, which it can
// hold in the user namespace; for root that is group root, and
// seccomp.LoadCommand refuses the bit then. openat2 carries its mode in memory: it
// fails with ENOSYS wherever a path is writable (the write guard's
// programs), and libc falls back to openat.
func denySetUID(f *sc.ScmpFilter, arch sc.ScmpArch, eperm sc.ScmpAction) error {
	for _, c := range setUIDModes {
		nr, ok := ruleNr(c.name, arch)
		if !ok {
			continue // not on this architecture
		}
		mode := sc.ScmpCondition{Argument: uint(c.modeArg), Op: sc.CompareMaskedEqual, Operand1: unix.S_ISUID, Operand2: unix.S_ISUID}
		if c.flagsArg < 0 {
			if err := f.AddRuleConditional(nr, eperm, []sc.ScmpCondition{mode}); err != nil {
				return fmt.Errorf("deny set-user-id %s: %w", c.name, err)
			}
			continue
		}
		// The mode counts only when the call creates a file; an open
		// without O_CREAT may pass anything there.
		for _, create := range []uint64{unix.O_CREAT, unix.O_TMPFILE &^ unix.O_DIRECTORY} {
			flags := sc.ScmpCondition{Argument: uint(c.flagsArg), Op: sc.CompareMaskedEqual, Operand1: create, Operand2: create}
			if err := f.AddRuleConditional(nr, eperm, []sc.ScmpCondition{flags, mode}); err != nil {
				return fmt.Errorf("deny set-user-id %s: %w", c.name, err)
			}
		}
	}
	return nil
}

// ruleNr returns the number that AddRule takes for the system call name in
// a filter for arch, and whether arch has that call. libseccomp reads a
// rule's number as the build host's (or as one of its pseudo-numbers, for
// a call the host lacks) and translates it to each architecture of the
// filter by name. arch's own number, which GetSyscallFromNameByArch gives,
// names another call wherever the two differ: arm64's filters, built on an
// amd64 host from arm64 numbers, refused setresuid for ptrace (117 on
// arm64), sendfile for mount and socket for pivot_root, and let ptrace,
// mount, bpf and setns through.
func ruleNr(name string, arch sc.ScmpArch) (sc.ScmpSyscall, bool) {
	if nr, err := sc.GetSyscallFromNameByArch(name, arch); err != nil || nr < 0 {
		return 0, false // not on arch (negative: a libseccomp pseudo-number)
	}
	nr, err := sc.GetSyscallFromName(name)
	if err != nil {
		return 0, false
	}
	return nr, true
}

//go:build linux && cgo

package gen

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nsfence/fence/nsexec/seccomp/internal/bpfvm"
	sc "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// TestEmbeddedFiltersInSync fails when the BPF programs embedded in the fence
// binary differ from what libseccomp builds from the policy in gen.go. Run
// `make seccomp` to regenerate them.
func TestEmbeddedFiltersInSync(t *testing.T) {
	// Every embedded program is one this test regenerates: one that
	// Programs no longer lists would never be compared.
	embedded, err := filepath.Glob(filepath.Join("..", "*.bpf"))
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for arch := range Arches {
		for name := range Programs() {
			checked[filepath.Join("..", name+"_"+arch+".bpf")] = true
		}
	}
	if len(embedded) == 0 {
		t.Fatal("no embedded .bpf program found next to the package")
	}
	for _, f := range embedded {
		if !checked[f] {
			t.Errorf("%s is embedded, but no program of Programs() x Arches builds it", f)
		}
	}
	for arch := range Arches {
		for name, build := range Programs() {
			got, err := build(arch)
			if err != nil {
				t.Fatalf("build %s %s: %v", name, arch, err)
			}
			want, err := os.ReadFile(filepath.Join("..", name+"_"+arch+".bpf"))
			if err != nil {
				t.Fatalf("read embedded program: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s_%s.bpf is stale (%d bytes embedded, %d generated): run make seccomp", name, arch, len(want), len(got))
			}
		}
	}
}

// vmRun loads a generated program into the VM and returns a function
// answering a call of number nr on the seccomp architecture auditArch with
// args.
func vmRun(t *testing.T, prog []byte, auditArch uint32) func(nr sc.ScmpSyscall, args ...uint64) uint32 {
	t.Helper()
	vm, err := bpfvm.Load(prog)
	if err != nil {
		t.Fatal(err)
	}
	return func(nr sc.ScmpSyscall, args ...uint64) uint32 {
		got, err := vm.Run(bpfvm.Data(uint32(nr), auditArch, args...))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
}

// auditArches are seccomp_data.arch of Arches' native calls.
var auditArches = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}

// TestProgramsUseEachArchNumbers: each generated program, run on its own
// architecture's calls (numbered as libseccomp numbers them there), refuses
// the denied ones and lets ordinary ones through; each guard sends its
// calls to PID 1 and no others. The arm64 programs, built on an amd64 host
// from arm64 numbers that libseccomp took for amd64 ones, once refused
// getpid, exit and socket and let ptrace, mount and setns through, and
// TestEmbeddedFiltersInSync, regenerating them the same way, agreed.
func TestProgramsUseEachArchNumbers(t *testing.T) {
	const allow, eperm, notify = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM), unix.SECCOMP_RET_USER_NOTIF
	ordinary := []string{"read", "write", "close", "exit", "exit_group", "getpid", "getdents64", "mmap", "execve", "socket", "fstat", "futex", "wait4", "setresuid"}
	for goarch, arch := range Arches {
		nr := func(name string) sc.ScmpSyscall {
			n, err := sc.GetSyscallFromNameByArch(name, arch)
			if err != nil || n < 0 {
				t.Fatalf("%s has no system call %s", goarch, name)
			}
			return n
		}
		main, err := Build(goarch)
		if err != nil {
			t.Fatal(err)
		}
		run := vmRun(t, main, auditArches[goarch])
		for _, name := range denied {
			if n, err := sc.GetSyscallFromNameByArch(name, arch); err == nil && n >= 0 {
				if got := run(n); got != eperm {
					t.Errorf("%s: %s (%d) answered %#x, want EPERM", goarch, name, n, got)
				}
			}
		}
		for _, name := range ordinary {
			if got := run(nr(name), 1); got != allow {
				t.Errorf("%s: %s answered %#x, want allowed", goarch, name, got)
			}
		}
		if got := run(nr("clone"), unix.CLONE_NEWUSER); got != eperm {
			t.Errorf("%s: clone(CLONE_NEWUSER) answered %#x, want EPERM", goarch, got)
		}
		if got := run(nr("ioctl"), 0, unix.TIOCSTI); got != eperm {
			t.Errorf("%s: ioctl(TIOCSTI) answered %#x, want EPERM", goarch, got)
		}
		for guard, mode := range Guards {
			prog, err := BuildGuard(goarch, mode)
			if err != nil {
				t.Fatal(err)
			}
			run := vmRun(t, prog, auditArches[goarch])
			for _, name := range ordinary {
				if got := run(nr(name)); got != allow {
					t.Errorf("%s %s: %s answered %#x, want allowed", goarch, guard, name, got)
				}
			}
			if got := run(nr("umask"), 0o22); got != notify {
				t.Errorf("%s %s: umask answered %#x, want sent to PID 1", goarch, guard, got)
			}
			for _, c := range []string{"connect", "bind"} {
				want := uint32(allow)
				if mode&GuardSocket != 0 {
					want = notify
				}
				if got := run(nr(c)); got != want {
					t.Errorf("%s %s: %s answered %#x, want %#x", goarch, guard, c, got, want)
				}
			}
			for _, c := range []string{"mkdirat", "renameat2", "symlinkat", "linkat"} {
				want := uint32(allow)
				if mode&(GuardCreate|GuardWrite) != 0 {
					want = notify
				}
				if got := run(nr(c)); got != want {
					t.Errorf("%s %s: %s answered %#x, want %#x", goarch, guard, c, got, want)
				}
			}
			// openat's flags are its third argument: creating goes to
			// PID 1, reading does not.
			for flags, create := range map[uint64]bool{unix.O_RDONLY: false, unix.O_CREAT | unix.O_WRONLY: true} {
				want := uint32(allow)
				if create && mode&(GuardCreate|GuardWrite) != 0 {
					want = notify
				}
				if got := run(nr("openat"), 0xffffff9c, 0x1000, flags); got != want {
					t.Errorf("%s %s: openat flags %#o answered %#x, want %#x", goarch, guard, flags, got, want)
				}
			}
		}
	}
}

//go:build !linux

package perf

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// monoNow is 0 here: fence prints its timeline on Linux only.
func monoNow() int64 { return 0 }

func maxRSSKiB(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru != nil {
		if runtime.GOOS == "darwin" {
			return ru.Maxrss / 1024 // bytes on macOS
		}
		return ru.Maxrss
	}
	return 0
}

func sysInfo() (kernel, cpu, load string) {
	run := func(argv ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
		return strings.TrimSpace(string(out))
	}
	kernel = run("uname", "-r")
	cpu = run("sysctl", "-n", "machdep.cpu.brand_string")
	load = strings.Trim(run("sysctl", "-n", "vm.loadavg"), "{ }")
	return kernel, cpu, load
}

var errNoProc = errors.New("needs Linux /proc")

func setSubreaper() error { return errNoProc }

type procInfo struct {
	pid, ppid int
	comm      string
	state     string
}

func children(int) []procInfo { return nil }

type sysSnapshot struct{ Snapshot }

func takeSnapshot() (sysSnapshot, error) { return sysSnapshot{}, errNoProc }

func leaks(before, after sysSnapshot, fenceExe string) (leaked, notes []string) { return nil, nil }

func endSubreaper() {}

func procStatus(int) (map[string]int64, error) { return nil, errNoProc }

const haveProc = false

// noExec is false off Linux: the binaries are copied.
func noExec(dir string) bool { return false }

// InheritNothing is a no-op off Linux, where fence passes no inherited pipe
// on by itself.
func InheritNothing() error { return nil }

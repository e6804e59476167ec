package perf

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// InheritNothing makes every descriptor of this process above 2
// close-on-exec, so that the commands it measures inherit none of those it
// was started with: fence passes inherited pipes on to the command (a
// terminal's shell or a CI runner can leak one), and the figures would then
// depend on where the harness was started.
func InheritNothing() error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("make inherited descriptors close-on-exec: close_range: %w", err)
	}
	return nil
}

// monoNow is CLOCK_MONOTONIC in nanoseconds, fence's timeline clock
// (FENCE_TIMELINE_LAUNCH).
func monoNow() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// noExec reports whether dir is on a filesystem mounted noexec.
func noExec(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Flags&unix.ST_NOEXEC != 0
}

// maxRSSKiB is ru_maxrss of a reaped process (KiB on Linux).
func maxRSSKiB(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru != nil {
		return int64(ru.Maxrss) // int32 on 32-bit architectures
	}
	return 0
}

func sysInfo() (kernel, cpu, load string) {
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return kernel, cpu, load
}

// setSubreaper makes the harness the reaper of orphaned descendants, so a
// sandbox process that outlives its fence is counted as a descendant.
func setSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// procInfo is what /proc/<pid>/stat says about a process.
type procInfo struct {
	pid, ppid int
	comm      string
	state     string
}

func readProcs() map[int]procInfo {
	out := map[int]procInfo{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and parens.
		s := string(b)
		l, r := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if l < 0 || r < l {
			continue
		}
		f := strings.Fields(s[r+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		out[pid] = procInfo{pid: pid, ppid: ppid, comm: s[l+1 : r], state: f[0]}
	}
	return out
}

// descendants lists the processes under pid.
func descendants(pid int, procs map[int]procInfo) []procInfo {
	kids := map[int][]int{}
	for p, in := range procs {
		kids[in.ppid] = append(kids[in.ppid], p)
	}
	var out []procInfo
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, k := range kids[p] {
			out = append(out, procs[k])
			stack = append(stack, k)
		}
	}
	return out
}

// children lists the direct children of pid.
func children(pid int) []procInfo {
	var out []procInfo
	for _, in := range readProcs() {
		if in.ppid == pid {
			out = append(out, in)
		}
	}
	return out
}

// netNamespaces maps each distinct /proc/*/ns/net to the pids in it.
func netNamespaces() map[string][]int {
	out := map[string][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net"))
		if err != nil {
			continue
		}
		out[l] = append(out[l], pid)
	}
	return out
}

func countLines(p string) int {
	b, err := os.ReadFile(p)
	if err != nil {
		return -1
	}
	return bytes.Count(b, []byte{'\n'})
}

func countDir(p string) int {
	ents, err := os.ReadDir(p)
	if err != nil {
		return -1
	}
	return len(ents)
}

// snapshot counts mounts, the harness's fds, its descendants and the
// system's network namespaces.
type sysSnapshot struct {
	Snapshot
	desc  []procInfo
	netns map[string][]int
}

func takeSnapshot() (sysSnapshot, error) {
	procs := readProcs()
	s := sysSnapshot{desc: descendants(os.Getpid(), procs), netns: netNamespaces()}
	s.MountinfoLines = countLines("/proc/self/mountinfo")
	s.HarnessFDs = countDir("/proc/self/fd")
	s.Descendants = len(s.desc)
	s.NetNamespaces = len(s.netns)
	if s.MountinfoLines < 0 || s.HarnessFDs < 0 {
		return s, fmt.Errorf("cannot read /proc/self")
	}
	return s, nil
}

// leaks compares two snapshots. New network namespaces count as leaked
// only when a process in them is ours (a descendant) or runs fenceExe;
// others belong to unrelated processes of a shared machine.
func leaks(before, after sysSnapshot, fenceExe string) (leaked, notes []string) {
	if d := after.MountinfoLines - before.MountinfoLines; d > 0 {
		leaked = append(leaked, fmt.Sprintf("%d mounts in the harness's mount namespace", d))
	}
	if d := after.HarnessFDs - before.HarnessFDs; d > 0 {
		leaked = append(leaked, fmt.Sprintf("%d file descriptors in the harness", d))
	}
	var live []string
	zombies := 0
	for _, p := range after.desc {
		if p.state == "Z" {
			zombies++
			continue
		}
		live = append(live, fmt.Sprintf("%d %s (%s)", p.pid, p.comm, p.state))
	}
	if len(live) > 0 {
		leaked = append(leaked, "processes: "+strings.Join(live, ", "))
	}
	if zombies > 0 {
		notes = append(notes, fmt.Sprintf("%d exited processes were reparented to the harness (a child subreaper) and reaped by it: "+
			"init stages that finish after their fence has exited (fence does not wait for the namespace teardown)", zombies))
	}
	ours := map[int]bool{}
	for _, p := range after.desc {
		ours[p.pid] = true
	}
	var foreign int
	for ns, pids := range after.netns {
		if _, old := before.netns[ns]; old {
			continue
		}
		mine := false
		for _, pid := range pids {
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if ours[pid] || (fenceExe != "" && exe == fenceExe) {
				mine = true
			}
		}
		if mine {
			leaked = append(leaked, fmt.Sprintf("network namespace %s (pids %v)", ns, pids))
		} else {
			foreign++
		}
	}
	if foreign > 0 {
		notes = append(notes, fmt.Sprintf("%d new network namespaces belong to unrelated processes (a shared machine); not counted", foreign))
	}
	return leaked, notes
}

// endSubreaper stops being a child subreaper and reaps the exited orphans
// inherited meanwhile (only those: the harness's own children are waited
// for by os/exec).
func endSubreaper() {
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	me := os.Getpid()
	for _, p := range readProcs() {
		if p.ppid == me && p.state == "Z" {
			var ws unix.WaitStatus
			unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
		}
	}
}

// procStatus reads the KiB values (VmRSS, VmHWM) and Threads of a process.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fl := strings.Fields(v)
		if len(fl) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fl[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	return m, nil
}

const haveProc = true

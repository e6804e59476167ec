//go:build linux

// Command entry is nsexec/spawn's test program for fence's entry point
// (spawn.LDFlags), which spawns the init stage before the Go runtime starts.
// Run as anything but the init stage, it takes over what the entry spawned
// (spawn.FromEntry, or spawn.DiscardEntry with DISCARD=1) and prints a JSON
// report (or writes it to $OUT); the init stage it spawned is this program again (argv[0]
// spawn.InitArg0), which reports on itself over the control socket.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// Child is what the init stage reports about itself.
type Child struct {
	Args      []string
	Env       []string
	Mode      string // the network mode byte it read
	Pid       int
	Uid, Gid  int
	CapAmb    string
	Pdeathsig int
	NS        map[string]string
	Stdio     []string // fds 0-2 as dev:ino
	FDs       []int    // its open fds without close-on-exec as it starts
	// Spawned is whether the entry spawned an init stage in this one.
	Spawned bool
	// SlackAtStart is its main thread's timer slack (ns) as main starts;
	// Adopted is spawn.AdoptEntrySlack's answer, Slack the slack after it.
	SlackAtStart, Slack string
	Adopted             bool
	// CPUs is the CPUs its main thread may run on as main starts;
	// ThreadCPUs those of each of its threads then.
	CPUs       string
	ThreadCPUs []string
}

// Report is what the program prints.
type Report struct {
	Spawned   bool
	Error     string
	Child     *Child
	NS        map[string]string
	Stdio     []string
	Uid, Gid  int
	Status    int      // the init stage's exit status
	Children  []string // this process's children when it reports
	Inherited []int    // its open fds without close-on-exec as main starts
	Discarded bool     // DISCARD=1: the init stage is gone, reaped
	// Adopted is spawn.AdoptEntrySlack's answer, Slack the main thread's
	// timer slack (ns) after it, SysmonSlack that of the runtime's first
	// thread ("" where it may not be read: CAP_SYS_NICE).
	Adopted            bool
	Slack, SysmonSlack string
	// CPUs is the CPUs its main thread may run on. Placed and PlaceErr
	// are spawn.EntryPlacement's answers.
	CPUs     string
	Placed   bool
	PlaceErr string
}

// The parent-death signal is the main thread's (the one the kernel
// execs), and the init stage reports it from there: init locks main onto
// it.
func init() { runtime.LockOSThread() }

func main() {
	if os.Args[0] == spawn.InitArg0 {
		stage()
		return
	}
	adopted, _ := spawn.AdoptEntrySlack(false)
	r := Report{Inherited: inherited(), NS: namespaces(), Stdio: stdio(), Uid: os.Getuid(), Gid: os.Getgid(),
		Adopted: adopted, Slack: slack("self"), SysmonSlack: slack(firstThread()), CPUs: cpus()}
	if os.Getenv("DISCARD") == "1" {
		before := children()
		spawn.DiscardEntry()
		r.Spawned = len(before) == 1
		if r.Spawned {
			var pid int
			fmt.Sscan(before[0], &pid)
			r.Discarded = unix.Kill(pid, 0) == unix.ESRCH
		}
		r.Children = children()
		out(r)
		return
	}
	c, err := spawn.FromEntry(os.Getenv("HOSTNET") == "1")
	if err != nil {
		r.Error = err.Error()
	}
	var perr error
	if r.Placed, perr = spawn.EntryPlacement(); perr != nil {
		r.PlaceErr = perr.Error()
	}
	if c != nil {
		r.Spawned = true
		if err := c.Wait(); err != nil {
			r.Error = err.Error()
		}
		b := make([]byte, 65536)
		n, err := c.Ctrl.Read(b)
		if err != nil {
			r.Error = "read the init stage's report: " + err.Error()
		} else {
			r.Child = &Child{}
			if err := json.Unmarshal(b[:n], r.Child); err != nil {
				r.Error = err.Error()
			}
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(c.Pid, &ws, 0, nil); err != nil {
			r.Error = "wait for the init stage: " + err.Error()
		}
		r.Status = ws.ExitStatus()
	}
	r.Children = children()
	out(r)
}

// stage is the init stage's side: what it got, sent on the control socket
// (or printed, when the test started this program as an init stage
// itself, without one).
func stage() {
	at := slack("self")
	adopted, err := spawn.AdoptEntrySlack(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(5)
	}
	c := Child{FDs: inherited(), Args: os.Args, Env: os.Environ(), Pid: os.Getpid(), NS: namespaces(), Stdio: stdio(),
		SlackAtStart: at, Adopted: adopted, Slack: slack("self"), CPUs: cpus(), ThreadCPUs: threadCPUs()}
	if p, err := spawn.FromEntry(false); err == nil && p != nil {
		c.Spawned = true
	}
	var st unix.Stat_t
	if unix.Fstat(spawn.ControlFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		out(c)
		return
	}
	b := make([]byte, 8)
	if n, err := unix.Read(spawn.ControlFD, b); err == nil {
		c.Mode = string(b[:n])
	}
	// The ids are mapped before the mode is sent.
	c.Uid, c.Gid = os.Getuid(), os.Getgid()
	if s, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(s), "\n") {
			if v, ok := strings.CutPrefix(l, "CapAmb:"); ok {
				c.CapAmb = strings.TrimSpace(v)
			}
		}
	}
	var sig int32
	if unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0, 0, 0) == nil {
		c.Pdeathsig = int(sig)
	}
	j, _ := json.Marshal(c)
	if _, err := unix.Write(spawn.ControlFD, j); err != nil {
		os.Exit(3)
	}
}

func namespaces() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"user", "mnt", "pid", "ipc", "uts", "net"} {
		m[n], _ = os.Readlink("/proc/self/ns/" + n)
	}
	return m
}

func stdio() []string {
	var s []string
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			s = append(s, "closed")
			continue
		}
		s = append(s, fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	}
	return s
}

// openFDs lists this process's open fds but the one that reads them.
func openFDs() []int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var fds []int
	for _, n := range names {
		var fd int
		if _, err := fmt.Sscan(n, &fd); err == nil && fd != int(d.Fd()) {
			fds = append(fds, fd)
		}
	}
	sort.Ints(fds)
	return fds
}

// inherited lists this process's open fds that an exec keeps.
func inherited() []int {
	var fds []int
	for _, fd := range openFDs() {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			fds = append(fds, fd)
		}
	}
	return fds
}

// children lists this process's children (all its threads').
func children() []string {
	var pids []string
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		pids = append(pids, strings.Fields(string(b))...)
	}
	return pids
}

// out prints the report, or writes it to the file $OUT names (for runs
// with stdout closed).
func out(v any) {
	j, _ := json.Marshal(v)
	if p := os.Getenv("OUT"); p != "" {
		if err := os.WriteFile(p, j, 0o666); err != nil {
			os.Exit(4)
		}
		return
	}
	fmt.Println(string(j))
}

// slack reads the timer slack of the thread tid ("self": the main thread,
// which runs main), or returns "" (another thread's needs CAP_SYS_NICE).
func slack(tid string) string {
	b, err := os.ReadFile("/proc/" + tid + "/timerslack_ns")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// cpus returns the CPUs the calling thread may run on, as
// sched_getaffinity(2) gives them (main's, with the thread locked).
func cpus() string { return cpusOf(0) }

// threadCPUs returns the CPUs each thread of this process may run on, as
// cpus formats them, from /proc/self/task/*/status (the host's /proc in
// the init stage, whose thread ids sched_getaffinity would not know).
func threadCPUs() []string {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		list := "Cpus_allowed_list missing"
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				list = expandCPUList(strings.TrimSpace(v))
			}
		}
		out = append(out, list)
	}
	return out
}

// expandCPUList turns a kernel CPU list (0-2,5) into cpus's form (0,1,2,5).
func expandCPUList(l string) string {
	var on []string
	for _, r := range strings.Split(l, ",") {
		var lo, hi int
		if n, _ := fmt.Sscanf(r, "%d-%d", &lo, &hi); n == 2 {
			for i := lo; i <= hi; i++ {
				on = append(on, fmt.Sprint(i))
			}
		} else if n, _ := fmt.Sscanf(r, "%d", &lo); n == 1 {
			on = append(on, fmt.Sprint(lo))
		}
	}
	return strings.Join(on, ",")
}

// cpusOf returns the CPUs thread tid (0: the calling one) may run on.
func cpusOf(tid int) string {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &set); err != nil {
		return err.Error()
	}
	var on []string
	for i := range len(set) * 64 {
		if set.IsSet(i) {
			on = append(on, fmt.Sprint(i))
		}
	}
	return strings.Join(on, ",")
}

// firstThread returns the id of this process's first thread after the
// main one (the runtime's sysmon), as a string.
func firstThread() string {
	self := os.Getpid()
	first := 0
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		var tid int
		if _, err := fmt.Sscan(e.Name(), &tid); err == nil && tid > self && (first == 0 || tid < first) {
			first = tid
		}
	}
	return fmt.Sprint(first)
}

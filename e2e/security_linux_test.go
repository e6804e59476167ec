package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statusFields parses /proc/<pid>/status text.
func statusFields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// The command runs with no capabilities (effective, permitted, bounding,
// ambient, inheritable), no_new_privs and a seccomp filter.
func TestSecCapabilitiesAndFilters(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.mustRun("--", "cat", "/proc/self/status")
		st := statusFields(res.stdout)
		for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"} {
			v, ok := st[k]
			if n, err := strconv.ParseUint(v, 16, 64); !ok || err != nil || n != 0 {
				t.Errorf("%s = %q, want 0000000000000000", k, v)
			}
		}
		if st["NoNewPrivs"] != "1" {
			t.Errorf("NoNewPrivs = %q, want 1", st["NoNewPrivs"])
		}
		if st["Seccomp"] != "2" {
			t.Errorf("Seccomp = %q, want 2 (filter mode)", st["Seccomp"])
		}
		// PID 1's threads act for the command (the guard) with nothing
		// effective; the thread it was forked from keeps nothing at all.
		// (Its other threads keep CAP_SYS_PTRACE permitted for the
		// guard's opens of a non-dumpable caller's /proc entries.)
		pid1 := s.mustRun("--", "sh", "-c", "grep -h '^CapEff' /proc/1/task/*/status; grep -h '^CapPrm' /proc/1/status")
		lines := strings.Split(strings.TrimSpace(pid1.stdout), "\n")
		if len(lines) < 2 {
			t.Errorf("PID 1 status: %q", pid1.stdout)
		}
		for _, l := range lines {
			if f := strings.Fields(l); len(f) != 2 || f[1] != "0000000000000000" {
				t.Errorf("PID 1: %q, want no capabilities", l)
			}
		}
		// The command keeps the runner's identity: root keeps every id
		// mapped to itself, a user only its own uid and gid.
		if uids := strings.Fields(st["Uid"]); len(uids) == 0 || uids[0] != strconv.Itoa(s.r.uid) {
			t.Errorf("Uid %q inside, want %d", st["Uid"], s.r.uid)
		}
		if gids := strings.Fields(st["Gid"]); len(gids) == 0 || gids[0] != strconv.Itoa(s.r.gid) {
			t.Errorf("Gid %q inside, want %d", st["Gid"], s.r.gid)
		}
		maps := strings.Fields(s.mustRun("--", "cat", "/proc/self/uid_map", "/proc/self/gid_map").stdout)
		want := []string{"0", "0", "4294967295", "0", "0", "4294967295"}
		if !s.r.root() {
			u, g := strconv.Itoa(s.r.uid), strconv.Itoa(s.r.gid)
			want = []string{u, u, "1", g, g, "1"}
		}
		if strings.Join(maps, " ") != strings.Join(want, " ") {
			t.Errorf("uid_map and gid_map inside: %q, want %q", maps, want)
		}
	})
}

// A setuid-root binary grants nothing inside. Setting one up needs root.
func TestSecSetuidInert(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a setuid-root binary needs root: run the tests as root")
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		p := s.copyIn("/usr/bin/cat", "suid-cat", 0o755)
		if err := os.Lchown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o755|os.ModeSetuid); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(p); st.Mode()&os.ModeSetuid == 0 {
			t.Fatal("setuid bit not set")
		}
		res := s.mustRun("--", "./suid-cat", "/proc/self/status")
		st := statusFields(res.stdout)
		uids := strings.Fields(st["Uid"])
		if len(uids) < 2 || uids[1] != strconv.Itoa(s.r.uid) {
			t.Errorf("setuid-root binary ran with Uid %q, want effective uid %d", st["Uid"], s.r.uid)
		}
		if st["CapEff"] != "0000000000000000" || st["CapPrm"] != "0000000000000000" {
			t.Errorf("setuid-root binary got capabilities: CapEff %s CapPrm %s", st["CapEff"], st["CapPrm"])
		}
	})
}

// The command cannot make a file set-user-ID in a writable path: the file
// outlives the sandbox on the host, owned by the user fence ran as (root
// for the root runner), for anyone who reaches it to run as that user.
// Every way to set the bit fails with EPERM. The set-group-ID bit stays
// allowed, so that work in a group-shared (set-group-ID) directory goes
// on: GNU chmod and cp -a keep a directory's bit when they change its mode.
func TestSecNoSetUIDFiles(t *testing.T) {
	py := need(t, "python3")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.copyIn("/usr/bin/true", "prog", 0o755)
		s.mkdir("d")
		cfg := s.config("w.json", `{"filesystem":{"allowWrite":["."]}}`)
		script := `import os, stat, subprocess
def attempt(name, f):
    try:
        f()
        print(name, "SET")
    except PermissionError:
        print(name, "EPERM")
attempt("chmod-u", lambda: os.chmod("prog", 0o4755))
fd = os.open("prog", os.O_RDONLY)
attempt("fchmod", lambda: os.fchmod(fd, 0o4755))
attempt("open-creat", lambda: os.close(os.open("new1", os.O_CREAT | os.O_WRONLY, 0o4755)))
attempt("open-tmpfile", lambda: os.close(os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o4755)))
attempt("mknod", lambda: os.mknod("new2", stat.S_IFREG | 0o4755))
attempt("chmod-g", lambda: os.chmod("prog", 0o2755))
attempt("open-creat-g", lambda: os.close(os.open("new4", os.O_CREAT | os.O_WRONLY, 0o2755)))
print("prog-mode", oct(os.stat("prog").st_mode & 0o7777))
os.chmod("prog", 0o700)
os.close(os.open("new3", os.O_CREAT | os.O_WRONLY, 0o640))
print("plain", oct(os.stat("prog").st_mode & 0o7777), oct(os.stat("new3").st_mode & 0o7777))
try:
    os.chmod("d", 0o2775)
except PermissionError:
    print("setgid-dir EPERM")
    raise SystemExit(0)
os.mkdir("d/sub")
subprocess.run(["chmod", "755", "d/sub"], check=True)
subprocess.run(["cp", "-a", "d/sub", "d/copy"], check=True)
print("setgid", oct(os.stat("d").st_mode & 0o7777), oct(os.stat("d/sub").st_mode & 0o7777), oct(os.stat("d/copy").st_mode & 0o7777))
`
		res := s.fence("-s", cfg, "--", py, "-c", script)
		if !ranInside(t, res) {
			return
		}
		for _, name := range []string{"chmod-u", "fchmod", "open-creat", "open-tmpfile", "mknod"} {
			if !strings.Contains(res.stdout, name+" EPERM\n") {
				t.Errorf("%s: want EPERM: %v", name, res)
			}
		}
		if !strings.Contains(res.stdout, "plain 0o700 0o640\n") {
			t.Errorf("plain modes should still be set: %v", res)
		}
		// A set-group-ID file gives the runner's group to whoever runs
		// it: for root, group root (egid 0), so root's command may not
		// set the bit, on files nor (the filter cannot tell them apart)
		// on directories. Anyone else's may: GNU chmod and cp -a keep a
		// shared directory's bit.
		if s.r.root() {
			for _, name := range []string{"chmod-g", "open-creat-g"} {
				if !strings.Contains(res.stdout, name+" EPERM\n") {
					t.Errorf("%s as root: want EPERM: %v", name, res)
				}
			}
			if !strings.Contains(res.stdout, "setgid-dir EPERM\n") {
				t.Errorf("chmod g+s of a directory as root: want EPERM: %v", res)
			}
			mustNotExist(t, s.path("new4"), "a set-group-ID root file created by open")
		} else if !strings.Contains(res.stdout, "setgid 0o2775 0o2755 0o2755\n") {
			t.Errorf("a set-group-ID directory and chmod, cp -a in it should work: %v", res)
		}
		if st, err := os.Stat(s.path("prog")); err != nil || st.Mode()&os.ModeSetuid != 0 {
			t.Errorf("prog on the host: %v, %v; want no set-user-ID bit", st.Mode(), err)
		}
		mustNotExist(t, s.path("new1"), "a set-user-ID file created by open")
		mustNotExist(t, s.path("new2"), "a set-user-ID file created by mknod")
	})
}

// unshare(1) cannot create namespaces inside. fence may refuse the command
// up front (its command policy blocks unshare); a copy of the binary under
// another name gets past that policy and must be stopped by the kernel.
func TestSecUnshareDenied(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		bin := need(t, "unshare")
		s.copyIn(bin, "ns-tool", 0o755)
		for _, flags := range [][]string{{"-U"}, {"-r"}, {"-m"}, {"-n"}, {"-p", "-f"}, {"-U", "-m", "-r"}} {
			res := s.fence(append(append([]string{"--", "unshare"}, flags...), "true")...)
			if res.code == 0 {
				t.Errorf("unshare %v true succeeded inside: %v", flags, res)
			}
			res = s.fence(append(append([]string{"--", "./ns-tool"}, flags...), "true")...)
			if ranInside(t, res) && (res.code == 0 || !strings.Contains(res.stderr, "Operation not permitted")) {
				t.Errorf("a copy of unshare, %v true: want EPERM from the kernel: %v", flags, res)
			}
		}
	})
}

// mount(8) and umount(8) fail inside, and the directory stays the host's.
// Copies of the binaries are used so that the kernel, not a command
// policy, is what stops them.
func TestSecMountDenied(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.copyIn(need(t, "mount"), "mnt-tool", 0o755)
		s.copyIn(need(t, "umount"), "umnt-tool", 0o755)
		s.mkdir("d")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		res := s.fence("-s", cfg, "-c", `./mnt-tool -t tmpfs none d; echo mount=$?; touch d/after
./mnt-tool --bind /etc d; echo bind=$?
./umnt-tool /proc; echo umount-proc=$?; ./umnt-tool -l /tmp; echo umount-tmp=$?; ./umnt-tool -l "$PWD"; echo umount-cwd=$?`)
		for _, k := range []string{"mount", "bind", "umount-proc", "umount-tmp", "umount-cwd"} {
			if strings.Contains(res.stdout, k+"=0\n") || !strings.Contains(res.stdout, k+"=") {
				t.Errorf("%s succeeded (or did not run) inside: %v", k, res)
			}
		}
		// Had the tmpfs been mounted, d/after would be in it, not on the host.
		mustHaveContent(t, s.path("d/after"), "", "d/after written after the mount attempt")
		// And plain `mount`, whatever stops it.
		if res := s.fence("-s", cfg, "--", "mount", "-t", "tmpfs", "none", "d"); res.code == 0 {
			t.Errorf("mount -t tmpfs none d succeeded: %v", res)
		}
	})
}

// The direct syscalls behind the escapes fail with EPERM: ptrace,
// io_uring_setup, unshare, setns, mount, umount2, open_tree and
// open_tree_attr (the mount API), process_vm_readv (denied
// to the command by a filter of its own: PID 1's guard threads use it).
func TestSecSyscallsDenied(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		s.mkdir("mnt-target")
		s.write("probe.py", `import ctypes, json, os, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.syscall.restype = ctypes.c_long
def call(f, *a):
    ctypes.set_errno(0)
    r = f(*a)
    return [r, ctypes.get_errno()]
out = {}
out["ptrace_traceme"] = call(libc.ptrace, 0, 0, None, None)
pid = os.fork()
if pid == 0:
    time.sleep(30)
    os._exit(0)
out["ptrace_attach_child"] = call(libc.ptrace, 16, pid, None, None)
out["ptrace_seize_child"] = call(libc.ptrace, 0x4206, pid, None, None)
os.kill(pid, 9)
os.waitpid(pid, 0)
out["ptrace_attach_pid1"] = call(libc.ptrace, 16, 1, None, None)
params = ctypes.create_string_buffer(120)
out["io_uring_setup"] = call(libc.syscall, ctypes.c_long(425), ctypes.c_long(1), params)
out["unshare_user"] = call(libc.unshare, 0x10000000)
out["unshare_mnt"] = call(libc.unshare, 0x00020000)
out["unshare_net"] = call(libc.unshare, 0x40000000)
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
out["setns_net"] = call(libc.setns, fd, 0)
fd = os.open("/proc/self/ns/user", os.O_RDONLY)
out["setns_user"] = call(libc.setns, fd, 0)
out["mount_tmpfs"] = call(libc.mount, b"none", b"mnt-target", b"tmpfs", ctypes.c_ulong(0), None)
out["umount2_proc"] = call(libc.umount2, b"/proc", 2)
out["umount2_cwd"] = call(libc.umount2, os.getcwd().encode(), 2)
# open_tree without OPEN_TREE_CLONE needs no capability: the filter refuses it.
out["open_tree"] = call(libc.syscall, ctypes.c_long(428), ctypes.c_long(-100), b"/", ctypes.c_long(0))
out["open_tree_attr"] = call(libc.syscall, ctypes.c_long(467), ctypes.c_long(-100), b"/", ctypes.c_long(0), None, ctypes.c_long(0))
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(8)
vec = iovec(ctypes.addressof(buf), 8)
libc.process_vm_readv.restype = ctypes.c_long
out["process_vm_readv_self"] = call(libc.process_vm_readv, os.getpid(), ctypes.byref(vec), 1, ctypes.byref(vec), 1, 0)
print(json.dumps(out))
`)
		res := s.fence("--", "python3", "probe.py")
		var got map[string][2]int64
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("probe output: %v: %v", err, res)
		}
		for _, k := range []string{"ptrace_traceme", "ptrace_attach_child", "ptrace_seize_child", "ptrace_attach_pid1",
			"io_uring_setup", "unshare_user", "unshare_mnt", "unshare_net", "setns_net", "setns_user",
			"mount_tmpfs", "umount2_proc", "umount2_cwd", "open_tree", "open_tree_attr", "process_vm_readv_self"} {
			v, ok := got[k]
			if !ok {
				t.Errorf("%s: not probed", k)
				continue
			}
			if v[0] != -1 || v[1] != int64(syscall.EPERM) {
				t.Errorf("%s returned %d errno %d (%v), want -1 EPERM", k, v[0], v[1], syscall.Errno(v[1]))
			}
		}
	})
}

// PID 1's other threads (/proc/TID for a TID of /proc/1/task) are no way
// into PID 1: an open for writing there goes to the guard, which PID 1
// performs, and the kernel checks nothing between the threads of one
// process. As root the command used to open PID 1's memory read-write
// (and rewrite the guard), its descriptors and its cgroup files.
func TestSecPID1ThreadsClosed(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		s.write("probe.py", `import os
tids = [t for t in os.listdir("/proc/1/task") if t != "1"]
print("threads", len(tids) > 0)
for t in tids:
    for path, flags in ((f"/proc/{t}/mem", os.O_RDWR), (f"/proc/{t}/fd/0", os.O_WRONLY), (f"/proc/{t}/fd/1", os.O_WRONLY | os.O_CREAT)):
        try:
            fd = os.open(path, flags)
            print("opened", path)
            os.close(fd)
        except OSError as e:
            pass
# An O_PATH fd (no permission check), reopened through /proc/self/fd.
for t in ["1"] + tids:
    for name in ("mem", "oom_score_adj", "comm", "environ"):
        try:
            p = os.open(f"/proc/{t}/{name}", os.O_PATH)
        except OSError:
            continue
        try:
            fd = os.open(f"/proc/self/fd/{p}", os.O_RDWR)
            print("reopened", t, name)
            os.close(fd)
        except OSError:
            pass
`)
		res := s.fence("-s", cfg, "--", "python3", "probe.py")
		if res.code != 0 || !strings.Contains(res.stdout, "threads True") || strings.Contains(res.stdout, "opened") {
			t.Errorf("PID 1's threads: %v", res)
		}
	})
}

// PID 1 and its threads have the command's ids, which is all the kernel
// asks of prlimit(2) to set another process's limits: the command lowered
// PID 1's RLIMIT_NOFILE (every guarded call then failed with EMFILE) or
// could have it killed (RLIMIT_CPU, RLIMIT_AS). Setting another process's
// limits fails with EPERM; reading them, and setting the command's own,
// work.
func TestSecPID1LimitsKept(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		s.write("probe.py", `import os, resource
for t in os.listdir("/proc/1/task"):
    try:
        resource.prlimit(int(t), resource.RLIMIT_NOFILE, (8, 8))
        print("set", t)
    except PermissionError:
        pass
    resource.prlimit(int(t), resource.RLIMIT_NOFILE)
resource.prlimit(0, resource.RLIMIT_NOFILE, (64, 64))
print("own", resource.getrlimit(resource.RLIMIT_NOFILE))
with open("/proc/1/limits") as f:
    print([l.split()[3] for l in f if l.startswith("Max open files")][0] != "8" and "pid1-kept" or "pid1-changed")
with open("made.txt", "w") as f:
    f.write("ok")
print("created")
`)
		res := s.fence("-s", cfg, "--", "python3", "probe.py")
		if !ranInside(t, res) {
			return
		}
		if res.code != 0 || strings.Contains(res.stdout, "set ") || !strings.Contains(res.stdout, "own (64, 64)") ||
			!strings.Contains(res.stdout, "pid1-kept") || !strings.Contains(res.stdout, "created") {
			t.Errorf("PID 1's limits: %v", res)
		}
	})
}

// A crash in the sandbox dumps no core. The kernel writes a core file
// itself, past the write guard (here into the hooks of a repository two
// levels down, where the guard refuses every new name), and with a pipe
// core_pattern (systemd-coredump, apport) hands the core to a helper on the
// host, as root, whatever RLIMIT_CORE is unless it is exactly 1. The
// command's RLIMIT_CORE is 1 byte, soft and hard, and setting it succeeds
// without changing it (ssh-agent exits when its setrlimit(RLIMIT_CORE, 0)
// fails).
func TestSecNoCoreDumps(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		hooks := s.mkdir("a/b/proj/.git/hooks")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		s.write("probe.py", `import os, resource
pid = os.fork()
if pid == 0:
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    os.chdir("a/b/proj/.git/hooks")
    os.abort()
_, st = os.waitpid(pid, 0)
print("dumped", os.WCOREDUMP(st))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
print("limit", resource.getrlimit(resource.RLIMIT_CORE))
try:
    resource.prlimit(0, resource.RLIMIT_CORE, (4096, 4096))
    print("prlimit changed")
except PermissionError:
    pass
`)
		res := s.fence("-s", cfg, "--", "python3", "probe.py")
		if !ranInside(t, res) {
			return
		}
		if res.code != 0 || !strings.Contains(res.stdout, "limit (1, 1)") || !strings.Contains(res.stdout, "dumped False") ||
			strings.Contains(res.stdout, "prlimit changed") {
			t.Errorf("core dumps: %v", res)
		}
		entries, err := os.ReadDir(hooks)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			t.Errorf("the crash left %s in %s, where the guard refuses new names", e.Name(), hooks)
		}
	})
}

// PID 1's Go runtime takes a SIGSEGV, SIGBUS, ... that no kill or tgkill
// sent for a fault, and crashes: the sandbox would end with a Go stack dump
// and exit status 2 in place of the command's. The ways to send one with
// another code fail with EPERM (sigqueue to PID 1, pidfd_send_signal with
// a siginfo, F_SETSIG with a fault signal); kill still reaches PID 1, which
// drops it; the command's own exit status comes through.
func TestSecPID1FaultSignals(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		s.write("probe.py", `import ctypes, fcntl, os, signal
libc = ctypes.CDLL(None, use_errno=True)
nr = {"x86_64": (129, 424), "aarch64": (138, 424)}[os.uname().machine]
info = (ctypes.c_int * 32)()
info[0], info[2] = signal.SIGSEGV, -1  # si_signo, si_code SI_QUEUE
def attempt(name, f):
    r = f()
    print(name, "EPERM" if r == -1 and ctypes.get_errno() == 1 else "sent")
attempt("sigqueue", lambda: libc.syscall(nr[0], 1, signal.SIGSEGV, info))
pidfd = os.open("/proc/1", os.O_RDONLY | os.O_DIRECTORY)
attempt("pidfd", lambda: libc.syscall(nr[1], pidfd, signal.SIGSEGV, info, 0))
r, w = os.pipe()
try:
    fcntl.fcntl(r, 10, signal.SIGBUS)  # F_SETSIG
    print("setsig", "sent")
except PermissionError:
    print("setsig", "EPERM")
os.kill(1, signal.SIGSEGV)
print("alive")
raise SystemExit(3)
`)
		res := s.fence("--", "python3", "probe.py")
		for _, want := range []string{"sigqueue EPERM", "pidfd EPERM", "setsig EPERM", "alive"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("want %q: %v", want, res)
			}
		}
		if res.code != 3 || strings.Contains(res.stderr, "goroutine") {
			t.Errorf("want the command's exit status 3 and no crash of PID 1: %v", res)
		}
	})
}

// The guard answers a call that may wait (an open of a FIFO without a
// writer, a connect to a listener whose backlog is full) on a goroutine of
// its own, which holds one of PID 1's threads while the call waits: 10,200
// threads of the sandbox waiting so took PID 1 past the Go runtime's
// 10,000 threads, and it crashed ("fatal error: thread exhaustion", exit
// status 2 and a dump of every goroutine). Past maxWaiting such calls fail
// at once (ENFILE, EAGAIN) and the command's exit status comes through.
func TestSecPID1WaitingCallsBounded(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		s.write("probe.py", `import errno, os, resource, socket, sys, threading, time
n, kind = 10200, sys.argv[1]
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
threading.stack_size(64 * 1024)
failed, lock = [], threading.Lock()
if kind == "open":
    os.mkfifo("fifo")
else:
    l = socket.socket(socket.AF_UNIX)
    l.bind("l.sock")
    l.listen(0)
def call():
    try:
        if kind == "open":
            os.open("fifo", os.O_WRONLY)
        else:
            socket.socket(socket.AF_UNIX).connect("l.sock")
    except OSError as e:
        with lock:
            failed.append(e.errno)
for i in range(n):
    threading.Thread(target=call, daemon=True).start()
deadline = time.time() + 20
while len(failed) < n - 4096 - 64 and time.time() < deadline:
    time.sleep(0.1)
print("refused", len(failed) >= n - 4096 - 64 and set(failed) <= {errno.ENFILE, errno.EAGAIN})
sys.stdout.flush()
os._exit(3)
`)
		for _, kind := range []string{"open", "connect"} {
			t.Run(kind, func(t *testing.T) {
				if kind == "connect" && lim.Max < 11000 {
					t.Skipf("the open-file limit (%d) is too low for 10,200 sockets", lim.Max)
				}
				os.Remove(s.path("fifo"))
				os.Remove(s.path("l.sock"))
				// Past the usual limit: ~10,000 threads here, and up to
				// 4,096 in PID 1, took 10-40 s on a 2-core VM whose
				// thread creation costs milliseconds.
				res := s.fenceWith(opts{timeout: 2 * time.Minute}, "-s", cfg, "--", "python3", "probe.py", kind)
				if strings.Contains(res.stderr, "thread exhaustion") || strings.Contains(res.stderr, "goroutine") {
					t.Fatalf("PID 1 crashed: exit %d, stderr %.300q", res.code, res.stderr)
				}
				if !ranInside(t, res) {
					return
				}
				if res.code != 3 || !strings.Contains(res.stdout, "refused True") {
					t.Errorf("want the calls past the bound refused at once and the command's exit status 3: %v", res)
				}
			})
		}
	})
}

// fence's own executable decides every later run's policy, as its config
// files do: one in a writable path (./fence in the working directory, run
// as ./fence or found in PATH, or through a symlink there) can be neither
// written, replaced, renamed nor removed, and no directory above it in
// the writable path renamed. The sandbox replaced it with a script, and
// the user's next fence ran that outside any sandbox.
func TestSecOwnExecutableProtected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		cfg := s.config("cfg.json", `{"filesystem":{"allowWrite":["."]}}`)
		exe := s.copyIn(fenceBin, "bin/fence", 0o755)
		before, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		script := `echo pwned >> bin/fence; echo pwned > bin/fence; mv bin/fence bin/old; rm -f bin/fence
ln -s /bin/true new; mv new bin/fence; mv bin bin2; rm -f flink; ln -sf /bin/true flink; echo done`
		for _, invoke := range []struct {
			name string
			args []string
			env  []string
		}{
			{"path", []string{s.path("bin/fence")}, nil},
			{"relative", []string{"./bin/fence"}, nil},
			{"in PATH", []string{"fence"}, []string{"PATH=" + s.path("bin") + ":" + strings.Join(stdPath, ":")}},
			{"symlink", []string{"./flink"}, nil},
		} {
			t.Run(invoke.name, func(t *testing.T) {
				os.Remove(s.path("flink"))
				s.symlink("bin/fence", "flink")
				ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
				defer cancel()
				cmd := s.command(ctx, opts{env: invoke.env}, append(invoke.args[1:], "-s", cfg, "-c", script)...)
				cmd.Path, cmd.Args = invoke.args[0], append([]string{invoke.args[0]}, cmd.Args[1:]...)
				if !strings.Contains(invoke.args[0], "/") {
					cmd.Path = exe
				}
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "done") {
					t.Fatalf("fence did not run the script: %v\n%s", err, out)
				}
				after, err := os.ReadFile(exe)
				if err != nil || !bytes.Equal(before, after) {
					t.Errorf("fence's executable %s was changed or replaced from inside (%v):\n%s", exe, err, out)
				}
				if target, err := os.Readlink(s.path("flink")); invoke.name == "symlink" && (err != nil || target != "bin/fence") {
					t.Errorf("the symlink fence was started through was changed: %q %v", target, err)
				}
				mustNotExist(t, s.path("bin2"), "a directory above fence's executable renamed")
				mustNotExist(t, s.path("bin/old"), "fence's executable renamed")
			})
		}
	})
}

// fence's stdin, stdout or stderr on a memory device (fence ... </dev/null,
// as services and CI jobs run it) reaches the command as the sandbox's own
// read-only node of the same device: the host's descriptor is on the
// host's devtmpfs mount, which is not read-only, and through it the
// command changed the node itself (chmod 0 of the host's /dev/null, run
// as root). The node here is one made for the test, as the host's would
// be.
func TestSecStdioDeviceNodeUnchanged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		node := filepath.Join(s.outsideDir("fence-e2e-dev-"), "null")
		if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		s.own(node, 0o666)
		in, err := os.Open(node)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.OpenFile(node, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		var before unix.Stat_t
		if err := unix.Stat(node, &before); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		cmd := s.command(ctx, opts{}, "-c", `for fd in 0 1; do chmod 0 /proc/self/fd/$fd; touch -d 2001-01-01 /proc/self/fd/$fd; done
echo ok > /proc/self/fd/1; head -c 1 <&0 | wc -c >&2; echo done >&2`)
		cmd.Stdin, cmd.Stdout = in, out
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || !strings.Contains(stderr.String(), "0\ndone") {
			t.Fatalf("fence: %v\n%s", err, stderr.String())
		}
		var after unix.Stat_t
		if err := unix.Stat(node, &after); err != nil {
			t.Fatal(err)
		}
		if after.Mode != before.Mode || after.Mtim != before.Mtim {
			t.Errorf("the command changed the device node on fence's stdio: mode %o -> %o, mtime %v -> %v\n%s", before.Mode, after.Mode, before.Mtim, after.Mtim, stderr.String())
		}
	})
}

// fence's stdio on a block device (fence -- xzcat disk.img.xz >/dev/sdb,
// run as root) reaches the command through a read-only mount of the node,
// as a terminal does: the host's descriptor is on the host's devtmpfs
// mount, and chmod 666 /proc/self/fd/1 made the disk readable and
// writable by every local user after the run. The command still reads
// and writes the device, from where fence's descriptor is. A loop device,
// given to the runner as the host's disk is root's.
func TestSecStdioBlockDeviceUnchanged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a loop device needs root")
	}
	losetup := need(t, "losetup")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		img := filepath.Join(s.outsideDir("fence-e2e-blk-"), "img")
		if err := os.WriteFile(img, append([]byte("HEADERxxxx"), make([]byte, 64<<10)...), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(losetup, "-f", "--show", img).Output()
		if err != nil {
			t.Skipf("no loop device: %v", err)
		}
		dev := strings.TrimSpace(string(out))
		var orig unix.Stat_t
		if err := unix.Stat(dev, &orig); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = os.Chown(dev, int(orig.Uid), int(orig.Gid))
			_ = os.Chmod(dev, os.FileMode(orig.Mode&0o777))
			_ = exec.Command(losetup, "-d", dev).Run()
		})
		s.own(dev, 0o600)
		in, err := os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		if _, err := in.Seek(3, 0); err != nil {
			t.Fatal(err)
		}
		outF, err := os.OpenFile(dev, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer outF.Close()
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		cmd := s.command(ctx, opts{}, "-c", `for fd in 0 1; do chmod 666 /proc/self/fd/$fd 2>/dev/null && echo chmodded $fd >&2; done
head -c 3 <&0 >&2; printf XY; echo; echo done >&2`)
		cmd.Stdin, cmd.Stdout = in, outF
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || !strings.Contains(stderr.String(), "DERdone") {
			t.Fatalf("fence: %v\n%s", err, stderr.String())
		}
		var after unix.Stat_t
		if err := unix.Stat(dev, &after); err != nil {
			t.Fatal(err)
		}
		if after.Mode&0o777 != 0o600 || strings.Contains(stderr.String(), "chmodded") {
			t.Errorf("the command changed the mode of the block device on fence's stdio to %o:\n%s", after.Mode&0o777, stderr.String())
		}
		head := make([]byte, 4)
		if _, err := in.ReadAt(head, 0); err != nil || string(head) != "XY\nD" {
			t.Errorf("the command's write to the block device: want XY\\n at its start, got %q (%v)", head, err)
		}
	})
}

// Only unix, IP and netlink sockets can be created. AF_VSOCK reaches the
// hypervisor whatever the network namespace (it used to be allowed: on a
// VM the command could talk to the host past the proxies); packet and
// AF_ALG sockets stand for the rest. The allowed families still work.
func TestSecSocketFamilies(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		s.write("probe.py", `import json, socket
out = {}
for name in ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_VSOCK", "AF_PACKET", "AF_ALG"]:
    kind = socket.SOCK_SEQPACKET if name == "AF_ALG" else (socket.SOCK_RAW if name in ("AF_NETLINK", "AF_PACKET") else socket.SOCK_STREAM)
    try:
        socket.socket(getattr(socket, name), kind).close()
        out[name] = 0
    except OSError as e:
        out[name] = e.errno
for name in ["AF_UNIX", "AF_VSOCK"]:
    try:
        for s in socket.socketpair(getattr(socket, name), socket.SOCK_STREAM):
            s.close()
        out["pair " + name] = 0
    except OSError as e:
        out["pair " + name] = e.errno
print(json.dumps(out))
`)
		res := s.fence("--", "python3", "probe.py")
		var got map[string]int
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("probe output: %v: %v", err, res)
		}
		for name, want := range map[string]syscall.Errno{
			"AF_UNIX": 0, "AF_INET": 0, "AF_INET6": 0, "AF_NETLINK": 0,
			"AF_VSOCK": syscall.EAFNOSUPPORT, "AF_PACKET": syscall.EAFNOSUPPORT, "AF_ALG": syscall.EAFNOSUPPORT,
			"pair AF_UNIX": 0, "pair AF_VSOCK": syscall.EAFNOSUPPORT,
		} {
			if e, ok := got[name]; !ok || syscall.Errno(e) != want {
				t.Errorf("socket(%s): errno %d (%v), want %d (%v)", name, e, syscall.Errno(e), int(want), want)
			}
		}
	})
}

// The command runs in a Landlock domain. Landlock is defense in depth
// under the mount policy, so no write test tells it is there: with it
// gone, every other test passed. The sandbox's own /proc is mounted
// read-write (its kernel files apart), and /proc/self/comm is the
// process's to write; only Landlock, which grants writes in the
// writable paths, /tmp and /dev alone, refuses it.
func TestSecLandlockInForce(t *testing.T) {
	// The kernel's own answer, not fence's: ABI 2 (Linux 5.19) is the
	// oldest fence uses (TestOldLandlockABI covers ABI 1).
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 || abi < 2 {
		t.Skipf("the kernel has no Landlock of ABI 2 or later (landlock_create_ruleset version query: %d, %v): it needs Linux 5.19, CONFIG_SECURITY_LANDLOCK and landlock in lsm=", int(abi), errno)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		res := s.fence("--", "sh", "-c", `echo renamed > /proc/self/comm && echo COMM-WRITTEN; grep -q ' /proc proc rw' /proc/self/mounts && echo proc-rw`)
		if !ranInside(t, res) {
			return
		}
		if !strings.Contains(res.stdout, "proc-rw") {
			t.Fatalf("the sandbox's /proc is not mounted read-write, so this check proves nothing: %v", res)
		}
		if strings.Contains(res.stdout, "COMM-WRITTEN") || !strings.Contains(res.stderr, "Permission denied") {
			t.Errorf("the command wrote /proc/self/comm: want EACCES from Landlock: %v", res)
		}
	})
}

// personality(2) can take only the harmless personas inside: the flags
// that weaken every later exec (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) fail
// with EPERM; the query and PER_LINUX32 work. The argument filter's unit
// test runs it in a BPF VM with the implementation's own syscall number;
// this is the real kernel's.
func TestSecPersonality(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		s.write("probe.py", `import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
def call(p):
    ctypes.set_errno(0)
    r = libc.personality(ctypes.c_ulong(p))
    return [r, ctypes.get_errno()]
out = {}
out["query"] = call(0xffffffff)
out["addr_no_randomize"] = call(0x0040000)
out["read_implies_exec"] = call(0x0400000)
out["linux32"] = call(0x8)
out["linux"] = call(0)
print(json.dumps(out))
`)
		res := s.fence("--", "python3", "probe.py")
		var got map[string][2]int64
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("probe output: %v: %v", err, res)
		}
		for _, k := range []string{"addr_no_randomize", "read_implies_exec"} {
			if v, ok := got[k]; !ok || v[0] != -1 || v[1] != int64(syscall.EPERM) {
				t.Errorf("personality(%s): %v, want -1 EPERM", k, v)
			}
		}
		for _, k := range []string{"query", "linux32", "linux"} {
			if v, ok := got[k]; !ok || v[0] == -1 {
				t.Errorf("personality(%s): %v, want it to succeed", k, v)
			}
		}
	})
}

// PID 1 (the init stage) is not dumpable and its memory is not writable:
// /proc/1/mem cannot be opened for writing, /proc/1/environ not read.
func TestSecProc1Protected(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		res := s.fence("--", "python3", "-c", `import errno
def attempt(path, mode):
    try:
        with open(path, mode, buffering=0) as f:
            if "w" in mode or "+" in mode:
                f.seek(0x400000)
                f.write(b"x")
                return "written"
            f.read(1)
            return "read"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print("mem", attempt("/proc/1/mem", "r+b"))
print("environ", attempt("/proc/1/environ", "rb"))
print("self", attempt("/proc/self/environ", "rb"))`)
		st := statusFields(strings.ReplaceAll(res.stdout, " ", ":"))
		if st["mem"] == "written" || st["mem"] == "" {
			t.Errorf("/proc/1/mem write: %q, want an error: %v", st["mem"], res)
		}
		if st["environ"] != "EACCES" {
			t.Errorf("/proc/1/environ read: %q, want EACCES (PID 1 not dumpable): %v", st["environ"], res)
		}
		if st["self"] != "read" {
			t.Errorf("control: /proc/self/environ read: %q: %v", st["self"], res)
		}
	})
}

// i386 `int 0x80` and x32 system calls kill the process (SIGSYS, exit
// 159 through fence); native calls work.
func TestSecForeignABIKilled(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("int 0x80 and x32 exist on amd64 only (GOARCH=%s)", runtime.GOARCH)
	}
	bin := fixture(t, "int80")
	// Where the kernel has no IA-32 emulation, int 0x80 faults (SIGSEGV)
	// before seccomp sees it; only then is the i386 case meaningless.
	hostOut, hostErr := exec.Command(bin, "int80").CombinedOutput()
	int80Native := hostErr == nil
	if !int80Native {
		t.Logf("on the host, outside fence, int80 mode: %v %q", hostErr, hostOut)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.copyIn(bin, "int80", 0o755)
		res := s.fence("--", "./int80", "native")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "native getpid ") {
			t.Fatalf("native getpid: want exit 0: %v", res)
		}
		t.Run("int80", func(t *testing.T) {
			if !int80Native {
				t.Skip("this kernel has no IA-32 emulation: int 0x80 fails on the host too")
			}
			res := s.fence("--", "./int80", "int80")
			if res.code != 128+int(syscall.SIGSYS) || strings.Contains(res.stdout, "returned") {
				t.Errorf("i386 int 0x80 getpid: want the process killed by SIGSYS (exit 159): %v", res)
			}
		})
		t.Run("x32", func(t *testing.T) {
			res := s.fence("--", "./int80", "x32")
			if res.code != 128+int(syscall.SIGSYS) || strings.Contains(res.stdout, "returned") {
				t.Errorf("x32 getpid: want the process killed by SIGSYS (exit 159): %v", res)
			}
		})
	})
}

// A process that made itself non-dumpable (ssh-agent and gpg-agent do)
// still creates files and binds sockets under the creation and socket
// guards, for root and for an unprivileged runner alike.
func TestSecNonDumpableCreates(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		need(t, "python3")
		s.write("nd.py", `import ctypes, glob, os, socket
if ctypes.CDLL(None).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
    raise SystemExit("prctl failed")
os.mkdir("made")
os.close(os.open("made/file", os.O_WRONLY | os.O_CREAT, 0o644))
for flags in (os.O_RDONLY, os.O_PATH):
    d = os.open("made", flags)
    os.close(os.open("at%d" % flags, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d))
s = socket.socket(socket.AF_UNIX); s.bind("made/sock"); s.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect("made/sock")
print("ok")
# PID 1's capabilities after the guard served a non-dumpable caller.
for st in sorted(glob.glob("/proc/1/task/*/status")):
    f = dict(l.split(":", 1) for l in open(st).read().splitlines() if ":" in l)
    print(st.split("/")[4], f["CapPrm"].strip(), f["CapEff"].strip())
`)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		res := s.mustRun("-s", cfg, "--", "python3", "nd.py")
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if len(lines) < 3 || lines[0] != "ok" {
			t.Fatalf("non-dumpable process: %v", res)
		}
		const oPath = 0o10000000 // O_PATH, as Python prints it in the name
		for _, f := range []string{"made/file", "made/at0", "made/at" + strconv.Itoa(oPath)} {
			mustHaveContent(t, s.path(f), "", "file made by a non-dumpable process")
		}
		// The main thread, which forked the command, has nothing; the
		// others only CAP_SYS_PTRACE permitted, never left effective.
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			wantPrm := "0000000000080000"
			if f[0] == "1" {
				wantPrm = "0000000000000000"
			}
			if len(f) != 3 || f[1] != wantPrm || f[2] != "0000000000000000" {
				t.Errorf("PID 1 thread %q: want CapPrm %s, CapEff 0", l, wantPrm)
			}
		}
	})
}

// PID 1's guard makes the creations and writes it checks for the command
// itself, on threads without the command's Landlock domain and through
// mounts that are not all read-only where the command's are: it must never
// make a change the command could not make by itself. Before, with any
// writable path (the guards on) a root-run sandbox wrote host sysctls
// through /proc/sys (kernel.core_pattern runs a program as the host's
// root), and any sandbox wrote a read-only file, or created files in a
// directory, that it had been given as stdin (/dev/stdin, /dev/fd/0/NAME:
// the guard reopened them on the host's mount). Output fence was given to
// write stays writable through /dev/stdout. (As a user the kernel refuses
// the sysctl anyway; the root variant is the one that shows the hole.)
func TestSecGuardWritesNoMoreThanCommand(t *testing.T) {
	const sysctl = "/proc/sys/kernel/printk_ratelimit"
	before, err := os.ReadFile(sysctl)
	if err != nil {
		t.Skipf("no %s to try: %v", sysctl, err)
	}
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		// Writable: ws and nothing else; "outside" is only readable.
		s.mkdir("ws")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["./ws"],"denyWrite":["**/.env"]}}`)
		input := s.write("outside/input.txt", "original\n")
		out := s.write("outside/out.txt", "")
		run := func(stdin, stdout *os.File, script string) result {
			t.Helper()
			cmd := s.command(t.Context(), opts{}, "-s", cfg, "-c", script)
			var errb strings.Builder
			cmd.Stdin, cmd.Stderr = stdin, &errb
			var outb strings.Builder
			if stdout != nil {
				cmd.Stdout = stdout
			} else {
				cmd.Stdout = &outb
			}
			err := cmd.Run()
			res := result{args: []string{script}, stdout: outb.String(), stderr: errb.String()}
			if ee, ok := err.(*exec.ExitError); ok {
				res.code = ee.ExitCode()
			} else if err != nil {
				res.err = err
			}
			return res
		}

		v := strings.TrimSpace(string(before))
		res := run(nil, nil, "echo "+v+" > "+sysctl+" && echo written")
		if ranInside(t, res) && (strings.Contains(res.stdout, "written") || !writeDenied(res.stderr)) {
			t.Errorf("the sandbox wrote the host sysctl %s: %v", sysctl, res)
		}

		f, err := os.Open(input)
		if err != nil {
			t.Fatal(err)
		}
		// First a file made beside it in the private /tmp (a writable
		// place at the same path): the guard trusts that mount from
		// then on (mayWrite), never the host's that stdin is on.
		res = run(f, nil, `: > /tmp/beside; mkdir /tmp/d && : > /tmp/d/f; echo NEW > /dev/stdin; echo NEW2 > /proc/self/fd/0; : > /dev/fd/0`)
		f.Close()
		ranInside(t, res)
		mustHaveContent(t, input, "original\n", "a read-only file given as stdin, written through /dev/stdin")

		d, err := os.Open(s.path("outside"))
		if err != nil {
			t.Fatal(err)
		}
		res = run(d, nil, `echo x > /dev/fd/0/planted; mkdir /proc/self/fd/0/made; ln -s x /dev/stdin/link; echo done`)
		d.Close()
		// A directory given as stdin is refused before anything runs
		// (paths through it would be the host's: TestFSDirectoryAsStdioRefused).
		if res.code != 1 || strings.Contains(res.stdout, "done") || !strings.Contains(res.stderr, "standard input is a directory") {
			t.Errorf("a directory as stdin: want fence to refuse it: %v", res)
		}
		for _, n := range []string{"planted", "made", "link"} {
			mustNotExist(t, s.path("outside/"+n), "created in a read-only directory given as stdin")
		}

		// Controls: what fence was given to write is written.
		o, err := os.OpenFile(out, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		res = run(nil, o, `echo to-file > /dev/stdout`)
		o.Close()
		if res.code != 0 || !ranInside(t, res) {
			t.Errorf("echo > /dev/stdout with fence's output on a file outside the writable places: %v", res)
		}
		mustHaveContent(t, out, "to-file\n", "fence's output file, written through /dev/stdout")
		res = run(nil, nil, `echo made > ws/new && cat ws/new`)
		if res.code != 0 || res.stdout != "made\n" {
			t.Errorf("a write where allowed: %v", res)
		}
		if s.r.root() {
			// (The test's pipe is root's: nobody may not reopen it,
			// sandbox or not.)
			res = run(nil, nil, `echo piped > /dev/stdout`)
			if res.code != 0 || res.stdout != "piped\n" {
				t.Errorf("echo > /dev/stdout on a pipe: %v", res)
			}
		}
	})
	if after, err := os.ReadFile(sysctl); err == nil && string(after) != string(before) {
		t.Errorf("%s changed from %q to %q", sysctl, before, after)
	}
}

// Creating a name that exists fails with EEXIST wherever it is, as the
// kernel answers before it checks the directory's write permission, the
// mount's read-only flag or Landlock: nothing is made either way. Node's
// fs.mkdir(p, {recursive: true}) takes EEXIST for "already there" and any
// other error for a failure. The guard (on with any writable path)
// answered EACCES where the directory holding the name was not writable,
// so a writable working directory whose parent is not, the usual case,
// failed `npm install` at its first step, a recursive mkdir of the
// project itself ("EACCES: permission denied, mkdir '/home/u/proj'").
// A new name there is still refused.
func TestSecGuardCreateExistingNameIsEEXIST(t *testing.T) {
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.mkdir("ws")
		s.mkdir("outside/dir")
		s.write("outside/file", "x\n")
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["./ws"]}}`)
		res := s.fence("-s", cfg, "--", "sh", "-c",
			`for p in ws outside/dir outside/file /usr; do mkdir "$p" 2>&1; done
			ln -s x outside/file 2>&1; mkfifo outside/file 2>&1
			python3 -c 'import os
try: os.open("outside/file", os.O_WRONLY|os.O_CREAT|os.O_EXCL)
except OSError as e: print(e.strerror)
try: os.link("ws", "outside/file")
except OSError as e: print(e.strerror)' 2>&1
			mkdir outside/new 2>&1; echo done`)
		if !ranInside(t, res) || !strings.Contains(res.stdout, "done") {
			t.Fatalf("the script did not run to its end: %v", res)
		}
		ls := lines(res.stdout)
		if len(ls) != 10 {
			t.Fatalf("want 10 lines: %v", res)
		}
		for i, l := range ls[:8] {
			if !strings.Contains(l, "File exists") {
				t.Errorf("line %d: creating an existing name (mkdir, symlink, mkfifo, open O_EXCL, link): want EEXIST, got %q", i+1, l)
			}
		}
		if !writeDenied(ls[8]) {
			t.Errorf("mkdir of a new name where nothing is writable: want a refusal, got %q", ls[8])
		}
		mustNotExist(t, s.path("outside/new"), "a directory made outside the writable paths")
	})
}

// A guarded call interrupted by a signal whose handler has SA_RESTART is
// restarted, never failed: mkdir, rmdir, open that creates, rename,
// symlink and unlink, with a timer signal every 200 µs. (Without
// SA_RESTART, a signal before PID 1 has taken the request fails the call
// with EINTR, as the kernel does for any interruptible wait; README.)
func TestSecGuardedCallsRestartedAfterSignals(t *testing.T) {
	gcc := need(t, "gcc")
	forEachRunner(t, func(t *testing.T, s *sandbox) {
		s.write("restart.c", `#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
static volatile sig_atomic_t got;
static void h(int s) { (void)s; got++; }
#define CHECK(call) do { if ((call) < 0) { printf("%s: %s\n", #call, strerror(errno)); return 1; } } while (0)
int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, 0);
	struct itimerval it = {{0, 200}, {0, 200}};
	setitimer(ITIMER_REAL, &it, 0);
	for (int i = 0; i < 1000; i++) {
		CHECK(mkdir("d", 0755));
		CHECK(rmdir("d"));
		int fd = open("f", O_CREAT | O_WRONLY | O_TRUNC, 0644);
		CHECK(fd);
		close(fd);
		CHECK(rename("f", "g"));
		CHECK(symlink("x", "s"));
		CHECK(unlink("s"));
		CHECK(unlink("g"));
	}
	printf("ok %d\n", got > 0);
	return 0;
}
`)
		if out, err := exec.Command(gcc, "-O2", "-o", s.path("restart"), s.path("restart.c")).CombinedOutput(); err != nil {
			t.Fatalf("compile the helper: %v\n%s", err, out)
		}
		s.own(s.path("restart"), 0o755)
		cfg := s.config("fence.json", `{"filesystem":{"allowWrite":["."]}}`)
		res := s.fence("-s", cfg, "--", "./restart")
		if res.code != 0 || res.stdout != "ok 1\n" {
			t.Errorf("guarded calls with an SA_RESTART timer signal every 200 µs: want every call to succeed (and signals caught): %v", res)
		}
	})
}

package nsexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// IsInit reports whether this process is the init stage. main must check it
// first thing and call Init if so.
func IsInit() bool {
	return len(os.Args) > 0 && os.Args[0] == initArg0
}

// Process is a running sandbox as seen from the supervisor.
type Process struct {
	cmd  *exec.Cmd
	ctrl *os.File
	// Listeners are the listeners of Options.Listeners, created inside the
	// sandbox's network namespace, in the same order.
	Listeners []*os.File
	// Stages is the init stage's timeline (see Options.Timeline).
	Stages []Stage
	// Pid is the host PID of the init stage.
	Pid int
}

// cloneFlags are the namespaces every sandbox gets. CLONE_NEWNET is added
// unless Options.HostNetwork.
const cloneFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS

// initCaps are the capabilities the init stage needs inside its user
// namespace when the caller is not root: mounts and pivot_root (SYS_ADMIN),
// lo (NET_ADMIN), dropping the bounding set (SETPCAP), creating mount points
// in directories it does not own (DAC_OVERRIDE), and devpts/dev binds
// (MKNOD is not needed: we bind host device nodes).
var initCaps = []uintptr{
	unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN, unix.CAP_SETPCAP,
	unix.CAP_DAC_OVERRIDE, unix.CAP_SYS_CHROOT,
}

// Start spawns the init stage for o and waits until the command has been
// started inside the sandbox (or the sandbox failed to come up).
//
// Start locks the calling goroutine to its OS thread and keeps it locked:
// Pdeathsig fires when the thread that started the child exits, so the caller
// must call Wait from the same goroutine.
func Start(o *Options) (*Process, error) {
	payload, err := json.Marshal(message{Type: typeOptions, Options: o})
	if err != nil {
		return nil, fmt.Errorf("encode sandbox options: %w", err)
	}
	if len(payload) > maxMessage {
		return nil, fmt.Errorf("sandbox policy is too large (%d bytes, max %d)", len(payload), maxMessage)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create control socket: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "fence-control")
	child := os.NewFile(uintptr(fds[1]), "fence-control-child")
	defer child.Close()

	uid, gid := os.Getuid(), os.Getgid()
	attr := &syscall.SysProcAttr{
		Cloneflags: cloneFlags,
		// The init stage dies with the supervisor; the kernel then kills the
		// whole PID namespace.
		Pdeathsig: syscall.SIGKILL,
	}
	if !o.HostNetwork {
		attr.Cloneflags |= unix.CLONE_NEWNET
	}
	if uid == 0 {
		// Root keeps the identity mapping of every id, so file ownership
		// looks the same inside. The command still ends up with no
		// capabilities (bounding set emptied by the init stage).
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
		attr.GidMappingsEnableSetgroups = true
	} else {
		// An unprivileged caller can map only itself. uid→uid keeps the
		// command's identity; the init stage gets its capabilities as
		// ambient ones, which survive the execve of /proc/self/exe.
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.AmbientCaps = initCaps
	}

	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{initArg0},
		// GOMAXPROCS=1: the init stage is single-threaded work; fewer Ps
		// start faster. The command's environment travels in Options.
		Env:         []string{"GOMAXPROCS=1"},
		Stdin:       orStd(o.Stdin, os.Stdin),
		Stdout:      orStd(o.Stdout, os.Stdout),
		Stderr:      orStd(o.Stderr, os.Stderr),
		ExtraFiles:  []*os.File{child},
		SysProcAttr: attr,
	}
	t0 := Now()
	// Pdeathsig is tied to the spawning thread, not the process.
	runtime.LockOSThread()
	if err := cmd.Start(); err != nil {
		parent.Close()
		return nil, diagnoseSpawn(err)
	}
	p := &Process{cmd: cmd, ctrl: parent, Pid: cmd.Process.Pid}
	if o.Timeline {
		p.Stages = []Stage{{"spawn", t0}, {"spawned", Now()}}
	}
	if _, err := parent.Write(payload); err != nil {
		p.kill()
		return nil, fmt.Errorf("send policy to init stage: %w", err)
	}
	if err := p.readReady(len(o.Listeners)); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

func orStd(f, std *os.File) *os.File {
	if f != nil {
		return f
	}
	return std
}

func (p *Process) kill() {
	_ = p.cmd.Process.Kill()
	_, _ = p.cmd.Process.Wait()
	p.ctrl.Close()
}

// readReady waits for msgReady or msgError from the init stage.
func (p *Process) readReady(nListeners int) error {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*max(nListeners, 1)))
	n, oobn, _, _, err := unix.Recvmsg(int(p.ctrl.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return fmt.Errorf("read init stage status: %w", err)
	}
	if n == 0 {
		// The child closed the socket without a word: it died before it
		// could report (e.g. killed, or the runtime failed to start).
		return errors.New("sandbox init stage exited before reporting; run with -d for details")
	}
	var m message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return fmt.Errorf("decode init stage status: %w", err)
	}
	var files []*os.File
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return fmt.Errorf("parse listener fds: %w", err)
		}
		for _, c := range cmsgs {
			rights, err := unix.ParseUnixRights(&c)
			if err != nil {
				return fmt.Errorf("parse listener fds: %w", err)
			}
			for _, fd := range rights {
				files = append(files, os.NewFile(uintptr(fd), "fence-listener"))
			}
		}
	}
	switch m.Type {
	case typeError:
		for _, f := range files {
			f.Close()
		}
		return errors.New(m.Err)
	case typeReady:
		if len(files) != m.Listeners || len(files) != nListeners {
			for _, f := range files {
				f.Close()
			}
			return fmt.Errorf("init stage sent %d listener fds, want %d", len(files), nListeners)
		}
		p.Listeners = files
		if p.Stages != nil {
			p.Stages = append(p.Stages, m.Stages...)
			p.Stages = append(p.Stages, Stage{"ready", Now()})
		}
		return nil
	}
	return fmt.Errorf("unexpected init stage message %q", m.Type)
}

// Signal forwards sig to the command inside the sandbox.
func (p *Process) Signal(sig syscall.Signal) error {
	b, _ := json.Marshal(message{Type: typeSignal, Signal: int(sig)})
	if _, err := p.ctrl.Write(b); err != nil {
		return fmt.Errorf("forward signal %v: %w", sig, err)
	}
	return nil
}

// Wait waits for the sandbox to exit and returns the command's exit code
// (128+n if it was killed by signal n). When Wait returns, every process of
// the sandbox is gone: the kernel tears the PID namespace down with its init.
func (p *Process) Wait() (int, error) {
	defer runtime.UnlockOSThread()
	defer p.ctrl.Close()
	err := p.cmd.Wait()
	st, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return 1, fmt.Errorf("wait for sandbox: %w", err)
	}
	if st.Signaled() {
		// Only SIGKILL can kill PID 1 of a namespace from outside.
		return 128 + int(st.Signal()), nil
	}
	return st.ExitStatus(), nil
}

// diagnoseSpawn turns a failed clone into an error that names the fix.
func diagnoseSpawn(err error) error {
	if reason := userNSBlocker(); reason != "" {
		return fmt.Errorf("create sandbox namespaces: %w: %s", err, reason)
	}
	return fmt.Errorf("create sandbox namespaces: %w (the kernel refused new user/mount/pid/net namespaces; a container's seccomp profile may block them; see README#troubleshooting)", err)
}

// userNSBlocker names the sysctl that disables unprivileged user namespaces,
// or "" if none is set.
func userNSBlocker() string {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return string(trimNL(b))
	}
	if v := read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); v == "1" && os.Getuid() != 0 {
		return "user namespaces are restricted by AppArmor: kernel.apparmor_restrict_unprivileged_userns=1; see README#ubuntu"
	}
	if v := read("/proc/sys/kernel/unprivileged_userns_clone"); v == "0" && os.Getuid() != 0 {
		return "user namespaces are disabled: kernel.unprivileged_userns_clone=0; see README#troubleshooting"
	}
	if v := read("/proc/sys/user/max_user_namespaces"); v == "0" {
		return "user namespaces are disabled: user.max_user_namespaces=0; see README#troubleshooting"
	}
	return ""
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

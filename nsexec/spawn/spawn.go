// Package spawn creates a sandbox's namespaces and starts fence's init stage
// in them: /proc/self/exe re-executed as PID 1 of new user, mount, PID, IPC,
// UTS and (unless the sandbox shares the host's network) network namespaces,
// waiting on a control socket for its policy.
//
// It is a package apart from nsexec for start-up time alone. Go initialises a
// package as soon as its imports are, in import path order, so a package
// that imports only the lowest layers of the standard library is ready long
// before fence's command-line layer (cobra, the config parser, net/http,
// crypto/tls) has initialised. cmd/fence starts the init stage from there
// (package cmd/fence/internal/early), and the namespace creation and the
// init stage's own runtime start then overlap with the rest of the
// supervisor's start-up. On linux/amd64 it also owns fence's ELF entry
// point (LDFlags), which starts the init stage before the supervisor's Go
// runtime has started (FromEntry). nsexec owns everything after the
// spawn: the protocol, the policy, the init stage itself.
//
// It also slows the Go runtime's sysmon thread down (CoarsenSysmon), in
// the supervisor before the spawn and in the init stage: a start-up cost
// of both processes that has to be dealt with from this early package.
//
// spawn must import nothing that os, fmt, strings and golang.org/x/sys/unix
// do not already pull in, and internal/prefault, whose populate the entry
// calls (a heavier import would be initialised first and take the saving
// away; deps_test.go checks it), and does no work in package init.
package spawn

import "syscall"

const (
	// InitArg0 is argv[0] of the init stage; fence dispatches on it from
	// package cmd/fence/internal/stage's init, and package early's init
	// skips its work.
	InitArg0 = "fence-init"
	// AskNetArg is argv[1] of an init stage that fence's ELF entry point
	// spawned (LDFlags), before anything knew whether the sandbox shares the host's
	// network: its first packet on the control socket is one byte,
	// ModeNetNS or ModeHost (FromEntry sends it).
	AskNetArg = "ask"
	// StartArg is argv[1] of an init stage that Start spawned. It reads
	// its network mode as an AskNetArg one does: Start sends it too. Both
	// send it only once the init stage's ids are mapped, and the init
	// stage does nothing before it: the file systems it builds before the
	// policy (the mask tmpfs, /dev) refuse to create files for ids that
	// have no mapping (EOVERFLOW), which was seen in CI when the stage
	// got there before the supervisor had written the maps.
	StartArg = "start"
	// ModeNetNS and ModeHost are the network modes an init stage reads: a
	// network namespace of its own, or the host's network.
	ModeNetNS, ModeHost = 'n', 'h'
	// ProbeArg0 is argv[0] of a --linux-features probe (nsexec.Probe).
	ProbeArg0 = "fence-probe"
	// ControlFD is the init stage's end of the control socket.
	ControlFD = 3
)

// IgnorableSignals are the signals whose inherited ignore fence keeps for
// itself and passes on to the command (InheritedIgnored), beside SIGHUP
// and SIGINT, whose ignore the Go runtime keeps itself. A caller that
// ignored SIGPIPE or SIGTERM (a shell's trap with an empty action,
// systemd's ignored SIGPIPE) had the command get them with their default
// action, and fence forwarded a SIGTERM it was meant to ignore. The
// entry's list (entryDispositions) is the same.
var IgnorableSignals = [...]syscall.Signal{syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGTERM}

// CloneError is a failure of the clone that creates the namespaces: the
// kernel (or a seccomp profile, or a sysctl) refused them. Other errors of
// a spawn come from its later steps.
type CloneError struct{ Err error }

func (e *CloneError) Error() string { return e.Err.Error() }
func (e *CloneError) Unwrap() error { return e.Err }

// IsStage reports whether args (os.Args) are those of a process spawned by
// fence for itself, an init stage or a probe, rather than the fence CLI.
func IsStage(args []string) bool {
	return len(args) > 0 && (args[0] == InitArg0 || args[0] == ProbeArg0)
}

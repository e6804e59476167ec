package nsexec

import "github.com/nsfence/fence/nsexec/spawn"

// Protocol between the supervisor (parent) and the init stage (child).
//
// The control channel is one AF_UNIX SOCK_SEQPACKET socket pair. The child's
// end is fd 3 in the init stage (entry 3 of the spawn's file table). Every
// message is one packet, encoded as wire.go says;
// file descriptors ride along as SCM_RIGHTS on the packet that names them.
//
//	parent → child  msgOptions{Options}          first packet, the whole policy
//	parent → child  msgNoExec{Paths}             with FS.NoExecFollows: FS.NoExec,
//	                                              right after msgOptions; PID 1
//	                                              reads it once the rest of the
//	                                              mount tree is built, and fails
//	                                              on anything else
//	child  → parent msgReady{Listeners: n} + n fds   mounts, lo, listeners and
//	                                              restrictions done; the command
//	                                              starts right after. With
//	                                              Options.PTY the master of the
//	                                              sandbox's pseudo-terminal
//	                                              follows the listeners
//	child  → parent msgError{Err}                 instead of msgReady on failure;
//	                                              the child then exits 255
//	parent → child  msgStart                      with Options.HoldStart: the
//	                                              command may start now (the
//	                                              child waits for it after
//	                                              msgReady, and exits 255 on
//	                                              anything else)
//	parent → child  msgSignal{Signal, Group}      forward a signal to the command
//	                                              (Group: to its process group)
//	child  → parent msgCommand + pidfd            with Options.JobControl: the
//	                                              command started; its pidfd
//	                                              tells the supervisor its pid
//	                                              (no fd: the kernel has no
//	                                              pidfds, and PID 1 continues
//	                                              the command after a ^Z itself)
//	child  → parent msgStopped{Signal}            with Options.JobControl: the
//	                                              command stopped
//	parent → child  msgFreeze                     stop every process of the
//	child  → parent msgFrozen                     sandbox (the job stopped)
//	parent → child  msgThaw                       continue those msgFreeze stopped
//	parent → child  msgForeground{Group}          with Options.PTY: the command's
//	child  → parent msgForegrounded{Err}          group (Group) or PID 1's takes
//	                                              the pseudo-terminal's foreground
//	parent → child  msgConnect{Seq, Port}         connect to 127.0.0.1:Port inside
//	child  → parent msgConnected{Seq, Err} + fd   the connected socket (-p)
//	child  → parent msgExit{Code, Signal}         the command exited with Code
//	                                              (128+n and Signal n if signal n
//	                                              killed it) and every
//	                                              other process of the sandbox
//	                                              has been killed and reaped
//
// After msgExit, PID 1 exits with the same status. The supervisor may return
// as soon as msgExit arrives: what remains is the kernel freeing the
// namespaces of an exiting PID 1 (mount teardown waits for an RCU grace
// period), which no process of the sandbox survives to observe. If PID 1 dies
// without msgExit, the supervisor falls back to wait4.
const (
	// controlFD is the init stage's end of the control socket.
	controlFD = spawn.ControlFD
	// maxMessage bounds one control message (all its msgPart packets);
	// the policy for thousands of paths fits comfortably.
	maxMessage = 4 << 20
)

type msgType string

const (
	typeOptions   msgType = "options"
	typeNoExec    msgType = "noexec"
	typeStart     msgType = "start"
	typeReady     msgType = "ready"
	typeError     msgType = "error"
	typeSignal    msgType = "signal"
	typeExit      msgType = "exit"
	typeConnect   msgType = "connect"
	typeConnected msgType = "connected"
	typeCommand   msgType = "command"
	typeFiles     msgType = "files" // Options.PassFilesLater's, with SCM_RIGHTS
	typeStopped   msgType = "stopped"
	typeFreeze    msgType = "freeze"
	typeFrozen    msgType = "frozen"
	typeThaw      msgType = "thaw"
	// with Options.PTY
	typeForeground   msgType = "foreground"
	typeForegrounded msgType = "foregrounded"
	// typePart carries maxPacket bytes of a larger message in Err, Group
	// set on all but its last packet (packets, parts).
	typePart msgType = "part"
)

type message struct {
	Type      msgType
	Options   *Options
	Listeners int
	Err       string
	Signal    int
	Code      int
	Seq       int
	Port      int
	Group     bool
	// Continue (typeSignal): continue the command too if it is stopped,
	// as bash's kill does for a stopped job (Process.PassOn).
	Continue bool
	// Stages carries init-stage timestamps (CLOCK_MONOTONIC ns) when the
	// supervisor asked for a timeline.
	Stages []Stage
	// Created (typeExit) are the files matching DenyWritePatterns that the
	// sandbox created (guard.createdFiles).
	Created []string
	// Paths (typeNoExec) is FSPolicy.NoExec.
	Paths []string
	// FDs (typeFiles) are the numbers at which the command gets the
	// descriptors the message carries (Options.PassFilesLater); Seq of
	// the first says how many there are in all.
	FDs []int
}

// Stage is one named point of the start-up timeline, in CLOCK_MONOTONIC
// nanoseconds, so parent and child stamps are comparable.
type Stage struct {
	Name string
	Mono int64
}

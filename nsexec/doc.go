// Package nsexec runs a command inside new user, mount, PID, IPC, UTS and
// network namespaces built by fence itself, without bubblewrap or any other
// helper binary.
//
// The package has two halves that live in one binary:
//
//   - The parent half (Start, Process) runs in the supervisor on the host. It
//     re-executes /proc/self/exe in new user, mount, PID, IPC and UTS
//     namespaces (package spawn, which cmd/fence may call before main), so
//     those exist before any code of ours runs in the child, sends the
//     policy over a control socket, receives the listener fds the child
//     created inside the sandbox's network namespace, forwards signals and
//     reports the exit code.
//   - The child half (Init) is the init stage: PID 1 of the new PID namespace.
//     It creates the network namespace and brings up lo (on a thread of its
//     own, while it builds the mount tree), moves into it, creates
//     listeners, applies no_new_privs, capability drops, Landlock and
//     seccomp in that order, then starts the command and reaps until it
//     exits. With a terminal (Options.PTY) it also opens a pseudo-terminal
//     on the sandbox's devpts, leads the session it controls, and hands
//     its master to the supervisor to relay. Init never returns.
//
// The policy travels only over the control socket, never through the
// environment or argv, so the sandboxed command cannot read it.
//
// nsexec must not call external binaries, must not know the Fence config
// schema (it receives Options built by the orchestration layer), and must not
// do work in package init: every init() runs again in the init stage. It
// must not import net, net/netip or runtime/debug (directly or through its
// dependencies): Go initialises those late, and the init stage, started from
// a package init that waits for nsexec's imports, would then wait for most
// of the supervisor's packages too (cmd/fence/internal/stage).
package nsexec

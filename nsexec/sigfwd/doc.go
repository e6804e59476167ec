// Package sigfwd catches signals sent to the supervisor so that they can be
// passed on to the sandboxed command, without os/signal where it can.
//
// It exists for start-up time. The first signal.Notify of a process starts
// three threads (the runtime's signal-mask thread, the template thread that
// locked thread needs, and one blocked in the signal queue), and each
// signal registered is a round trip to the signal-mask thread. For the six
// signals fence forwards that was ~0.5 ms of every `fence -- true` on a
// 2-core VM, mostly for creating those threads and, at exit, waking them to
// die (docs/benchmarking.md). On linux/amd64 Catch installs a handler of
// its own instead, in assembly, that writes the signal's number to a pipe;
// the pipe is read through the runtime's poller, so no thread waits for
// it. Elsewhere Catch is signal.Notify.
//
// The handler replaces the runtime's for the caught signals until Stop
// restores it, so a program that also uses signal.Notify for them hears
// nothing meanwhile: only the CLI, which owns its process, asks for it
// (fence.Spec.OwnSignals). sigfwd must not be used in the init stage, and
// does no work in package init.
package sigfwd

package sigfwd

import (
	"os/signal"

	"github.com/nsfence/fence/nsexec/spawn"
)

// KeepInheritedIgnores ignores again each of spawn.IgnorableSignals that
// this process inherited ignored (spawn.InheritedIgnored), through
// os/signal, over the handler the runtime installed at its start: the
// process then ignores it as its caller meant, os/signal's Ignored says
// so, and a child it forks (syscall.ForkExec resets only the signals the
// runtime handles) inherits the ignore. Called by the supervisor before it
// chooses what to forward, and by the init stage before it forks the
// command.
func KeepInheritedIgnores() {
	for _, sig := range spawn.IgnorableSignals {
		if spawn.InheritedIgnored(sig) {
			signal.Ignore(sig)
		}
	}
}

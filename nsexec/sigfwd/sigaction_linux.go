//go:build linux && (amd64 || arm64)

package sigfwd

import (
	"syscall"

	"github.com/nsfence/fence/nsexec/internal/rawsig"
)

// WhileIgnored runs f with sig ignored, then gives sig its previous action
// back exactly (os/signal's Reset would leave an ignored signal ignored,
// and start os/signal's threads).
func WhileIgnored(sig syscall.Signal, f func()) {
	ign := rawsig.Action{Handler: 1} // SIG_IGN
	var old rawsig.Action
	if rawsig.Sigaction(sig, &ign, &old) != nil {
		f()
		return
	}
	defer rawsig.Sigaction(sig, &old, nil)
	f()
}

package fence

import (
	"net/netip"

	"github.com/nsfence/fence/netns"
)

// localRoute is proxy.Options.IsLocal: whether the kernel's route for a,
// in the supervisor's network namespace (the host's), is of type local.
// The host's interfaces do not list every address it answers on: a
// local route (AnyIP) makes a whole range its own.
func localRoute(a netip.Addr) (bool, error) { return netns.RouteLocal(a.AsSlice()) }

//go:build !linux

package fence

import "net/netip"

// localRoute is nil: only Linux looks up routes; the proxies refuse the
// addresses the host's interfaces list.
var localRoute func(netip.Addr) (bool, error)

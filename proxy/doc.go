// Package proxy owns fence's filtering proxies: an HTTP proxy (CONNECT
// tunnels and absolute-URI requests, built on elazarl/goproxy) and a SOCKS5
// proxy (CONNECT only), the host/port Rules they share, and the dial function
// that enforces those rules. It runs in the supervisor, on the host side of
// the sandbox's network; the caller decides where the proxies listen by
// handing Serve* a net.Listener.
//
// # Rules
//
// A connection to host:port is decided once, before anything else happens:
// deniedDomains first, then allowedDomains, then deny. Matching is
// case-insensitive and a trailing dot is ignored.
//
//   - "example.com" matches exactly that name.
//   - "*.example.com" matches subdomains at any depth, never the apex.
//   - "localhost" and IP literals ("10.0.0.7", "::1", "[::1]") match only
//     themselves; they are not names and are never resolved.
//   - "*" matches every host on every port.
//
// Any pattern may carry a port: "example.com:8443", "[::1]:5432", or
// "example.com:*" for every port. In allowedDomains a pattern WITHOUT a port
// allows only ports 80 and 443. In deniedDomains a pattern without a port
// denies every port. An empty allow list allows nothing.
//
// # Names and addresses
//
// Names are resolved only after the rules allowed them, so a denied name
// never causes a DNS lookup. Options.Hosts is consulted before DNS. The
// proxy then dials the resolved address itself (no second lookup), and
// refuses loopback, link-local, unspecified and cloud-metadata addresses
// (169.254.169.254, fd00:ec2::254, 100.100.100.200) unless the address is in
// Options.AllowAddrs or the allowing pattern named it explicitly (an IP
// literal, or "localhost"). Private LAN ranges are not refused.
//
// # What this package must not do
//
// It is pure Go: it must not import nsexec, netns, seatbelt or config, and
// has no platform-specific code. It must not do work at package
// initialisation (the fence binary re-executes itself for every command, so
// every init runs twice). It never uses the host's HTTP_PROXY variables,
// never follows redirects, never puts a total timeout on a response, and
// never keeps goproxy's insecure defaults (its Tr and ConnectDial): every
// upstream connection goes through Server.dial.
package proxy

// Package proxy owns fence's filtering proxies: an HTTP/1.1 proxy (CONNECT
// tunnels and absolute-URI requests for http and https) and a SOCKS5 proxy
// (CONNECT only), the host/port Rules they share, and the dial function
// that enforces those rules. It runs in the supervisor, on the host side of
// the sandbox's network; the caller decides where the proxies listen by
// handing Server.ServeHTTP and Server.ServeSOCKS a net.Listener.
//
// # Rules
//
// Every connection to host:port is decided once, before anything else
// happens: deniedDomains first, then allowedDomains, then deny. Matching is
// case-insensitive and one trailing dot is ignored.
//
//   - "example.com" matches exactly that name.
//   - "*.example.com" matches subdomains at any depth, never the apex.
//   - "localhost" and IP literals ("10.0.0.7", "::1", "[::1]") match only
//     themselves, as plain strings: a name never matches an IP pattern.
//   - "*" matches every host on every port.
//
// Ports: any pattern may carry one, as "example.com:8443", "[::1]:5432", or
// "example.com:*" for every port. An IPv6 literal with a port needs its
// brackets; one without brackets whose last group reads as a port
// ("::1:8002": port 8002 of ::1, or the address ::1:8002?) is refused as
// ambiguous, with both spellings in the error. In allowedDomains a pattern WITHOUT a port
// allows only ports 80 and 443. In deniedDomains a pattern without a port
// denies every port. An empty allow list allows nothing.
//
// # Names and addresses
//
// Names are resolved only after the rules allowed them, so a denied name
// never causes a DNS lookup. Options.Hosts is consulted before DNS. The
// proxy then dials the resolved addresses itself (there is no second
// lookup), and refuses loopback, link-local, unspecified and cloud-metadata
// addresses (169.254.169.254, fd00:ec2::254, fd20:ce::254, 100.100.100.200 and
// the others isMetadata lists: IPv6 ones are not link-local), and the
// addresses of the host's own interfaces (which reach every host service
// listening on 0.0.0.0 or [::], as loopback does) and, with
// Options.IsLocal, any other address the host delivers to itself (a local
// route); an address in the NAT64 prefix 64:ff9b::/96 is judged as the
// IPv4 address a translator connects to. All unless the address is in Options.AllowAddrs, the allowing pattern named it
// explicitly (an IP literal, or "localhost"), or, with Options.TrustHosts,
// the name's entry in Options.Hosts gave it. Private LAN ranges are not
// refused.
//
// A tunnel's first bytes go upstream only after a check: a TLS ClientHello
// must name the tunnel's host, or a name the rules allow on its port, else
// the tunnel is closed and logged as blocked (CONNECT to an allowed CDN
// name with the ClientHello of another site on it, "domain fronting",
// reached that site). See sni.go for what it covers.
//
// # Answers and logging
//
// A refused connection gets 403 with upstream Fence's body "Connection
// blocked by network allowlist" over HTTP, and reply 0x02 over SOCKS5. An
// allowed connection whose upstream cannot be reached gets 502 with the
// reason. A CONNECT target must be host:port, and a request target's port
// plain decimal (no sign, no leading zero); anything else gets 400.
// SOCKS5 BIND and UDP ASSOCIATE get reply 0x07, a malformed request (an
// empty domain name, a request version other than 5) 0x01, an unknown
// address type 0x08. Options.Log
// receives one line per request or connection in upstream's format, every
// line with Debug, only refusals and errors with Monitor.
//
// # Streams
//
// CONNECT and SOCKS5 tunnels, and plain-HTTP protocol upgrades (WebSocket),
// copy bytes in both directions with half-close and without user-space
// buffering where the kernel can splice. Nothing limits how long a
// response, a stream or a tunnel may last; only setting a connection up
// (request head, SOCKS handshake, resolve and connect) has a time limit.
// Redirects are passed to the client, never followed, and hop-by-hop
// headers (RFC 7230 §6.1, including those named in Connection) are removed
// in both directions.
//
// # What this package must not do
//
// It is pure Go: it must not import nsexec, netns, seatbelt or config, and
// has no platform-specific code. It must not do work at package
// initialisation (the fence binary re-executes itself for every command, so
// every init runs twice), and must not import net/http (see below;
// deps_test.go checks both). It never uses the host's HTTP_PROXY
// variables: every upstream connection goes through Server.dial.
//
// # HTTP/1.1
//
// The HTTP proxy is an HTTP/1.1 implementation of its own (wire.go,
// http.go), not net/http: net/http, linked into the fence binary, cost
// every command ~1.8 ms of start-up, since both the supervisor and the
// re-executed init stage initialise and fault in whatever the binary links
// (docs/benchmarking.md). It reads only HTTP/1.0 and HTTP/1.1 and re-frames
// every body it forwards. It refuses what two parsers could read
// differently: Content-Length with Transfer-Encoding, disagreeing or signed
// lengths, transfer codings other than chunked, bare LF or control
// characters in chunked framing, folded header lines, control characters in
// fields. Heads are limited to 1 MiB; what heads and trailers hold
// beyond their first 16 KiB, requests' and responses' alike, shares a
// budget of 32 MiB over all connections, and a request head that finds it
// spent gets 503, a response head 502, so that slow large heads on many
// connections (from the sandbox, or from an allowed origin) cannot run
// the supervisor out of memory. At most Options.MaxClients client
// connections (4096 by default; fence sets fewer for a low open-file
// limit) are served at once over both proxies; for a further one, the
// HTTP keep-alive connection that has waited longest for its next request
// is closed once it has waited a second (a busy one is not), and without one it waits unserved (one accepted per proxy,
// the rest in the listen backlog) until one ends (-m logs it once). An https request in absolute form (axios sends them) is
// forwarded over TLS that the proxy originates and verifies against the
// host's roots. Upstream connections wait between
// requests in an idle pool (16 per origin, 128 in all, 90 s), reused only
// for the same scheme, host and port under the same Rules. Only a 100
// Continue the client asked for is passed on of the interim answers
// (Python's http.client takes a 103 for the final response). An earlier version was built on elazarl/goproxy, which parsed a
// 4096-bit CA certificate in its init (~1 ms per process start).
package proxy

package proxy

import (
	"strconv"
	"strings"
	"time"
)

// outcome classifies a logged event. -d logs every outcome, -m all but
// allowed.
type outcome uint8

const (
	allowed outcome = iota // ✓ the connection or request went through
	blocked                // ✗ refused by policy (or missing credential)
	failed                 // ! allowed, but the proxy could not serve it
)

var marks = [...]string{allowed: "✓", blocked: "✗", failed: "!"}

func (s *Server) logs(o outcome) bool {
	return s.log != nil && (s.debug || s.monitor && o != allowed)
}

// maxLoggedURL is upstream's limit on the URL column.
const maxLoggedURL = 60

// logHTTP writes upstream's line for one HTTP proxy request:
//
//	[fence:http] 21:11:11 ✗ GET     403 blocked.example http://blocked.example/ (0s)
func (s *Server) logHTTP(o outcome, method string, status int, host, url string, start time.Time) {
	s.logHTTPReason(o, method, status, host, url, start, nil)
}

// logHTTPReason is logHTTP with the error that caused a refusal or failure
// appended after the duration (an extension of upstream's format).
func (s *Server) logHTTPReason(o outcome, method string, status int, host, url string, start time.Time, reason error) {
	if !s.logs(o) {
		return
	}
	if len(url) > maxLoggedURL {
		url = url[:maxLoggedURL-3] + "..."
	}
	var b strings.Builder
	b.Grow(64 + len(host) + len(url))
	b.WriteString("[fence:http] ")
	b.WriteString(time.Now().Format(time.TimeOnly))
	b.WriteByte(' ')
	b.WriteString(marks[o])
	b.WriteByte(' ')
	b.WriteString(method)
	for i := len(method); i < 7; i++ {
		b.WriteByte(' ')
	}
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	writeSafe(&b, host)
	b.WriteByte(' ')
	writeSafe(&b, url)
	b.WriteString(" (")
	b.WriteString(time.Since(start).Round(time.Millisecond).String())
	b.WriteByte(')')
	if reason != nil {
		b.WriteString(" (")
		writeSafe(&b, reason.Error())
		b.WriteByte(')')
	}
	s.log(b.String())
}

// logSOCKS writes upstream's line for one SOCKS5 request:
//
//	[fence:socks] 21:11:11 ✓ CONNECT example.com:443 ALLOWED
//
// Connections the address policy refused, and dial failures, add a reason:
// "✗ ... BLOCKED (reason)" and "! ... ERROR (reason)".
func (s *Server) logSOCKS(o outcome, cmd, target, reason string) {
	if !s.logs(o) {
		return
	}
	var b strings.Builder
	b.WriteString("[fence:socks] ")
	b.WriteString(time.Now().Format(time.TimeOnly))
	b.WriteByte(' ')
	b.WriteString(marks[o])
	b.WriteByte(' ')
	b.WriteString(cmd)
	b.WriteByte(' ')
	writeSafe(&b, target)
	switch o {
	case allowed:
		b.WriteString(" ALLOWED")
	case blocked:
		b.WriteString(" BLOCKED")
	default:
		b.WriteString(" ERROR")
	}
	if reason != "" {
		b.WriteString(" (")
		writeSafe(&b, reason)
		b.WriteByte(')')
	}
	s.log(b.String())
}

// writeSafe writes v with control characters replaced, so a hostile host
// name or URL cannot forge log lines.
func writeSafe(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c == 0x7f {
			b.WriteByte('?')
		} else {
			b.WriteByte(c)
		}
	}
}

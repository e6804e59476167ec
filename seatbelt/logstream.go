package seatbelt

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Denial is one refusal that Seatbelt reported to the unified log.
type Denial struct {
	Process string
	PID     int
	Op      string // file-read-data, network-outbound, ...
	Detail  string // the path or address
}

// denialRe matches the kernel's report, e.g.
// "Sandbox: curl(4242) deny(1) network-outbound 1.2.3.4:443". Process names
// may hold spaces and punctuation; the last "(PID) deny(N) " ends them.
var denialRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`Sandbox: (.+)\((\d+)\) deny\(\d+\) (\S+) ?(.*)$`)
})

// ParseDenial reads one line of `log stream --style compact`. It reports
// only this run's refusals (lines ending in tag, the profile's LogTag) of
// files, networking and exec, and leaves out the terminal and system
// noise every sandboxed shell causes.
func ParseDenial(line, tag string) (Denial, bool) {
	line = strings.TrimRight(line, "\r\n")
	if tag == "" || !strings.HasSuffix(line, tag) {
		return Denial{}, false
	}
	line = strings.TrimSpace(strings.TrimSuffix(line, tag))
	m := denialRe().FindStringSubmatch(line)
	if m == nil {
		return Denial{}, false
	}
	pid, err := strconv.Atoi(m[2])
	if err != nil {
		return Denial{}, false
	}
	d := Denial{Process: m[1], PID: pid, Op: m[3], Detail: strings.TrimSpace(m[4])}
	switch {
	case strings.HasPrefix(d.Op, "file-read"), strings.HasPrefix(d.Op, "file-write"),
		strings.HasPrefix(d.Op, "network-"), d.Op == "process-exec":
	default:
		return Denial{}, false
	}
	for _, noise := range []string{"/dev/tty", "/dev/pts", "mDNSResponder", "/private/var/run/syslog"} {
		if strings.Contains(d.Detail, noise) {
			return Denial{}, false
		}
	}
	return d, true
}

// Format renders d as fence prints it in monitor mode.
func (d Denial) Format(at time.Time) string {
	return fmt.Sprintf("[fence:logstream] %s ✗ %s %s (%s:%d)", at.Format("15:04:05"), d.Op, d.Detail, d.Process, d.PID)
}

//go:build !(linux && amd64)

package spawn

import "time"

// CoarsenSysmon does nothing here, and finish reports false: the signal
// handler it needs is written for linux/amd64 only. It is a speed-up, not
// a restriction, so nothing is lost but time.
func CoarsenSysmon(slack time.Duration) (finish func() bool) {
	return func() bool { return false }
}

// RestoreSysmon does nothing here: CoarsenSysmon never changes anything.
func RestoreSysmon() {}

// SysmonSlack is the slack fence asks CoarsenSysmon for.
const SysmonSlack = time.Millisecond

// origSlack stays 0 here: CoarsenSysmon never changes anything.
var origSlack uint64

// RestoreSysmonLater does nothing here: CoarsenSysmon never changes
// anything.
func RestoreSysmonLater() {}

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

// OrigSlack returns 0 here: CoarsenSysmon never changes anything.
func OrigSlack() uint64 { return 0 }

// RestoreSysmonLater does nothing here: CoarsenSysmon never changes
// anything.
func RestoreSysmonLater() {}

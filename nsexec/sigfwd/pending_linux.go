package sigfwd

import (
	"bytes"
	"os"
	"strconv"
)

// kernelPending reports whether a signal in set has been sent to the
// process and not yet handled by any of its threads (ShdPnd in
// /proc/self/status). When the file cannot be read or parsed it says yes:
// the caller then does not stop, and asks again at the next stop.
func kernelPending(set uint64) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	mask, ok := shdPnd(b)
	return !ok || mask&set != 0
}

// shdPnd returns the mask of the ShdPnd line of a /proc/PID/status.
func shdPnd(status []byte) (uint64, bool) {
	_, rest, ok := bytes.Cut(status, []byte("\nShdPnd:"))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	mask, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 64)
	return mask, err == nil
}

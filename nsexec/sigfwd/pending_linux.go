package sigfwd

import (
	"bytes"
	"os"
	"strconv"
)

// kernelPending reports whether a signal in set has been sent to the
// process and not yet handled by any of its threads (ShdPnd in
// /proc/self/status). Not one that the main thread blocks (SigBlk):
// inherited blocked, it would stay pending for good (the runtime unblocks
// only some signals), and fence would never stop again. When the file
// cannot be read or parsed it says yes: the caller then does not stop,
// and asks again at the next stop.
func kernelPending(set uint64) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	pending, ok := statusMask(b, "ShdPnd")
	blocked, ok2 := statusMask(b, "SigBlk")
	return !ok || !ok2 || pending&^blocked&set != 0
}

// statusMask returns the mask of a signal line (ShdPnd, SigBlk) of a
// /proc/PID/status.
func statusMask(status []byte, name string) (uint64, bool) {
	_, rest, ok := bytes.Cut(status, []byte("\n"+name+":"))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	mask, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 64)
	return mask, err == nil
}

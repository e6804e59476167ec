package sigfwd

import (
	"os"
	"testing"
)

// The signal lines are read as the kernel writes them, and a file without
// one is not taken for "nothing pending".
func TestStatusMask(t *testing.T) {
	status := "Name:\tx\nSigPnd:\t0000000000000001\nShdPnd:\t0000000000004100\nSigBlk:\t0000000000000200\n"
	if m, ok := statusMask([]byte(status), "ShdPnd"); !ok || m != 1<<14|1<<8 {
		t.Errorf("ShdPnd = %#x, %v; want SIGTERM and SIGUSR1 (%#x)", m, ok, uint64(1<<14|1<<8))
	}
	if m, ok := statusMask([]byte(status), "SigBlk"); !ok || m != 1<<9 {
		t.Errorf("SigBlk = %#x, %v; want SIGKILL's bit", m, ok)
	}
	for _, bad := range []string{"Name:\tx\nSigPnd:\t0000000000000001\n", "Name:\tx\nShdPnd:\tzz\n"} {
		if _, ok := statusMask([]byte(bad), "ShdPnd"); ok {
			t.Errorf("statusMask(%q) ok; want not", bad)
		}
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ShdPnd", "SigBlk"} {
		if _, ok := statusMask(b, name); !ok {
			t.Errorf("no %s read from /proc/self/status:\n%s", name, b)
		}
	}
	if kernelPending(sigset(nil)) {
		t.Error("kernelPending of no signals")
	}
}

package sigfwd

import (
	"os"
	"testing"
)

// The ShdPnd line is read as the kernel writes it, and a file without
// one is not taken for "nothing pending".
func TestShdPnd(t *testing.T) {
	status := "Name:\tx\nSigPnd:\t0000000000000001\nShdPnd:\t0000000000004100\nSigBlk:\t0000000000000000\n"
	if m, ok := shdPnd([]byte(status)); !ok || m != 1<<14|1<<8 {
		t.Errorf("shdPnd = %#x, %v; want SIGTERM and SIGUSR1 (%#x)", m, ok, uint64(1<<14|1<<8))
	}
	for _, bad := range []string{"Name:\tx\nSigPnd:\t0000000000000001\n", "Name:\tx\nShdPnd:\tzz\n"} {
		if _, ok := shdPnd([]byte(bad)); ok {
			t.Errorf("shdPnd(%q) ok; want not", bad)
		}
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := shdPnd(b); !ok {
		t.Errorf("no ShdPnd read from /proc/self/status:\n%s", b)
	}
	if kernelPending(sigset(nil)) {
		t.Error("kernelPending of no signals")
	}
}

package seatbelt

import (
	"testing"
	"time"
)

func TestParseDenial(t *testing.T) {
	const tag = "FENCE_0011223344556677_SBX"
	for _, c := range []struct {
		line string
		want Denial
		ok   bool
	}{
		{"2026-11-26 13:00:00.123 E  kernel[0:1a2b] (Sandbox) Sandbox: curl(4242) deny(1) network-outbound 1.2.3.4:443 " + tag,
			Denial{"curl", 4242, "network-outbound", "1.2.3.4:443"}, true},
		{"2026-11-26 13:00:00.123 E  kernel[0:1a2b] (Sandbox) Sandbox: Google Chrome Helper(77) deny(1) file-read-data /Users/u/.ssh/id_rsa " + tag + "\n",
			Denial{"Google Chrome Helper", 77, "file-read-data", "/Users/u/.ssh/id_rsa"}, true},
		{"... Sandbox: python3.12(9) deny(1) file-write-create /Users/u/proj/.bashrc " + tag,
			Denial{"python3.12", 9, "file-write-create", "/Users/u/proj/.bashrc"}, true},
		{"... Sandbox: sh(9) deny(1) process-exec /sbin/reboot " + tag, Denial{"sh", 9, "process-exec", "/sbin/reboot"}, true},
		// Another run's tag, no tag, noise, other operations.
		{"... Sandbox: curl(1) deny(1) network-outbound 1.2.3.4:443 FENCE_ffffffffffffffff_SBX", Denial{}, false},
		{"... Sandbox: curl(1) deny(1) network-outbound 1.2.3.4:443", Denial{}, false},
		{"... Sandbox: bash(1) deny(1) file-read-data /dev/ttys003 " + tag, Denial{}, false},
		{"... Sandbox: bash(1) deny(1) mach-lookup com.apple.x " + tag, Denial{}, false},
		{"Filtering the log data using \"eventMessage ENDSWITH \\\"" + tag + "\\\"\"", Denial{}, false},
	} {
		got, ok := ParseDenial(c.line, tag)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseDenial(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
	if _, ok := ParseDenial("Sandbox: a(1) deny(1) file-read-data /x ", ""); ok {
		t.Errorf("an empty tag matches every run")
	}
	d := Denial{"curl", 4242, "network-outbound", "1.2.3.4:443"}
	if got := d.Format(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)); got != "[fence:logstream] 03:04:05 ✗ network-outbound 1.2.3.4:443 (curl:4242)" {
		t.Errorf("Format = %q", got)
	}
}

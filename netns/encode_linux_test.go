package netns

import (
	"bytes"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The hand-encoded RTM_NEWLINK must be byte for byte what netlink's own
// encoder builds for the same request (TestLoopbackUp checks the kernel
// accepts it; this pins the layout independently of the kernel).
func TestLoUpRequestMatchesNetlink(t *testing.T) {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = 1
	msg.Flags = unix.IFF_UP
	msg.Change = unix.IFF_UP
	req.AddData(msg)
	want := req.Serialize()
	if got := loUpRequest(req.Seq); !bytes.Equal(got, want) {
		t.Fatalf("loUpRequest(%d) = % x\nnetlink encodes   % x", req.Seq, got, want)
	}
}

func TestParseIPv4Port(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ip   [4]byte
		port int
		ok   bool
	}{
		{"127.0.0.1:3128", [4]byte{127, 0, 0, 1}, 3128, true},
		{"0.0.0.0:0", [4]byte{}, 0, true},
		{"255.255.255.255:65535", [4]byte{255, 255, 255, 255}, 65535, true},
		{"10.1.20.3:80", [4]byte{10, 1, 20, 3}, 80, true},
		{"127.0.0.1:65536", [4]byte{}, 0, false},
		{"127.0.0.1:", [4]byte{}, 0, false},
		{"127.0.0.1", [4]byte{}, 0, false},
		{"127.0.0.1:-1", [4]byte{}, 0, false},
		{"127.0.0.1:+80", [4]byte{}, 0, false},
		{"127.0.0.1:80:80", [4]byte{}, 0, false},
		{"127.0.0.256:80", [4]byte{}, 0, false},
		{"127.0.0:80", [4]byte{}, 0, false},
		{"127.0.0.1.1:80", [4]byte{}, 0, false},
		{"127.00.0.1:80", [4]byte{}, 0, false},
		{"127..0.1:80", [4]byte{}, 0, false},
		{"+127.0.0.1:80", [4]byte{}, 0, false},
		{"[::1]:80", [4]byte{}, 0, false},
		{"localhost:80", [4]byte{}, 0, false},
		{":80", [4]byte{}, 0, false},
	} {
		ip, port, ok := parseIPv4Port(tc.in)
		if ok != tc.ok || ok && (ip != tc.ip || port != tc.port) {
			t.Errorf("parseIPv4Port(%q) = %v, %d, %v; want %v, %d, %v", tc.in, ip, port, ok, tc.ip, tc.port, tc.ok)
		}
	}
}

package nsexec

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A packet the init stage sent before it exited is read even when it left
// one of the supervisor's unread: recvmsg reports ECONNRESET once first
// (an init stage that failed before reading msgStart lost its error
// message: "read init stage status: connection reset by peer").
func TestRecvMessageAfterPeerLeftUnread(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	// Ours, never read by the peer.
	if _, err := unix.Write(fds[0], encodeMessage(message{Type: typeThaw})); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fds[1], encodeMessage(message{Type: typeFrozen})); err != nil {
		t.Fatal(err)
	}
	unix.Close(fds[1])
	m, _, err := recvMessage(fds[0], 0, &parts{})
	if err != nil || m.Type != typeFrozen {
		t.Fatalf("recvMessage = %q, %v; want the peer's %q", m.Type, err, typeFrozen)
	}
	if _, _, err := recvMessage(fds[0], 0, &parts{}); err == nil {
		t.Error("a second message read from a closed peer that sent one")
	}
}

package nsexec

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadNoExec: PID 1 takes from the control socket (non-blocking, as
// it is by then) the denied programs' paths of a msgNoExec, whole or in
// parts, also when they come later; EOF, another message first, or a
// message between the parts is an error, never an empty list.
func TestReadNoExec(t *testing.T) {
	many := make([]string, 3000)
	for i := range many {
		many[i] = fmt.Sprintf("/usr/local/bin/denied-program-%04d", i)
	}
	send := func(t *testing.T, fd int, ms ...message) {
		t.Helper()
		for _, m := range ms {
			for _, pk := range packets(encodeMessage(m)) {
				if _, err := unix.Write(fd, pk); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	pair := func(t *testing.T) (int, int) {
		t.Helper()
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.SetNonblock(fds[0], true); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		return fds[0], fds[1]
	}
	t.Run("whole", func(t *testing.T) {
		ctrl, peer := pair(t)
		send(t, peer, message{Type: typeNoExec, Paths: []string{"/usr/bin/a", "/usr/bin/b"}})
		got, err := readNoExec(ctrl)
		if err != nil || !slices.Equal(got, []string{"/usr/bin/a", "/usr/bin/b"}) {
			t.Errorf("readNoExec = %q, %v", got, err)
		}
	})
	t.Run("parts, later", func(t *testing.T) {
		ctrl, peer := pair(t)
		if len(packets(encodeMessage(message{Type: typeNoExec, Paths: many}))) < 2 {
			t.Fatal("the test's message fits one packet")
		}
		go func() {
			time.Sleep(100 * time.Millisecond)
			for _, pk := range packets(encodeMessage(message{Type: typeNoExec, Paths: many})) {
				unix.Write(peer, pk)
			}
		}()
		got, err := readNoExec(ctrl)
		if err != nil || !slices.Equal(got, many) {
			t.Errorf("readNoExec = %d paths, %v; want %d", len(got), err, len(many))
		}
	})
	for _, tc := range []struct {
		name string
		send func(t *testing.T, peer int)
	}{
		{"EOF", func(t *testing.T, peer int) { unix.Shutdown(peer, unix.SHUT_WR) }},
		{"msgStart first", func(t *testing.T, peer int) {
			send(t, peer, message{Type: typeStart}, message{Type: typeNoExec, Paths: []string{"/usr/bin/a"}})
		}},
		{"a message between the parts", func(t *testing.T, peer int) {
			pks := packets(encodeMessage(message{Type: typeNoExec, Paths: many}))
			unix.Write(peer, pks[0])
			send(t, peer, message{Type: typeStart})
			for _, pk := range pks[1:] {
				unix.Write(peer, pk)
			}
		}},
		{"parts, then EOF", func(t *testing.T, peer int) {
			unix.Write(peer, packets(encodeMessage(message{Type: typeNoExec, Paths: many}))[0])
			unix.Shutdown(peer, unix.SHUT_WR)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctrl, peer := pair(t)
			tc.send(t, peer)
			if got, err := readNoExec(ctrl); err == nil {
				t.Errorf("readNoExec = %d paths, no error", len(got))
			}
		})
	}
}

//go:build unix

package nsexec

import "golang.org/x/sys/unix"

// RawStderr writes to fd 2 with plain write(2). PID 1 must not use
// os.Stderr, nor should the supervisor for its warnings: a write to a
// closed pipe there makes the Go runtime raise SIGPIPE and exit unless
// os/signal is watching SIGPIPE (PID 1's exit ends the sandbox; the
// supervisor's, the command's run). Here EPIPE is just an error.
type RawStderr struct{}

func (RawStderr) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(2, b[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// A non-blocking stderr (shared with whoever set it so):
			// wait until it takes more, as os.Stderr would.
			_, _ = unix.Poll([]unix.PollFd{{Fd: 2, Events: unix.POLLOUT}}, -1)
			continue
		case err != nil:
			return n, err
		}
		n += m
	}
	return n, nil
}

package fence

import (
	"bytes"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// A ^C counts as typed (and fence's own group gets the command's SIGINT)
// only for a byte that fence's terminal would have made SIGINT itself: the
// sandbox sets its pseudo-terminal's VINTR, and with VINTR '\r' an Enter
// would otherwise pass its next SIGINT on outside the sandbox.
func TestTypedSignalsNeedFenceTerminalsCharacter(t *testing.T) {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	pty, err := unix.IoctlGetTermios(master, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	host := *pty
	host.Lflag |= unix.ISIG
	host.Cc[unix.VINTR], host.Cc[unix.VQUIT] = 3, 0x1c
	r := &relay{master: master, saved: &host}
	set := func(intr, quit byte) {
		p := *pty
		p.Lflag |= unix.ISIG
		p.Lflag &^= unix.ICANON | unix.EXTPROC
		p.Cc[unix.VINTR], p.Cc[unix.VQUIT] = intr, quit
		if err := unix.IoctlSetTermios(master, unix.TCSETS, &p); err != nil {
			t.Fatal(err)
		}
	}
	set('\r', '\n')
	if got := r.typedSignals([]byte("ls\r\n")); len(got) != 0 {
		t.Errorf("with the sandbox's VINTR '\\r' and VQUIT '\\n', Enter counts as typed %v; want none", got)
	}
	set(3, 0x1c)
	if got := r.typedSignals([]byte{3, 0x1c}); len(got) != 2 || got[0] != unix.SIGINT || got[1] != unix.SIGQUIT {
		t.Errorf("^C ^\\ typed = %v, want [SIGINT SIGQUIT]", got)
	}
	// With ISTRIP, fence's terminal strips the byte typed: a VINTR of
	// 0x83 there never fires, so a ^C is none of its.
	host.Iflag |= unix.ISTRIP
	host.Cc[unix.VINTR] = 0x83
	if got := r.typedSignals([]byte{3}); len(got) != 0 {
		t.Errorf("^C counts as typed %v although fence's terminal (ISTRIP, VINTR 0x83) would not have sent SIGINT; want none", got)
	}
	host.Iflag &^= unix.ISTRIP
	host.Cc[unix.VINTR] = 3
	host.Lflag &^= unix.ISIG
	if got := r.typedSignals([]byte{3}); len(got) != 0 {
		t.Errorf("^C counts as typed %v although fence's terminal had no ISIG; want none", got)
	}
}

// fence's own messages get CR LF line ends only while the relay has its
// terminal in raw mode, where a bare line feed would not return the
// carriage.
func TestRawSafe(t *testing.T) {
	var b bytes.Buffer
	var raw atomic.Bool
	w := rawSafe{&b, &raw}
	for _, s := range []string{"a\nb\n", "c"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	raw.Store(true)
	for _, s := range []string{"d\ne\n", "f"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) in raw mode = %d, %v; want %d, nil", s, n, err, len(s))
		}
	}
	if got, want := b.String(), "a\nb\ncd\r\ne\r\nf"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
}

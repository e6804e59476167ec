package fence

import "testing"

func TestJobControl(t *testing.T) {
	for _, c := range []struct {
		tty, foreground, setsid, fg bool
	}{
		{tty: false, setsid: true},
		{tty: true, foreground: true, fg: true},
		// A backgrounded fence: not a session of its own, whose reads of
		// the terminal would not stop it.
		{tty: true, foreground: false},
	} {
		if setsid, fg := jobControl(c.tty, c.foreground); setsid != c.setsid || fg != c.fg {
			t.Errorf("jobControl(tty %v, foreground %v) = setsid %v, fg %v; want %v, %v", c.tty, c.foreground, setsid, fg, c.setsid, c.fg)
		}
	}
}

package fence

import (
	"bytes"
	"sync/atomic"
	"testing"
)

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

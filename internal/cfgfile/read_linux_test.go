package cfgfile

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestOPathMatchesUnix(t *testing.T) {
	if oPath != unix.O_PATH {
		t.Fatalf("oPath = %#x, unix.O_PATH = %#x on this architecture", oPath, unix.O_PATH)
	}
}

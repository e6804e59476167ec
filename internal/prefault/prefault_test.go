package prefault

import (
	"os"
	"strings"
	"testing"
)

// TestMakefileLinksTheEntry: make build passes the same linker flag that
// LDFlag gives the test builds, so that the binary users run is the one
// measured and tested.
func TestMakefileLinksTheEntry(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	flag := LDFlag("linux", "amd64")
	if flag == "" || !strings.Contains(string(mk), flag) {
		t.Errorf("the Makefile does not link with %q (prefault.LDFlag)", flag)
	}
	for _, p := range [][2]string{{"linux", "arm64"}, {"darwin", "amd64"}, {"linux", "386"}} {
		if f := LDFlag(p[0], p[1]); f != "" {
			t.Errorf("LDFlag(%s, %s) = %q: there is no entry function there", p[0], p[1], f)
		}
	}
}

package prefault

import "testing"

// TestLDFlag: the flag names the entry function where there is one
// (fence's own builds link nsexec/spawn's entry, which calls this
// package's populate first: spawn.LDFlags, TestMakefileLinksTheEntry).
func TestLDFlag(t *testing.T) {
	if f := LDFlag("linux", "amd64"); f != "-E="+EntrySymbol {
		t.Errorf("LDFlag(linux, amd64) = %q, want -E=%s", f, EntrySymbol)
	}
	for _, p := range [][2]string{{"linux", "arm64"}, {"darwin", "amd64"}, {"linux", "386"}} {
		if f := LDFlag(p[0], p[1]); f != "" {
			t.Errorf("LDFlag(%s, %s) = %q: there is no entry function there", p[0], p[1], f)
		}
	}
}

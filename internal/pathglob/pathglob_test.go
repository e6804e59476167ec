package pathglob

import (
	"path/filepath"
	"testing"
)

// A path escaped names itself, to filepath.Match and back.
func TestLiteral(t *testing.T) {
	for _, p := range []string{"/plain", "/w/p[1]", `/a*b?c`, `/back\slash`, "/x]y", "/[", `/e\[`} {
		l := Literal(p)
		if MetaIndex(l) >= 0 {
			t.Errorf("Literal(%q) = %q has a glob character", p, l)
		}
		if got := Unescape(l); got != p {
			t.Errorf("Unescape(Literal(%q)) = %q", p, got)
		}
		if ok, err := filepath.Match(l, p); !ok || err != nil {
			t.Errorf("filepath.Match(%q, %q) = %v, %v", l, p, ok, err)
		}
		if ok, _ := filepath.Match(l+"/*", p+"/x"); !ok {
			t.Errorf("%q/* does not match %q/x", l, p)
		}
	}
}

func TestDir(t *testing.T) {
	for _, c := range []struct{ in, dir, rest string }{
		{Literal("/w/p[1]") + "/sub/**/*.pem", "/w/p[1]/sub", "/**/*.pem"},
		{"/*.pem", "/", "/*.pem"},
		{"/a/b", "/a/b", ""},
		{`/a\*/b*`, "/a*", "/b*"},
	} {
		if dir, rest := Dir(c.in); dir != c.dir || rest != c.rest {
			t.Errorf("Dir(%q) = %q, %q; want %q, %q", c.in, dir, rest, c.dir, c.rest)
		}
	}
}

package fence

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nsfence/fence/internal/pathglob"
)

// The resolver must agree with filepath.EvalSymlinks on every path, with a
// fresh cache and with one shared across all lookups (the cache keys are
// where a wrong answer would hide).
func TestResolverMatchesEvalSymlinks(t *testing.T) {
	root, must := resolverRoot(t)
	must(os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "home/u/proj/.git"), 0o755))
	must(os.WriteFile(filepath.Join(root, "usr/bin/tool"), nil, 0o755))
	must(os.WriteFile(filepath.Join(root, "home/u/file"), nil, 0o644))
	links := map[string]string{
		"bin":              "usr/bin",                           // relative, like merged /usr
		"abs":              filepath.Join(root, "usr"),          // absolute
		"home/u/up":        "..",                                // to the parent
		"home/u/proj/back": "../../../usr/bin/../bin/tool",      // .. through a symlink (bin)
		"home/u/chain1":    "chain2",                            // chain
		"home/u/chain2":    "proj/.git",                         //
		"home/u/dangling":  "nowhere/x",                         // missing target
		"home/u/loop1":     "loop2",                             // loop
		"home/u/loop2":     "loop1",                             //
		"home/u/viafile":   "file/x",                            // through a regular file
		"home/u/dot":       "./proj/./.git/",                    // dots and a trailing slash
		"home/link":        filepath.Join(root, "home/u/up/u/"), // absolute through a link
	}
	for name, target := range links {
		must(os.Symlink(target, filepath.Join(root, name)))
	}
	rels := []string{
		"", "usr", "usr/bin/tool", "bin", "bin/tool", "bin/../bin/tool", "abs/bin/tool", "abs/..",
		"home/u/up", "home/u/up/u/file", "home/u/proj/back", "home/u/chain1", "home/u/chain1/..",
		"home/u/dangling", "home/u/loop1", "home/u/viafile", "home/u/dot", "home/link/proj",
		"home/link/chain1", "missing", "missing/deeper", "home/u/file/x", "bin/../../..", "home/./u//proj/",
		// A file or a link to a file with more path after it: ENOTDIR.
		"home/u/file/", "home/u/file/.", "home/u/file/..", "home/u/file/../proj", "bin/tool/", "bin/tool/..",
		"usr/bin/tool/.", "home/u/proj/back/", "home/u/chain1/", "home/u/chain1/.",
	}
	shared, sharedPartial := &resolver{}, &resolver{}
	for pass := 0; pass < 2; pass++ { // the second pass hits the shared cache only
		for _, rel := range rels {
			p := filepath.Join(root, rel)
			if rel != "" && rel[len(rel)-1] == '/' {
				p += "/"
			}
			want, wantErr := filepath.EvalSymlinks(p)
			for _, r := range []*resolver{{}, shared} {
				got, err := r.eval(p)
				if (err != nil) != (wantErr != nil) || got != want {
					t.Errorf("eval(%q) = %q, %v; EvalSymlinks = %q, %v", p, got, err, want, wantErr)
				}
			}
			// canonicalName: the directory as EvalSymlinks resolves it
			// (with its trailing slash), the last name as it is.
			if i := strings.LastIndexByte(p, '/'); i >= 0 {
				want := ""
				if base := p[i+1:]; base != "" && base != "." && base != ".." {
					if dir, err := filepath.EvalSymlinks(p[:i+1]); err == nil {
						want = filepath.Join(dir, base)
					}
				}
				if got := shared.canonicalName(p); got != want {
					t.Errorf("canonicalName(%q) = %q, want %q", p, got, want)
				}
			}
			// evalPartial says "exists" exactly when EvalSymlinks
			// resolves the path, with the same result, also with its
			// directories remembered from other paths. (Not for a
			// trailing slash, which it ignores: no protected path has
			// one.)
			if strings.HasSuffix(p, "/") {
				continue
			}
			fresh, freshOK, freshErr := (&resolver{}).evalPartial(p, nil)
			for _, r := range []*resolver{{}, sharedPartial} {
				got, ok, err := r.evalPartial(p, nil)
				if err != nil || ok != (wantErr == nil) || ok && got != want {
					t.Errorf("evalPartial(%q) = %q, %v, %v; EvalSymlinks = %q, %v", p, got, ok, err, want, wantErr)
				}
				if got != fresh || ok != freshOK || (err == nil) != (freshErr == nil) {
					t.Errorf("evalPartial(%q) with a used resolver = %q, %v, %v; fresh = %q, %v, %v", p, got, ok, err, fresh, freshOK, freshErr)
				}
			}
		}
	}
	// Long chains: the 255-link limit applies to each whole resolution,
	// also when part of the chain was resolved (and cached) before.
	must(os.MkdirAll(filepath.Join(root, "c/c200"), 0o755))
	for i := 0; i < 200; i++ {
		must(os.Symlink(fmt.Sprintf("c%d", i+1), filepath.Join(root, fmt.Sprintf("c/c%d", i))))
	}
	must(os.MkdirAll(filepath.Join(root, "e"), 0o755))
	for i := 0; i < 100; i++ {
		must(os.Symlink(fmt.Sprintf("e%d", i+1), filepath.Join(root, fmt.Sprintf("e/e%d", i))))
	}
	must(os.Symlink("../c/c0", filepath.Join(root, "e/e100"))) // e0: 301 links
	for _, order := range [][]string{{"e/e0", "c/c0", "c/c100"}, {"c/c100", "e/e0", "c/c0"}, {"c/c0", "e/e0"}} {
		r, rp := &resolver{}, &resolver{}
		for _, rel := range order {
			p := filepath.Join(root, rel)
			want, wantErr := filepath.EvalSymlinks(p)
			got, err := r.eval(p)
			if (err != nil) != (wantErr != nil) || got != want {
				t.Errorf("after %v: eval(%s) = %q, %v; EvalSymlinks = %q, %v", order, rel, got, err, want, wantErr)
			}
			// A name under the chain: the directory remembered must carry
			// its link count.
			q := filepath.Join(p, "x")
			wantQ, wantQErr := filepath.EvalSymlinks(q)
			got, ok, err := rp.evalPartial(q, nil)
			if err != nil || ok != (wantQErr == nil) || ok && got != wantQ {
				t.Errorf("after %v: evalPartial(%s/x) = %q, %v, %v; EvalSymlinks = %q, %v", order, rel, got, ok, err, wantQ, wantQErr)
			}
		}
	}
	if _, err := (&resolver{}).eval("relative/path"); err == nil {
		t.Error("eval of a relative path: want an error")
	}
}

// resolver.glob must return exactly what filepath.Glob does, for every
// pattern shape the policy uses and the edge cases around them, with one
// resolver shared by all patterns (its directory cache is where a wrong
// answer would hide).
func TestResolverGlobMatchesFilepathGlob(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"home/.ssh", "home/.claude", "proj/sub", "proj/.env.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{
		"home/.ssh/id_rsa", "home/.ssh/id_ed25519.pub", "home/.ssh/config", "home/.ssh/k.pem",
		"home/.claude.json", "home/.zcompdump-x", "home/plain",
		"proj/a.key", "proj/.hidden.key", "proj/.env", "proj/.env.local", "proj/b.pem", "proj/c.p12",
		"proj/sub/d.key", "proj/[x].key", "proj/star*.pfx",
	} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("sub", filepath.Join(root, "proj/link.key")); err != nil {
		t.Fatal(err)
	}
	// A FIFO where a directory is expected: matched against, never opened
	// (an open would block).
	if err := syscall.Mkfifo(filepath.Join(root, "proj/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	var r resolver
	denials := func(e error) error { return failure(e, nil) }
	for _, p := range []string{
		"home/.ssh/id_*", "home/.ssh/*.pem", "home/.claude*", "home/.zcompdump*", "home/*",
		"proj/*.key", "proj/*.pem", "proj/*.p12", "proj/*.pfx", "proj/.env.*", "proj/.env*",
		"proj/?.key", "proj/[ab].*", "proj/[!a]*.key", `proj/\[x\].key`, `proj/star\*.pfx`,
		"proj/*/d.key", "*/sub", "proj/[", "proj/nothing*", "missing/*", "home/plain/*",
		"proj/fifo/*", "proj/fifo*", "proj/sub/", "home/.ssh",
		"proj/*.key", // again, from the cache
		"*",
	} {
		abs := filepath.Join(root, p)
		if p == "*" {
			abs = root + "/*"
		}
		want, _ := filepath.Glob(abs)
		got, err := r.glob(abs, denials)
		if fmt.Sprint(got) != fmt.Sprint(want) || err != nil {
			t.Errorf("glob(%s) = %v, %v; filepath.Glob = %v", p, got, err, want)
		}
	}
	// Under a directory whose name holds glob characters, escaped
	// (pathglob.Literal), as a working directory is in a config path's pattern.
	odd := filepath.Join(root, `w[1]*?\b`)
	for _, f := range []string{"a.key", "b.pem", "c"} {
		if err := os.MkdirAll(odd, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(odd, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"*.key", "a.key", "*", "[ab].*", "missing"} {
		pat := filepath.Join(pathglob.Literal(odd), p)
		want, _ := filepath.Glob(pat)
		got, err := r.glob(pat, denials)
		if fmt.Sprint(got) != fmt.Sprint(want) || err != nil || p != "missing" && len(got) == 0 {
			t.Errorf("glob(%s) = %v, %v; filepath.Glob = %v", pat, got, err, want)
		}
	}
	if dir, rest := pathglob.Dir(pathglob.Literal(odd) + "/sub/**/*.pem"); dir != odd+"/sub" || rest != "/**/*.pem" {
		t.Errorf("GlobDir: %q %q", dir, rest)
	}
	if dir, rest := pathglob.Dir("/*.pem"); dir != "/" || rest != "/*.pem" {
		t.Errorf("GlobDir at the root: %q %q", dir, rest)
	}
	if got := literalPrefix(pathglob.Literal(odd) + "/x*"); got != odd+"/x" {
		t.Errorf("literalPrefix: %q", got)
	}
	if got := pathglob.Unescape(pathglob.Literal(odd)); got != odd || pathglob.HasMeta(pathglob.Literal(odd)) || !pathglob.HasMeta(pathglob.Literal(odd)+"/*") {
		t.Errorf("pathglob.Literal(%q): unescaped %q, hasMeta %v", odd, got, pathglob.HasMeta(pathglob.Literal(odd)))
	}
	// One plan sees each directory as it was when first listed: a name
	// created since is not matched by the same resolver, only by a new one.
	if err := os.WriteFile(filepath.Join(root, "proj/late.key"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	late := filepath.Join(root, "proj/*.key")
	if got, _ := r.glob(late, nil); strings.Contains(fmt.Sprint(got), "late.key") {
		t.Errorf("the same resolver listed proj again: %v", got)
	}
	var fresh resolver
	if got, _ := fresh.glob(late, nil); !strings.Contains(fmt.Sprint(got), "late.key") {
		t.Errorf("a new resolver does not see late.key: %v", got)
	}
}

// evalMissing resolves a path as far as it exists, following dangling
// symlinks into their targets: the path a name created there gets. For a
// path that exists it is eval.
func TestResolverEvalMissing(t *testing.T) {
	root, must := resolverRoot(t)
	must(os.MkdirAll(filepath.Join(root, "var/home/u/.config"), 0o755))
	must(os.WriteFile(filepath.Join(root, "var/home/u/file"), nil, 0o644))
	for name, target := range map[string]string{
		"home":                  "var/home",                      // /home -> /var/home
		"var/home/u/dot":        "dotfiles/bashrc",               // dangling, relative
		"var/home/u/abs":        filepath.Join(root, "home/u/x"), // dangling, absolute, through a link
		"var/home/u/chain":      "dot",                           // to a dangling link
		"var/home/u/up":         "../u/.config",                  // existing, with ..
		"var/home/u/loop1":      "loop2",                         //
		"var/home/u/loop2":      "loop1",                         //
		"var/home/u/.config/cf": "../missing/../.config",         // .. after a missing name
	} {
		must(os.Symlink(target, filepath.Join(root, name)))
	}
	u := filepath.Join(root, "var/home/u")
	for in, want := range map[string]string{
		"home/u":                   u,
		"home/u/.config":           u + "/.config",
		"home/u/.bashrc":           u + "/.bashrc",
		"home/u/.config/fence/x":   u + "/.config/fence/x",
		"home/u/new/../.bashrc":    u + "/.bashrc",
		"home/nobody/.bashrc":      root + "/var/home/nobody/.bashrc",
		"home/u/dot":               u + "/dotfiles/bashrc",
		"home/u/abs":               u + "/x",
		"home/u/chain":             u + "/dotfiles/bashrc",
		"home/u/up/fence":          u + "/.config/fence",
		"home/u/loop1":             u + "/loop1",
		"home/u/loop1/x":           u + "/loop1/x",
		"home/u/file/x":            u + "/file/x",
		"home/u/.config/cf/fence":  u + "/.config/fence", // as once missing/ is made
		"missing/deeper/still":     root + "/missing/deeper/still",
		"home/u/.config/../.zshrc": u + "/.zshrc",
	} {
		r := &resolver{}
		got, err := r.evalMissing(filepath.Join(root, in), nil)
		if err != nil || got != want {
			t.Errorf("evalMissing(%s) = %q, %v; want %q", in, got, err, want)
		}
		if w, err := filepath.EvalSymlinks(filepath.Join(root, in)); err == nil && w != got {
			t.Errorf("evalMissing(%s) = %q; EvalSymlinks = %q", in, got, w)
		}
	}
	if _, err := (&resolver{}).evalMissing("relative/path", nil); err == nil {
		t.Error("evalMissing of a relative path: want an error")
	}
}

// resolverRoot returns a fresh directory with its symlinks resolved, and a
// check that ends the test on an error.
func resolverRoot(t *testing.T) (string, func(error)) {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return root, func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// lookedUp names every name resolving a path looks up, in its directory
// resolved: the symlinks on the way and those of their targets, and past a
// missing name the rest as given.
func TestLookedUp(t *testing.T) {
	root, must := resolverRoot(t)
	must(os.MkdirAll(filepath.Join(root, "h/dotfiles/codex"), 0o755))
	must(os.Symlink("l1", filepath.Join(root, "h/.codex")))
	must(os.Symlink("dotfiles/codex", filepath.Join(root, "h/l1")))
	must(os.Symlink(filepath.Join(root, "h/dotfiles"), filepath.Join(root, "h/abs")))
	for _, tc := range []struct{ path, want string }{
		{"h/.codex", "h h/.codex h/l1 h/dotfiles h/dotfiles/codex"},
		{"h/.codex/x/y", "h h/.codex h/l1 h/dotfiles h/dotfiles/codex h/dotfiles/codex/x h/dotfiles/codex/x/y"},
		{"h/abs/../.codex", "h h/abs h h/dotfiles h/.codex h/l1 h/dotfiles h/dotfiles/codex"}, // abs is absolute: from / again
		{"h/plain", "h h/plain"},
	} {
		var got []string
		for _, n := range lookedUp(root + "/" + tc.path) { // not Join, which would take the ".." lexically
			if rel, ok := strings.CutPrefix(n, root+"/"); ok {
				got = append(got, rel)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("lookedUp(%s) = %q, want %q", tc.path, strings.Join(got, " "), tc.want)
		}
	}
}

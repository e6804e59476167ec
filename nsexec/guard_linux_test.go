package nsexec_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsfence/fence/nsexec"
)

// TestCreationGuard: names that do not exist yet but are protected cannot be
// created by any syscall that creates a directory entry, while everything
// else in the writable directory keeps working.
func TestCreationGuard(t *testing.T) {
	bash := requireBash(t)
	ws := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "src"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
cd "$WS"
try() { if "$@" 2>/dev/null; then echo "CREATED:$*"; fi; }
try touch .bashrc
try sh -c 'echo x > .mcp.json'
try mkdir .vscode
try ln -s /etc .idea
ln -s .bashrc trick                # the link itself is allowed ...
try sh -c 'echo x > trick'         # ... but writing through it creates .bashrc
mkdir -p stage/commands
try mv stage .claude               # a tree put at an ancestor of .claude/commands
mkdir .claude
try mkdir .claude/commands
echo data > tmp && try mv tmp .zprofile
try ln "$OUT/src" .profile         # hard link to a protected name
try python3 -c 'import os; os.close(os.open(".gitconfig", os.O_CREAT|os.O_EXCL|os.O_WRONLY))'
# Ordinary work goes on.
echo ok > plain && mkdir -p d/e && ln -s plain lnk && mv plain moved && cat lnk 2>/dev/null; cat moved
(umask 077 && echo p > private) && stat -c %a private
mkfifo fifo && (echo through-fifo > fifo &) && cat fifo
echo done
`
	o := &nsexec.Options{
		Path: bash,
		Args: []string{"bash", "-c", script},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin:" + os.Getenv("PATH"), "WS=" + ws, "OUT=" + outside},
		Dir:  "/",
		FS: nsexec.FSPolicy{
			Writable: []string{ws},
			Guarded: []string{
				filepath.Join(ws, ".bashrc"), filepath.Join(ws, ".mcp.json"), filepath.Join(ws, ".vscode"),
				filepath.Join(ws, ".idea"), filepath.Join(ws, ".claude/commands"), filepath.Join(ws, ".zprofile"),
				filepath.Join(ws, ".profile"), filepath.Join(ws, ".gitconfig"),
			},
		},
	}
	p, out := start(t, o)
	defer out.Close()
	code, err := p.Wait()
	b, _ := io.ReadAll(out)
	if err != nil || code != 0 {
		t.Fatalf("sandbox exited %d, %v; output:\n%s", code, err, b)
	}
	got := string(b)
	if strings.Contains(got, "CREATED:") {
		t.Errorf("a protected name was created:\n%s", got)
	}
	for _, want := range []string{"ok\n", "600\n", "through-fifo\n", "done\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, n := range []string{".bashrc", ".mcp.json", ".vscode", ".idea", ".claude/commands", ".zprofile", ".profile", ".gitconfig"} {
		if _, err := os.Lstat(filepath.Join(ws, n)); err == nil {
			t.Errorf("%s exists on the host", n)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "d/e")); err != nil {
		t.Errorf("ordinary mkdir -p did not reach the host: %v", err)
	}
}

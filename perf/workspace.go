package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Tree size of the generated source tree that git status, rg, file read and
// file write work on.
const (
	treeDirs     = 20
	treeFiles    = 20 // per directory
	treeFileSize = 4 << 10
	// Needle is the word rg searches for; every tenth file has it.
	Needle = "fenceperfneedle"
)

// Workspace is the scratch tree the workloads run in: a git repository
// with a generated source tree, a writable output directory, and a config
// file that allows writes under the workspace.
type Workspace struct {
	Dir    string   // root; writable in the sandbox
	Repo   string   // git repository (or plain directory) holding src/
	Files  []string // the tree's files, relative to Repo
	OutDir string   // where file-write copies to
	Config string   // {"filesystem":{"allowWrite":[Dir]}}
	// GitSkip says why Repo is not a git repository.
	GitSkip string
}

// NewWorkspace creates a workspace in a new directory under parent ("" for
// the system temporary directory).
func NewWorkspace(parent string) (*Workspace, error) {
	if parent != "" {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(parent, "fenceperf-work-")
	if err != nil {
		return nil, err
	}
	// Symlinks resolved: fence resolves policy paths, and the comparisons
	// of cwd against them must see the same names.
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		dir = r
	}
	w := &Workspace{Dir: dir, Repo: filepath.Join(dir, "repo"), OutDir: filepath.Join(dir, "out")}
	if err := w.populate(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return w, nil
}

func (w *Workspace) populate() error {
	if err := os.MkdirAll(w.OutDir, 0o755); err != nil {
		return err
	}
	line := "the quick brown fox jumps over the lazy dog while the sandbox watches\n"
	for d := 0; d < treeDirs; d++ {
		sub := filepath.Join(w.Repo, "src", fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for f := 0; f < treeFiles; f++ {
			var b strings.Builder
			n := d*treeFiles + f
			for i := 0; b.Len() < treeFileSize; i++ {
				fmt.Fprintf(&b, "%04d:%03d %s", n, i, line)
				if n%10 == 0 && i == 7 {
					fmt.Fprintf(&b, "%04d:%03d %s\n", n, i, Needle)
				}
			}
			rel := filepath.Join("src", fmt.Sprintf("d%02d", d), fmt.Sprintf("f%03d.txt", f))
			if err := os.WriteFile(filepath.Join(w.Repo, rel), []byte(b.String()), 0o644); err != nil {
				return err
			}
			w.Files = append(w.Files, rel)
		}
	}
	cfg, err := json.Marshal(map[string]any{"filesystem": map[string]any{"allowWrite": []string{w.Dir}}})
	if err != nil {
		return err
	}
	w.Config = filepath.Join(w.Dir, "fence.json")
	if err := os.WriteFile(w.Config, cfg, 0o644); err != nil {
		return err
	}
	git, err := exec.LookPath("git")
	if err != nil {
		w.GitSkip = "git not found in PATH"
		return nil
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=fenceperf", "-c", "user.email=fenceperf@localhost", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "fenceperf tree"},
	} {
		c := exec.Command(git, args...)
		c.Dir = w.Repo
		if out, err := c.CombinedOutput(); err != nil {
			w.GitSkip = fmt.Sprintf("git %s failed: %v: %s", args[0], err, strings.TrimSpace(string(out)))
			return nil
		}
	}
	return nil
}

// WriteConfig writes a config file named name into the workspace and
// returns its path.
func (w *Workspace) WriteConfig(name string, cfg any) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	p := filepath.Join(w.Dir, name)
	return p, os.WriteFile(p, b, 0o644)
}

// Remove deletes the workspace.
func (w *Workspace) Remove() error { return os.RemoveAll(w.Dir) }

// FindPython returns the python3 interpreter to time. A version-manager
// shim (pyenv's is a bash script) is resolved to the interpreter it runs,
// so the workload measures Python, not the shim; note says so.
func FindPython() (path, note string, err error) {
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", "", fmt.Errorf("python3 not found in PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", "", fmt.Errorf("python3 -c failed: %v", err)
	}
	real := strings.TrimSpace(string(out))
	if real == "" || !filepath.IsAbs(real) {
		return p, "", nil
	}
	rp, _ := filepath.EvalSymlinks(p)
	rr, _ := filepath.EvalSymlinks(real)
	if rp != rr && isScript(p) {
		return real, fmt.Sprintf("python3 in PATH is a script (%s); timing the interpreter it runs, %s", p, real), nil
	}
	return p, "", nil
}

// isScript reports whether the file starts with "#!".
func isScript(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 2)
	n, _ := f.Read(b)
	return n == 2 && string(b) == "#!"
}

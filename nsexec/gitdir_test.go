package nsexec

import "testing"

// TestGitProtected: what the guard keeps below a .git (relative to it),
// with and without allowGitConfig, and whose git directory it is.
func TestGitProtected(t *testing.T) {
	for _, c := range []struct {
		rel         string
		allowConfig bool
		owner       string
		ok          bool
	}{
		{"hooks", false, "", true},
		{"hooks/pre-commit", false, "", true},
		{"hooks/a/b", true, "", true},
		{"config", false, "", true},
		{"config", true, "", false},
		{"config.worktree", false, "", true},
		{"config.worktree", true, "", false},
		{"commondir", true, "", true},
		{"config.lock", false, "", false}, // git's lock: renamed over config, refused there
		{"hooksx", false, "", false},
		{"confi", false, "", false},
		{"gitdir", false, "", false}, // only a linked worktree's
		{"info/attributes", false, "", false},
		{"info/exclude", false, "", false},
		{"HEAD", false, "", false},
		{"index", false, "", false},
		{"ORIG_HEAD", false, "", false},
		{"FETCH_HEAD", false, "", false},
		{"COMMIT_EDITMSG", false, "", false},
		{"packed-refs", false, "", false},
		{"objects/ab/cdef", false, "", false},
		{"refs/heads/main", false, "", false},
		{"refs/heads/hooks", false, "", false}, // the repository's own refs are refs
		{"refs/heads/config", false, "", false},
		{"logs/refs/heads/config", false, "", false},
		{"modules", false, "", false},
		{"modules/x", false, "", false},
		{"modules/config", false, "", false}, // a submodule named config
		{"modules/hooks", false, "", false},
		{"modules/x/hooks", false, "modules/x", true},
		{"modules/x/hooks/post-checkout", false, "modules/x", true},
		{"modules/x/config", false, "modules/x", true},
		{"modules/x/config", true, "", false},
		{"modules/x/commondir", true, "modules/x", true},
		{"modules/x/HEAD", false, "", false},
		{"modules/x/objects/ab/cd", false, "", false},
		{"modules/libs/b/hooks/pre-commit", false, "modules/libs/b", true},
		{"modules/libs/b/config", false, "modules/libs/b", true},
		{"modules/x/modules/y/hooks/p", false, "modules/x/modules/y", true},
		{"modules/x/worktrees/w/gitdir", false, "modules/x/worktrees/w", true},
		// A submodule's branch named config or hooks/x: taken for one.
		{"modules/x/refs/heads/config", false, "modules/x/refs/heads", true},
		{"modules/x/refs/heads/hooks/y", false, "modules/x/refs/heads", true},
		{"worktrees", false, "", false},
		{"worktrees/w", false, "", false},
		{"worktrees/w/gitdir", false, "worktrees/w", true},
		{"worktrees/w/commondir", false, "worktrees/w", true},
		{"worktrees/w/config.worktree", false, "worktrees/w", true},
		{"worktrees/w/config.worktree", true, "", false},
		{"worktrees/w/gitdir", true, "worktrees/w", true},
		{"worktrees/w/hooks/x", false, "worktrees/w", true},
		{"worktrees/w/HEAD", false, "", false},
		{"worktrees/w/index", false, "", false},
		{"worktrees/w/logs/HEAD", false, "", false},
		{"worktrees/gitdir", false, "", false},
		{"modules/x/", false, "", false},
	} {
		owner, ok := GitProtected(c.rel, c.allowConfig)
		if ok != c.ok || owner != c.owner {
			t.Errorf("GitProtected(%q, allowConfig %v) = %q, %v; want %q, %v", c.rel, c.allowConfig, owner, ok, c.owner, c.ok)
		}
	}
}

// TestGitDirNames: the supervisor's list and the guard's agree, the
// configs going with allowConfig.
func TestGitDirNames(t *testing.T) {
	for _, allow := range []bool{false, true} {
		names := GitDirNames(allow)
		for _, n := range names {
			if _, ok := GitProtected(n, allow); !ok {
				t.Errorf("GitDirNames(%v) has %q, which GitProtected does not keep", allow, n)
			}
		}
		want := 4
		if allow {
			want = 2
		}
		if len(names) != want {
			t.Errorf("GitDirNames(%v) = %q", allow, names)
		}
		names[0] = "changed" // a copy: the next call is not changed
		if GitDirNames(allow)[0] != "commondir" {
			t.Error("GitDirNames returns its own list to be changed")
		}
	}
	if w := GitWorktreeNames(false); w[len(w)-1] != "gitdir" {
		t.Errorf("GitWorktreeNames(false) = %q", w)
	}
}

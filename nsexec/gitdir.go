package nsexec

import "strings"

// GitDirNames are what git, run later outside the sandbox, reads
// configuration from or runs code from in a git directory: commondir
// (which moves the whole repository elsewhere), hooks (a directory: what
// is below it too), and config and config.worktree (core.hooksPath,
// core.fsmonitor, aliases, pagers) unless allowConfig (allowGitConfig).
// The supervisor protects them in the repositories it finds (the working
// directory's, those one level below it), and the write guard in every
// git directory that existed before the run (GitProtected).
//
// Not info/attributes: an attribute only names a filter, diff or merge
// driver, whose command comes from a config (the protected ones, or the
// user's own); nor info/exclude, description, objects/info/alternates or
// the refs, which run nothing.
func GitDirNames(allowConfig bool) []string {
	return append([]string(nil), gitDirNames[:gitDirCount(allowConfig)]...)
}

// gitDirNames is GitDirNames' list, the configs last (static data: no
// work at init).
var gitDirNames = [...]string{"commondir", "hooks", "config", "config.worktree"}

// gitDirCount is how many of gitDirNames apply.
func gitDirCount(allowConfig bool) int {
	if allowConfig {
		return 2
	}
	return len(gitDirNames)
}

// isGitDirName reports whether c is one of GitDirNames, without making
// the list.
func isGitDirName(c string, allowConfig bool) bool {
	for _, n := range gitDirNames[:gitDirCount(allowConfig)] {
		if c == n {
			return true
		}
	}
	return false
}

// GitWorktreeNames are GitDirNames of a linked worktree's git directory
// (.git/worktrees/NAME), with gitdir, which says where its checkout is.
func GitWorktreeNames(allowConfig bool) []string {
	return append(GitDirNames(allowConfig), "gitdir")
}

// GitProtected reports whether rel, a path relative to a git directory
// (below a .git), is one of GitDirNames there, or what is below its hooks
// (ok), and returns the git directory it belongs to, relative to the same
// (owner: "" for the .git itself).
//
// Below modules/ (the submodules' git directories, whose names may hold
// slashes, nested ones in their own modules/) and worktrees/ (the linked
// worktrees'), a string cannot tell a git directory from a ref: any
// "hooks" component from the second name on is a hooks directory, and any
// final config, config.worktree, commondir or gitdir one of its files. A
// branch of a submodule named "config" or "hooks/x" is taken for one too:
// refused, never the other way round. The owner is then the directory
// above that component, which a caller may know to be new (made by the
// sandbox in this run: then what is below it is the sandbox's).
//
// Only strings: no lookup, so that the guard can ask it of every path
// with a .git component at the cost of a few comparisons.
func GitProtected(rel string, allowConfig bool) (owner string, ok bool) {
	first, rest, nested := strings.Cut(rel, "/")
	if first != "modules" && first != "worktrees" {
		if first == "hooks" {
			return "", true
		}
		if nested {
			return "", false
		}
		return "", isGitDirName(first, allowConfig)
	}
	// modules/NAME/... or worktrees/NAME/...: NAME is a git directory
	// (or the first part of a submodule's name), never one of the names.
	_, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	start := len(rel) - len(rest) // where rest begins in rel
	for i := start; i <= len(rel); {
		end := strings.IndexByte(rel[i:], '/')
		last := end < 0
		if last {
			end = len(rel)
		} else {
			end += i
		}
		c := rel[i:end]
		if c == "hooks" {
			return rel[:i-1], true
		}
		if last {
			if c == "gitdir" || isGitDirName(c, allowConfig) {
				return rel[:i-1], true
			}
			return "", false
		}
		i = end + 1
	}
	return "", false
}

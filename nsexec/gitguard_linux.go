package nsexec

import (
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// The write guard's protection of git directories at any depth
// (FSPolicy.GitDirs). The supervisor finds the repositories of the working
// directory and those one level below it at start; a repository deeper
// down (~/src/github.com/org/proj, started in ~/src) it could only find by
// walking the tree at every start. The guard needs no walk: it sees every
// change in the writable directories as it happens, by path, and a path
// that reaches what git runs code from holds a ".git" component. So: a
// string search per guarded syscall, and a lookup only for a path that
// reaches one of GitDirNames below a .git.
//
// A .git directory is kept when it existed before the run: git init and
// git clone in the sandbox make theirs (mkdir, or a directory renamed to
// .git), which madeHere records by identity, as the supervisor's record
// of created files does across runs (FSPolicy.Created). The identity, not
// the name: a .git of the user's moved elsewhere is still the user's, and
// it cannot be moved (dotGitRefused, holdsKeptGit).

// gitKept reports whether full (base in parent, as named gives them) is
// one of GitDirNames (or below hooks) in a .git directory that existed
// before the run, or in a submodule's or linked worktree's git directory
// inside one that was not made in this run (GitProtected's owner).
//
// The .git is looked up from parent, up the tree ("..", which follows
// no symlink), not by its path: the path is what parent was a moment ago,
// and a directory above the repository renamed meanwhile (mv a a2; git
// init a/b/proj) would have the path name a .git of the sandbox's while
// parent is still in the user's.
func (g *guard) gitKept(parent int, base, full string) bool {
	if !g.gitDirs {
		return false
	}
	for rel := range belowGits(full) {
		if owner, ok := GitProtected(rel, g.gitAllowConfig); ok {
			// How far up parent the .git is: parent is rel's
			// directory, or rel itself when base is ".".
			n := strings.Count(rel, "/")
			if base == "." {
				n++
			}
			if g.gitDirBefore(parent, up(n)) && !g.newGitDir(parent, n, owner) {
				return true
			}
		}
	}
	return false
}

// gitNamed is gitKept for a file known by its path alone (one opened
// through a /proc magic link, the source of a hard link): what it names
// below any .git, whoever made that .git. Git does neither to these
// files, in its own repositories either.
func gitNamed(full string, allowConfig bool) bool {
	for rel := range belowGits(full) {
		if _, ok := GitProtected(rel, allowConfig); ok {
			return true
		}
	}
	return false
}

// belowGits yields, for each .git component of full in turn (a path rarely
// holds two), the path below it: "hooks/x" and then "y" for
// /a/.git/hooks/x/.git/y.
func belowGits(full string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := strings.Index(full, "/.git/"); i >= 0; {
			if !yield(full[i+6:]) {
				return
			}
			j := strings.Index(full[i+5:], "/.git/")
			if j < 0 {
				return
			}
			i += 5 + j
		}
	}
}

// up is the path from a directory to its ancestor n levels up.
func up(n int) string {
	if n == 0 {
		return "."
	}
	return strings.Repeat("../", n-1) + ".."
}

// newGitDir reports whether owner (GitProtected's, below the .git n
// levels above parent, which existed before the run) is a git directory
// the sandbox made in this run, whose hooks and configs are its own: a
// linked worktree's (git worktree add; git in the user's repository uses
// it only from the checkout whose .git file names it, and that file can
// only be in a directory made in this run too, dotGitRefused), or with
// allowConfig a submodule's (git submodule update --init, which needs
// .git/config written anyway). Without allowConfig a new submodule git
// directory is not the sandbox's: the user's next git submodule update,
// outside, would take it, hooks and all.
//
// A worktree's git directory is worktrees/NAME, two levels below the
// .git: it decides for all below it. Not the owner itself, which may be a
// submodule's git directory in one (worktrees/NAME/modules/SUB): in a
// worktree of the user's, a new one there is what the user's next git
// submodule update in that worktree takes, as one in modules/ is in the
// main one (a sandbox planted worktrees/w/modules/lib/hooks/post-checkout,
// which git submodule update --init in the user's worktree ran).
func (g *guard) newGitDir(parent, n int, owner string) bool {
	if owner == "" {
		return false
	}
	if strings.HasPrefix(owner, "worktrees/") && g.madeInRun(parent, up(n-2), unix.AT_SYMLINK_NOFOLLOW) {
		return true // a worktree the sandbox added, all of it
	}
	return g.gitAllowConfig && g.madeInRun(parent, up(n-strings.Count(owner, "/")-1), unix.AT_SYMLINK_NOFOLLOW)
}

// gitTreeMoved reports whether a directory renamed from full, base in
// parent (to: renamed to full), must be refused: in a .git that existed
// before the run, one in modules/ or worktrees/ (or either itself)
// carries the hooks and configs of the git directories there out of
// reach of gitKept's paths, to be changed and brought back; one renamed
// in brings whatever was made in it, while not below a .git, as a git
// directory of the user's repository. Git renames no directory there
// (git submodule absorbgitdirs, which moves a checkout's .git in, is
// refused already by dotGitRefused). A directory made in this run may go
// where newGitDir would let it be changed.
func (g *guard) gitTreeMoved(parent int, base, full string, to bool) bool {
	for rel := range belowGits(full) {
		first, _, _ := strings.Cut(rel, "/")
		// parent is rel's directory: the .git is as far up as rel has
		// slashes.
		if (first == "modules" || first == "worktrees") && g.gitDirBefore(parent, up(strings.Count(rel, "/"))) {
			if to || !((first == "worktrees" || g.gitAllowConfig) && g.madeInRun(parent, base, unix.AT_SYMLINK_NOFOLLOW)) {
				return true
			}
		}
	}
	return false
}

// dotGitMove reports whether the link or rename c (from obase in oparent
// to base in parent, both resolved) must be refused for what it does to a
// .git (dotGitRefused), a repository's top (holdsKeptGit), or a git
// directory's modules or worktrees (gitTreeMoved). ofull and full are the
// paths.
func (g *guard) dotGitMove(c creation, oparent int, obase, ofull string, parent int, base, full string) bool {
	if c.op == opLink {
		// A second name for a .git file would let it be written.
		return g.dotGitRefused(parent, base, putsFile) || g.dotGitRefused(oparent, obase, putsFile)
	}
	kind := func(dir int, name string) (puts int, isDir bool) {
		var st unix.Stat_t
		if unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return putsDir, true
		}
		return putsFile, false
	}
	srcPuts, srcDir := kind(oparent, obase)
	if srcDir && g.dirMoveRefused(oparent, obase, ofull, parent, base, full) {
		return true
	}
	// What the old name gets: nothing, or with RENAME_EXCHANGE what
	// the new name held, which moves too.
	oldPuts, dstDir := putsNothing, false
	if c.flags&unix.RENAME_EXCHANGE != 0 {
		oldPuts, dstDir = kind(parent, base)
		if dstDir && g.dirMoveRefused(parent, base, full, oparent, obase, ofull) {
			return true
		}
		if g.holdsKeptGit(parent, base) || dstDir && (g.gitTreeMoved(parent, base, full, false) || g.gitTreeMoved(oparent, obase, ofull, true)) {
			return true
		}
		if !dstDir && g.linkMoveRefused(parent, base, oparent, ofull) {
			return true
		}
	}
	// After the directories' records: a symlink moved where one of a
	// user's was (symlinkRefused).
	if !srcDir && g.linkMoveRefused(oparent, obase, parent, full) {
		return true
	}
	return g.dotGitRefused(parent, base, srcPuts) || g.dotGitRefused(oparent, obase, oldPuts) ||
		srcDir && (g.holdsKeptGit(oparent, obase) || g.gitTreeMoved(oparent, obase, ofull, false) || g.gitTreeMoved(parent, base, full, true))
}

// userDirAt reports whether name in dir is a directory of a user's work
// tree, with its identity: one that was there before the run, or one a
// rename or mkdir put where such a directory was (movedUserDirs). One the
// run made elsewhere costs one statx.
func (g *guard) userDirAt(dir int, name string) (fileID, bool) {
	var st unix.Stat_t
	if unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fileID{}, false
	}
	id := idOf(&st)
	if g.movedUserDir(id) {
		return id, true
	}
	if g.madeInRun(dir, name, unix.AT_SYMLINK_NOFOLLOW) || g.inSandboxRepo(dir, name) {
		return id, false
	}
	return id, g.inUsersWorkTree(dir, true)
}

// inSandboxRepo reports whether the directory name in dir is in a
// repository of the sandbox's own, made in an earlier run: the first .git
// above it (its own included) is a directory the sandbox made (ours), and
// no directory on the way counts as the user's (movedUserDirs). Such a
// directory is not the user's to keep: git there already takes the
// sandbox's repository (a test suite's tmp/repo, left by its last run,
// removed, made again and given a new git init).
func (g *guard) inSandboxRepo(dir int, name string) bool {
	var prev, here, st unix.Stat_t
	for rel := name; len(rel) < unix.PathMax; rel += "/.." {
		if unix.Fstatat(dir, rel, &here, 0) != nil {
			return false
		}
		if rel != name && here.Dev == prev.Dev && here.Ino == prev.Ino {
			return false // the root
		}
		g.mu.Lock()
		moved, top := g.movedUserDirs[idOf(&here)], g.sandboxTops[idOf(&here)]
		g.mu.Unlock()
		switch {
		case moved:
			return false
		case top:
			return true // its .git, the sandbox's, removed already (rm -rf)
		}
		err := unix.Fstatat(dir, rel+"/.git", &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil:
			return st.Mode&unix.S_IFMT == unix.S_IFDIR && g.ours(idOf(&st))
		case !errors.Is(err, unix.ENOENT):
			return false
		}
		prev = here
	}
	return false
}

// dirMoveRefused reports whether the rename of the directory obase in
// oparent (path ofull) to base in parent (path full) must be refused for
// what it does to a user's work tree, and keeps the records that let
// the git rules follow such directories (movedUserDirs, freedUserPaths):
//   - a directory of a user's work tree may not become a .git; moved
//     anywhere else it stays the user's (mv src x; git init x; mv x src
//     put the sandbox's repository in src), and its path is freed;
//   - a directory put where one of a user's was (freed in this run, or
//     replaced by this rename) becomes the user's, and may not bring a
//     .git or a HEAD at any depth (cp -a src n; git init n; rm -rf src;
//     mv n src left git status at the top clean, and git in src ran the
//     sandbox's fsmonitor).
func (g *guard) dirMoveRefused(oparent int, obase, ofull string, parent int, base, full string) bool {
	id, user := g.userDirAt(oparent, obase)
	if user && base == ".git" {
		return true
	}
	_, replaced := g.userDirAt(parent, base)
	onto := replaced || g.freedPath(full)
	var below []fileID
	if onto {
		var repo bool
		if user {
			// A tree of the user's, back where they were: what
			// the run made in it while it was away lands where the
			// user's were (rm -rf src/sub; mv src x; mkdir x/sub;
			// git init x/sub; mv x src put the sandbox's repository
			// in src/sub, git status at the top clean).
			repo, below = g.userTreeBrings(oparent, obase, full)
		} else {
			repo, below = g.holdsRepository(oparent, obase, full)
		}
		if repo {
			return true
		}
	}
	// The paths of the user's directories below it are freed too: not
	// every path below (a test suite's rm -rf tmp; mkdir -p tmp/r;
	// git init tmp/r, where tmp was the user's and tmp/r never was,
	// was refused), unless the tree is too large to list.
	var freed []string
	whole := false
	if user {
		var ok bool
		freed, ok = g.userDirsBelow(oparent, obase, ofull)
		whole = !ok
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if (user || onto) && len(g.movedUserDirs) < maxFresh {
		g.movedUserDirs[id] = true
	}
	// Its directories that land where the user's were count as theirs
	// too, as a mkdir there would (dirMadeAt): cp -a src n; rm -rf src;
	// mv n src; git init src/sub put a repository in the copy of sub.
	for _, b := range below {
		if len(g.movedUserDirs) < maxFresh {
			g.movedUserDirs[b] = true
		}
	}
	if user {
		for _, p := range append(freed, ofull) {
			if len(g.freedUserPaths) < maxFresh {
				g.freedUserPaths[p] = true
			}
		}
		if whole && len(g.freedUserTrees) < maxFresh {
			g.freedUserTrees[ofull] = true
		}
	}
	return false
}

// userTreeBrings is holdsRepository for the directory name in dir, one of
// a user's work tree, renamed to full, where one of the user's was: what
// git outside would take for a repository (repoHere) is looked for only
// in the directories of the tree that land where one of the user's was
// (freedUserPaths below full, and the top), which it returns; the run may
// have made a repository in a new directory below, as it may anywhere
// in the work tree. Below where a tree too large to list was
// (freedUserTrees), at any depth.
func (g *guard) userTreeBrings(dir int, name, full string) (bool, []fileID) {
	var rels, trees []string
	g.mu.Lock()
	for p := range g.freedUserPaths {
		if rel, ok := strings.CutPrefix(p, full+"/"); ok {
			rels = append(rels, rel)
		}
	}
	for p := range g.freedUserTrees {
		if p == full {
			trees = append(trees, ".")
		} else if rel, ok := strings.CutPrefix(p, full+"/"); ok {
			trees = append(trees, rel)
		}
	}
	g.mu.Unlock()
	top, err := unix.Openat(dir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, nil
	}
	defer unix.Close(top)
	if g.repoHere(top) {
		return true, nil
	}
	for _, rel := range trees {
		if fd, ok := openBelow(top, rel); ok {
			repo, _ := g.holdsRepository(fd, ".", full+"/"+rel)
			unix.Close(fd)
			if repo {
				return true, nil
			}
		}
	}
	var below []fileID
	for _, rel := range rels {
		fd, ok := openBelow(top, rel)
		if !ok {
			continue // nothing lands there
		}
		var st unix.Stat_t
		repo := g.repoHere(fd) || unix.Fstat(fd, &st) != nil
		unix.Close(fd)
		if repo {
			return true, nil
		}
		below = append(below, idOf(&st))
	}
	return false, below
}

// openBelow opens the directory rel below dir (O_PATH), following no
// symlink on the way: ok is false if there is none.
func openBelow(dir int, rel string) (int, bool) {
	fd, err := unix.Dup(dir)
	if err != nil {
		return -1, false
	}
	for c := range strings.SplitSeq(rel, "/") {
		if c == "" || c == "." {
			continue
		}
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, false
		}
		fd = next
	}
	return fd, true
}

// repoHere reports whether the directory dir (an O_PATH fd) is, or holds
// directly, what git takes for a repository (holdsRepository); one that
// cannot be read counts as one.
func (g *guard) repoHere(dir int) bool {
	fd, err := unix.Openat(dir, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil || len(names) > maxRepositoryScan {
		return true
	}
	return repoNames(names)
}

// repoNames reports whether a directory holding names is, or holds, what
// git takes for a repository: a .git, or a HEAD with objects and refs
// beside it (a bare one), or with a commondir file, which git follows to
// find them and the config (HEAD and commondir naming a bare repository
// of the sandbox's: git log there, outside, ran its core.pager).
func repoNames(names []string) bool {
	var head, objects, refs, common bool
	for _, n := range names {
		switch n {
		case ".git":
			return true
		case "HEAD":
			head = true
		case "objects":
			objects = true
		case "refs":
			refs = true
		case "commondir":
			common = true
		}
	}
	return head && (objects && refs || common)
}

// userDirsBelow returns the paths (below full, the path of the directory
// name in dir) of the directories of a user's work tree in that directory,
// at any depth: all but those made in this run (unless they count as the
// user's) and those of a repository of the sandbox's (inSandboxRepo),
// and not into a .git. ok is false if it holds more than
// maxRepositoryScan entries or a directory that cannot be read: its
// whole tree is then taken for the user's (freedUserTrees).
func (g *guard) userDirsBelow(dir int, name, full string) (paths []string, ok bool) {
	budget := maxRepositoryScan
	var walk func(dir int, name, path string) bool
	walk = func(dir int, name, path string) bool {
		fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return false
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		entries, err := f.ReadDir(-1)
		if budget -= len(entries); err != nil || budget < 0 {
			return false
		}
		for _, e := range entries {
			if !e.IsDir() || e.Name() == ".git" {
				continue
			}
			var st, gst unix.Stat_t
			if unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
				return false
			}
			id := idOf(&st)
			g.mu.Lock()
			moved, top := g.movedUserDirs[id], g.sandboxTops[id]
			g.mu.Unlock()
			if !moved {
				if top || unix.Fstatat(fd, e.Name()+"/.git", &gst, unix.AT_SYMLINK_NOFOLLOW) == nil &&
					gst.Mode&unix.S_IFMT == unix.S_IFDIR && g.ours(idOf(&gst)) {
					continue // a repository of the sandbox's
				}
			}
			sub := path + "/" + e.Name()
			if moved || !g.madeInRun(fd, e.Name(), unix.AT_SYMLINK_NOFOLLOW) {
				paths = append(paths, sub)
			}
			if !walk(fd, e.Name(), sub) {
				return false
			}
		}
		return true
	}
	if !walk(dir, name, full) {
		return nil, false
	}
	return paths, true
}

// symlinkRefused reports whether a symlink to target may not be made in
// the directory parent at full, where a directory of a user's work tree
// was (freedPath): git in it, outside, follows it (rm -rf build; ln -s
// tmp/repo build gave git in build the sandbox's repository, and a
// gitignored build showed nothing in git status). Where it leads is
// resolved as the kernel resolves it, component by component (linkWalk:
// not lexically, d/../e, with d a symlink, is not ./e), and so are the
// places below it where the user's directories were (freedUserPaths
// below full): a directory there that is, holds or lies in a repository
// of the sandbox's (sandboxRepoHere, inSandboxRepo) is refused, and so is
// a target that cannot be told (a magic link in /proc, which git outside
// resolves for itself: /proc/self/cwd/tmp/e). Any other directory it
// leads to takes the removed directory's place: it counts as the user's
// (movedUserDirs), and every path on the way counts as a freed place
// (freedUserPaths), where it leads, where it does not lead yet, and
// what leads there: a directory made there later, or renamed there
// (mv tmp t2; mkdir -p tmp/e; git init tmp/e), or a symlink (ln -sfn r
// l2, for build -> l2), is checked as the user's. pnpm's and npm link's
// links to package directories go on.
func (g *guard) symlinkRefused(parent int, full, target string) bool {
	if !g.gitDirs || !g.freedPath(full) {
		return false
	}
	dir, err := fdPath(parent)
	if err != nil {
		return true
	}
	rels := []string{""}
	g.mu.Lock()
	for p := range g.freedUserPaths {
		if rel, ok := strings.CutPrefix(p, full+"/"); ok {
			rels = append(rels, "/"+rel)
		}
	}
	g.mu.Unlock()
	var places []string
	var ids []fileID
	for _, rel := range rels {
		dest, on, ok := linkWalk(dir, target+rel)
		if !ok {
			return true
		}
		places = append(append(places, on...), dest)
		ids = append(ids, aboveDest(dest)...)
		fd, err := unix.Open(dest, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		switch {
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
			continue // not there yet, or a file: git does not go there
		case err != nil:
			return true // where it leads cannot be told
		}
		var st unix.Stat_t
		refused := g.sandboxRepoHere(fd) || g.inSandboxRepo(fd, ".") || unix.Fstat(fd, &st) != nil
		unix.Close(fd)
		if refused {
			return true
		}
		ids = append(ids, idOf(&st))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		if len(g.movedUserDirs) < maxFresh {
			g.movedUserDirs[id] = true
		}
	}
	for _, p := range places {
		if len(g.freedUserPaths) < maxFresh {
			g.freedUserPaths[p] = true
		}
	}
	return false
}

// aboveDest returns the directories above dest, where a symlink put where
// a user's directory was leads (symlinkRefused), up to the first that
// holds a .git (the user's: one of the sandbox's there refuses the link,
// inSandboxRepo): git outside, in the link, looks for a repository in
// each, from where the kernel put it (getcwd), so none may get a .git
// (mkdir -p tmp/e; rm -rf src; ln -s tmp/e src; git init tmp gave git in
// src, outside, the sandbox's repository in tmp). They count as the
// user's, for a .git or a HEAD in them only.
func aboveDest(dest string) []fileID {
	var ids []fileID
	for p := filepath.Dir(dest); p != "/" && p != "."; p = filepath.Dir(p) {
		var st, dot unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue // not there yet: a freed place (linkWalk)
		}
		if unix.Lstat(p+"/.git", &dot) == nil {
			break
		}
		ids = append(ids, idOf(&st))
	}
	return ids
}

// maxLinkHops is the kernel's limit on the symlinks one lookup follows.
const maxLinkHops = 40

// linkWalk resolves target, a symlink's in the directory dir (a path as
// the kernel names it), as the kernel would: dest is where it leads, or
// would once made, and on the paths on the way that, changed, would take
// it elsewhere: each component looked up, and for a symlink met, its path
// with what was still to resolve after it (l2/sub for build/sub, with
// build -> l2), so that a symlink put there later leads the same checks
// (symlinkRefused). ok is false where git outside could resolve it
// differently: through /proc (its own /proc/self, cwd and fd links), with
// too many links, or with .. below what does not exist yet.
func linkWalk(dir, target string) (dest string, on []string, ok bool) {
	cur := dir
	rest := strings.Split(target, "/")
	if strings.HasPrefix(target, "/") {
		cur = "/"
	}
	hops := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		if next == "/proc" || strings.HasPrefix(next, "/proc/") {
			return "", nil, false
		}
		on = append(on, next)
		var st unix.Stat_t
		err := unix.Lstat(next, &st)
		switch {
		case errors.Is(err, unix.ENOENT) || err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Mode&unix.S_IFMT != unix.S_IFLNK:
			// Not there yet (or a file): what is to be made on the
			// way, lexically, with nothing to take it elsewhere.
			p := next
			for _, r := range rest {
				switch r {
				case "", ".":
					continue
				case "..":
					return "", nil, false
				}
				p = filepath.Join(p, r)
				on = append(on, p)
			}
			return p, on, true
		case err != nil:
			return "", nil, false
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			if hops++; hops > maxLinkHops {
				return "", nil, false
			}
			t, err := readlinkAt(unix.AT_FDCWD, next)
			if err != nil {
				return "", nil, false
			}
			if after := strings.Join(rest, "/"); !slices.Contains(rest, "..") {
				on = append(on, filepath.Join(next, after))
			}
			rest = append(strings.Split(t, "/"), rest...)
			if strings.HasPrefix(t, "/") {
				cur = "/"
			}
		default:
			cur = next
		}
	}
	return cur, on, true
}

// sandboxRepoHere is repoHere for where a symlink put where a user's
// directory was leads (symlinkRefused), less a repository of the user's
// own: one whose .git the sandbox did not make (npm link's link to a
// checkout of theirs, node_modules/lib -> ../../lib, was refused). git
// outside takes the user's repository there, as it would at its path.
func (g *guard) sandboxRepoHere(dir int) bool {
	if !g.repoHere(dir) {
		return false
	}
	var st unix.Stat_t
	if unix.Fstatat(dir, ".git", &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return true // a bare one, or one that cannot be read
	}
	return g.ours(idOf(&st))
}

// linkMoveRefused is symlinkRefused for name in dir, if it is a symlink,
// renamed to to in toDir.
func (g *guard) linkMoveRefused(dir int, name string, toDir int, to string) bool {
	if !g.gitDirs || !g.freedPath(to) {
		return false
	}
	target, err := readlinkAt(dir, name)
	if errors.Is(err, unix.EINVAL) {
		return false // not a symlink
	}
	return err != nil || g.symlinkRefused(toDir, to, target)
}

// freedPath reports whether full is the path of a directory of a user's
// work tree that a rename or a rmdir freed in this run (dirMoveRefused,
// dirRemoved).
func (g *guard) freedPath(full string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.freedUserPaths[full]
}

// dirRemoved records full, the directory base in parent about to be
// removed, as freed if it is one of a user's work tree (dirMoveRefused);
// and parent as the top of a repository of the sandbox's if base is its
// .git, the sandbox's (inSandboxRepo: rm -rf removes the .git before the
// directories beside it and the top).
func (g *guard) dirRemoved(parent int, base, full string) {
	if base == ".git" {
		var st, top unix.Stat_t
		if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR &&
			g.ours(idOf(&st)) && unix.Fstat(parent, &top) == nil {
			g.mu.Lock()
			if len(g.sandboxTops) < maxFresh {
				g.sandboxTops[idOf(&top)] = true
			}
			g.mu.Unlock()
		}
		return
	}
	if _, user := g.userDirAt(parent, base); user {
		g.mu.Lock()
		if len(g.freedUserPaths) < maxFresh {
			g.freedUserPaths[full] = true
		}
		g.mu.Unlock()
	}
}

// dirMadeAt records the directory base in parent, just made at full, as a
// user's if full is where one of theirs was (dirMoveRefused).
func (g *guard) dirMadeAt(parent int, base, full string) {
	if !g.freedPath(full) {
		return
	}
	var st unix.Stat_t
	if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		g.mu.Lock()
		if len(g.movedUserDirs) < maxFresh {
			g.movedUserDirs[idOf(&st)] = true
		}
		g.mu.Unlock()
	}
}

// maxRepositoryScan bounds holdsRepository's walk; a larger tree is taken
// to hold a repository (-m logs the refusal).
const maxRepositoryScan = 200000

// holdsRepository reports whether the directory name in dir holds, at any
// depth, what git outside would take for a repository (repoNames: a .git,
// or a HEAD with objects and refs or commondir beside it); or more than
// maxRepositoryScan entries, or a directory it cannot read. A HEAD alone
// (a package's test fixture) is not one. The guard serves one request at
// a time: nothing is made in the tree until the rename is done. If not,
// it also returns the directories below whose paths, once the directory
// is at full, are freedUserPaths.
func (g *guard) holdsRepository(dir int, name, full string) (bool, []fileID) {
	budget := maxRepositoryScan
	var below []fileID
	var walk func(dir int, name, path string) bool
	walk = func(dir int, name, path string) bool {
		fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return true
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		entries, err := f.ReadDir(-1)
		if err != nil {
			return true
		}
		if budget -= len(entries); budget < 0 {
			return true
		}
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		if repoNames(names) {
			return true
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			sub := path + "/" + e.Name()
			if g.freedPath(sub) {
				var st unix.Stat_t
				if unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
					below = append(below, idOf(&st))
				}
			}
			if walk(fd, e.Name(), sub) {
				return true
			}
		}
		return false
	}
	if walk(dir, name, full) {
		return true, nil
	}
	return false, below
}

// movedUserDirAt is movedUserDir for the directory dir.
func (g *guard) movedUserDirAt(dir int) bool {
	var st unix.Stat_t
	return unix.Fstat(dir, &st) == nil && g.movedUserDir(idOf(&st))
}

// movedUserDir reports whether id is a directory of a user's work tree
// that a rename has moved in this run, or one put where such a directory
// was (dirMoveRefused).
func (g *guard) movedUserDir(id fileID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.movedUserDirs[id]
}

// gitDirBefore reports whether the .git directory dot (relative to dir)
// existed before the run: it is not one the sandbox made (ours). One that
// cannot be looked up is taken as the user's: the operation on what is
// below it fails anyway, or must.
func (g *guard) gitDirBefore(dir int, dot string) bool {
	var st unix.Stat_t
	if err := unix.Fstatat(dir, dot, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return true
	}
	return !g.ours(idOf(&st))
}

// ours reports whether the sandbox made the file id (created: by this
// run, or an earlier one the supervisor recorded).
func (g *guard) ours(id fileID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.created[id]
	return ok
}

// madeInRunAt reports whether the directory dirfd was made in this run
// (madeInRun).
func (g *guard) madeInRunAt(dirfd int) bool {
	return g.madeInRun(dirfd, "", unix.AT_EMPTY_PATH)
}

// madeInRun reports whether the directory path (relative to dirfd, with
// statx's flags) was made in this run by the sandbox: the guard made it
// (madeDirs: a mkdir, by identity, which a rename keeps) and it was born
// after the guard started (a file system without birth times makes
// nothing new). Not the birth time alone: it is not a directory's own on
// every file system. Overlayfs gives a directory of a lower layer (an
// image's) a new one when it copies it up, which any change in it does
// (touch lib/x made the user's submodule checkout lib new, and its .git
// file could then be made to lead to a repository of the sandbox's); SMB
// lets the owner set it (user.cifs.creationtime: setxattr is not
// guarded).
func (g *guard) madeInRun(dirfd int, path string, flags int) bool {
	var stx unix.Statx_t
	if unix.Statx(dirfd, path, flags, unix.STATX_INO|unix.STATX_BTIME, &stx) != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return false
	}
	// The same identity as idOf's (Stat_t's st_dev), as the record of
	// created files has it.
	id := fileID{dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), ino: stx.Ino}
	g.mu.Lock()
	made := g.madeDirs[id]
	g.mu.Unlock()
	b := stx.Btime
	return made && (b.Sec > g.startSec || b.Sec == g.startSec && int64(b.Nsec) >= g.startNsec)
}

// madeDir records base in parent, a directory the guard has just made
// for the sandbox, as made in this run (madeInRun). Nothing has renamed
// it meanwhile: renames go through the guard, which serves one request
// at a time.
func (g *guard) madeDir(parent int, base string) {
	var st unix.Stat_t
	if !g.gitDirs || unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return
	}
	g.mu.Lock()
	if len(g.madeDirs) < maxFresh {
		g.madeDirs[idOf(&st)] = true
	}
	g.mu.Unlock()
}

// What an operation on the name .git puts there (dotGitRefused).
const (
	putsNothing = iota // it is removed, or renamed away
	putsDir            // a directory made there, or renamed there
	putsFile           // anything else: a file made, written or truncated, a symlink, a hard link
)

// dotGitRefused reports whether an operation on base in parent that puts
// what puts says there must be refused, when base is ".git". Git takes a
// .git that is not a directory (a file "gitdir: PATH", a symlink) for a
// pointer to the git directory it uses, whose hooks and config would then
// be the sandbox's: none may be made, changed or removed (to make a .git
// directory of the sandbox's there), except in a directory made in this
// run (git worktree add, git submodule update --init in a new clone). A
// .git directory that existed before the run may be neither removed nor
// replaced, nor renamed away (which would free its name for the
// sandbox's and take its hooks out of a .git path). Making a .git
// directory (git init, git clone) is let through, and recorded
// (madeHere), except in a directory of the work tree of a repository of
// the user's that was there before the run (inUsersWorkTree).
func (g *guard) dotGitRefused(parent int, base string, puts int) bool {
	if !g.gitDirs {
		return false
	}
	if base == "HEAD" {
		return puts != putsNothing && g.headRefused(parent)
	}
	if base != ".git" {
		return false
	}
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
		if puts == putsNothing {
			return false // nothing to remove
		}
		if puts == putsDir {
			// git init, git clone, a directory renamed there: the
			// sandbox's, but not in a directory of the work tree of a
			// repository of the user's that was there before the run
			// (cd src && git status there, outside, would take it for
			// the repository, fsmonitor and hooks, and the user's own
			// git status does not show it).
			return g.userish(parent) || !g.madeInRunAt(parent) && g.inUsersWorkTree(parent, true)
		}
	case err != nil:
		return true // what it is cannot be told: kept
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		if !g.ours(idOf(&st)) {
			return true // the user's git directory
		}
		if puts != putsFile {
			return false // the sandbox's own: removed, or replaced by a directory
		}
	case g.ours(idOf(&st)):
		// A .git file the sandbox made, in this run or an earlier one
		// (madeHere), in a directory made in the same run: where it
		// leads, and what git finds without it, were the sandbox's to
		// choose already.
		return false
	}
	// A .git file or symlink is there, or is to be: only in a directory
	// made in this run, and not where one of a user's work tree was.
	return !g.madeInRunAt(parent) || g.userish(parent)
}

// userish reports whether the directory dir, though the run may have made
// it, stands for one of a user's work tree: one a rename or mkdir put
// where such a directory was (movedUserDirs: mv src x; mkdir -p src/sub;
// git init src/sub; cp -a x/. src, where git in src/sub, outside, found
// the sandbox's repository and the user's git status at the top showed
// nothing, as the rename freed src/sub too), or one below a tree of the
// user's too large to list when it was renamed away (freedUserTrees).
// Looked up only for a .git or a HEAD.
func (g *guard) userish(dir int) bool {
	if g.movedUserDirAt(dir) {
		return true
	}
	g.mu.Lock()
	n := len(g.freedUserTrees)
	g.mu.Unlock()
	if n == 0 {
		return false
	}
	p, err := fdPath(dir)
	if err != nil {
		return true // where it is cannot be told: the user's
	}
	for ; strings.HasPrefix(p, "/") && p != "/"; p = filepath.Dir(p) {
		g.mu.Lock()
		tree := g.freedUserTrees[p]
		g.mu.Unlock()
		if tree {
			return true
		}
	}
	return false
}

// holdsKeptGit reports whether the directory base in parent (about to be
// renamed) is the top of a repository whose .git is kept: a .git
// directory that existed before the run, or a .git file or symlink in a
// directory not made in this run. Renamed, the repository would leave
// its path free for a copy of the sandbox's (whose .git is new, hooks
// and all), which the user's next git commit there runs. Anything that is
// not a directory, or holds no .git, may go.
func (g *guard) holdsKeptGit(parent int, base string) bool {
	if !g.gitDirs {
		return false
	}
	var st unix.Stat_t
	if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false // the rename fails on its own, or moves no repository
	}
	dir, err := unix.Openat(parent, base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return true // a directory that cannot be looked into: kept
	}
	defer unix.Close(dir)
	return g.dotGitRefused(dir, ".git", putsNothing)
}

// headRefused reports whether a file named HEAD may not be made in parent
// (dotGitRefused): with objects/ and refs/ beside it, git takes a
// directory holding a HEAD for a repository, a bare one whose config
// (core.worktree, core.fsmonitor, hooks) the sandbox writes. As a .git
// directory, none may be made in a directory of a user's work tree that
// was there before the run: git in that directory, outside, would use it;
// nor at the top of such a work tree, beside its .git (git there takes
// the directory for a bare repository once the sandbox has broken
// .git/HEAD, which it may write). In a git directory (.git/logs/HEAD, a submodule's .git/modules/m/HEAD)
// git writes its own; an existing HEAD is replaced as git does (a rename
// of HEAD.lock), and that is left to the other rules.
func (g *guard) headRefused(parent int) bool {
	var st unix.Stat_t
	err := unix.Fstatat(parent, "HEAD", &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil:
		return false
	case !errors.Is(err, unix.ENOENT):
		return true // what is there cannot be told: refused
	}
	return g.userish(parent) || !g.madeInRunAt(parent) && g.inUsersWorkTree(parent, false)
}

// inUsersWorkTree reports whether the directory dir is in the work tree
// of a repository of the user's: dir, or a directory above it, holds a
// .git the sandbox did not make (a git directory of the user's, or a
// .git file or symlink). A dir inside that git directory counts as in it
// if gitDirToo. A repository of the sandbox's on the way up does not end
// the search: one it made in a directory of the user's work tree (a
// clone there, a directory of the user's moved into it) is still in
// that work tree, where git outside finds what is made in it; a dir
// inside its git directory is in it only if gitDirToo. It looks up from
// dir ("..", which follows no symlink) to the root; what cannot be
// looked up counts as a .git of the user's. Only when a .git or a HEAD
// is made, which is rare: the cost of the walk does not matter.
func (g *guard) inUsersWorkTree(dir int, gitDirToo bool) bool {
	var prev, here, st unix.Stat_t
	if unix.Fstat(dir, &here) != nil {
		return true
	}
	for rel := "."; len(rel) < unix.PathMax; rel += "/.." {
		if rel != "." {
			if unix.Fstatat(dir, rel, &here, 0) != nil {
				return true
			}
			if here.Dev == prev.Dev && here.Ino == prev.Ino {
				return false // the root
			}
		}
		if g.movedUserDir(idOf(&here)) {
			return true // a directory of a user's work tree, moved away
		}
		err := unix.Fstatat(dir, rel+"/.git", &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil:
			// prev is set from the second directory on: dir's own
			// .git is not dir.
			in := rel != "." && st.Dev == prev.Dev && st.Ino == prev.Ino
			if st.Mode&unix.S_IFMT == unix.S_IFDIR && g.ours(idOf(&st)) {
				// The sandbox's repository: go on up.
				if in && !gitDirToo {
					return false // dir is in its git directory
				}
				break
			}
			if in {
				return gitDirToo // dir is in that git directory
			}
			return true
		case !errors.Is(err, unix.ENOENT):
			return true
		}
		prev = here
	}
	return true
}

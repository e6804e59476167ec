package nsexec

import "os"

// BashDefaultPath is the search path bash uses when PATH is unset; it ends
// with the working directory. With PATH unset (env -i), fence finds the
// command (lookPath) and the shell for -c there, as upstream's bash -c did,
// and masks denied programs there.
const BashDefaultPath = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin:."

// DevNodes are the only host device nodes in the sandbox's /dev, which is
// its own (mountDev): each a bind of the host's node, which the command
// may open for writing. Besides them that /dev holds a devpts instance of
// its own (pts), a private shm, and DevLinks.
var DevNodes = [...]string{"null", "zero", "full", "random", "urandom", "tty"}

// DevLinks are the symlinks of the sandbox's /dev: target, then name.
var DevLinks = [...][2]string{
	{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
}

// Options describes one sandboxed command. It is built by the orchestration
// layer from a resolved policy and sent to the init stage over the control
// socket (wire.go). All paths are absolute host paths.
type Options struct {
	// Path is the program to run. If it contains no slash it is looked up in
	// the PATH of Env inside the sandbox.
	Path string
	// Args is the full argv, Args[0] included.
	Args []string
	// Env is the complete environment of the command.
	Env []string
	// Dir is the working directory inside the sandbox.
	Dir string
	// DirIsOwn says that Dir is the working directory the caller runs in,
	// which PID 1 inherits: PID 1 then refuses to start the command unless
	// Dir, inside, is that very directory. Between the plan and the
	// mounts, another user could swap a directory of theirs on the way to
	// it for a symlink (to your home, with allowWrite "."), and the
	// sandbox's writable working directory would be what the link leads
	// to.
	DirIsOwn bool

	// FS is the filesystem policy.
	FS FSPolicy

	// Listeners are TCP listeners that the init stage creates inside the
	// sandbox's network namespace and hands back to the supervisor, in order,
	// as Process.Listeners.
	Listeners []string

	// Unix is the policy for unix sockets reached by path.
	Unix UnixPolicy

	// HostNetwork keeps the host's network namespace (relaxed mode,
	// allowedDomains ["*"]). All other namespaces are still new.
	HostNetwork bool

	// TTY is true when fence's standard input, output or error is its
	// controlling terminal (TTYFD, 0 to 2, says which): the command
	// gets a process group of its own in fence's session. Without it the
	// command gets a new session: no controlling terminal to read from
	// or inject keystrokes into.
	TTY bool
	// JobControl, with TTY: PID 1 reports the command's pid and stops
	// (Process.Jobs), so that the supervisor passes job control on.
	// Without it PID 1 continues the command after a ^Z (SIGTSTP) at
	// once: the shell waits for fence, which is not stopped.
	JobControl bool
	// Foreground, with TTY: the command's group takes the terminal's
	// foreground as it starts. Without it the group starts in the
	// background, and the supervisor hands the terminal over when the
	// command first stops on it (SIGTTIN, SIGTTOU).
	Foreground bool
	TTYFD      int
	// PTY, with TTY and JobControl, is a bit mask of the command's
	// descriptors 0 to 2 that are fence's controlling terminal: they get
	// a pseudo-terminal of the sandbox's own instead (Process.PTY is its
	// master, which the supervisor relays to the terminal). PID 1 leads
	// the session the pseudo-terminal controls, and the command is a
	// process group of it: no process of the sandbox has a descriptor of
	// fence's terminal or is in its session, so none can read what is
	// typed there without fence relaying it, whatever it does (setsid,
	// TIOCSPGRP). Foreground and the stops reported work as without it,
	// on the pseudo-terminal (Process.Foreground).
	PTY int

	// NoLandlock skips Landlock even when the kernel has it. Landlock is
	// defense in depth on top of the mount policy; the caller decides.
	NoLandlock bool

	// Debug makes the init stage report what it did on stderr.
	Debug bool
	// Monitor makes the init stage log each operation the guard refuses
	// (also on with Debug).
	Monitor bool

	// Stdin, Stdout and Stderr of the command; nil means the supervisor's
	// own. They are inherited, not copied: the command writes to them
	// directly.
	Stdin  *os.File
	Stdout *os.File
	Stderr *os.File

	// Timeline asks the init stage to report when each start-up stage
	// ended (Process.Stages).
	Timeline bool

	// HoldStart makes the init stage wait, after reporting ready, for the
	// supervisor's go-ahead (msgStart) before it starts the command. Set by
	// StartGated; callers do not set it.
	HoldStart bool

	// PassFilesLater, if set, gives descriptors of the calling process,
	// each above 2, that the command gets at the same numbers, and nothing
	// else in the sandbox keeps: the anonymous pipes fence inherited (a
	// shell's process substitution, make's jobserver). StartGated calls it
	// after NoExecLater, while PID 1 builds the sandbox, and sends them
	// (msgFiles, SCM_RIGHTS), which PID 1 waits for before it starts the
	// command; the caller may close its own copies once StartGated
	// returns. An error ends the start, as
	// NoExecLater's does. Not sent itself.
	PassFilesLater func() ([]int, error)
	// FilesFollow tells PID 1 that msgFiles follows (PassFilesLater is
	// set). Set by StartGated; callers do not set it.
	FilesFollow bool

	// NoExecLater, if set, gives FS.NoExec after the rest of the Options
	// are sent: StartGated calls it while PID 1 builds the mount tree, and
	// sends what it returns (msgNoExec), which PID 1 waits for before the
	// tree is finished. An error ends the start: PID 1 is killed before it
	// has a finished tree. The supervisor's lookups of denied programs
	// (~190 of them) then overlap PID 1's mounts. Not sent itself.
	NoExecLater func() ([]string, error)
}

// UnixPolicy says which unix sockets the command may connect to by path.
// Sockets the sandbox binds itself, socketpair and inherited sockets always
// work. Unless AllowAll, connect and bind go through PID 1 (the socket guard,
// see guard_linux.go), so host sockets such as docker.sock, an ssh-agent or
// the D-Bus session bus stay unreachable even where the path is readable.
type UnixPolicy struct {
	// AllowAll turns the socket guard off.
	AllowAll bool
	// Allow lists socket paths, or directories whose sockets are allowed.
	Allow []string
	// Abstract allows abstract socket names. In a private network
	// namespace they only reach the sandbox itself.
	Abstract bool
}

// FSPolicy is the mount and Landlock policy. Lists are applied in the order
// documented on each field; later mounts sit on top of earlier ones.
type FSPolicy struct {
	// DefaultDenyRead starts from an empty root and binds only ReadOnly,
	// Writable and the system paths the caller lists in ReadOnly. Otherwise
	// the whole host tree is visible read-only (recursively).
	DefaultDenyRead bool
	// ReadOnly paths are bound read-only: the visible parts of a
	// DefaultDenyRead root, or paths hidden by the private /tmp that must
	// stay readable (the working directory). Missing paths are skipped.
	ReadOnly []string
	// Sockets are bound read-only as ReadOnly paths are, but only what is
	// a socket when it is bound: a listed socket in a directory another
	// user may change (postgres's /tmp/.s.PGSQL.5432), who could swap it
	// for a symlink to a file of the caller's between the plan and the
	// bind. Missing paths, and what is not a socket, are skipped.
	Sockets []string
	// Links are symlinks (path, target) recreated in a DefaultDenyRead
	// scaffold before the binds, e.g. /lib64 -> usr/lib64; otherwise, in
	// the private /tmp (paths under /tmp only), e.g. a home that is a
	// symlink there to the directory bound read-only.
	Links [][2]string
	// Writable paths (directories or files) are bound read-write. Missing
	// paths are skipped.
	Writable []string
	// HostTmp binds the host's /tmp read-write instead of a private tmpfs.
	HostTmp bool
	// Protected paths are re-bound read-only on top of writable binds
	// (denyWrite, shell rc files, .git/hooks, ...). Missing paths are skipped.
	Protected []string
	// Guarded paths are protected paths in writable directories. Those
	// that do not exist yet must not be created: the init stage refuses any
	// syscall that would create one (or put a symlink, hard link or renamed
	// tree at one of their ancestors). None of their ancestors may be
	// renamed either, which would carry existing read-only binds away, and
	// those that exist may not be renamed, nor removed where removals go
	// to the init stage (the write guard: DenyWritePatterns or
	// ProtectedPatterns). An empty list turns the creation guard off, and
	// with it the cost of a round trip to PID 1 for every file creation.
	Guarded []string
	// DenyWritePatterns are absolute glob patterns ("**/" any directories,
	// "**" anything, "*", "?" and "[...]" within one name, "\" escaping
	// the next character, as a path's own glob characters must be) of
	// paths that may not be
	// written, created, truncated, renamed or removed, wherever they are and
	// whenever they appear. The init stage checks them at each such syscall
	// (the write guard), so no tree walk happens at start.
	DenyWritePatterns []string
	// Created are files matching DenyWritePatterns that an earlier sandbox
	// created (fence's record, checked unchanged before the start): the
	// write guard treats them as created by this one.
	Created []string
	// RecordNames are names (filepath.Match patterns of a path's last
	// component) of files that the write guard, when it is on, records as
	// the sandbox's when it creates them, as it does those matching
	// DenyWritePatterns, though nothing here keeps them: so that a later
	// run whose patterns do (under -t code: a venv's cacert.pem, a test
	// fixture's .env) may change what this one made.
	RecordNames []string
	// ProtectedPatterns are patterns in the same syntax of paths that may
	// be neither created nor changed: nothing matching one may be created
	// (in any way: open, mkdir, mknod, symlink, link, rename), written,
	// truncated, renamed or removed, whoever made it. They are what decides
	// the policy of later runs (a fence.json anywhere in a writable
	// directory), and use the write guard.
	ProtectedPatterns []string
	// Removable paths may be removed (unlink, rmdir), and nothing else: the
	// write guard refuses to create, write, truncate, hard-link, rename or
	// replace them, and to rename or replace their directories, which may
	// be removed or created. They are the git directories of linked
	// worktrees (.git/worktrees/NAME, its commondir, config, ...), which
	// git run outside later trusts, and which `git worktree remove` and
	// `prune` delete: a read-only bind could not be removed (EBUSY).
	Removable []string
	// Held are directories that may be made and removed (mkdir, rmdir),
	// but neither renamed nor replaced (by a symlink, or a directory
	// renamed there), as the directories above Removable paths and
	// ProtectedPatterns (those without "**") are: a git directory's
	// worktrees and modules directories, where git puts the next
	// worktree's or submodule's git directory.
	Held []string
	// Grants and GrantPatterns are the names, literal and in
	// DenyWritePatterns' syntax, that a later run grants whatever they lead
	// to (allowWrite, allowRead, allowExecute entries inside a writable
	// path, and their directories there: ~/.codex or ~/.claude* with a
	// writable home). They may be made a directory or a file and removed,
	// but not made a symlink or a hard link, and nothing but a plain file
	// (one link, not a directory or a symlink) may be renamed there or
	// away: a saved-by-rename ~/.claude.json keeps working.
	Grants, GrantPatterns []string
	// GitDirs has the write guard protect every git directory named .git
	// that existed before the run, wherever it is: nothing of GitDirNames
	// (hooks, config, ...) may be created, written, truncated, renamed,
	// linked or removed there, nor in its submodules' and linked
	// worktrees' git directories (GitProtected); such a .git may be
	// neither renamed nor removed, nor may the directory holding it be
	// renamed; and no .git that is not a directory (a file naming a git
	// directory elsewhere, a symlink) may be made, changed or removed,
	// except in a directory made in this run. A .git directory the
	// sandbox makes (git init, git clone: mkdir, or a rename into place)
	// is its own, and so is one in Created. It costs nothing at start
	// and a few string comparisons per guarded syscall; a lookup only
	// where a path reaches a protected name below a .git.
	GitDirs bool
	// AllowGitConfig leaves config and config.worktree out of GitDirs'
	// protection (filesystem.allowGitConfig).
	AllowGitConfig bool
	// Masked paths are hidden: a directory becomes an empty read-only tmpfs,
	// a file an empty read-only file (denyRead, credential files).
	Masked []string
	// NoExec paths (executables denied at runtime) are replaced by an empty,
	// non-executable, read-only file. A symlink is masked itself, not its
	// target, so other names of the same binary keep working.
	NoExec []string
	// NoExecFollows: more NoExec paths come after the Options, in a
	// msgNoExec that PID 1 waits for once the rest of the tree is built
	// (Options' NoExecLater), and adds to these. Set by StartGated.
	NoExecFollows bool
}

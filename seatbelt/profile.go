// Package seatbelt is fence's macOS mechanism: it renders a sandbox policy
// as a Seatbelt profile (SBPL, the language of sandbox-exec) and, on macOS
// only, runs a command under it.
//
// The generator (Profile) is pure and deterministic: it touches no file
// system and makes no platform call, so it is tested on every platform
// against golden files (testdata/seatbelt). Paths arrive absolute, in every
// form the kernel may see them (the caller, package fence, adds the
// symlink-resolved form: Seatbelt matches the path a lookup resolved to, and
// /tmp is /private/tmp on macOS). The package must not import the config
// schema or any Linux package; it knows nothing of proxies but their ports.
//
// Precedence follows SBPL: a later rule wins over an earlier one that
// matches the same operation. Profile emits every allow before every deny,
// so that a denial always wins, as on Linux (denyRead over allowRead,
// denyWrite over allowWrite).
package seatbelt

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nsfence/fence/internal/pathglob"
)

// Options is a policy in the terms of Seatbelt.
//
// A path pattern is absolute. Without glob characters it names the path and
// everything below it; "dir/**" means the same as "dir". "*" matches within
// one path component, "?" one character of a component, "**" any run of
// components, "[...]" one character of a class of letters, digits, '.', '_'
// and '-' ("[^...]" any other). A backslash makes the next character
// literal (see Literal). Denials ignore the case of ASCII letters.
type Options struct {
	// LogTag, if set, is attached to every denial ("with message"), so that
	// one run's refusals can be told apart in the unified log.
	LogTag string

	// DefaultDenyRead allows reads only under Readable and Writable (and
	// metadata, i.e. stat, everywhere: programs walk up from their working
	// directory). Otherwise everything is readable.
	DefaultDenyRead bool
	// Readable are readable in DefaultDenyRead mode.
	Readable []string
	// DenyRead can be neither read nor written, whatever else allows.
	DenyRead []string
	// Hidden can be neither read nor written either, except Unhidden,
	// which stay readable: fence's built-in credential patterns, of which
	// allowRead may lift single files. DenyRead wins over Unhidden.
	Hidden, Unhidden []string
	// Writable may be written (and created, renamed, removed).
	Writable []string
	// DenyWrite stay read-only inside Writable.
	DenyWrite []string
	// RemoveOnly may be removed (or renamed away) inside Writable, and
	// nothing else; their directories may be neither removed nor renamed
	// (linked worktrees' git directories, which git worktree remove
	// deletes: see fence's linkedWorktrees). DenyWrite wins over them.
	RemoveOnly []string
	// Held directories (each a pattern naming one path: Literal) may be
	// neither removed, renamed nor created (as a symlink elsewhere):
	// Seatbelt cannot tell a new directory from a new symlink, nor a
	// removal from a rename.
	Held []string
	// NoCreate are patterns whose matches may not be created (made, or
	// renamed or linked to), whatever Writable allows; an existing match
	// stays as writable as it is: submodule git directories under a
	// repository's modules/, which a later git submodule update would
	// take up (see fence's planSeatbelt). The directories above each
	// pattern's fixed part are pinned as DenyWrite's are.
	NoCreate []string
	// Grants (each a pattern naming one path: Literal) are names that a
	// later run grants whatever they lead to, inside a writable path
	// (fence resolves allowWrite and allowRead through symlinks at every
	// start): they may be created as a directory or a regular file only,
	// not as a symlink (nor a FIFO, socket or device), whether made there
	// or renamed there. What is there may be written and removed as
	// Writable allows. Nothing is pinned above them: the caller holds
	// those directories (Held).
	Grants []string
	// DenyExec are program names (no '/') that may not be executed from
	// any directory, and absolute program paths that may not be executed.
	DenyExec []string

	// Terminals are the run's own terminal devices (/dev/ttysNNN) that the
	// command may read, write and control: its standard input's, when it
	// is in that terminal's job control. OutputTerminals it may only
	// write and control (isatty, the window size): those of its output
	// when it has a session of its own, where nothing would stop it from
	// reading what the user types. No other terminal it did not open
	// itself.
	Terminals, OutputTerminals []string

	// Network is what the command may reach.
	Network Network
	// AllowPty lets the command allocate pseudo-terminals.
	AllowPty bool
}

// Network is the network part of Options.
type Network struct {
	// Unrestricted allows every network operation (allowedDomains ["*"]).
	Unrestricted bool
	// ProxyPorts are the loopback ports of fence's proxies: the command
	// may connect to them and to nothing else on the network.
	ProxyPorts []int
	// LocalBinding lets the command listen and accept on loopback.
	LocalBinding bool
	// BindPorts are loopback ports the command may listen on (fence -p).
	BindPorts []int
	// LocalOutbound lets the command connect to every loopback port;
	// LocalOutboundPorts to those listed.
	LocalOutbound      bool
	LocalOutboundPorts []int
	// AllUnixSockets allows connecting to every unix socket; UnixSockets
	// to those at or under the listed paths.
	AllUnixSockets bool
	UnixSockets    []string
}

// machServices are the system services a command may look up: name
// resolution of users and groups, fonts, logging, the security framework,
// preferences. Services that act on the caller's behalf over the network
// (nsurlsessiond and the like) are left out on purpose: they would be a way
// around the proxies.
var machServices = []string{
	"com.apple.audio.systemsoundserver",
	"com.apple.bsd.dirhelper",
	"com.apple.coreservices.launchservicesd",
	"com.apple.distributed_notifications@Uv3",
	"com.apple.FontObjectsServer",
	"com.apple.fonts",
	"com.apple.FSEvents",
	"com.apple.fseventsd",
	"com.apple.logd",
	"com.apple.lsd.mapdb",
	"com.apple.PowerManagement.control",
	"com.apple.securityd.xpc",
	"com.apple.SecurityServer",
	"com.apple.system.logger",
	"com.apple.system.notification_center",
	"com.apple.system.opendirectoryd.libinfo",
	"com.apple.system.opendirectoryd.membership",
	"com.apple.SystemConfiguration.configd",
	"com.apple.trustd.agent",
}

// sysctlPrefixes and sysctlNames are the readable kernel variables: the
// hardware and OS facts runtimes ask for. kern.procargs2 (other processes'
// arguments and environment) is not among them.
var (
	sysctlPrefixes = []string{"hw.", "machdep.cpu.", "kern.proc.all", "kern.proc.pgrp.", "kern.proc.pid.", "net.routetable.", "sysctl.proc_"}
	sysctlNames    = []string{
		"kern.argmax", "kern.bootargs", "kern.boottime", "kern.hostname", "kern.hv_support",
		"kern.maxfiles", "kern.maxfilesperproc", "kern.maxproc", "kern.ngroups", "kern.osproductversion",
		"kern.osrelease", "kern.ostype", "kern.osvariant_status", "kern.osversion", "kern.secure_kernel",
		"kern.tcsm_available", "kern.tcsm_enable", "kern.usrstack64", "kern.version", "kern.willshutdown", "machdep.ptrauth_enabled", "security.mac.lockdown_mode_state",
		"vm.loadavg", "vm.page_free_count",
	}
)

// terminalIoctls are the terminal ioctl requests the command may not
// make, on any device: TIOCSTI, TIOCEXCL and TIOCSETD (<sys/ttycom.h>).
var terminalIoctls = []uint32{0x80017472, 0x2000740d, 0x8004741b}

// devices may always be opened for reading and writing: the standard
// streams' names and the null, zero and random devices.
var devices = []string{
	"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/stdin", "/dev/stdout",
	"/dev/stderr", "/dev/tty", "/dev/dtracehelper",
}

// Profile renders o. It fails, rather than emitting a weaker profile, on a
// path it cannot express exactly: one that is not absolute, or has a
// character that SBPL strings or regular expressions would read otherwise.
func Profile(o *Options) (string, error) {
	b := &builder{tag: o.LogTag}
	if strings.ContainsAny(o.LogTag, "\"\\") || hasControl(o.LogTag) {
		return "", fmt.Errorf("seatbelt log tag %q: quotes, backslashes and control characters are not allowed", o.LogTag)
	}
	b.line("(version 1)")
	b.line("(deny default%s)", b.message())
	b.base()

	// Reads.
	if o.DefaultDenyRead {
		b.line("; reads: only the listed paths (metadata everywhere)")
		b.line("(allow file-read-metadata)")
		b.line(`(allow file-read-data (literal "/"))`)
		if err := b.paths("allow file-read*", append(slices.Clone(o.Readable), o.Writable...)); err != nil {
			return "", err
		}
	} else {
		b.line("; reads: everything but the denied paths")
		b.line("(allow file-read*)")
	}

	// Writes.
	b.line("; writes")
	for _, d := range devices {
		b.line("(allow file-read* file-write-data file-ioctl (literal %s))", quote(d))
	}
	// /dev/fd/N reopens a descriptor the command already holds.
	b.line(`(allow file-read* file-write-data (subpath "/dev/fd"))`)
	if err := b.paths("allow file-write*", o.Writable); err != nil {
		return "", err
	}

	if err := b.network(&o.Network); err != nil {
		return "", err
	}

	// Denials last: a later rule wins. The few allows among them are
	// carve-outs that must win over the denial just before them.
	b.line("; denials")
	hidden, denyRead, denyWrite := dataForms(o.Hidden), dataForms(o.DenyRead), dataForms(o.DenyWrite)
	// Removable paths first, so that the denials below win over their
	// allowed unlink. Each path itself, not what is under it (a git
	// directory's index).
	removeOnly := dedupe(dataForms(o.RemoveOnly))
	for _, p := range removeOnly {
		re, err := pathRegex(p, true, false)
		if err != nil {
			return "", err
		}
		if err := fits(re, p); err != nil {
			return "", err
		}
		b.line("(deny file-write* (regex %s)%s)", quote(re), b.message())
		b.line("(allow file-write-unlink (regex %s))", quote(re))
	}
	if err := b.paths("deny file-read* file-write*", hidden); err != nil {
		return "", err
	}
	if err := b.paths("allow file-read*", o.Unhidden); err != nil {
		return "", err
	}
	if err := b.paths("deny file-read* file-write*", denyRead); err != nil {
		return "", err
	}
	if err := b.paths("deny file-write*", denyWrite); err != nil {
		return "", err
	}
	noCreate := dedupe(dataForms(o.NoCreate))
	for _, p := range noCreate {
		re, err := literalRegex(p)
		if err != nil {
			return "", err
		}
		b.line("(deny file-write-create (regex %s)%s)", quote(re), b.message())
	}
	// A grant's name: a directory or a regular file, nothing else. The
	// type is that of the node created (Firefox's content sandbox allows
	// file-write-create by (vnode-type REGULAR-FILE), its Flash profile
	// denies it by (vnode-type SYMLINK)); a rename that left the type
	// unknown would match neither allowed type and be refused.
	for _, p := range dedupe(dataForms(o.Grants)) {
		re, err := literalRegex(p)
		if err != nil {
			return "", err
		}
		b.line("(deny file-write-create (require-all (regex %s) (require-not (vnode-type DIRECTORY)) (require-not (vnode-type REGULAR-FILE)))%s)", quote(re), b.message())
	}
	// Sockets under a hidden path (gpg-agent's in ~/.gnupg) stay out of
	// reach whatever unix socket allow is above.
	if err := b.paths("deny network-outbound network-bind", slices.Concat(hidden, denyRead)); err != nil {
		return "", err
	}
	// A hard link (or an APFS clone) would give a denied file a second
	// name that no rule covers; build tools that link (cargo, pnpm) fall
	// back to copying.
	b.line("(deny file-link file-clone%s)", b.message())
	// No set-user-ID or set-group-ID file: one made in a writable path
	// outlives the sandbox, for anyone who reaches it to run as you.
	// (Both bits: macOS's chmod does not keep a directory's set-group-ID
	// bit as GNU chmod does, so work in a shared directory goes on.)
	b.line("(deny file-write-setugid%s)", b.message())
	// Seatbelt matches paths, so a denied path could be moved out of its
	// rule's reach by renaming a directory above it: no directory above
	// one can be removed or renamed. A write-protected path could also be
	// planted, by creating a missing directory above it as a symlink to
	// elsewhere (or renaming one there): the directories above those
	// cannot be created either. (A missing directory above a hidden path
	// holds nothing to read.)
	pinned, err := ancestors(slices.Concat(denyWrite, noCreate))
	if err != nil {
		return "", err
	}
	for _, h := range dataForms(o.Held) {
		if err := checkPath(h); err != nil {
			return "", err
		}
		pinned = append(pinned, pathglob.Unescape(h)) // a pattern naming one path (Literal)
	}
	kept, err := ancestors(slices.Concat(denyRead, hidden))
	if err != nil {
		return "", err
	}
	held, err := ancestors(removeOnly)
	if err != nil {
		return "", err
	}
	// (ancestors gives paths; removeOnly are patterns naming one path.)
	held = slices.DeleteFunc(held, func(a string) bool {
		return slices.ContainsFunc(removeOnly, func(r string) bool { return pathglob.Unescape(r) == a })
	})
	for _, a := range dedupe(slices.Concat(pinned, kept, held)) {
		re, err := pathRegex(Literal(a), true, false)
		if err != nil {
			return "", err
		}
		ops := "file-write-unlink"
		if slices.Contains(pinned, a) {
			ops = "file-write-unlink file-write-create"
		}
		if err := fits(re, a); err != nil {
			return "", err
		}
		b.line("(deny %s (regex %s)%s)", ops, quote(re), b.message())
	}
	if o.DefaultDenyRead {
		// The data volume, mounted there, holds every file under a
		// second name; /System is readable. Either case, as every
		// denial: /System/Volumes/data is the same directory on a
		// case-insensitive system volume, and (subpath "/System") would
		// let it be read.
		re, err := pathRegex(Literal(dataVolume), true, true)
		if err != nil {
			return "", err
		}
		b.line("(deny file-read* (regex %s)%s)", quote(re), b.message())
	}
	// The disks' device nodes: a command fence runs as root (sudo fence)
	// would read every file past every denial through them, and write
	// them. Linux's /dev has none (null, zero, full, random, urandom,
	// tty only). Every other device is readable as its mode allows.
	// Either case, as every path denial: /DEV is /dev on a
	// case-insensitive root volume.
	b.line(`(deny file-read* file-write* (regex #"^/[dD][eE][vV]/[rR]?[dD][iI][sS][kK][0-9]")%s)`, b.message())
	// Nor another name for them: root may mknod a disk's node (block or
	// character, /dev/rdisk*) in any writable directory, past the
	// denial above. No device node is made in the sandbox (the type is
	// that of the node created, as for the grants' names above); only
	// root could, and Linux's user namespace refuses it as well.
	for _, t := range []string{"BLOCK-DEVICE", "CHARACTER-DEVICE"} {
		b.line("(deny file-write-create (vnode-type %s)%s)", t, b.message())
	}

	// Terminals: only the run's own, and those it opens itself. /dev in
	// either case, as every path denial: /DEV/ttys003 is /dev/ttys003 on
	// a case-insensitive root volume.
	b.line(`(deny file-read* file-write* file-ioctl (regex #"^/[dD][eE][vV]/[tT][tT][yY][sS][0-9]+$")%s)`, b.message())
	for _, t := range slices.Concat(o.Terminals, o.OutputTerminals) {
		if !strings.HasPrefix(t, "/dev/") || strings.ContainsAny(t, "\"\\") || hasControl(t) {
			return "", fmt.Errorf("seatbelt terminal %q: want a device path", t)
		}
		ops := "file-read* file-write* file-ioctl"
		if !slices.Contains(o.Terminals, t) {
			ops = "file-read-metadata file-write-data file-ioctl"
		}
		b.line("(allow %s (literal %s))", ops, quote(t))
	}
	if o.AllowPty {
		b.line("(allow pseudo-tty)")
		b.line(`(allow file-read* file-write* file-ioctl (literal "/dev/ptmx"))`)
		b.line(`(allow file-read* file-write* file-ioctl (require-all (regex #"^/dev/ttys[0-9]+$") (extension "com.apple.sandbox.pty")))`)
	}
	// TIOCSTI (_IOW('t', 114, char)) pushes input into a terminal: typed
	// into the shell fence was started from, it would run after fence.
	// TIOCEXCL (_IO('t', 13)) and TIOCSETD (_IOW('t', 27, int)) change
	// the user's terminal for good, as on Linux (seccomp refuses both):
	// the exclusive mode makes every later open of it by name (sudo's
	// and ssh's prompts on /dev/tty among them) fail with EBUSY for all
	// but root, and a line discipline stays on it after the run.
	for _, c := range terminalIoctls {
		b.line("(deny file-ioctl (ioctl-command %d)%s)", c, b.message())
	}

	for _, e := range o.DenyExec {
		if err := b.denyExec(e); err != nil {
			return "", err
		}
		if strings.HasPrefix(e, "/") && !strings.HasPrefix(e, dataVolume+"/") {
			if err := b.denyExec(dataVolume + e); err != nil {
				return "", err
			}
		}
	}
	return b.String(), nil
}

// dataVolume is where macOS mounts the data volume, whose files (/Users,
// /private, /opt, ...) are also reachable under it.
const dataVolume = "/System/Volumes/Data"

// dataForms returns ps with each pattern also under dataVolume, so that a
// denial cannot be walked around through the volume's second name.
func dataForms(ps []string) []string {
	out := slices.Clone(ps)
	for _, p := range ps {
		if p != "/" && !strings.HasPrefix(p, dataVolume+"/") && p != dataVolume {
			out = append(out, dataVolume+p)
		}
	}
	return out
}

// builder accumulates profile lines.
type builder struct {
	strings.Builder
	tag string
}

func (b *builder) line(format string, a ...any) {
	fmt.Fprintf(b, format, a...)
	b.WriteByte('\n')
}

// message is the suffix of a deny rule that tags it for the log.
func (b *builder) message() string {
	if b.tag == "" {
		return ""
	}
	return " (with message " + quote(b.tag) + ")"
}

// base allows what every program needs besides files and the network:
// processes of its own, the system services above, kernel facts, shared
// memory and semaphores.
func (b *builder) base() {
	b.line("; processes")
	b.line("(allow process-exec process-fork)")
	b.line("(allow process-info* (target same-sandbox))")
	b.line("(allow signal (target same-sandbox))")
	b.line("(allow mach-priv-task-port (target same-sandbox))")
	b.line("(allow user-preference-read)")
	b.line("; system services")
	b.line("(allow mach-lookup")
	for _, s := range machServices {
		b.line("  (global-name %s)", quote(s))
	}
	b.line(")")
	b.line("(allow ipc-posix-shm ipc-posix-sem)")
	b.line("(allow iokit-get-properties)")
	b.line(`(allow iokit-open (iokit-registry-entry-class "IOSurfaceRootUserClient") (iokit-registry-entry-class "RootDomainUserClient") (iokit-user-client-class "IOSurfaceSendRight"))`)
	b.line("(allow system-socket (require-all (socket-domain AF_SYSTEM) (socket-protocol 2)))")
	b.line("(allow sysctl-read")
	for _, p := range sysctlPrefixes {
		b.line("  (sysctl-name-prefix %s)", quote(p))
	}
	for _, n := range sysctlNames {
		b.line("  (sysctl-name %s)", quote(n))
	}
	b.line(")")
	// V8 sizes its thread pool with it.
	b.line(`(allow sysctl-write (sysctl-name "kern.tcsm_enable"))`)
	b.line("(allow distributed-notification-post)")
}

// network renders n. Without Unrestricted the command reaches fence's
// proxies, and loopback as far as n allows; nothing else.
func (b *builder) network(n *Network) error {
	b.line("; network")
	if n.Unrestricted {
		// Every address, but unix sockets only as listed below, as on
		// Linux: docker.sock or an ssh agent are not "domains".
		b.line("(allow network*)")
		b.line(`(deny network-outbound network-bind (subpath "/")%s)`, b.message())
		// Name resolution: the host's resolver, for direct connections.
		b.line(`(allow network-outbound (literal "/private/var/run/mDNSResponder"))`)
	}
	// Creating a unix socket; connecting and binding are checked apart.
	b.line("(allow system-socket (socket-domain AF_UNIX))")
	if err := b.unix(n); err != nil || n.Unrestricted {
		return err
	}
	ports := func(what string, ps []int) error {
		for _, p := range ps {
			if p < 1 || p > 65535 {
				return fmt.Errorf("seatbelt %s port %d: want 1-65535", what, p)
			}
		}
		return nil
	}
	for _, l := range []struct {
		what string
		ps   []int
	}{{"proxy", n.ProxyPorts}, {"bind", n.BindPorts}, {"local outbound", n.LocalOutboundPorts}} {
		if err := ports(l.what, l.ps); err != nil {
			return err
		}
	}
	for _, p := range n.ProxyPorts {
		b.line(`(allow network-outbound (remote ip "localhost:%d"))`, p)
	}
	if n.LocalBinding {
		b.line(`(allow network-bind network-inbound (local ip "localhost:*"))`)
	}
	for _, p := range n.BindPorts {
		b.line(`(allow network-bind network-inbound (local ip "localhost:%d"))`, p)
	}
	// "remote": the destination. Upstream wrote (local ip "localhost:*")
	// here, which matches a socket's own address and so let connections
	// go anywhere from a socket bound to loopback.
	if n.LocalOutbound {
		b.line(`(allow network-outbound (remote ip "localhost:*"))`)
	}
	for _, p := range n.LocalOutboundPorts {
		b.line(`(allow network-outbound (remote ip "localhost:%d"))`, p)
	}
	return nil
}

// unix renders the unix socket allows. A path filter matches unix sockets
// only.
func (b *builder) unix(n *Network) error {
	if n.AllUnixSockets {
		b.line(`(allow network* (subpath "/"))`)
	}
	for _, p := range n.UnixSockets {
		f, err := filter(p, false)
		if err != nil {
			return err
		}
		b.line("(allow network* %s)", f)
	}
	return nil
}

// paths renders one rule per pattern. An allow gets (subpath "p") for a
// plain path and a regular expression for a glob; a denial always gets a
// regular expression that ignores the case of ASCII letters: macOS volumes
// are usually case-insensitive, so ~/.SSH/ID_RSA is ~/.ssh/id_rsa, and a
// name created as .BASHRC is read as .bashrc.
func (b *builder) paths(op string, patterns []string) error {
	deny := strings.HasPrefix(op, "deny ")
	for _, p := range dedupe(patterns) {
		f, err := filter(p, deny)
		if err != nil {
			return err
		}
		if deny {
			b.line("(%s %s%s)", op, f, b.message())
		} else {
			b.line("(%s %s)", op, f)
		}
	}
	return nil
}

// filter returns the SBPL path filter for one pattern.
func filter(p string, fold bool) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	if !fold && !pathglob.HasMeta(p) {
		lit := strings.TrimSuffix(pathglob.Unescape(p), "/")
		if lit == "" {
			lit = "/"
		}
		return "(subpath " + quote(lit) + ")", nil
	}
	re, err := pathRegex(p, fold, true)
	if err != nil {
		return "", err
	}
	if err := fits(re, p); err != nil {
		return "", err
	}
	return "(regex " + quote(re) + ")", nil
}

// Literal escapes p's glob characters (and backslashes), so that a pattern
// built from it names p exactly: a working directory called "proj [old]"
// is not the glob "proj " followed by one of 'o', 'l', 'd'.
func Literal(p string) string { return pathglob.Literal(p) }

// Covers returns a test of whether an allow of pattern p (Writable,
// Readable) covers a path: a match, or a path below one, as Profile
// renders it (case as written).
func Covers(p string) (func(path string) bool, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if !pathglob.HasMeta(p) {
		lit := strings.TrimSuffix(pathglob.Unescape(p), "/")
		return func(path string) bool {
			return lit == "" || path == lit || strings.HasPrefix(path, lit+"/")
		}, nil
	}
	re, err := pathRegex(p, false, true)
	if err != nil {
		return nil, err
	}
	rx, err := regexp.CompilePOSIX(re)
	if err != nil {
		return nil, fmt.Errorf("seatbelt pattern %q: %w", p, err)
	}
	return rx.MatchString, nil
}

// StaticPrefix splits pattern p at its last '/' before the first glob
// character: the directory part, unescaped, and the rest as written.
// A pattern without globs is all prefix.
func StaticPrefix(p string) (dir, rest string) { return pathglob.Dir(p) }

// maxLiteral is the longest string sandbox-exec is known to read (about
// 1 KB, "Error reading string" beyond); a case-folding expression is about
// 3.5 times its path.
const maxLiteral = 1000

// fits refuses a regular expression for p that sandbox-exec would reject
// with the whole profile.
func fits(re, p string) error {
	if n := len(quote(re)); n > maxLiteral {
		return fmt.Errorf("seatbelt pattern %q: its expression is %d bytes, longer than sandbox-exec reads (%d); work under a shorter real path (a symlink would not do: its target is matched too) or remove the entry", p, n, maxLiteral)
	}
	return nil
}

// checkPath refuses what Profile cannot express exactly.
func checkPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("seatbelt path %q: not absolute", p)
	case hasControl(p):
		return fmt.Errorf("seatbelt path %q: control characters cannot be matched in a profile; rename the path or remove the entry", p)
	}
	return nil
}

// quote renders s as an SBPL string literal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// pathRegex translates a pattern into an anchored POSIX extended regular
// expression; with below, one that also matches everything below a match,
// as (subpath) does. With fold, ASCII letters match either case. The
// profile carries it as an ordinary SBPL string (quote), so that any
// character can be written; the special ones (. + ( ) { } | $ * ? [ ] ^ \)
// are escaped with a backslash, as other generators that ship do, rather
// than put in bracket expressions, whose edge cases ("[]]") engines read
// differently. No other backslash sequence (\w, \<, \b) is ever emitted.
func pathRegex(p string, fold, below bool) (string, error) {
	p = strings.TrimSuffix(p, "/**")
	// Trailing slashes go, escaped ones too ("\/" is a slash); a
	// backslash before them that is itself escaped ("b\\/", a name
	// ending in a backslash) stays: only an odd run escapes the slash.
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		run := len(p) - 1 - len(strings.TrimRight(p[:len(p)-1], `\`))
		p = p[:len(p)-1-run%2]
	}
	if p == "/" {
		// The root: everything, or the root itself.
		if below {
			return "^/.*$", nil
		}
		return "^/$", nil
	}
	var b strings.Builder
	b.WriteByte('^')
	lit := func(c byte) {
		switch {
		case fold && letter(c):
			b.WriteString("[" + string(c|0x20) + string(c&^0x20) + "]")
		case strings.IndexByte(`.+(){}|$*?[]^\`, c) >= 0:
			b.WriteString(`\` + string(c))
		default:
			b.WriteByte(c)
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return "", fmt.Errorf("seatbelt pattern %q: ends in a lone backslash", p)
			}
			i++
			lit(p[i])
		case c == '*' && strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case c == '*' && strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return "", fmt.Errorf("seatbelt pattern %q: unterminated [ class", p)
			}
			cls, err := class(p[i+1:i+1+end], fold)
			if err != nil {
				return "", fmt.Errorf("seatbelt pattern %q: %w", p, err)
			}
			b.WriteString(cls)
			i += end + 1
		default:
			lit(c)
		}
	}
	if below {
		b.WriteString("(/.*)?")
	}
	b.WriteString("$")
	return b.String(), nil
}

// class translates the body of a glob's [ ] class, in filepath.Match's
// syntax as on Linux: '^' first negates; items are single characters or
// ranges lo-hi of letters, digits, '.' and '_'; a '-' that is not part of a
// range is an error there, and here. With fold, letters and letter ranges
// match either case.
func class(body string, fold bool) (string, error) {
	neg := strings.HasPrefix(body, "^")
	body = strings.TrimPrefix(body, "^")
	if body == "" {
		return "", errors.New("empty [ ] class")
	}
	var set strings.Builder
	for i := 0; i < len(body); i++ {
		lo := body[i]
		if !classChar(lo) {
			return "", errors.New("a [ ] class takes letters, digits, '.' and '_', and ranges such as a-z")
		}
		if i+2 < len(body) && body[i+1] == '-' {
			hi := body[i+2]
			if !classChar(hi) || hi < lo || lo <= '/' && '/' <= hi {
				return "", fmt.Errorf("bad range %c-%c in a [ ] class (a range may not span '/')", lo, hi)
			}
			set.WriteString(string(lo) + "-" + string(hi))
			if fold {
				// The letters of the range, in the other case.
				for _, r := range [][2]byte{{'a', 'z'}, {'A', 'Z'}} {
					l, h := max(lo, r[0]), min(hi, r[1])
					if l <= h {
						set.WriteString(string(l^0x20) + "-" + string(h^0x20))
					}
				}
			}
			i += 2
			continue
		}
		if i+1 < len(body) && body[i+1] == '-' {
			return "", errors.New("a '-' in a [ ] class must be part of a range such as a-z")
		}
		set.WriteByte(lo)
		if fold && letter(lo) {
			set.WriteByte(lo ^ 0x20)
		}
	}
	if neg {
		return "[^/" + set.String() + "]", nil
	}
	return "[" + set.String() + "]", nil
}

// letter reports whether c is an ASCII letter.
func letter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// classChar reports whether c may stand in a glob's [ ] class.
func classChar(c byte) bool {
	return letter(c) || c >= '0' && c <= '9' || c == '.' || c == '_'
}

// denyExec renders the exec denial for one program name or absolute path,
// either case.
func (b *builder) denyExec(e string) error {
	var re string
	switch {
	case strings.HasPrefix(e, "/"):
		if err := checkPath(e); err != nil {
			return err
		}
		r, err := pathRegex(Literal(e), true, false)
		if err != nil {
			return err
		}
		re = r
	case e == "" || strings.Contains(e, "/"):
		return fmt.Errorf("seatbelt denied program %q: want a name or an absolute path", e)
	default:
		// Any directory: "/name" at the end.
		r, err := pathRegex("/"+Literal(e), true, false)
		if err != nil {
			return fmt.Errorf("seatbelt denied program %q: %w", e, err)
		}
		re = strings.TrimPrefix(r, "^")
	}
	if err := fits(re, e); err != nil {
		return err
	}
	b.line("(deny process-exec (regex %s)%s)", quote(re), b.message())
	return nil
}

// ancestors returns the directories strictly above the static part of each
// pattern, "/" excluded, sorted and without duplicates; the directory that
// holds a glob is one of them.
func ancestors(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		if err := checkPath(p); err != nil {
			return nil, err
		}
		dir, rest := StaticPrefix(strings.TrimSuffix(p, "/**"))
		if rest != "" {
			dir += "/x" // the directory holding the glob is an ancestor too
		}
		dir = strings.TrimSuffix(dir, "/")
		for {
			j := strings.LastIndexByte(dir, '/')
			if j <= 0 {
				break
			}
			dir = dir[:j]
			out = append(out, dir)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// dedupe returns ps in order without repeated entries.
func dedupe(ps []string) []string {
	seen := make(map[string]bool, len(ps))
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// hasControl reports whether s has an ASCII control character.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// literalRegex is the regex of exactly the path p (no glob), checked as
// every path of the profile is (checkPath, fits).
func literalRegex(p string) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	re, err := pathRegex(p, true, false)
	if err != nil {
		return "", err
	}
	if err := fits(re, p); err != nil {
		return "", err
	}
	return re, nil
}

// Package early starts the sandbox's init stage from a package init
// function, before the rest of fence has initialised, or takes over the
// one that fence's ELF entry point started before the Go runtime did
// (nsexec/spawn's entry, for a command line that starts with the command
// or has "--" or "-c": it learns the network mode from here,
// spawn.FromEntry), or discards that one when the command line runs no
// sandbox.
//
// This is the one init function in fence that does work, and why: Go runs
// package initialisation in import path order once a package's imports are
// ready, and this package imports only nsexec/spawn, internal/cfgfile and
// the lowest layers of the standard library, so its init runs ahead of
// cobra, the config parser,
// net/http and crypto/tls. The rest of the supervisor's start (~0.7 ms of
// package initialisation on a 2-core VM) then follows the clone of the
// namespaces (~2 ms) and overlaps with the init stage's own start, instead
// of delaying both (docs/benchmarking.md, "Starting the init stage from an
// init function"). In the init stage and the feature probe, which run this
// same binary, and in test binaries it does nothing.
//
// The guess is made from argv and a glance at the config files fence will
// read (ConfigSharesHost), and may be wrong: a spawned init stage
// that turns out not to be needed is aborted by cmd/fence, and one with the
// wrong network mode is replaced by fence.Run. early must not import
// anything that takes the saving away (deps_test.go checks it).
package early

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/nsfence/fence/internal/cfgfile"
	"github.com/nsfence/fence/nsexec/spawn"
)

// child is the init stage spawned by init, if any; Take hands it over.
var child *spawn.Child

// startMono is when init spawned child.
var startMono int64

func init() {
	// First, on every path: the entry may have coarsened the main
	// thread's slack, and threads started from now on inherit it.
	// (An error leaves the supervisor's own slack coarse, which nothing
	// of the sandbox inherits: see AdoptEntrySlack.)
	bornCoarse, _ := spawn.AdoptEntrySlack(false)
	args := os.Args
	if spawn.IsStage(args) || len(args) == 0 || testBinary(args) {
		spawn.DiscardEntry() // the entry point spawns none for these
		return
	}
	sandbox, hostNet := Guess(args[1:])
	if !sandbox {
		spawn.DiscardEntry()
		return
	}
	// Here, before anything else opens a descriptor: a few more and the
	// runtime's poller fails to start with a fatal error and a stack.
	// (Cur is int64 on some 32-bit ports, RLIM_INFINITY then -1: as
	// uint64 it is the largest limit, as it should be.)
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && uint64(lim.Cur) < minOpenFiles {
		spawn.DiscardEntry()
		os.Stderr.WriteString("Error: fence needs an open-file limit of at least " + strconv.Itoa(minOpenFiles) + " to start a sandbox, and ulimit -n is " + strconv.FormatUint(uint64(lim.Cur), 10) + ": raise it (ulimit -n 1024)\n")
		os.Exit(1)
	}
	hostNet = hostNet || ConfigSharesHost(args[1:])
	// The runtime's sysmon polling every 20 µs through the spawn, and
	// while the supervisor computes the policy and the init stage starts
	// on the other CPU, slows both (spawn.CoarsenSysmon). The request
	// goes out first; it is done while the spawn runs. Where the entry
	// spawned, sysmon has had the slack since it started.
	finish := func() bool { return true }
	if !bornCoarse {
		finish = spawn.CoarsenSysmon(spawn.SysmonSlack)
	}
	t := spawn.Now()
	// The init stage that fence's entry point spawned, if it did (built
	// with make on linux/amd64); else, or if taking it over failed, one
	// spawned now. Errors are reported by the spawn main makes then.
	c, err := spawn.FromEntry(hostNet)
	if c != nil {
		entryMono = c.T0
	} else {
		c, err = spawn.StartFromInit(hostNet)
	}
	if err == nil {
		child, startMono = c, t
	}
	if finish() {
		sysmonMono = spawn.Now()
	}
}

// minOpenFiles is the open-file limit below which fence does not try to
// start a sandbox: with 6 to 9 descriptors the Go runtime's poller failed
// to start (a fatal error and a stack trace), and the set-up alone holds
// about that many (`fence -- true` with an empty config runs at 16 on
// Linux 6.15 and later, 18 before; a config with more to bind needs more,
// and fails below that with a one-line error naming the limit).
const minOpenFiles = 16

// entryMono is when fence's entry point began the spawn of the init stage
// that init took over, or 0.
var entryMono int64

// EntrySpawned returns when fence's entry point began the spawn of the
// init stage (spawn.FromEntry), or 0 if init spawned it or none; for the
// timeline, whose first stage it then is.
func EntrySpawned() int64 { return entryMono }

// sysmonMono is when init had slowed sysmon down, or 0.
var sysmonMono int64

// SysmonCoarsened returns when init had given sysmon its slack
// (spawn.CoarsenSysmon), or 0 if it did not; for the timeline.
func SysmonCoarsened() int64 { return sysmonMono }

// testBinary reports whether args are those of a `go test` binary (the
// tests of package main link this package too): nothing is spawned there.
func testBinary(args []string) bool {
	return strings.HasSuffix(args[0], ".test") || len(args) > 1 && strings.HasPrefix(args[1], "-test.")
}

// Take returns the init stage spawned at start-up and when init began
// (spawn.Now), or nil; a second call returns nil. The caller owns the child
// (nsexec.Adopt).
func Take() (*spawn.Child, int64) {
	c := child
	child = nil
	return c, startMono
}

// valueFlag reports whether a is a root flag that takes a separate value.
// (A switch, not a map: a package-level map is built at init, in every
// process that runs this binary.)
func valueFlag(a string) bool {
	switch a {
	case "-s", "--settings", "-t", "--template", "-c", "--c", "-p", "--port", "--shell":
		return true
	}
	return false
}

// hostNetworkTemplate reports whether the built-in template name allows
// every domain, so that the sandbox shares the host's network
// (config.TemplateSharesHostNetwork; cmd/fence's tests keep the two in
// step). The config package cannot be asked here: it is not initialised yet.
func hostNetworkTemplate(name string) bool {
	return name == "code-relaxed" || name == "disable-telemetry"
}

// Guess reports, without parsing, whether args (the CLI's arguments, argv[0]
// excluded) will run a command in a sandbox (no informational flag, no
// subcommand), and whether a -t template alone makes that sandbox share the
// host's network. Config files can still change the network answer; a wrong
// guess costs an aborted spawn, or the saving.
func Guess(args []string) (sandbox, hostNetwork bool) {
	return willSandbox(args), hostNetworkTemplate(templateName(args))
}

func willSandbox(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return i+1 < len(args)
		case a == "-v" || a == "--version" || a == "-h" || a == "--help" ||
			a == "--list-templates" || a == "--linux-features":
			return false
		case a == "-c" || a == "--c":
			return true
		case valueFlag(a):
			i++
		case len(a) > 0 && a[0] == '-':
		default:
			for _, c := range spawn.Subcommands {
				if a == c {
					return false
				}
			}
			return true
		}
	}
	return false
}

// templateName returns the value of the -t flag, or "".
func templateName(args []string) string {
	return strings.TrimSuffix(flagValue(args, "-t", "--template"), ".json")
}

// ConfigSharesHost reports whether a config file that fence will read
// probably allows every domain, so that the sandbox shares the host's
// network: the -s file, or the user's default config when neither -s nor
// -t is given, and the project's fence.json. It looks for "*" and the
// host-network templates' names in the raw bytes, without parsing or
// following extends (the config package is not initialised yet); a wrong
// answer costs a second spawn, which is what a relaxed config file cost
// every run before (~2 ms on a 2-core VM).
func ConfigSharesHost(args []string) bool {
	cwd, err := os.Getwd()
	if err != nil {
		return false
	}
	var files []string
	settings, template := flagValue(args, "-s", "--settings"), templateName(args)
	switch {
	case settings != "":
		if !strings.HasPrefix(settings, "/") {
			settings = cwd + "/" + settings
		}
		files = append(files, settings)
	case template == "":
		files = append(files, userConfigs()...)
	}
	if p := projectConfig(cwd); p != "" {
		files = append(files, p)
	}
	for _, f := range files {
		// As the config loader reads them: a FIFO named fence.json in a
		// checkout must not stall fence before it has parsed a flag, and
		// a pipe given as -s must not be drained before the loader reads
		// it.
		b, err := cfgfile.Read(f)
		if err != nil {
			continue
		}
		t := string(b)
		if strings.Contains(t, `"*"`) || strings.Contains(t, `"code-relaxed"`) || strings.Contains(t, `"disable-telemetry"`) {
			return true
		}
	}
	return false
}

// userConfigs is where the user's default config is
// (config.DefaultPath): $XDG_CONFIG_HOME/fence/fence.json (or
// ~/.config/...) when that fence directory exists, else the legacy
// ~/.fence.json.
func userConfigs() []string {
	home := os.Getenv("HOME")
	dir := os.Getenv("XDG_CONFIG_HOME")
	if !strings.HasPrefix(dir, "/") {
		if !strings.HasPrefix(home, "/") {
			return nil
		}
		dir = home + "/.config"
	}
	if _, err := os.Lstat(dir + "/fence"); err == nil {
		return []string{dir + "/fence/fence.json"}
	}
	if strings.HasPrefix(home, "/") {
		return []string{home + "/.fence.json"}
	}
	return nil
}

// projectConfig is config.FindProjectConfig: the nearest fence.json from
// cwd up to the directory holding .git, or cwd's alone outside a
// repository.
func projectConfig(cwd string) string {
	nearest := ""
	for d := cwd; ; {
		if nearest == "" {
			f := strings.TrimSuffix(d, "/") + "/fence.json"
			if st, err := os.Stat(f); err == nil && !st.IsDir() {
				nearest = f
			}
		}
		if _, err := os.Lstat(strings.TrimSuffix(d, "/") + "/.git"); err == nil {
			return nearest
		}
		if d == "/" {
			break
		}
		if i := strings.LastIndexByte(d, '/'); i > 0 {
			d = d[:i]
		} else {
			d = "/"
		}
	}
	if nearest != "" && nearest == strings.TrimSuffix(cwd, "/")+"/fence.json" {
		return nearest
	}
	return ""
}

// flagValue returns the value of the root flag named short or long
// (separate or with "="), or "".
func flagValue(args []string, short, long string) string {
	v := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if x, ok := strings.CutPrefix(a, long+"="); ok {
			v = x
		} else if x, ok := strings.CutPrefix(a, short+"="); ok {
			v = x
		} else if (a == short || a == long) && i+1 < len(args) {
			v = args[i+1]
			i++
		} else if valueFlag(a) {
			i++
		} else if len(a) == 0 || a[0] != '-' {
			break // the command
		}
	}
	return v
}

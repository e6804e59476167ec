// Package early starts the sandbox's init stage from a package init
// function, before the rest of fence has initialised.
//
// This is the one init function in fence that does work, and why: Go runs
// package initialisation in import path order once a package's imports are
// ready, and this package imports only nsexec/spawn and the lowest layers of
// the standard library, so its init runs ahead of cobra, the config parser,
// net/http and crypto/tls. The rest of the supervisor's start (~0.7 ms of
// package initialisation on a 2-core VM) then follows the clone of the
// namespaces (~2 ms) and overlaps with the init stage's own start, instead
// of delaying both (docs/benchmarking.md, "Starting the init stage from an
// init function"). In the init stage and the feature probe, which run this
// same binary, and in test binaries it does nothing.
//
// The guess is made from argv alone and may be wrong: a spawned init stage
// that turns out not to be needed is aborted by cmd/fence, and one with the
// wrong network mode is replaced by fence.Run. early must not import
// anything that takes the saving away (deps_test.go checks it).
package early

import (
	"os"
	"strings"

	"github.com/nsfence/fence/nsexec/spawn"
)

// child is the init stage spawned by init, if any; Take hands it over.
var child *spawn.Child

// startMono is when init spawned child.
var startMono int64

func init() {
	args := os.Args
	if spawn.IsStage(args) || len(args) == 0 || testBinary(args) {
		return
	}
	sandbox, hostNet := Guess(args[1:])
	if !sandbox {
		return
	}
	// The runtime's sysmon polling every 20 µs through the spawn, and
	// while the supervisor computes the policy and the init stage starts
	// on the other CPU, slows both (spawn.CoarsenSysmon). The request
	// goes out first; it is done while the spawn runs.
	finish := spawn.CoarsenSysmon(spawn.SysmonSlack)
	t := spawn.Now()
	if c, err := spawn.StartFromInit(hostNet); err == nil {
		child, startMono = c, t
	}
	if finish() {
		sysmonMono = spawn.Now()
	}
}

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
			switch a {
			case "config", "import", "completion", "help", "__complete", "__completeNoDesc":
				return false
			}
			return true
		}
	}
	return false
}

// templateName returns the value of the -t flag, or "".
func templateName(args []string) string {
	name := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--template="); ok {
			name = v
		} else if v, ok := strings.CutPrefix(a, "-t="); ok {
			name = v
		} else if (a == "-t" || a == "--template") && i+1 < len(args) {
			name = args[i+1]
			i++
		} else if valueFlag(a) {
			i++
		} else if len(a) == 0 || a[0] != '-' {
			break // the command
		}
	}
	return strings.TrimSuffix(name, ".json")
}

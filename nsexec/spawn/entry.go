package spawn

// EntrySymbol is the linker's name of fence's entry point: on linux/amd64
// it populates the binary's read-only data (internal/prefault) and spawns
// the init stage (entry_linux_amd64.go) before the Go runtime starts.
const EntrySymbol = "github.com/nsfence/fence/nsexec/spawn.entry"

// LDFlags returns the linker flags of a fence binary built for
// goos/goarch, or "" where there are none: fence's entry point as the ELF
// entry point, and the segments aligned to 2 MB, so that the read-only
// data's first 2 MB, which the entry populates, is mapped as one huge
// page where the page cache holds the file in 2 MB folios (a file written
// in one piece, as make build does) instead of 512 small ones, each of
// which the paravirtualised MMU of the VMs fence is measured on fills at
// its first touch (~1.1 ms sooner per start, docs/benchmarking.md, "The
// heap in huge pages"; the binary grows by the padding, ~4 MB). Binaries
// built without them (go install) spawn from package early's init
// instead, ~1.5 ms later.
func LDFlags(goos, goarch string) string {
	if goos == "linux" && goarch == "amd64" {
		return "-E=" + EntrySymbol + " -R=0x200000"
	}
	return ""
}

// GoExperiment is the GOEXPERIMENT that fence is built with (the Makefile
// and the test builds), where the toolchain still accepts it: Go 1.26's
// Green Tea collector turned off. Its spans keep their mark bits in their
// own last bytes, so a span's first allocation touches the span's last
// page as well as its first: two page faults instead of one for each of
// the ~100 spans a start makes, in both of fence's processes, each fault a
// hypervisor fill on the VMs fence is measured on. Without it `fence --
// true` measured 0.3-0.6 ms sooner (docs/benchmarking.md, "Spans without
// their mark bits"). Go 1.27 is to drop the setting; a toolchain that
// refuses it builds with its default collector.
const GoExperiment = "nogreenteagc"

// WithGoExperiment returns the GOEXPERIMENT value of a fence build in an
// environment whose GOEXPERIMENT is current: GoExperiment added to it, as
// the Makefile adds it (the test builds ask go env whether the toolchain
// accepts it).
func WithGoExperiment(current string) string {
	if current == "" {
		return GoExperiment
	}
	return current + "," + GoExperiment
}

// Subcommands are fence's subcommands and cobra's own: a command line whose
// first operand names one runs no sandbox. Package early's guess reads
// them here; the entry's assembly has its own copy, which
// TestEntryDoesNotSpawn checks against this one.
var Subcommands = [...]string{"config", "import", "completion", "help", "__complete", "__completeNoDesc"}

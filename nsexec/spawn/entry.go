package spawn

// EntrySymbol is the linker's name of fence's entry point: on linux/amd64
// it populates the binary's data (internal/prefault) and spawns the init
// stage (entry_linux_amd64.go) before the Go runtime starts.
const EntrySymbol = "github.com/nsfence/fence/nsexec/spawn.entry"

// LDFlag returns the linker flag that makes fence's entry point the ELF
// entry point of a binary built for goos/goarch, or "" where there is
// none. Binaries built without it (go install) spawn from package early's
// init instead, ~1.5 ms later.
func LDFlag(goos, goarch string) string {
	if goos == "linux" && goarch == "amd64" {
		return "-E=" + EntrySymbol
	}
	return ""
}

// Subcommands are fence's subcommands and cobra's own: a command line whose
// first operand names one runs no sandbox. Package early's guess reads
// them here; the entry's assembly has its own copy, which
// TestEntryDoesNotSpawn checks against this one.
var Subcommands = [...]string{"config", "import", "completion", "help", "__complete", "__completeNoDesc"}

//go:build !linux || !amd64

package spawn

import "syscall"

// FromEntry returns nil, nil: only linux/amd64 has an entry point that
// spawns.
func FromEntry(hostNetwork bool) (*Child, error) { return nil, nil }

// DiscardEntry does nothing: only linux/amd64 has an entry point that
// spawns.
func DiscardEntry() {}

// AdoptEntrySlack reports false: only linux/amd64 has an entry point,
// which changes the timer slack.
func AdoptEntrySlack(initStage bool) (bool, error) { return false, nil }

// EntryPlacement reports false, nil: only linux/amd64 has an entry point,
// which moves the init stage it spawns off the supervisor's CPU.
func EntryPlacement() (tried bool, err error) { return false, nil }

// InheritedIgnored reports false: only linux/amd64's entry point records
// the dispositions fence inherited before its runtime started.
func InheritedIgnored(sig syscall.Signal) bool { return false }

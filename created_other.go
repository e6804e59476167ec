//go:build !linux

package fence

import "github.com/nsfence/fence/nsexec"

// loadCreated does nothing off Linux: macOS checks denyWrite patterns as
// files are written, with no notion of a file the sandbox created.
func (s *Spec) loadCreated(*nsexec.FSPolicy) {}

// createdMatches is empty off Linux: no record of what a sandbox made.
func (s *Spec) createdMatches(_, _ []string) map[string]bool { return nil }

// recordedGit is empty off Linux: no record of what a sandbox made.
func (s *Spec) recordedGit() map[string]bool { return map[string]bool{} }

// createdEntry is an entry of the record of created files, kept on Linux only.
type createdEntry struct{}

//go:build !linux

package fence

import "github.com/nsfence/fence/nsexec"

// loadCreated does nothing off Linux: macOS checks denyWrite patterns as
// files are written, with no notion of a file the sandbox created.
func (s *Spec) loadCreated(*nsexec.FSPolicy) {}

// recordedGitDirs is empty off Linux: no record of what a sandbox made.
func (s *Spec) recordedGitDirs() map[string]bool { return map[string]bool{} }

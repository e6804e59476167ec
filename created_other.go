//go:build !linux

package fence

import "github.com/nsfence/fence/nsexec"

// loadCreated does nothing off Linux: macOS checks denyWrite patterns as
// files are written, with no notion of a file the sandbox created.
func (s *Spec) loadCreated(*nsexec.FSPolicy) {}

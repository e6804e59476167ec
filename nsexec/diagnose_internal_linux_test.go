package nsexec

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/nsfence/fence/nsexec/spawn"
)

// Only a failed clone is blamed on the kernel's namespaces; a later step of
// the spawn says what failed.
func TestDiagnoseSpawn(t *testing.T) {
	clone := diagnoseSpawn(&spawn.CloneError{Err: fmt.Errorf("clone /proc/self/exe: %w", syscall.EPERM)})
	if !strings.HasPrefix(clone.Error(), "create sandbox namespaces: clone /proc/self/exe: operation not permitted") {
		t.Errorf("clone failure: %q", clone)
	}
	exec := diagnoseSpawn(fmt.Errorf("start /proc/self/exe: %w", syscall.EACCES))
	if got, want := exec.Error(), "start sandbox init stage: start /proc/self/exe: permission denied"; got != want {
		t.Errorf("exec failure: %q, want %q", got, want)
	}
	if !strings.Contains(clone.Error(), "README#") || strings.Contains(exec.Error(), "namespaces") {
		t.Errorf("only the clone failure points at the namespaces: %q / %q", clone, exec)
	}
}

//go:build linux && !amd64

package spawn

// forkInit is forkExecInit: fence's own vfork exists for amd64 only.
func forkInit(spec *initSpec) (int, error) { return forkExecInit(spec) }

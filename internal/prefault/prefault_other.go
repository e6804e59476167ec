//go:build !(linux && amd64)

package prefault

func rereadable() bool { return false }

//go:build !(linux && amd64)

package prefault

func populateHeap() (uintptr, uintptr, bool) { return 0, 0, false }

func rereadable() bool { return false }

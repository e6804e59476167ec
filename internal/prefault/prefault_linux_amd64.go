package prefault

// rereadable is the entry's rereadable, in prefault_linux_amd64.s.
func rereadable() bool

// rereadSize is the length of the copy of reread (prefault_linux_amd64.s)
// that hugeText runs from a page of its own: at least its code's
// (TestRereadSize).
const rereadSize = 384

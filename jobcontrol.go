package fence

// jobControl decides where the macOS runner puts the command relative to
// the terminal on fence's standard input. Without one, the command gets a
// session of its own (setsid): no controlling terminal to read from or
// push input into. With one, it gets a process group of its own, given the
// terminal (fg) when fence has it: keys typed reach it. In the background
// it stays a background group, which the kernel stops when it reads the
// terminal, so that it cannot read what the user types to the foreground
// job; a session of its own would let it.
func jobControl(stdinTTY, foreground bool) (setsid, fg bool) {
	switch {
	case !stdinTTY:
		return true, false
	case foreground:
		return false, true
	}
	return false, false
}

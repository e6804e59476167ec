package rawsig

// restorer is in restorer_linux_amd64.s; Go never calls it, the kernel
// returns to it from a handler.
func restorer()

// RestorerAddr returns the address of a restorer for Action.Restorer: it
// makes the rt_sigreturn syscall.
func RestorerAddr() uintptr

// Handled returns an Action that runs handler (an assembly function's
// address) with every signal blocked, on the signal stack, restarting
// interrupted syscalls where they can.
func Handled(handler uintptr) Action {
	return Action{Handler: handler, Flags: Restorer | OnStack | Restart, Restorer: RestorerAddr(), Mask: ^uint64(0)}
}

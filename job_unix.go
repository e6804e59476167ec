//go:build linux || darwin

package fence

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// job is a command fence runs directly as the leader of a process group of
// its own (the macOS runner; Linux's sandbox has PID 1 for this), with job
// control passed through: the shell sees fence stop when the command
// stops, and the command continues, with the terminal if fence has it,
// when fence does.
type job struct {
	pid   int // the command, leader of its group
	ttyFD int // fence's standard input
	// noTTY: the command has a session of its own, without a terminal.
	noTTY bool
	// stopSelf stops fence (SIGSTOP); tests replace it.
	stopSelf func()
}

// stop actions, see stopAction.
const (
	stopFence    = iota // stop fence too: the shell sees the job stopped
	resumeInFore        // fence has the terminal: hand it over, continue
	hangUp              // orphaned: nobody will continue fence
)

// stopAction decides what fence does when the command has stopped: cmdFG
// and fenceFG tell which group has the terminal, orphaned that fence's
// parent is gone (init adopted it), as for a shell that exited.
//
// A command stopped while it had the terminal (^Z) stops fence, which
// takes the terminal back first, so that the shell sees its job stopped.
// One stopped while fence has the terminal (it read the terminal from the
// background, then the user brought fence to the foreground) gets the
// terminal and goes on. An orphaned group gets SIGHUP and SIGCONT, as the
// kernel does with a stopped orphaned group: stopping fence would hang
// both for good.
func stopAction(cmdFG, fenceFG, orphaned bool) int {
	switch {
	case orphaned:
		return hangUp
	case fenceFG && !cmdFG:
		return resumeInFore
	}
	return stopFence
}

// foreground returns the terminal's foreground group, or -1.
func (j *job) foreground() int {
	if j.noTTY {
		return -1
	}
	pg, err := unix.IoctlGetInt(j.ttyFD, unix.TIOCGPGRP)
	if err != nil {
		return -1
	}
	return pg
}

// resume gives the command the terminal if fence has it, and continues
// its group. It is also what fence does when it is continued itself
// (SIGCONT: fg or bg in the shell).
func (j *job) resume() {
	if fg := j.foreground(); fg >= 0 && fg == unix.Getpgrp() {
		_ = unix.IoctlSetPointerInt(j.ttyFD, unix.TIOCSPGRP, j.pid)
	}
	_ = unix.Kill(-j.pid, unix.SIGCONT)
}

// signal passes a signal fence received on to the command's group. A stop
// (SIGTSTP, ^Z reaching fence's group) stops the command with SIGSTOP,
// which an orphaned group (the command's own session) does not ignore;
// wait then stops fence. SIGCONT resumes the command.
func (j *job) signal(sig syscall.Signal) {
	switch sig {
	case unix.SIGCONT:
		j.resume()
	case unix.SIGTSTP:
		_ = unix.Kill(-j.pid, unix.SIGSTOP)
	default:
		_ = unix.Kill(-j.pid, sig)
	}
}

// wait waits for the command to end, passing its stops on (stopAction).
// It reports whether the command had the terminal at the end.
func (j *job) wait() (ws unix.WaitStatus, fg bool, _ error) {
	for {
		if _, err := unix.Wait4(j.pid, &ws, unix.WUNTRACED, nil); err != nil {
			if err == unix.EINTR {
				continue
			}
			return ws, false, fmt.Errorf("wait for the command: %w", err)
		}
		fgGroup := j.foreground()
		if !ws.Stopped() {
			return ws, fgGroup == j.pid, nil
		}
		switch stopAction(fgGroup == j.pid, fgGroup >= 0 && fgGroup == unix.Getpgrp(), os.Getppid() == 1) {
		case hangUp:
			_ = unix.Kill(-j.pid, unix.SIGHUP)
			_ = unix.Kill(-j.pid, unix.SIGCONT)
		case resumeInFore:
			j.resume()
		default:
			if fgGroup == j.pid {
				restoreForeground(j.ttyFD, unix.Getpgrp())
			}
			j.stopSelf()
			j.resume()
		}
	}
}

//go:build linux || darwin

package fence

import (
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"syscall"

	"github.com/nsfence/fence/nsexec/sigfwd"
	"golang.org/x/sys/unix"
)

// jobControl decides where the command goes relative to fence's
// controlling terminal, when tty says fence's standard input (on Linux:
// input, output or error) is that terminal. Without one, the command gets
// a session of its own (setsid): no controlling terminal to read from or
// push input into. With one, it gets a process group of its own in
// fence's session (on Linux from the CLI: in the session of the sandbox's
// pseudo-terminal that fence relays, job.pty; "the terminal" below is
// then that one), given the terminal (fg) at start when fence has it and
// the command's output goes to a terminal too (stdoutTTY; macOS passes
// true): an interactive program. Otherwise the group starts in the
// background, so that a pager fence's output is piped into keeps the
// terminal (fence cmd | less); a command that reads the terminal stops,
// and is given it then if fence has it (stopAction). A background group
// cannot read what the user types to the foreground job without being
// stopped; a session of its own could.
func jobControl(tty, foreground, stdoutTTY bool) (setsid, fg bool) {
	switch {
	case !tty:
		return true, false
	case foreground && stdoutTTY:
		return false, true
	}
	return false, false
}

// job is the command as the leader of a process group of its own, with job
// control passed through: the shell sees fence stop when the command
// stops, and the command continues, with the terminal if fence has it,
// when fence does. On macOS fence runs the command and waits for it
// itself (wait); on Linux PID 1 of the sandbox does, and reports the
// command's pid and stops (run_linux.go calls stopped).
type job struct {
	pid   int // the command, leader of its group
	ttyFD int // fence's standard input
	// noTTY: the command has a session of its own, without a terminal.
	noTTY bool
	// ppid is fence's parent when the command started: a different one
	// later means the parent is gone.
	ppid int
	// stoppable: something can continue fence if it stops. False when
	// fence inherited SIGTSTP ignored (a shell's command substitution),
	// or when its process group is orphaned (tmux new-window 'fence ...;
	// read': no process outside the group, in the session, is there to
	// continue it; the kernel keeps such a group from stopping on ^Z).
	// A group can become orphaned later (its shell exits): canStop looks
	// again at each stop (orphaned: orphanedGroup; tests replace it).
	stoppable bool
	orphaned  func() bool
	// hungUp: the command was sent SIGHUP once fence's parent was gone.
	hungUp bool
	// gave: fence gave the command the terminal and has not taken it
	// back (the caller sets it when the command starts with it).
	gave bool
	// wantTTY: the command is to get the terminal when it is continued
	// and fence has it: it had it, or stopped reading it, when the job
	// stopped (the caller sets it when the command starts with it). A
	// command started in the background (fence cmd | less) stays there
	// after fg, and the pager keeps the terminal.
	wantTTY bool
	// passing is the stop signal fence received (SIGTSTP, SIGTTIN) while
	// it is being passed on, else 0.
	passing atomic.Int32
	// freeze stops the command when the job stops: its group, or on
	// Linux every process of the sandbox (a child in a group of its own
	// could take the terminal from the shell meanwhile); thaw continues
	// what freeze stopped outside the command's group. Either may be nil.
	freeze, thaw func()
	// pty, on Linux from the CLI, is the sandbox's pseudo-terminal that
	// fence relays to its own (relay_linux.go): the command's group
	// takes and gives back its foreground, not fence's terminal's. Nil:
	// the command is a process group on fence's terminal (ttyFD).
	pty relayed
	// stopSelf stops fence with SIGSTOP, with group the other processes
	// of its group first with SIGTSTP (a make above it, as ^Z would have
	// if the command were in its group; stopSelf in parent_*.go). It
	// returns once fence is continued, true; the SIGCONT that continued
	// it comes to signal, which resumes the command. It returns false
	// without stopping when unread says a signal has come that signal
	// has not seen yet. Tests replace it.
	stopSelf func(group bool) bool
	// unread reports whether fence has caught a signal that has not
	// reached signal yet (sigfwd.Catcher.Unread); nil: none can come.
	unread func() bool
	// stoppedNow reports whether the command is stopped still (nil:
	// take a reported stop as it comes). Tests replace it.
	stoppedNow func() bool
}

// relayed is the command's terminal when it is a pseudo-terminal that
// fence relays to its own (job.pty).
type relayed interface {
	// foreground returns the pseudo-terminal's foreground group, -1 if
	// unknown.
	foreground() int
	// fenceFG reports whether fence's group is the foreground of
	// fence's terminal.
	fenceFG() bool
	// give makes the command's group the foreground, take PID 1's.
	give() error
	take()
	// active says whether the job runs: input is relayed only then (and
	// while fence is in the foreground and a group of the sandbox has
	// the pseudo-terminal), with fence's terminal in raw mode.
	active(on bool)
	// hangUp hangs the pseudo-terminal up, as if fence's terminal had.
	hangUp()
}

// newJob describes the command pid for wait and signal.
func newJob(pid, ttyFD int, noTTY, tstpIgnored bool) *job {
	j := &job{pid: pid, ttyFD: ttyFD, noTTY: noTTY, ppid: os.Getppid(), orphaned: orphanedGroup}
	j.stoppable = !tstpIgnored && !orphanedGroup()
	j.stopSelf = func(group bool) bool { return stopSelf(group, j.unread) }
	j.stoppedNow = func() bool { return stoppedNow(pid) }
	return j
}

// orphanedGroup reports whether fence's process group is orphaned: no
// ancestor outside the group is in fence's session (POSIX's definition,
// checked along fence's own line of ancestors). A shell that runs fence as
// a job is such an ancestor; a session leader sh -c 'fence ...' under tmux
// or sshd is not. When in doubt, orphaned.
func orphanedGroup() bool {
	sid, err := unix.Getsid(0)
	if err != nil {
		return true
	}
	pgrp := unix.Getpgrp()
	p := os.Getppid()
	for i := 0; i < 64 && p > 1; i++ {
		pg, err := unix.Getpgid(p)
		if err != nil {
			return true
		}
		if pg != pgrp {
			psid, err := unix.Getsid(p)
			return err != nil || psid != sid
		}
		if p, err = parentOf(p); err != nil {
			return true
		}
	}
	return true
}

// stop actions, see stopAction.
const (
	stopFence    = iota // stop fence too: the shell sees the job stopped
	resumeInFore        // fence has the terminal: hand it over, continue
	hangUp              // fence's parent is gone: nobody will continue it
	resumeAsIs          // continue the command; nobody would continue fence
	keepWaiting         // leave the command stopped
)

// stopAction decides what fence does when the command has stopped: cmdFG
// and fenceFG tell which group has the terminal (neither, without one);
// tstp that the stop is fence's own SIGTSTP passed on; ttyStop that the
// command stopped reading or writing the terminal from the background
// (SIGTTIN, SIGTTOU); parentGone that fence's parent exited, hungUp that
// the command has had its SIGHUP for that; stoppable that something can
// continue fence.
//
//   - Without a terminal, a stop that fence did not pass on is not job
//     control (kill -STOP, a debugger): the command stays stopped and
//     fence waits, as a shell would.
//   - The command read the terminal from the background and fence now
//     has it (fg in the shell): it gets the terminal and goes on. Not for
//     a ^Z that reached fence: that stops the job.
//   - Fence's parent gone: SIGHUP and SIGCONT, once, as the kernel does
//     when a stopped group loses the shell that could continue it.
//   - Nothing can continue fence: the command goes on, unless it stopped
//     on the terminal from the background, which would only stop it
//     again (a busy loop): it stays stopped.
//   - Otherwise the job stops: fence too, so that the shell sees it.
func stopAction(cmdFG, fenceFG, noTTY, tstp, ttyStop, parentGone, hungUp, stoppable bool) int {
	switch {
	case noTTY && !tstp:
		return keepWaiting
	case fenceFG && !cmdFG && !tstp:
		return resumeInFore
	case parentGone && !hungUp:
		return hangUp
	case parentGone || !stoppable:
		if ttyStop {
			return keepWaiting
		}
		return resumeAsIs
	}
	return stopFence
}

// foreground returns the foreground group of the command's terminal, or
// -1.
func (j *job) foreground() int {
	switch {
	case j.noTTY:
		return -1
	case j.pty != nil:
		return j.pty.foreground()
	}
	pg, err := unix.IoctlGetInt(j.ttyFD, unix.TIOCGPGRP)
	if err != nil {
		return -1
	}
	return pg
}

// fenceFG reports whether fence's group is the foreground of its
// terminal; fg is j.foreground().
func (j *job) fenceFG(fg int) bool {
	if j.pty != nil {
		return j.pty.fenceFG()
	}
	return fg >= 0 && fg == unix.Getpgrp()
}

// give makes the command's group the foreground of its terminal.
func (j *job) give() error {
	if j.pty != nil {
		return j.pty.give()
	}
	// SIGTTOU ignored: the foreground may have changed since.
	var err error
	sigfwd.WhileIgnored(unix.SIGTTOU, func() { err = unix.IoctlSetPointerInt(j.ttyFD, unix.TIOCSPGRP, j.pid) })
	return err
}

// take takes the command's terminal back from the command's group: to
// fence's group, or PID 1's on the sandbox's pseudo-terminal.
func (j *job) take() {
	if j.pty != nil {
		j.pty.take()
		return
	}
	restoreForeground(j.ttyFD, unix.Getpgrp())
}

// canStop reports whether something can continue fence if it stops
// (stoppable, and fence's group not orphaned now).
func (j *job) canStop() bool { return j.stoppable && (j.orphaned == nil || !j.orphaned()) }

// resume gives the command the terminal if it is to have it (wantTTY) and
// fence has it, and continues its group. It is also what fence does when
// it is continued itself (SIGCONT: fg or bg in the shell).
func (j *job) resume() {
	if j.wantTTY && j.fenceFG(j.foreground()) && j.give() == nil {
		j.gave = true
	}
	if j.pty != nil {
		// Raw mode and input before the command runs again.
		j.pty.active(true)
	}
	if j.thaw != nil {
		j.thaw()
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
	case unix.SIGTSTP, unix.SIGTTIN:
		// ^Z, or a read of the terminal by fence's group from the
		// background (a pipeline's other side): the job stops.
		if j.canStop() {
			j.passing.Store(int32(sig))
			_ = unix.Kill(-j.pid, unix.SIGSTOP)
		}
	default:
		_ = unix.Kill(-j.pid, sig)
		if slices.Contains(forwarded, sig) && j.stoppedNow != nil && j.stoppedNow() {
			// A stopped process keeps the signal pending until it is
			// continued, and fence is not stopped (it runs this): the
			// command stopped a moment ago and fence has not followed
			// yet, or nothing will continue it (a read from the
			// background with fence's group orphaned, kill -STOP).
			// Continued, as bash's kill does for a stopped job with
			// SIGTERM and SIGHUP. Without it, timeout's signal (any
			// of these: timeout -s INT) and SIGCONT passed on in the
			// other order (two handlers write them) left a command
			// that had read the terminal again stopped with the
			// signal, and fence stopped with it, for good. Not for
			// SIGWINCH: a resize is no reason to go on.
			_ = unix.Kill(-j.pid, unix.SIGCONT)
		}
	}
}

// wait waits for the command to end, passing its stops on (stopped). It
// reports whether the terminal is to be taken back (takeBack).
func (j *job) wait() (ws unix.WaitStatus, fg bool, _ error) {
	for {
		if _, err := unix.Wait4(j.pid, &ws, unix.WUNTRACED, nil); err != nil {
			if err == unix.EINTR {
				continue
			}
			return ws, false, fmt.Errorf("wait for the command: %w", err)
		}
		if !ws.Stopped() {
			return ws, j.takeBack(), nil
		}
		j.stopped(ws.StopSignal())
	}
}

// takeBack reports, once the command has ended, whether fence is to take
// the terminal back: the command had it at the end; or fence gave it and
// nobody has it now (some kernels leave the terminal without a foreground
// group once the group's last process is reaped); or a group that no
// longer exists has it (one the command's children made and took the
// terminal for). Not when another live group has it: the shell took it
// while fence ran in the background.
func (j *job) takeBack() bool {
	if j.pty != nil {
		return false // fence's terminal was never given away
	}
	switch fg := j.foreground(); {
	case fg < 0 || fg == unix.Getpgrp():
		return false
	case fg == j.pid:
		return true
	case fg == 0:
		return j.gave
	default:
		return unix.Kill(-fg, 0) == unix.ESRCH
	}
}

// stopped does what stopAction decides for a stop of the command by sig.
func (j *job) stopped(sig syscall.Signal) {
	fgGroup := j.foreground()
	cmdFG := fgGroup == j.pid
	ttyStop := sig == unix.SIGTTIN || sig == unix.SIGTTOU
	passed := syscall.Signal(j.passing.Swap(0))
	switch stopAction(cmdFG, !j.noTTY && j.fenceFG(fgGroup), j.noTTY, passed != 0, ttyStop,
		os.Getppid() != j.ppid, j.hungUp, j.canStop()) {
	case hangUp:
		j.hungUp = true
		_ = unix.Kill(-j.pid, unix.SIGHUP)
		_ = unix.Kill(-j.pid, unix.SIGCONT)
	case resumeInFore:
		j.wantTTY = true
		j.resume()
	case resumeAsIs:
		_ = unix.Kill(-j.pid, unix.SIGCONT)
	case keepWaiting:
		if j.pty != nil && ttyStop && os.Getppid() != j.ppid {
			// On fence's terminal the read of an orphaned group
			// fails (EIO); on the sandbox's it stops. Nothing can
			// give this job fence's terminal again: the sandbox's
			// terminal hangs up (its reads end), and the command,
			// given its foreground and continued, ends its wait.
			err := j.give()
			j.pty.hangUp()
			if err == nil {
				_ = unix.Kill(-j.pid, unix.SIGCONT)
			}
		}
	default:
		if j.stoppedNow != nil && !j.stoppedNow() {
			// The stop is over: fence has passed a SIGCONT or a
			// SIGTERM on since the command stopped (timeout sends
			// both; the command read again, or died, before this
			// report came). Stopping fence now would leave it
			// stopped with nothing to continue it.
			return
		}
		// Not back to a command whose terminal fence's own group read
		// (SIGTTIN passed on: a pager beside it): the pager would stop
		// again after fg.
		j.wantTTY = cmdFG && passed != unix.SIGTTIN || ttyStop
		if cmdFG {
			j.take()
			j.gave = false
		}
		if j.pty != nil {
			// fence's terminal back in the modes the shell left it
			// in, and no input read for the sandbox while the job
			// is stopped.
			j.pty.active(false)
		}
		// The whole job stops: the command's children too, when the
		// command stopped only itself (a TUI's own ^Z), so that none
		// waits on fence's proxies meanwhile. Before fence stops: the
		// shell takes the terminal once it sees fence stopped.
		if j.freeze != nil {
			j.freeze()
		} else {
			_ = unix.Kill(-j.pid, unix.SIGSTOP)
		}
		// The command is continued by the SIGCONT that continues
		// fence (signal), not here: a signal sent with it (kill %1
		// sends SIGTERM, then SIGCONT) reaches the command first
		// then. Continued here, a command that reads the terminal
		// from the background stopped again at once and fence with
		// it, before it passed the SIGTERM on.
		// fence's group too when the command had the terminal: a ^Z
		// reached only the command's group, where without fence it
		// would have reached fence's. Not for a read from the
		// background, which stops only the reader: a parent that put
		// fence's group in the background (timeout, a supervisor)
		// would stop with it, and nothing would continue it.
		if !j.stopSelf(cmdFG) {
			// A signal came while the job stopped and fence has not
			// passed it on: timeout's SIGTERM and SIGCONT, sent
			// while fence was about to stop, would wait with it for
			// a SIGCONT that has come already. The job goes on as
			// if it had come before the stop; the command, if it
			// lives on and stops again, stops fence again then.
			j.resume()
		}
	}
}

package perf

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LoopScript is the shell loop that makes a sandbox "warm": it reads one
// command per line from stdin, evaluates it, and answers with a marker line
// carrying the exit status. Started once, it times what a command costs
// inside an already running sandbox.
//
// The commands run with stdin and stdout on /dev/null, opened once when
// the loop starts (the protocol moves to fds 4 and 3): a redirection per
// command would time the shell's open(O_CREAT) of /dev/null, which fence's
// creation guard makes far more expensive than the exec being measured
// (the "redirect" warm row measures that on purpose).
const LoopScript = `exec 3>&1 4<&0 >/dev/null </dev/null; while IFS= read -r -u 4 __fence_perf_cmd; do eval "$__fence_perf_cmd"; echo "__done__ $?" >&3; done`

// Loop is a running LoopScript: one long-lived process (sandboxed or not)
// that runs commands on request.
type Loop struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartLoop starts argv, which must end in a shell running LoopScript (for
// example: bash -c LoopScript, or fence -c LoopScript), in dir with env.
func StartLoop(argv []string, dir string, env []string) (*Loop, error) {
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = dir
	c.Env = env
	in, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	l := &Loop{cmd: c, stdin: in, out: bufio.NewReader(out), stderr: &lockedBuffer{}}
	c.Stderr = l.stderr
	if err := c.Start(); err != nil {
		return nil, err
	}
	return l, nil
}

// Do runs one shell command line in the loop and returns the round-trip
// time: from writing the line to reading its completion marker. A non-zero
// exit status is an error.
func (l *Loop) Do(line string) (time.Duration, error) {
	if strings.ContainsRune(line, '\n') {
		return 0, fmt.Errorf("loop command must be one line")
	}
	start := time.Now()
	if _, err := io.WriteString(l.stdin, line+"\n"); err != nil {
		return 0, l.died(err)
	}
	for {
		s, err := l.out.ReadString('\n')
		if err != nil {
			return 0, l.died(err)
		}
		if rest, ok := strings.CutPrefix(s, "__done__ "); ok {
			d := time.Since(start)
			code, _ := strconv.Atoi(strings.TrimSpace(rest))
			if code != 0 {
				return d, fmt.Errorf("%q exited with status %d%s", line, code, l.stderrTail())
			}
			return d, nil
		}
	}
}

func (l *Loop) died(err error) error {
	return fmt.Errorf("loop %v ended: %v%s", l.cmd.Args[0], err, l.stderrTail())
}

func (l *Loop) stderrTail() string {
	s := strings.TrimSpace(l.stderr.String())
	if s == "" {
		return ""
	}
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return ": " + s
}

// Close ends the loop (end of input) and waits for it.
func (l *Loop) Close() error {
	l.stdin.Close()
	return l.cmd.Wait()
}

// shq single-quotes s for a POSIX shell when it needs it.
func shq(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shJoin quotes argv into one shell command line.
func shJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shq(a)
	}
	return strings.Join(q, " ")
}

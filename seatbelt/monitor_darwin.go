package seatbelt

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// logTool is macOS's unified log client, never looked up in PATH.
const logTool = "/usr/bin/log"

// Monitor streams this run's Seatbelt refusals (those tagged with tag) from
// the unified log to out until stop is called. It returns once the stream
// is attached (or after a second), so that the command's first refusals
// are not missed; stop waits briefly for reports still on their way.
func Monitor(tag string, out func(string)) (stop func(), err error) {
	if strings.ContainsAny(tag, "\"'\\") {
		return nil, fmt.Errorf("monitor: log tag %q has quotes", tag)
	}
	cmd := exec.Command(logTool, "stream", "--style", "compact", "--predicate", `eventMessage ENDSWITH "`+tag+`"`)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	r, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("monitor: start %s stream: %w", logTool, err)
	}
	attached := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		first := true
		for sc.Scan() {
			if first {
				// log stream prints "Filtering the log data using ..."
				// once it listens.
				close(attached)
				first = false
			}
			if d, ok := ParseDenial(sc.Text(), tag); ok {
				out(d.Format(time.Now()))
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case <-attached:
	case <-done:
		// It ended without a line: log stream needs an administrator,
		// for one.
		_ = cmd.Wait()
		return nil, fmt.Errorf("monitor: %s stream ended: %s", logTool, strings.TrimSpace(stderr.String()))
	case <-time.After(time.Second):
	}
	return func() {
		time.Sleep(200 * time.Millisecond) // reports arrive after the fact
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	}, nil
}

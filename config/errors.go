package config

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors callers can test for. Policy blocks are typed, so the CLI and
// library users can tell a blocked command (exit 1 with upstream's message)
// from a broken config: use errors.As with *CommandBlockedError and
// *SSHBlockedError, errors.Is with ErrTemplateNotFound.

// CommandBlockedError is returned when a command matches a command.deny rule
// or a default rule and no command.allow rule.
type CommandBlockedError struct {
	// Command is the source text of the offending simple command, e.g.
	// "git push origin main" out of "ls && git push origin main".
	Command string
	// BlockedPrefix is the rule that matched, as written in the config.
	BlockedPrefix string
	// IsDefault is set when the rule comes from DefaultDeniedCommands.
	IsDefault bool
	// Reason, when set, replaces the rule: preflight could not check the
	// command (it nests shells deeper than it follows) and blocks it.
	Reason string
}

// Error is upstream's message: command blocked by [default ]sandbox command
// policy: "<cmd>" matches "<rule>".
func (e *CommandBlockedError) Error() string {
	policy := "sandbox command policy"
	if e.IsDefault {
		policy = "default sandbox command policy"
	}
	if e.Reason != "" {
		return fmt.Sprintf("command blocked by %s: %q %s", policy, e.Command, e.Reason)
	}
	return fmt.Sprintf("command blocked by %s: %q matches %q", policy, e.Command, e.BlockedPrefix)
}

// SSHBlockedError is returned when an ssh command breaks the SSH policy.
type SSHBlockedError struct {
	// Host is the destination host, without user@.
	Host string
	// RemoteCommand is the command to run remotely, "" for a session.
	RemoteCommand string
	// Reason says which rule blocked it.
	Reason string
}

// Error is upstream's message: "SSH command blocked: <reason> (host: h,
// command: c)" or, without a remote command, "SSH blocked: <reason> (host: h)".
func (e *SSHBlockedError) Error() string {
	if e.RemoteCommand != "" {
		return fmt.Sprintf("SSH command blocked: %s (host: %s, command: %s)", e.Reason, e.Host, e.RemoteCommand)
	}
	return fmt.Sprintf("SSH blocked: %s (host: %s)", e.Reason, e.Host)
}

// ValidationError is a value that is well-typed but not allowed. Its message
// is upstream Fence's where upstream has one.
type ValidationError struct {
	// Field is the dotted path of the list or field, e.g. "filesystem.allowWrite".
	Field string
	// Index is the position in the list, or -1 for a non-list field.
	Index int
	// Msg is the full message, e.g. "filesystem.allowWrite contains empty path".
	Msg string
}

func (e *ValidationError) Error() string { return e.Msg }

// path is the field path of the offending value, as the decoder records it.
func (e *ValidationError) path() string {
	if e.Index < 0 {
		return e.Field
	}
	return e.Field + "[" + strconv.Itoa(e.Index) + "]"
}

// ErrTemplateNotFound matches (errors.Is) the error for an unknown template.
var ErrTemplateNotFound = errors.New("template not found")

// templateNotFoundError is upstream's message: template "x" not found.
type templateNotFoundError struct{ name string }

func (e *templateNotFoundError) Error() string { return fmt.Sprintf("template %q not found", e.name) }

func (e *templateNotFoundError) Is(target error) bool { return target == ErrTemplateNotFound }

// bug reports a state the code should never reach.
func bug(format string, args ...any) error {
	return fmt.Errorf("config: internal error: "+format, args...)
}

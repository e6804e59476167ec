package seatbelt

import "os/exec"

// SandboxExec is where macOS keeps sandbox-exec. It is never looked up in
// PATH, where the caller's environment could put a program of its own.
const SandboxExec = "/usr/bin/sandbox-exec"

// Command returns the command that runs argv under profile. sandbox-exec
// applies the profile to itself and then executes argv[0], looked up in the
// PATH of the command's environment as execvp does; the profile governs that
// lookup and everything after it. The caller sets Env, Dir and the standard
// streams.
func Command(profile string, argv []string) *exec.Cmd {
	c := exec.Command(SandboxExec)
	// "--": a command whose name starts with '-' is not an option of
	// sandbox-exec's.
	c.Args = append([]string{"sandbox-exec", "-p", profile, "--"}, argv...)
	return c
}

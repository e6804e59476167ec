package early

import (
	"strings"
	"testing"
)

// Guess must say "sandbox" exactly when the CLI will run a command, or
// fence would clone namespaces for --version and subcommands (an aborted
// spawn), or lose the head start for commands.
func TestGuessSandbox(t *testing.T) {
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"-- true", true},
		{"true", true},
		{"ls -l", true},
		{"-c true", true},
		{"--c true", true},
		{"-m -d -- npm install", true},
		{"-t code -- claude", true},
		{"-s fence.json ./build.sh", true},
		{"-p 8080 -- srv", true},
		{"--", false},
		{"", false},
		{"-v", false},
		{"--version", false},
		{"-h", false},
		{"--help", false},
		{"--list-templates", false},
		{"--linux-features", false},
		{"config show", false},
		{"import --claude", false},
		{"completion bash", false},
		{"help", false},
		{"-s config", false}, // "config" is the value of -s; no command follows
		{"-t code", false},
		{"-d", false},
	} {
		if got, _ := Guess(strings.Fields(tc.args)); got != tc.want {
			t.Errorf("Guess(%q) sandbox = %v, want %v", tc.args, got, tc.want)
		}
	}
}

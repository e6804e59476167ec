package main

import (
	"strings"
	"testing"
)

// The network mode guessed before parsing must match what the template
// says, for every way of naming a template, and never look past "--" or
// into the command's own arguments.
func TestTemplateHostNetwork(t *testing.T) {
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"-t code-relaxed -- true", true},
		{"--template code-relaxed -- true", true},
		{"--template=code-relaxed true", true},
		{"-t=disable-telemetry true", true},
		{"-s fence.json -m -t code-relaxed -c true", true},
		{"-t code -- true", false},
		{"-t nosuchtemplate -- true", false},
		{"-- true -t code-relaxed", false},
		{"true -t code-relaxed", false},
		{"-s -t -- true", false}, // -t is the value of -s
		{"-- true", false},
	} {
		if got := templateHostNetwork(strings.Fields(tc.args)); got != tc.want {
			t.Errorf("templateHostNetwork(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

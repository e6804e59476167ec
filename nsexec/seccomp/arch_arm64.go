//go:build linux

package seccomp

import _ "embed"

//go:embed filter_arm64.bpf
var program []byte

//go:embed guard_arm64.bpf
var guard []byte

const personalityNr = 92

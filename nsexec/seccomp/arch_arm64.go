//go:build linux

package seccomp

import _ "embed"

//go:embed filter_arm64.bpf
var program []byte

const personalityNr = 92

//go:build linux

package seccomp

import _ "embed"

//go:embed filter_amd64.bpf
var program []byte

//go:embed guard_amd64.bpf
var guard []byte

const personalityNr = 135

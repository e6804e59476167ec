//go:build linux

package seccomp

import _ "embed"

//go:embed filter_amd64.bpf
var program []byte

//go:embed guard_create_amd64.bpf
var guardCreate []byte

//go:embed guard_socket_amd64.bpf
var guardSocket []byte

//go:embed guard_both_amd64.bpf
var guardBoth []byte

const personalityNr = 135

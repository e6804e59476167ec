//go:build linux

package seccomp

import _ "embed"

//go:embed filter_arm64.bpf
var program []byte

//go:embed guard_create_arm64.bpf
var guardCreate []byte

//go:embed guard_write_arm64.bpf
var guardWrite []byte

//go:embed guard_socket_arm64.bpf
var guardSocket []byte

//go:embed guard_create_socket_arm64.bpf
var guardCreateSocket []byte

//go:embed guard_write_socket_arm64.bpf
var guardWriteSocket []byte

const personalityNr = 92

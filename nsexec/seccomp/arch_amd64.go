//go:build linux

package seccomp

import _ "embed"

//go:embed filter_amd64.bpf
var program []byte

//go:embed guard_create_amd64.bpf
var guardCreate []byte

//go:embed guard_write_amd64.bpf
var guardWrite []byte

//go:embed guard_socket_amd64.bpf
var guardSocket []byte

//go:embed guard_create_socket_amd64.bpf
var guardCreateSocket []byte

//go:embed guard_write_socket_amd64.bpf
var guardWriteSocket []byte

const personalityNr = 135

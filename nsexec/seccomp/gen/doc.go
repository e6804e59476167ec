// Package gen compiles fence's seccomp policy to classic BPF with libseccomp
// at build time; see gen.go (linux && cgo only).
package gen

// Package e2e holds the black-box tests of the built fence binary.
//
// TestMain builds ./cmd/fence once (static, CGO_ENABLED=0) into a temporary
// directory that any user can read and execute, and every test runs that
// binary the way a user would: as a separate process with its own working
// directory, HOME and environment. Each behaviour is checked twice, as root
// ("root") and as an unprivileged user ("user": nobody, uid/gid 65534, when
// the tests run as root; the current user otherwise), and the tests assert
// what happened on the host afterwards (files written or not written,
// processes left behind or not), not just exit codes.
//
// The package has no non-test code; run it with `go test ./e2e/`.
package e2e

// Package seccomp loads fence's syscall filter into the init stage, which the
// command inherits.
//
// The filter is compiled at build time with libseccomp (package gen, `make
// seccomp`) and embedded as raw BPF, so the fence binary needs neither cgo
// nor libseccomp at run time; a test regenerates the programs and fails if
// the embedded ones are stale. A hand-assembled filter, chained in front of
// it into one program, restricts personality(2) to harmless values and
// socket(2) to a few address families, which libseccomp cannot express
// ("not in a set"). The command's own rules, with the guard's program for
// the sandbox's policy chained after them where it has one, are one more
// program, on the thread the command is forked from.
//
// What the filter does is documented in gen/gen.go. Load must be the last
// restriction applied before the command starts; this package must not be
// used in the supervisor.
package seccomp

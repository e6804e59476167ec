// Package perf holds fence's benchmark harness: Go benchmarks that compare
// sandboxed against unsandboxed runs of the same workload, side by side in
// one process, and report overhead factors.
//
// Nothing imports perf; it drives the built fence binary like a user would.
package perf

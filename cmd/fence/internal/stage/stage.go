// Package stage runs the sandbox's init stage (and the --linux-features
// probe) from a package init function, when this binary was re-executed as
// one, so that it skips initialising most of the supervisor's packages.
//
// Why a package of its own: Go initialises packages in import path order
// once a package's imports are ready. This package imports only nsexec, so
// its init runs as soon as nsexec's dependencies are initialised, before
// cobra, mvdan.cc/sh, net and net/http, which the init stage never uses
// (25 of 93 package inits; its start 0.5–0.7 ms shorter in isolation on a 2-core
// VM, docs/benchmarking.md, sixth pass). Packages that sort before ours and
// are ready early (crypto/..., encoding/json) still go first. That holds
// only while nsexec's dependencies stay clear of packages that sort late
// and become ready late (net, net/netip, unique, runtime/debug, vendor/);
// e2e's TestInitStageSkipsSupervisorPackages checks it on the real binary.
// In the supervisor and in test binaries this init does nothing.
package stage

import "github.com/nsfence/fence/nsexec"

func init() {
	if nsexec.IsInit() {
		nsexec.Init() // never returns
	}
	if nsexec.IsProbe() {
		nsexec.Probe() // never returns
	}
}

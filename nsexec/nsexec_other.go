//go:build !linux

package nsexec

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/nsfence/fence/nsexec/spawn"
)

// ErrUnsupported: the namespace runtime exists only on Linux.
var errUnsupported = fmt.Errorf("nsexec: linux namespaces: %w", errors.ErrUnsupported)

// IsInit is always false off Linux.
func IsInit() bool { return false }

// Init is never reached off Linux.
func Init() { panic(errUnsupported) }

// Process is a running sandbox.
type Process struct {
	Listeners []*osFile
	Stages    []Stage
	Pid       int
}

type osFile = os.File

// Start fails closed off Linux.
func Start(o *Options) (*Process, error) { return nil, errUnsupported }

// StartGated fails closed off Linux.
func StartGated(o *Options, gate <-chan struct{}) (*Process, error) { return nil, errUnsupported }

// Signal fails off Linux.
func (p *Process) Signal(sig syscall.Signal) error { return errUnsupported }

// Wait fails off Linux.
func (p *Process) Wait() (int, error) { return 1, errUnsupported }

// Created is never reached off Linux.
func (p *Process) Created() []string { return nil }

// IsProbe is always false off Linux.
func IsProbe() bool { return false }

// Probe is never reached off Linux.
func Probe() { panic(errUnsupported) }

// Features is what --linux-features reports.
type Features struct {
	Namespaces                     map[string]error
	Seccomp                        error
	Blocker                        string
	Listener, MountAPI, CloseRange error
}

// ProbeFeatures reports nothing off Linux.
func ProbeFeatures() Features { return Features{Seccomp: errUnsupported} }

// Pending is a spawned init stage waiting for its policy.
type Pending struct{}

// Spawn fails closed off Linux.
func Spawn(hostNetwork bool, stdin, stdout, stderr *os.File) (*Pending, error) {
	return nil, errUnsupported
}

// Adopt fails closed off Linux: there is no spawned init stage to adopt.
func Adopt(c *spawn.Child) *Pending { return nil }

// HostNetwork is false off Linux.
func (pd *Pending) HostNetwork() bool { return false }

// Abort does nothing off Linux.
func (pd *Pending) Abort() {}

// Start fails closed off Linux.
func (pd *Pending) Start(o *Options) (*Process, error) { return nil, errUnsupported }

// StartGated fails closed off Linux.
func (pd *Pending) StartGated(o *Options, gate <-chan struct{}) (*Process, error) {
	return nil, errUnsupported
}

// Now returns a monotonic timestamp in nanoseconds.
func Now() int64 { return time.Now().UnixNano() }

// Connect fails off Linux.
func (p *Process) Connect(port int) (*os.File, error) { return nil, errUnsupported }

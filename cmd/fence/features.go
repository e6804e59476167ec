package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/nsfence/fence/nsexec"
	"github.com/nsfence/fence/nsexec/landlock"
	"golang.org/x/sys/unix"
)

// printLinuxFeatures prints what the Linux backend can use on this machine
// and what to do about anything missing.
func printLinuxFeatures(w io.Writer) error {
	if runtime.GOOS != "linux" {
		fmt.Fprintln(w, "Linux sandbox features are only available on Linux.")
		return nil
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	f := nsexec.ProbeFeatures()
	abi := landlock.ABI()
	yes := func(err error) string {
		if err == nil {
			return "true"
		}
		return "false (" + err.Error() + ")"
	}
	fmt.Fprintln(w, "Linux Sandbox Features:")
	fmt.Fprintf(w, "  Kernel: %s\n", unix.ByteSliceToString(u.Release[:]))
	for _, k := range []string{"user", "mount", "pid", "net", "ipc", "uts"} {
		fmt.Fprintf(w, "  %s namespace: %s\n", k, yes(f.Namespaces[k]))
	}
	fmt.Fprintf(w, "  Seccomp: %s\n", yes(f.Seccomp))
	if f.Seccomp == nil {
		fmt.Fprintf(w, "  Seccomp user notification: %s\n", yes(f.Listener))
	}
	fmt.Fprintf(w, "  Mount API: %s\n", yes(f.MountAPI))
	fmt.Fprintf(w, "  close_range: %s\n", yes(f.CloseRange))
	switch {
	case abi >= landlock.MinABI:
		fmt.Fprintf(w, "  Landlock: true (ABI v%d)\n", abi)
	case abi > 0:
		fmt.Fprintf(w, "  Landlock: true (ABI v%d, too old for fence: not used)\n", abi)
	default:
		fmt.Fprintln(w, "  Landlock: false")
	}
	fmt.Fprintln(w, "\nFeature Status:")
	nsOK := true
	for _, err := range f.Namespaces {
		if err != nil {
			nsOK = false
		}
	}
	switch {
	case nsOK && f.Seccomp == nil && (f.Listener != nil || f.MountAPI != nil || f.CloseRange != nil):
		for _, err := range []error{f.Listener, f.MountAPI, f.CloseRange} {
			if err != nil {
				fmt.Fprintf(w, "  ✗ Missing requirements: %v\n", err)
			}
		}
	case nsOK && f.Seccomp == nil:
		fmt.Fprintln(w, "  ✓ Minimum requirements met (namespaces, seccomp and its user notification, the mount API, close_range)")
	case !nsOK:
		fmt.Fprintln(w, "  ✗ Missing requirements: cannot create the sandbox namespaces")
		if f.Blocker != "" {
			fmt.Fprintf(w, "    %s\n", f.Blocker)
		} else {
			fmt.Fprintln(w, "    a container's seccomp profile or a kernel setting blocks user namespaces; see README#troubleshooting")
		}
	default:
		fmt.Fprintln(w, "  ✗ Missing requirements: seccomp filter cannot be loaded")
	}
	switch {
	case abi >= landlock.MinABI:
		fmt.Fprintln(w, "  ✓ Landlock available for defense-in-depth filesystem control")
	case abi > 0:
		fmt.Fprintf(w, "  ○ Landlock ABI v%d cannot allow renames across directories (fence needs v%d, Linux 5.19+); fence runs with the mount policy only\n", abi, landlock.MinABI)
	default:
		fmt.Fprintln(w, "  ○ Landlock not available (kernel 5.13+ with lsm=landlock required); fence runs with the mount policy only")
	}
	return nil
}

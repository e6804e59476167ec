package netns

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary run loopbackChild instead of the tests:
// LoopbackUp acts on the caller's network namespace, so it is exercised in
// a process started in fresh user and network namespaces.
const childEnv = "FENCE_NETNS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "route" {
		if err := routeChild(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("route ok")
		os.Exit(0)
	}
	if os.Getenv(childEnv) == "1" {
		if err := loopbackChild(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("loopback ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// loopbackChild runs in a new network namespace, where lo starts down.
func loopbackChild() error {
	lo, err := net.InterfaceByIndex(1)
	if err != nil {
		return fmt.Errorf("find ifindex 1: %w", err)
	}
	if lo.Name != "lo" || lo.Flags&net.FlagUp != 0 {
		return fmt.Errorf("before LoopbackUp: ifindex 1 is %s with flags %v, want lo down", lo.Name, lo.Flags)
	}
	if err := roundTrip(); err == nil {
		return fmt.Errorf("before LoopbackUp: a TCP connection over 127.0.0.1 worked with lo down")
	}
	for i := 0; i < 2; i++ { // the second call finds lo up already
		if err := LoopbackUp(); err != nil {
			return fmt.Errorf("LoopbackUp (call %d): %w", i+1, err)
		}
	}
	if lo, err = net.InterfaceByIndex(1); err != nil || lo.Flags&net.FlagUp == 0 {
		return fmt.Errorf("after LoopbackUp: lo %v, err %v; want up", lo, err)
	}
	if err := roundTrip(); err != nil {
		return fmt.Errorf("after LoopbackUp: %w", err)
	}
	return nil
}

// roundTrip sends a byte over a TCP connection on 127.0.0.1.
func roundTrip() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", ln.Addr(), err)
	}
	defer c.Close()
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil || b[0] != 'x' {
		return fmt.Errorf("read over lo: %q, %v", b, err)
	}
	return nil
}

// TestLoopbackUp brings lo up in a fresh network namespace and checks that
// 127.0.0.1 then carries a TCP connection, which it did not before.
func TestLoopbackUp(t *testing.T) {
	runChild(t, "1", "loopback ok")
}

// runChild runs the test binary as the child named mode in fresh user and
// network namespaces and checks that it printed want.
func runChild(t *testing.T, mode, want string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	uid, gid := os.Getuid(), os.Getgid()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
		// CAP_NET_ADMIN in the new user namespace survives the exec only
		// as an ambient capability when the mapped uid is not 0.
		AmbientCaps: []uintptr{12}, // CAP_NET_ADMIN
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if reason := userNSOff(); reason != "" {
			t.Skipf("new user and network namespaces are needed to test this in isolation, and %s: %v", reason, err)
		}
		t.Fatalf("child in a new network namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), want) {
		t.Fatalf("child output %q, want %q", out, want)
	}
}

// userNSOff names the setting that keeps this user from creating user
// namespaces, or "".
func userNSOff() string {
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	if read("/proc/sys/user/max_user_namespaces") == "0" {
		return "user.max_user_namespaces is 0"
	}
	if os.Getuid() != 0 && read("/proc/sys/kernel/unprivileged_userns_clone") == "0" {
		return "kernel.unprivileged_userns_clone is 0"
	}
	if os.Getuid() != 0 && read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" {
		return "AppArmor restricts unprivileged user namespaces"
	}
	return ""
}

// A port that cannot be bound is an error, not a socket listening on some
// other port: the supervisor would serve the proxy where the command does
// not look for it.
func TestListenReportsBindFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	f, err := Listen(addr)
	if err == nil {
		f.Close()
		t.Fatalf("Listen(%s) on a port in use succeeded", addr)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q, want it to name %s and the cause", err, addr)
	}
	// And a free port is listened on exactly.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = free.Addr().String()
	free.Close()
	f, err = Listen(addr)
	if err != nil {
		t.Fatalf("Listen(%s): %v", addr, err)
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() != addr {
		t.Errorf("listening on %s, want %s", ln.Addr(), addr)
	}
}

package netns

import (
	"errors"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// dialAs connects to addr from a socket owned by uid: a socket's owner is
// the file system uid of the thread that created it, set here for the
// socket call alone (another user's: root only).
func dialAs(t *testing.T, uid int, addr *net.TCPAddr) net.Conn {
	return dialBoundAs(t, uid, addr, "")
}

// dialBoundAs is dialAs from a socket bound to the device dev
// (SO_BINDTODEVICE, which any user may set on a socket not yet bound to
// one, since Linux 5.7), unless dev is "".
func dialBoundAs(t *testing.T, uid int, addr *net.TCPAddr, dev string) net.Conn {
	t.Helper()
	runtime.LockOSThread()
	old, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	unix.RawSyscall(unix.SYS_SETFSUID, old, 0, 0)
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("socket as uid %d: %v", uid, err)
	}
	if dev != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev); err != nil {
			unix.Close(fd)
			t.Skipf("SO_BINDTODEVICE %s: %v", dev, err)
		}
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: addr.Port, Addr: [4]byte(addr.IP.To4())}); err != nil {
		unix.Close(fd)
		t.Fatalf("connect to %s: %v", addr, err)
	}
	f := os.NewFile(uintptr(fd), "client")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// owner is TCPOwner of the client's end of accepted, seen from the server.
func owner(accepted net.Conn) (uint32, error) {
	l := accepted.LocalAddr().(*net.TCPAddr)
	r := accepted.RemoteAddr().(*net.TCPAddr)
	return TCPOwner([4]byte(r.IP.To4()), uint16(r.Port), [4]byte(l.IP.To4()), uint16(l.Port))
}

func TestTCPOwner(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	uids := []int{os.Geteuid()}
	if os.Geteuid() == 0 {
		// Another user's socket: a uid that is not 0 also proves the
		// answer is read at the uid's offset, not from zeroed bytes.
		uids = append(uids, 65534, 4242)
	}
	for _, uid := range uids {
		c := dialAs(t, uid, addr)
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got, err := owner(s)
		if err != nil || got != uint32(uid) {
			t.Errorf("client socket made as uid %d: TCPOwner = %d, %v", uid, got, err)
		}
		// The server's own end is found too (its ports the other way).
		r := s.RemoteAddr().(*net.TCPAddr)
		if own, err := TCPOwner([4]byte(addr.IP.To4()), uint16(addr.Port), [4]byte(r.IP.To4()), uint16(r.Port)); err != nil || own != uint32(os.Geteuid()) {
			t.Errorf("server end: TCPOwner = %d, %v; want %d", own, err, os.Geteuid())
		}
		c.Close()
		s.Close()
	}
	// No such socket: an error, never uid 0.
	if uid, err := TCPOwner([4]byte{127, 0, 0, 1}, 1, [4]byte{127, 0, 0, 1}, 1); err == nil || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("TCPOwner of a socket that does not exist = %d, %v; want ENOENT", uid, err)
	}
}

// A client socket bound to lo (SO_BINDTODEVICE, open to every user) is
// found too: the exact lookup matches a socket bound to a device only
// when asked with that device's index, and asked with none it answered
// ENOENT, which relaxed mode's Admit takes for a client it cannot judge
// and serves: any local user got past it with one setsockopt.
func TestTCPOwnerBoundToDevice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	uid := os.Geteuid()
	if uid == 0 {
		uid = 65534 // another user's, as in relaxed mode
	}
	c := dialBoundAs(t, uid, addr, "lo")
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := owner(s); err != nil || got != uint32(uid) {
		t.Errorf("client socket bound to lo, made as uid %d: TCPOwner = %d, %v", uid, got, err)
	}
}

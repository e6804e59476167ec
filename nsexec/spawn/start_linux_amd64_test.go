package spawn

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startedStage is what the test binary, started by Start as the init stage
// (startStage), reports over the control socket.
type startedStage struct {
	Args []string
	// Mode is the first packet it read, "" if none came within its wait.
	Mode string
	// UIDMap and GIDMap are its /proc/self/{uid,gid}_map as it read the
	// mode; MkdirErr is what creating a directory in a tmpfs of its own
	// gave then ("" for none): the file systems the init stage builds
	// before the policy need its ids mapped.
	UIDMap, GIDMap string
	MkdirErr       string
}

// startStage is the test binary as the init stage that Start spawned: it
// waits up to 10 s for the first packet, then reports (startedStage).
func startStage() {
	r := startedStage{Args: os.Args}
	pfd := []unix.PollFd{{Fd: ControlFD, Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 10000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n == 1 {
			b := make([]byte, 16)
			if n, err := unix.Read(ControlFD, b); err == nil {
				r.Mode = string(b[:n])
			}
		}
		break
	}
	uid, _ := os.ReadFile("/proc/self/uid_map")
	gid, _ := os.ReadFile("/proc/self/gid_map")
	r.UIDMap, r.GIDMap = strings.TrimSpace(string(uid)), strings.TrimSpace(string(gid))
	if err := mkdirInNewTmpfs(); err != nil {
		r.MkdirErr = err.Error()
	}
	j, _ := json.Marshal(r)
	if _, err := unix.Write(ControlFD, j); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

// mkdirInNewTmpfs creates a directory in a new, detached tmpfs, as the
// init stage's mask file system does.
func mkdirInNewTmpfs() error {
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		return err
	}
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(m)
	return unix.Mkdirat(m, "d", 0o755)
}

// An init stage that Start spawned (StartArg) gets its network mode only
// once its ids are mapped, however late the supervisor writes them: then
// it can create files in the file systems it builds before the policy.
// Before the mode was sent, the init stage built them as soon as it ran,
// and a supervisor slow to write the maps failed the start with
// "create mask directory: value too large for defined data type".
func TestStartSendsModeOnceMapped(t *testing.T) {
	needUserNamespaces(t)
	beforeIDMaps = func() { time.Sleep(200 * time.Millisecond) }
	t.Cleanup(func() { beforeIDMaps = nil })
	for _, tc := range []struct {
		hostNetwork bool
		mode        byte
	}{{false, ModeNetNS}, {true, ModeHost}} {
		c, err := Start(tc.hostNetwork, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 65536)
		n, err := c.Ctrl.Read(b)
		c.Ctrl.Close()
		var ws unix.WaitStatus
		if _, werr := unix.Wait4(c.Pid, &ws, 0, nil); werr != nil {
			t.Fatal(werr)
		}
		c.Release()
		if err != nil {
			t.Fatalf("read the init stage's report: %v (status %v)", err, ws)
		}
		var r startedStage
		if err := json.Unmarshal(b[:n], &r); err != nil {
			t.Fatalf("the init stage's report %q: %v", b[:n], err)
		}
		if len(r.Args) != 2 || r.Args[0] != InitArg0 || r.Args[1] != StartArg {
			t.Errorf("host network %v: the init stage's argv is %q, want %q", tc.hostNetwork, r.Args, []string{InitArg0, StartArg})
		}
		if r.Mode != string(rune(tc.mode)) {
			t.Errorf("host network %v: the init stage's first packet is %q, want the mode %q", tc.hostNetwork, r.Mode, tc.mode)
			continue
		}
		if r.UIDMap == "" || r.GIDMap == "" {
			t.Errorf("host network %v: with the mode read, uid_map %q and gid_map %q: want both written", tc.hostNetwork, r.UIDMap, r.GIDMap)
		}
		if r.MkdirErr != "" {
			t.Errorf("host network %v: with the mode read, a directory in a new tmpfs: %s", tc.hostNetwork, r.MkdirErr)
		}
	}
}

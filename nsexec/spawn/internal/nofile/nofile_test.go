package nofile_test

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nsfence/fence/nsexec/spawn/internal/nofile"
)

// TestSoftIsReadBeforeSyscallRaisesIt runs this test binary again under a
// soft limit of 777 and checks that Soft reports 777 there, while the
// process's limit has been raised by Go's syscall package: it fails if
// syscall's init ever runs first.
func TestSoftIsReadBeforeSyscallRaisesIt(t *testing.T) {
	if os.Getenv("NOFILE_HELPER") == "1" {
		soft, ok := nofile.Soft()
		var now syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("soft=" + strconv.FormatUint(soft, 10) + " ok=" + strconv.FormatBool(ok) + " now=" + strconv.FormatUint(uint64(now.Cur), 10) + "\n")
		return
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		if _, ok := nofile.Soft(); ok {
			t.Fatal("Soft reports a limit on a platform whose spawn does not use it")
		}
		return
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if uint64(lim.Max) < 1000 {
		t.Skipf("the hard open-file limit is %d: a soft limit below it by more than one is needed to see Go raise it (ulimit -Hn 1000 at least)", lim.Max)
	}
	cmd := exec.Command("/bin/sh", "-c", `ulimit -Sn 777 && exec "$0" -test.run='^TestSoftIsReadBeforeSyscallRaisesIt$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "NOFILE_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := "soft=777 ok=true now=" + strconv.FormatUint(uint64(lim.Max)-1, 10) + "\n"
	if !strings.HasPrefix(string(out), want) {
		t.Fatalf("helper under ulimit -Sn 777 printed %q, want %q first (the limit as fence started, and Go's raised one)", out, want)
	}
}

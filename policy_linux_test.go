package fence

import (
	"slices"
	"testing"
)

// Procfs mounts other than /proc are found in the mount table, whatever
// their mount point's escapes; /proc and what is mounted under it are not.
func TestParseForeignProcs(t *testing.T) {
	mi := `22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw
23 22 0:22 / /proc/sys/fs/binfmt_misc rw - autofs systemd-1 rw
40 1 0:21 / /mnt/host\040proc rw - proc proc rw
41 1 0:23 / /srv/chroot/proc rw shared:7 master:3 - proc none rw
42 1 8:1 / /home rw - ext4 /dev/sda1 rw
43 1 0:21 / /proc/self/x rw - proc proc rw
`
	got := parseForeignProcs(mi)
	want := []string{"/mnt/host proc", "/srv/chroot/proc"}
	if !slices.Equal(got, want) {
		t.Errorf("parseForeignProcs = %q, want %q", got, want)
	}
}

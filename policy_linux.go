package fence

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// binDirs are searched for denied programs in addition to the command's PATH.
var binDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// runtimeDenied returns every path under which a denied program can be
// executed by name: each PATH directory's entry of that name, as it is (a
// symlink stays a symlink). Masking the name, not the symlink's target,
// keeps other programs that share the binary working: denying reboot leaves
// systemctl alone, denying one applet leaves a multi-call binary's others.
// A token that is a path is masked as given.
func runtimeDenied(res *resolver, tokens []string, path string) []string {
	if len(tokens) == 0 {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	// Each directory is resolved (/bin is often a symlink to usr/bin) and
	// opened once; names are then looked up relative to it, without
	// resolving the final name: a symlink stays a symlink.
	for _, d := range append(filepath.SplitList(path), binDirs...) {
		if !filepath.IsAbs(d) {
			continue
		}
		r, err := res.eval(d)
		if err != nil || seen[r] {
			continue
		}
		seen[r] = true
		fd, err := unix.Open(r, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		for _, t := range tokens {
			var st unix.Stat_t
			if !strings.Contains(t, "/") && unix.Fstatat(fd, t, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
				out = append(out, filepath.Join(r, t))
			}
		}
		unix.Close(fd)
	}
	for _, t := range tokens {
		if filepath.IsAbs(t) {
			if _, err := os.Lstat(t); err == nil {
				out = append(out, filepath.Clean(t))
			}
		}
	}
	return out
}

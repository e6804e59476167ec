//go:build !linux || cgo

package fence

import (
	"os/user"
	"strconv"
)

// accountHomeByID returns the home directory of the account uid from the
// system's user database through os/user, or "": with cgo, the C
// library's (NSS: LDAP, sssd and the like, which /etc/passwd lacks), and
// macOS's directory services.
func accountHomeByID(uid int) string {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return ""
	}
	return u.HomeDir
}

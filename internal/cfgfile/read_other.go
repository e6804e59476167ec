//go:build !unix

package cfgfile

import (
	"fmt"
	"os"
)

// Read returns the contents of the regular file at path, of at most
// MaxSize bytes.
func Read(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > MaxSize {
		return nil, fmt.Errorf("is not a regular file of at most %d bytes; replace it with a regular file or remove it", MaxSize)
	}
	return os.ReadFile(path)
}

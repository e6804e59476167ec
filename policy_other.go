//go:build !linux

package fence

// runtimeDenied has no runtime to feed off Linux: Run fails closed there.
func runtimeDenied(_ *resolver, _ []string, _, _ string, _ []string) ([]string, error) {
	return nil, nil
}

//go:build !linux

package fence

// foreignProcs has no procfs to find off Linux.
func foreignProcs() (procsResult, error) { return procsResult{}, nil }

// runtimeDenied has no runtime to feed off Linux: Run fails closed there.
func runtimeDenied(_ *resolver, _ []string, _ string, _ bool, _ string, _ []string) ([]string, error) {
	return nil, nil
}

// rootBlocked finds nothing off Linux: root keeps its privileges under
// Seatbelt.
func rootBlocked(_ []string) ([]string, uint32, uint32) { return nil, 0, 0 }

// dirID: there is no mount table to compare layers from here.
func dirID(string) fileID { return fileID{} }

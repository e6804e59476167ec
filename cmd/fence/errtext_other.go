//go:build !unix

package main

// errorText is the text of the error fence stops with.
func errorText(err error) string { return err.Error() }

//go:build !linux || !cgo

package malloctrim

// Trim does nothing without glibc (cgo on Linux): there is no C heap
// whose free memory it could return.
func Trim() bool { return false }

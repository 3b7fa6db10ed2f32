//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package ca

import "os"

// lockFile is a no-op where flock(2) is not available: concurrent
// `gatehouse revoke` runs may then lose one of their entries.
func lockFile(string) (func(), error) { return func() {}, nil }

// matchOwner does nothing where file ownership is not Unix's.
func matchOwner(*os.File, string) error { return nil }

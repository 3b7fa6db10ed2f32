//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package ca

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock (flock(2)) on path, creating
// it, and returns the function that releases it. The lock is released by
// the kernel if the process dies, so a crash leaves no stale lock.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// matchOwner gives f the owner of like (the list being replaced, or its
// directory), when running as root: an operator running `gatehouse revoke`
// as root must not leave a list the server's own account cannot read,
// which it would ignore.
func matchOwner(f *os.File, like string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	info, err := os.Stat(like)
	if err != nil {
		return nil // nothing to match
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}

package recorder

import (
	"fmt"
	"io/fs"
	"syscall"
	"time"
)

// changeTime is a file's ctime.
func changeTime(info fs.FileInfo) time.Time {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return info.ModTime()
}

// fileVersion is a file's size, inode and change time: rewriting,
// replacing or touching it changes one of them.
func fileVersion(info fs.FileInfo) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d/%d/%d.%09d", info.Size(), st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return fmt.Sprintf("%d/%d", info.Size(), info.ModTime().UnixNano())
}

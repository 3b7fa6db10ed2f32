package recorder

import (
	"fmt"
	"io/fs"
	"syscall"
)

// fileVersion is a file's size, inode and change time: rewriting,
// replacing or touching it changes one of them.
func fileVersion(info fs.FileInfo) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d/%d/%d.%09d", info.Size(), st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return fmt.Sprintf("%d/%d", info.Size(), info.ModTime().UnixNano())
}

//go:build !linux

package recorder

import (
	"fmt"
	"io/fs"
	"time"
)

// changeTime is a file's modification time here.
func changeTime(info fs.FileInfo) time.Time { return info.ModTime() }

// fileVersion is a file's size and modification time (elsewhere than
// Linux, where the change time is used).
func fileVersion(info fs.FileInfo) string {
	return fmt.Sprintf("%d/%d", info.Size(), info.ModTime().UnixNano())
}

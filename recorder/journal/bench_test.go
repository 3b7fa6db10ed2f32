package journal

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkSync measures what a commit of one small record costs on the
// disk under the test's temporary directory, for the ways a segment could
// be written: appended to a growing file and fsynced (what a stream file
// does), or written into a preallocated one and fsynced or fdatasynced.
// Preallocated by fallocate(2) leaves unwritten extents, whose conversion
// on the first write is metadata that fdatasync must still journal;
// zero-filled (CreateSegment) leaves none.
func BenchmarkSync(b *testing.B) {
	record := make([]byte, 256)
	for _, bc := range []struct {
		name string
		open func(b *testing.B, path string) (*os.File, bool)
	}{
		{"append+fsync", func(b *testing.B, path string) (*os.File, bool) { return create(b, path, 0, false), false }},
		{"fallocated+fdatasync", func(b *testing.B, path string) (*os.File, bool) { return create(b, path, 64<<20, true), true }},
		{"zerofilled+fsync", func(b *testing.B, path string) (*os.File, bool) { return zeroFilled(b, path), false }},
		{"zerofilled+fdatasync", func(b *testing.B, path string) (*os.File, bool) { return zeroFilled(b, path), true }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, datasync := bc.open(b, filepath.Join(b.TempDir(), "seg"))
			defer f.Close()
			off := int64(0)
			for b.Loop() {
				if _, err := f.WriteAt(record, off); err != nil {
					b.Fatal(err)
				}
				off += int64(len(record))
				var err error
				if datasync {
					err = syscall.Fdatasync(int(f.Fd()))
				} else {
					err = f.Sync()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func create(b *testing.B, path string, size int64, fallocate bool) *os.File {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if fallocate {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			b.Skip("no fallocate here:", err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

func zeroFilled(b *testing.B, path string) *os.File {
	f, err := CreateSegment(path, 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	return f.(dataSynced).File
}

// BenchmarkCreateSegment is the pause of a segment's roll (appends wait
// for it): zero-filling and syncing DefaultSegmentSize bytes.
func BenchmarkCreateSegment(b *testing.B) {
	dir := b.TempDir()
	n := uint64(0)
	for b.Loop() {
		n++
		f, err := CreateSegment(filepath.Join(dir, segmentName(n)), DefaultSegmentSize)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkAppendWrite is the write(2) an Append makes of a small record
// into a fresh segment, without its sync: what every statement's records
// cost in the kernel before any commit. A full segment is removed before
// the next is made, so a long -benchtime does not fill the disk.
func BenchmarkAppendWrite(b *testing.B) {
	record := make([]byte, 300)
	path := filepath.Join(b.TempDir(), segmentName(1))
	var f File
	off := int64(DefaultSegmentSize)
	for b.Loop() {
		if off+int64(len(record)) > DefaultSegmentSize {
			b.StopTimer()
			if f != nil {
				f.Close()
				os.Remove(path)
			}
			var err error
			if f, err = CreateSegment(path, DefaultSegmentSize); err != nil {
				b.Fatal(err)
			}
			off = 0
			b.StartTimer()
		}
		if _, err := f.WriteAt(record, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(record))
	}
	if f != nil {
		f.Close()
	}
}

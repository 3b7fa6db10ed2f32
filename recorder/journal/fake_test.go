package journal

import (
	"errors"
	"sync"
	"time"
)

// memFS makes in-memory segments whose syncs are counted, can be slowed
// and can fail: durable is what the last sync saw written.
type memFS struct {
	mu      sync.Mutex
	files   map[string]*memFile
	syncs   int
	writes  int
	failAt  int           // the n-th sync (1-based) fails; 0 never
	delay   time.Duration // each sync takes this long
	created []string
	onSync  func() // if set, called at each sync, on the syncing goroutine
}

var errDiskGone = errors.New("disk gone")

func (fs *memFS) create(path string, size int64) (File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.files == nil {
		fs.files = map[string]*memFile{}
	}
	f := &memFile{fs: fs, data: make([]byte, size)}
	fs.files[path] = f
	fs.created = append(fs.created, path)
	return f, nil
}

func (fs *memFS) writeCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.writes
}

func (fs *memFS) syncCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.syncs
}

type memFile struct {
	fs      *memFS
	data    []byte
	durable []byte // the bytes as of the last sync
	closed  bool
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errors.New("write to a closed file")
	}
	f.fs.writes++
	if need := off + int64(len(p)); need > int64(len(f.data)) {
		f.data = append(f.data, make([]byte, need-int64(len(f.data)))...)
	}
	return copy(f.data[off:], p), nil
}

func (f *memFile) Sync() error {
	if f.fs.onSync != nil {
		f.fs.onSync()
	}
	time.Sleep(f.fs.delay)
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.fs.syncs++
	if f.fs.syncs == f.fs.failAt {
		return errDiskGone
	}
	f.durable = append([]byte(nil), f.data...)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.closed = true
	return nil
}

// durableRecords parses what the syncs of path made durable.
func (fs *memFS) durableRecords(path string) []Record {
	fs.mu.Lock()
	data := append([]byte(nil), fs.files[path].durable...)
	fs.mu.Unlock()
	seg, _ := parseSegment(path, data)
	return seg.Records
}

func (fs *memFS) createdPaths() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.created...)
}

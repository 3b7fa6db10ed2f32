package evidence

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestBuildLeavesNoSpool: the populations are spooled in TempDir while
// the bundle is made, and nothing is left there after it, made or
// failed.
func TestBuildLeavesNoSpool(t *testing.T) {
	f := newFixture(t)
	opts := f.opts
	opts.TempDir = t.TempDir()
	f.build(t, opts)
	if left, _ := os.ReadDir(opts.TempDir); len(left) != 0 {
		t.Errorf("left after a bundle: %v", left)
	}
	// A CA stream whose chain is broken fails the bundle.
	ids, _ := f.src.List(recorder.KindCA)
	path := filepath.Join(f.src.Dir, recorder.KindCA, ids[0]+".jsonl")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte("grant_not_allowed"), []byte("grant_not_allowee"), 1), 0o600)
	if _, err := Build(&bytes.Buffer{}, f.src, opts); err == nil {
		t.Fatal("a bundle over a broken CA stream was made")
	}
	if left, _ := os.ReadDir(opts.TempDir); len(left) != 0 {
		t.Errorf("left after a failed bundle: %v", left)
	}
}

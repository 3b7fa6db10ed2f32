//go:build servers

package testenv

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMinIO(t *testing.T) {
	m := StartMinIO(t)
	resp, err := http.Get(m.Endpoint + "/minio/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health: %s", resp.Status)
	}
	// Without credentials, listing buckets is refused.
	resp, err = http.Get(m.Endpoint + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous list buckets: %s, want 403", resp.Status)
	}
	if fi, err := os.Stat(m.DataDir); err != nil || !fi.IsDir() {
		t.Errorf("data dir %s: %v", m.DataDir, err)
	}
	// A second server gets its own port and data.
	m2 := StartMinIO(t)
	if m2.Endpoint == m.Endpoint || m2.DataDir == m.DataDir {
		t.Errorf("two servers share %s / %s", m.Endpoint, m.DataDir)
	}
}

// TestMinIOBinaryNotBuiltHere: without the binary make test-deps builds,
// the tests are told to run it; they never build MinIO themselves.
func TestMinIOBinaryNotBuiltHere(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	bin, err := minioBinary()
	if err == nil || !strings.Contains(err.Error(), "run `make test-deps`") {
		t.Fatalf("minioBinary() = %q, %v; want an error saying to run make test-deps", bin, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(cache, "gatehouse", "bin")); len(entries) != 0 {
		t.Errorf("the cache got %d entries; the tests must not build MinIO", len(entries))
	}
}

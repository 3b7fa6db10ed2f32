//go:build servers

package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the gatehouse binary gatehouseBinary built (about
// 40 MB in a fresh temporary directory) once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		if err := os.RemoveAll(filepath.Dir(binPath)); err != nil {
			os.Stderr.WriteString("e2e: removing the test binary: " + err.Error() + "\n")
		}
	}
	os.Exit(code)
}

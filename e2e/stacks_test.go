//go:build servers

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// testServeStacks: gatehouse serve runs with goroutines started at the
// runtime's smallest stack (it re-executes itself with GODEBUG set: the
// runtime reads the setting only at start), the setting idle sessions'
// memory was measured with (docs/benchmarks.md, "Goroutine stacks of
// idle sessions"), keeping the pid the test started.
func testServeStacks(t *testing.T, w *world) {
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w.server.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("GODEBUG=")); ok && bytes.Contains(v, []byte("adaptivestackstart=0")) {
			return
		}
	}
	t.Fatalf("gatehouse serve (pid %d) runs without GODEBUG=adaptivestackstart=0; its environment: %q", w.server.Process.Pid, bytes.ReplaceAll(environ, []byte{0}, []byte{' '}))
}

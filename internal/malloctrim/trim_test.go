//go:build linux && cgo

package malloctrim

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// TestTrimReleasesWhatTheParserFreed: parses on several threads leave
// their freed memory in those threads' malloc arenas; Trim gives it back
// (the process's resident memory falls).
func TestTrimReleasesWhatTheParserFreed(t *testing.T) {
	big := "SELECT * FROM t WHERE a IN (" + strings.Repeat("1, ", 5_000) + "1)"
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			runtime.LockOSThread() // a thread, and so an arena, of its own
			defer runtime.UnlockOSThread()
			for range 20 {
				if _, err := pg_query.Parse(big); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	before := rss(t)
	if !Trim() {
		t.Fatal("Trim released nothing after the parser freed memory")
	}
	released := before - rss(t)
	t.Logf("Trim released %d KiB of resident memory", released>>10)
	// Measured: 170-320 KiB after these parses, none without them.
	if released < 64<<10 {
		t.Fatalf("Trim released %d KiB of resident memory, want at least 64 KiB of what the parser freed", released>>10)
	}
}

// rss is the process's resident memory (/proc/self/statm), in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

//go:build servers

package testenv

import (
	"strings"
	"testing"
)

// TestScanLinesGoesOnPastALongLine: a logged statement longer than
// maxLogLine is cut, and the lines after it still arrive (a scanner that
// stopped there would leave PostgreSQL logging into a pipe nobody reads).
func TestScanLinesGoesOnPastALongLine(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	in := "first\r\n" + long + "\nafter\nlast without newline"
	var got []string
	scanLines(strings.NewReader(in), func(s string) { got = append(got, s) })
	if len(got) != 4 || got[0] != "first" || got[2] != "after" || got[3] != "last without newline" {
		t.Fatalf("lines %d: %.40q", len(got), got)
	}
	if !strings.HasSuffix(got[1], " [line cut at 1 MiB]") || len(got[1]) > maxLogLine+64 {
		t.Errorf("the long line: %d bytes, ending %q", len(got[1]), got[1][len(got[1])-30:])
	}
}

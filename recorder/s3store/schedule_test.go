package s3store

import (
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const chunk, interval = 1 << 20, 10 * time.Second
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name     string
		check    dueCheck
		wantDue  bool
		wantNext time.Time // when not due
	}{
		{"closed, nothing new", dueCheck{closed: true, checked: now}, true, time.Time{}},
		{"closed with lines", dueCheck{closed: true, pending: 10, checked: now}, true, time.Time{}},
		{"a chunk's worth", dueCheck{pending: chunk, checked: now}, true, time.Time{}},
		{"more than a chunk", dueCheck{pending: 3 * chunk, checked: ago(time.Second)}, true, time.Time{}},
		{"a little, interval not over", dueCheck{pending: 100, checked: ago(3 * time.Second)}, false, now.Add(7 * time.Second)},
		{"a little, interval just over", dueCheck{pending: 100, checked: ago(interval)}, true, time.Time{}},
		{"a little, interval long over", dueCheck{pending: 100, checked: ago(time.Hour)}, true, time.Time{}},
		// Nothing waits: whatever comes next is written after now.
		{"nothing, checked long ago", dueCheck{checked: ago(time.Hour)}, false, now.Add(interval)},
		{"nothing, checked just now", dueCheck{checked: now}, false, now.Add(interval)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due, next := tc.check.due(now, chunk, interval)
			if due != tc.wantDue || !next.Equal(tc.wantNext) {
				t.Errorf("due = %v, next %v; want %v, %v", due, next, tc.wantDue, tc.wantNext)
			}
		})
	}
}

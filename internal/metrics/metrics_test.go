package metrics

import (
	"errors"
	"testing"
	"time"
)

// TestUploadLag: the lag is 0 while nothing waits, and otherwise counts
// from the last upload pass that succeeded; failed passes do not reset it.
func TestUploadLag(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	m := New()
	m.now = func() time.Time { return now }
	m.UploadPass(nil)
	for _, step := range []struct {
		advance time.Duration
		pass    error
		waiting int64
		want    float64
	}{
		{0, nil, 0, 0},
		{5 * time.Second, nil, 100, 0}, // a pass just succeeded
		{30 * time.Second, errors.New("bucket down"), 100, 30}, // failing since
		{30 * time.Second, errors.New("bucket down"), 100, 60},
		{0, nil, 0, 0}, // recovered
	} {
		now = now.Add(step.advance)
		m.UploadPass(step.pass)
		if got := m.uploadLag(step.waiting); got != step.want {
			t.Errorf("after %v (pass error %v, %d bytes waiting): lag %v, want %v", step.advance, step.pass, step.waiting, got, step.want)
		}
	}
}

package evidence

import (
	"fmt"
	"time"
)

// ParseBound reads one end of a bundle's period as `gatehouse evidence`
// and the console's /evidence take it: an RFC 3339 time, or a date (UTC
// midnight). A date as the end (end true) means the end of that day, so
// that --from 2026-01-01 --to 2026-03-31 covers the whole quarter. Both
// producers read it here, so the same words give the same period and
// the same data files.
func ParseBound(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-26T09:00:00Z) nor a date (2026-01-26)", s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

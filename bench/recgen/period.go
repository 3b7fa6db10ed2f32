package recgen

import (
	"crypto/ed25519"
	"time"
)

// GenerateOver is Generate with the sessions spread evenly over period
// from Start rather than one minute apart: the evidence benchmark's
// 90-day period holds 100,000 sessions where one minute apart would end
// on day 70.
func GenerateOver(dir string, key ed25519.PrivateKey, sessions, statements int, period time.Duration) (int, error) {
	return generate(dir, key, sessions, statements, func(i int) time.Time { return SpacedTime(i, sessions, period) })
}

// SpacedTime is when session i of n spread over period begins.
func SpacedTime(i, n int, period time.Duration) time.Time {
	return Start.Add(time.Duration(int64(period) / int64(max(n, 1)) * int64(i)))
}

package stack

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestKeepUploaded: sessions stay in the spool for spool_keep_uploaded;
// CA streams at least ca.max_ttl, so that revocation still finds every
// certificate that has not expired; ledgers and the console's activity
// streams as long as sessions.
func TestKeepUploaded(t *testing.T) {
	tests := []struct {
		keep, maxTTL   time.Duration
		session, caMin time.Duration
	}{
		{24 * time.Hour, time.Hour, 24 * time.Hour, 24 * time.Hour}, // spool_keep_uploaded's default
		{0, time.Hour, 0, time.Hour},
		{2 * time.Hour, 12 * time.Hour, 2 * time.Hour, 12 * time.Hour},
		{48 * time.Hour, 12 * time.Hour, 48 * time.Hour, 48 * time.Hour},
	}
	for _, tt := range tests {
		got := KeepUploaded(tt.keep, tt.maxTTL)
		if got[recorder.KindSession] != tt.session || got[recorder.KindCA] != tt.caMin || got[recorder.KindLedger] != tt.session ||
			got[recorder.KindConsole] != tt.session || len(got) != 4 {
			t.Errorf("keep %s, max_ttl %s: %v; want sessions %s, ca %s", tt.keep, tt.maxTTL, got, tt.session, tt.caMin)
		}
	}
}

package main

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestKeepUploaded: sessions stay in the spool for spool_keep_uploaded;
// CA streams at least ca.max_ttl, so that revocation still finds every
// certificate that has not expired; ledgers as long as sessions.
func TestKeepUploaded(t *testing.T) {
	tests := []struct {
		set            bool // spool_keep_uploaded is set, to keep
		keep, maxTTL   time.Duration
		session, caMin time.Duration
	}{
		{false, 0, time.Hour, 24 * time.Hour, 24 * time.Hour},
		{true, 0, time.Hour, 0, time.Hour},
		{true, 2 * time.Hour, 12 * time.Hour, 2 * time.Hour, 12 * time.Hour},
		{true, 48 * time.Hour, 12 * time.Hour, 48 * time.Hour, 48 * time.Hour},
	}
	for _, tt := range tests {
		cfg := &policy.Config{}
		cfg.CA.MaxTTL = policy.Duration(tt.maxTTL)
		if tt.set {
			d := policy.Duration(tt.keep)
			cfg.Recording.SpoolKeepUploaded = &d
		}
		got := keepUploaded(cfg)
		if got[recorder.KindSession] != tt.session || got[recorder.KindCA] != tt.caMin || got[recorder.KindLedger] != tt.session || len(got) != 3 {
			t.Errorf("set %t keep %s, max_ttl %s: %v; want sessions %s, ca %s", tt.set, tt.keep, tt.maxTTL, got, tt.session, tt.caMin)
		}
	}
}

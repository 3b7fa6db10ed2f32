package policy

import (
	"strings"
	"testing"
	"time"
)

func TestDecisionSyncWindow(t *testing.T) {
	parse := func(value string) (*Config, error) {
		y := "data_dir: /var/lib/gatehouse\nrecording:\n  store: file\n"
		if value != "" {
			y += "  decision_sync_window: " + value + "\n"
		}
		return Parse([]byte(y))
	}
	for value, want := range map[string]time.Duration{"": 0, "0s": 0, "5ms": 5 * time.Millisecond, "1s": time.Second} {
		cfg, err := parse(value)
		if err != nil {
			t.Fatalf("%q: %v", value, err)
		}
		if got := cfg.Recording.DecisionSyncWindow.D(); got != want {
			t.Errorf("%q: window %v, want %v", value, got, want)
		}
	}
	for value, want := range map[string]string{
		"2s":   "recording.decision_sync_window: 2s, want 0",
		"-1ms": "must not be negative",
	} {
		if _, err := parse(value); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", value, err, want)
		}
	}
}

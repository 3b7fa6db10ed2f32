package policy

import (
	"strings"
	"testing"
)

const discardConfig = `
data_dir: /var/lib/gatehouse
recording:
  store: discard
`

// TestRecordingDiscardNeedsAcknowledgement: store discard is refused
// unless the environment says, in so many words, that this is a benchmark.
func TestRecordingDiscardNeedsAcknowledgement(t *testing.T) {
	for _, v := range []string{"", "0", "true", "yes", " 1"} {
		t.Setenv(DiscardRecordingsEnv, v)
		_, err := Parse([]byte(discardConfig))
		if err == nil {
			t.Fatalf("%s=%q: store discard accepted", DiscardRecordingsEnv, v)
		}
		for _, want := range []string{"recording.store: discard", "benchmarks only", DiscardRecordingsEnv + "=1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s=%q: error %q does not say %q", DiscardRecordingsEnv, v, err, want)
			}
		}
	}
	t.Setenv(DiscardRecordingsEnv, "1")
	cfg, err := Parse([]byte(discardConfig))
	if err != nil {
		t.Fatalf("%s=1: %v", DiscardRecordingsEnv, err)
	}
	if cfg.Recording.Store != "discard" {
		t.Errorf("store = %q", cfg.Recording.Store)
	}
}

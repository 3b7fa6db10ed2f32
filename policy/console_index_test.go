package policy

import (
	"strings"
	"testing"
	"time"
)

// TestConsoleIndexFields: the index's fields default as documented and
// refuse what would make the index spin or never sync.
func TestConsoleIndexFields(t *testing.T) {
	cfg, err := Parse([]byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Console; c.IndexDir != "console-index" || c.IndexInterval.D() != 5*time.Second || c.IndexMaxAge != 0 {
		t.Errorf("index defaults = %q %s %s", c.IndexDir, c.IndexInterval.D(), c.IndexMaxAge.D())
	}
	for _, tc := range []struct{ yaml, want string }{
		{"console: {index_interval: 100ms}", "console.index_interval"},
		{"console: {index_max_age: -1s}", "must not be negative"}, // as every duration
	} {
		if _, err := Parse([]byte(sampleConfig + tc.yaml + "\n")); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %q", tc.yaml, err, tc.want)
		}
	}
	cfg, err = Parse([]byte(sampleConfig + "console: {index_dir: /var/cache/gatehouse-index, index_interval: 30s, index_max_age: 10s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Console; cfg.Path(c.IndexDir) != "/var/cache/gatehouse-index" || c.IndexInterval.D() != 30*time.Second || c.IndexMaxAge.D() != 10*time.Second {
		t.Errorf("index fields = %+v", c)
	}
}

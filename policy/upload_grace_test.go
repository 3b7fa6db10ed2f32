package policy

import (
	"strings"
	"testing"
	"time"
)

// TestUploadGrace: with store s3 the grace defaults to 10m and takes any
// duration of zero or more; other stores have none; a negative one is
// refused.
func TestUploadGrace(t *testing.T) {
	for _, tt := range []struct {
		config string
		want   time.Duration
	}{
		{s3Complete, 10 * time.Minute},
		{s3Complete + "  upload_grace: 30m\n", 30 * time.Minute},
		{s3Complete + "  upload_grace: 0s\n", 0},
		{"data_dir: /x\nrecording:\n  store: file\n", 0},
		{"data_dir: /x\nrecording:\n  store: file\n  upload_grace: 1h\n", 0},
	} {
		cfg, err := Parse([]byte(tt.config))
		if err != nil {
			t.Fatalf("%q: %v", tt.config, err)
		}
		if got := cfg.Recording.Grace(); got != tt.want {
			t.Errorf("%q: Grace() = %s, want %s", tt.config, got, tt.want)
		}
	}
	_, err := Parse([]byte(s3Complete + "  upload_grace: -1m\n"))
	if err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("upload_grace -1m: error %v", err)
	}
}

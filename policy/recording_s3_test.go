package policy

import (
	"strings"
	"testing"
	"time"
)

const s3Base = `
data_dir: /var/lib/gatehouse
recording:
  store: s3
  s3:
`

func TestRecordingS3Valid(t *testing.T) {
	for _, ep := range []string{"s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000", "https://minio.internal:9000/"} {
		cfg, err := Parse([]byte(s3Base + "    endpoint: " + ep + `
    bucket: recordings
    access_key_env: S3_ACCESS
    secret_key_env: S3_SECRET
    retention: 400d
    mode: compliance
    create_bucket: true
`))
		if err != nil {
			t.Fatalf("endpoint %s: %v", ep, err)
		}
		if s := cfg.Recording.S3; s.Retention.D() != 400*24*time.Hour || s.Mode != "compliance" || !s.CreateBucket {
			t.Errorf("parsed %+v", s)
		}
	}
}

func TestRecordingS3Refusals(t *testing.T) {
	good := map[string]string{
		"endpoint": "http://127.0.0.1:9000", "bucket": "recordings", "access_key_env": "A",
		"secret_key_env": "S", "retention": "30d", "mode": "governance",
	}
	tests := []struct {
		field, value, want string
	}{
		{"endpoint", "", "recording.s3.endpoint is required"},
		{"endpoint", "ftp://x:1", `recording.s3.endpoint: "ftp://x:1"`},
		{"endpoint", "http://x:1/path", `recording.s3.endpoint: "http://x:1/path"`},
		{"bucket", "", "recording.s3.bucket is required"},
		{"access_key_env", "", "recording.s3.access_key_env is required"},
		{"secret_key_env", "", "recording.s3.secret_key_env is required"},
		{"retention", "", "recording.s3.retention is required"},
		{"retention", "0s", "recording.s3.retention is required"},
		{"mode", "", "want compliance or governance"},
		{"mode", "legal-hold", `recording.s3.mode: "legal-hold"`},
	}
	for _, tt := range tests {
		var b strings.Builder
		b.WriteString(s3Base)
		for _, k := range []string{"endpoint", "bucket", "access_key_env", "secret_key_env", "retention", "mode"} {
			v := good[k]
			if k == tt.field {
				v = tt.value
			}
			if v != "" {
				b.WriteString("    " + k + ": " + v + "\n")
			}
		}
		_, err := Parse([]byte(b.String()))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: error %v, want %q", tt.field, tt.value, err, tt.want)
		}
	}
	// The S3 settings are not checked when the store is file.
	if _, err := Parse([]byte("data_dir: /x\nrecording:\n  store: file\n  s3:\n    retention: 1d\n")); err != nil {
		t.Errorf("file store with partial s3 settings: %v", err)
	}
}

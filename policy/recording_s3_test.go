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

const s3Complete = s3Base + `    endpoint: http://127.0.0.1:9000
    bucket: recordings
    access_key_env: S3_ACCESS
    secret_key_env: S3_SECRET
    retention: 400d
    mode: compliance
`

// TestSpoolKeepUploaded: with store s3 the field defaults to 24h and takes
// any duration of zero or more.
func TestSpoolKeepUploaded(t *testing.T) {
	tests := []struct {
		line string
		want time.Duration
	}{
		{"", 24 * time.Hour},
		{"  spool_keep_uploaded:\n", 24 * time.Hour},
		{"  spool_keep_uploaded: 36h\n", 36 * time.Hour},
		{"  spool_keep_uploaded: 7d\n", 7 * 24 * time.Hour},
		{"  spool_keep_uploaded: 0s\n", 0},
		{"  spool_keep_uploaded: 0\n", 0},
	}
	for _, tt := range tests {
		cfg, err := Parse([]byte(s3Complete + tt.line))
		if err != nil {
			t.Fatalf("%q: %v", tt.line, err)
		}
		if got := cfg.Recording.KeepUploaded(); got != tt.want {
			t.Errorf("%q: KeepUploaded() = %s, want %s", tt.line, got, tt.want)
		}
	}
	if got := (RecordingConfig{}).KeepUploaded(); got != 24*time.Hour {
		t.Errorf("zero RecordingConfig: KeepUploaded() = %s, want 24h", got)
	}
}

// TestSpoolKeepUploadedRefusals: a negative value is refused, from the
// file (naming the line) and from a Config built in Go (naming the field);
// so is the field with a store that has no spool to prune.
func TestSpoolKeepUploadedRefusals(t *testing.T) {
	_, err := Parse([]byte(s3Complete + "  spool_keep_uploaded: -1h\n"))
	for _, want := range []string{"line 12", `"-1h"`, "must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-1h in the file: error %v, want %q", err, want)
		}
	}

	cfg, err := Parse([]byte(s3Complete))
	if err != nil {
		t.Fatal(err)
	}
	negative := Duration(-time.Hour)
	cfg.Recording.SpoolKeepUploaded = &negative
	err = cfg.Validate()
	for _, want := range []string{"recording.spool_keep_uploaded", "-1h0m0s must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-1h set in Go: error %v, want %q", err, want)
		}
	}

	t.Setenv(DiscardRecordingsEnv, "1")
	for store, wants := range map[string][]string{
		"file":    {"recording.spool_keep_uploaded: only for store s3", "with store file the directory is the store itself", "nothing is ever removed"},
		"discard": {"recording.spool_keep_uploaded: only for store s3", "discard writes nothing"},
	} {
		for _, value := range []string{"24h", "0s"} {
			_, err := Parse([]byte("data_dir: /x\nrecording:\n  store: " + store + "\n  spool_keep_uploaded: " + value + "\n"))
			for _, want := range wants {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("store %s with spool_keep_uploaded %s: error %v, want %q", store, value, err, want)
				}
			}
		}
		if _, err := Parse([]byte("data_dir: /x\nrecording:\n  store: " + store + "\n")); err != nil {
			t.Errorf("store %s without spool_keep_uploaded: %v", store, err)
		}
	}
}

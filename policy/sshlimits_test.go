package policy

import (
	"strings"
	"testing"
)

func TestSSHLimits(t *testing.T) {
	cases := []struct {
		name        string
		ssh         string
		wantPerMin  int
		wantUnauth  int
		wantErrText string
	}{
		{"defaults", "{}", DefaultMaxAuthAttemptsPerMinute, DefaultMaxUnauthenticated, ""},
		{"set", "{max_auth_attempts_per_minute: 5, max_unauthenticated_connections: 9}", 5, 9, ""},
		{"negative rate", "{max_auth_attempts_per_minute: -1}", 0, 0, "must be positive"},
		{"negative count", "{max_unauthenticated_connections: -3}", 0, 0, "must be positive"},
	}
	t.Run("ca", func(t *testing.T) {
		cfg, err := Parse([]byte("data_dir: /tmp/x\n"))
		if err != nil || cfg.CA.MaxFailedRequestsPerMinute != DefaultMaxFailedRequestsPerMinute {
			t.Errorf("ca.max_failed_requests_per_minute default: %v, %v", cfg, err)
		}
		if _, err := Parse([]byte("data_dir: /tmp/x\nca: {max_failed_requests_per_minute: -1}\n")); err == nil || !strings.Contains(err.Error(), "must be positive") {
			t.Errorf("negative ca.max_failed_requests_per_minute: %v", err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("data_dir: /tmp/x\nssh: " + tc.ssh + "\n"))
			if tc.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("Parse: %v, want an error saying %q", err, tc.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SSH.MaxAuthAttemptsPerMinute != tc.wantPerMin || cfg.SSH.MaxUnauthenticated != tc.wantUnauth {
				t.Errorf("limits %d, %d; want %d, %d", cfg.SSH.MaxAuthAttemptsPerMinute, cfg.SSH.MaxUnauthenticated, tc.wantPerMin, tc.wantUnauth)
			}
		})
	}
}

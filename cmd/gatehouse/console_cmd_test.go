package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestConsoleRefusesToStart: the console does not start with recordings
// discarded (its activity could not be recorded), or on a non-loopback
// address without TLS. (Without identity.oidc it starts, and admits
// links only.)
func TestConsoleRefusesToStart(t *testing.T) {
	const oidc = "identity:\n  oidc: {issuer: 'http://127.0.0.1:1/dex', client_id: gatehouse}\n"
	for _, tc := range []struct{ name, config, env, want string }{
		{"discarded recordings", oidc + "recording: {store: discard}\n", "1", "recording.store is discard"},
		{"plain HTTP off loopback", oidc + "console: {listen: '0.0.0.0:0'}\n", "", "console.listen 0.0.0.0:0 is not a loopback address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, _, err := recorder.LoadOrGenerateKey(filepath.Join(dir, recorder.KeyFile)); err != nil {
				t.Fatal(err)
			}
			config := filepath.Join(dir, "gatehouse.yaml")
			if err := os.WriteFile(config, []byte("data_dir: "+dir+"\n"+tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.env != "" {
				t.Setenv(policy.DiscardRecordingsEnv, tc.env)
			}
			out, code, err := runAudit(t, "console", "--config", config)
			if code == 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("exit %d, %v (%s), want an error naming %q", code, err, out, tc.want)
			}
		})
	}
}

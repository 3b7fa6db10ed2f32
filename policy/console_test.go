package policy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConsoleDefaults(t *testing.T) {
	cfg, err := Parse([]byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Console
	if c.Listen != "127.0.0.1:8444" || c.OIDCClientID != "gatehouse" || !slices.Equal(c.AuditorGroups, []string{"auditors"}) ||
		c.SessionTTL.D() != 8*time.Hour || c.TLS() || c.OIDCClientSecretEnv != "" {
		t.Errorf("console defaults = %+v", c)
	}
}

func TestConsoleRefusals(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"listen", "console: {listen: nowhere}", "console.listen"},
		{"half TLS", "console: {tls_cert: c.pem}", "console.tls_cert and console.tls_key"},
		{"url", "console: {public_url: 'javascript:alert(1)'}", "console.public_url"},
		{"url query", "console: {public_url: 'https://c.example.com/?x=1'}", "console.public_url"},
		{"empty group", "console: {auditor_groups: ['']}", "console.auditor_groups"},
		{"ttl too long", "console: {session_ttl: 25h}", "console.session_ttl"},
		{"ttl too short", "console: {session_ttl: 10s}", "console.session_ttl"},
		{"unknown field", "console: {auditors: [x]}", "auditors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(sampleConfig + tc.yaml + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
	cfg, err := Parse([]byte(sampleConfig + "console: {listen: '0.0.0.0:9444', tls_cert: c.pem, tls_key: k.pem, oidc_client_id: console, auditor_groups: [audit, sox], session_ttl: 1h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Console; !c.TLS() || c.OIDCClientID != "console" || len(c.AuditorGroups) != 2 {
		t.Errorf("console = %+v", c)
	}
}

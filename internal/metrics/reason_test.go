package metrics

import "testing"

func TestEndReasonClass(t *testing.T) {
	for _, tt := range []struct{ reason, want string }{
		{"client disconnected", "client disconnected"},
		{"client disconnected during handshake", "client disconnected during handshake"},
		{"handshake failed: ssh: no auth passed yet", "handshake failed"},
		{"recording failed: journal: closed", "recording failed"},
		{"gatehouse: session ended: certificate revoked", "certificate revoked"},
		{"gatehouse: session ended: certificate expired at 2026-01-26T10:15:00Z; run gatehouse login", "certificate expired"},
		{"gatehouse: session ended: server draining", "server draining"},
		{"server shutdown", "server shutdown"},
		{"client disconnectedX", "other"},
		{"something new", "other"},
		{"", "other"},
	} {
		if got := EndReasonClass(tt.reason); got != tt.want {
			t.Errorf("EndReasonClass(%q) = %q, want %q", tt.reason, got, tt.want)
		}
	}
}

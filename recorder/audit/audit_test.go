package audit

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func ev(t *testing.T, typ event.Type, at time.Time, data any) recorder.Event {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return recorder.Event{Stream: "ca-1", Seq: 1, Time: at, Type: typ, Data: raw}
}

func TestRequestsSettle(t *testing.T) {
	step := func(id, state string, expires time.Time) event.RequestStep {
		return event.RequestStep{Request: event.AccessRequest{ID: id, State: state, Grant: "orders:read", FiledAt: t0, ExpiresAt: expires}}
	}
	l := NewRequests()
	for _, e := range []recorder.Event{
		ev(t, event.TypeRequestFiled, t0, step("used", "pending", time.Time{})),
		ev(t, event.TypeRequestApproved, t0, step("used", "approved", t0.Add(2*time.Hour))),
		ev(t, event.TypeRequestFiled, t0, step("lapsed", "approved", t0.Add(time.Hour))),
		ev(t, event.TypeRequestFiled, t0, step("waiting", "pending", time.Time{})),
		ev(t, event.TypeRequestDenied, t0, step("no", "denied", time.Time{})),
		ev(t, event.TypeRequestFiled, t0, step("cut", "approved", t0.Add(2*time.Hour))),
		ev(t, event.TypeCertIssued, t0, event.CertIssued{Serial: 7, Identity: event.Identity{RequestID: "used"}}),
		ev(t, event.TypeCertIssued, t0, event.CertIssued{Serial: 8, Identity: event.Identity{RequestID: "cut,used"}}),
		ev(t, event.TypeCertRevoked, t0, event.CertRevoked{Matched: []event.RevokedCertificate{{Serial: 8}}}),
	} {
		l.Add(e)
	}
	l.Settle(t0.Add(90 * time.Minute))
	want := map[string]string{"used": StateRevoked, "lapsed": StateExpired, "waiting": "pending", "no": "denied", "cut": StateRevoked}
	for id, state := range want {
		if got := l.ByID[id].State; got != state {
			t.Errorf("%s: state %s, want %s", id, got, state)
		}
	}
	if !slices.Equal(l.Order, []string{"used", "lapsed", "waiting", "no", "cut"}) || !slices.Equal(l.ByID["used"].Certificates, []uint64{7, 8}) {
		t.Errorf("order %v, certificates of used %v", l.Order, l.ByID["used"].Certificates)
	}
	if !slices.Equal(l.Under(8), []string{"cut", "used"}) || l.Under(0) != nil {
		t.Errorf("under 8: %v, under 0: %v", l.Under(8), l.Under(0))
	}
}

func TestRevocationsBefore(t *testing.T) {
	var rs Revocations
	rs.Add(ev(t, event.TypeCertRevoked, t0, event.CertRevoked{Revocation: event.Revocation{Key: "SHA256:k"}}))
	rs.Add(ev(t, event.TypeCertRevoked, t0.Add(time.Hour), event.CertRevoked{Revocation: event.Revocation{Identity: "bob", RevokedAt: t0.Add(time.Hour)},
		Matched: []event.RevokedCertificate{{Serial: 9}}}))
	tests := []struct {
		name  string
		s     recorder.Summary
		found string
	}{
		{"by key, started after", recorder.Summary{Start: t0.Add(time.Minute), KeyFingerprint: "SHA256:k"}, "key SHA256:k"},
		{"by key, started before", recorder.Summary{Start: t0.Add(-time.Minute), KeyFingerprint: "SHA256:k"}, ""},
		{"matched serial", recorder.Summary{Start: t0.Add(2 * time.Hour), Serial: 9}, "identity bob"},
		{"other serial", recorder.Summary{Start: t0.Add(2 * time.Hour), Serial: 10}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := rs.Before(tt.s)
			if got := map[bool]string{true: r.What()}[ok]; got != tt.found {
				t.Errorf("found %q, want %q", got, tt.found)
			}
		})
	}
}

func TestExposure(t *testing.T) {
	var x Exposure
	x.Add(ExposureStatement{Target: "orders", Identity: "bob", Rows: 3, Decision: "allow", Masked: []string{"email: hash (customers.email)", "card: redact"}})
	x.Add(ExposureStatement{Target: "orders", Identity: "alice", Rows: 2, Decision: "allow", Masked: []string{"e: hash (customers.email)"}})
	x.Add(ExposureStatement{Target: "orders", Identity: "alice", Session: "s1", Seq: 4, Decision: "deny", Rule: "masking.deny_probing", Text: "SELECT 1"})
	x.Add(ExposureStatement{Target: "orders", Identity: "alice", Decision: "deny", Rule: "policy.deny"})
	rows := x.Rows()
	if len(rows) != 3 {
		t.Fatalf("rows %+v", rows)
	}
	if r := rows[1]; r.Column != "customers.email" || r.Function != "hash" || r.Statements != 2 || r.Values != 5 || r.Identities != "alice, bob" {
		t.Errorf("email column: %+v", r)
	}
	if r := rows[0]; r.Column != "card" || r.Function != "redact" || r.Values != 3 {
		t.Errorf("card column: %+v", r)
	}
	if r := rows[2]; r.Kind != ExposureRefused || r.Session != "s1" || r.Rule != "masking.deny_probing" {
		t.Errorf("refused: %+v", r)
	}
}

package ca

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func TestIssue(t *testing.T) {
	withGroups := func(groups ...string) policy.Identity {
		id := alice()
		id.Groups = groups
		return id
	}
	agentOf := func(id policy.Identity, agent string) policy.Identity {
		id.DelegatedBy, id.Agent = id.Name(), agent
		return id
	}
	tests := []struct {
		name       string
		req        Request
		wantCode   string
		wantInMsg  string
		principals []string
		ttl        time.Duration
		keyID      string
	}{
		{name: "groups give grants, TTL 0 is the cap",
			req:        Request{Identity: alice()},
			principals: []string{"orders:readonly"}, ttl: time.Hour, keyID: "alice@example.com"},
		{name: "explicit TTL under the cap",
			req:        Request{Identity: alice(), TTL: 10 * time.Minute},
			principals: []string{"orders:readonly"}, ttl: 10 * time.Minute},
		{name: "TTL exactly the cap",
			req:        Request{Identity: alice(), TTL: time.Hour},
			principals: []string{"orders:readonly"}, ttl: time.Hour},
		{name: "TTL over ca.max_ttl is refused, not clamped",
			req:      Request{Identity: alice(), TTL: 2 * time.Hour},
			wantCode: caapi.CodeTTLExceeded, wantInMsg: "cap of 1h0m0s (ca.max_ttl)"},
		{name: "several groups, every principal, tightest grant cap",
			req:        Request{Identity: withGroups("engineering", "dba")},
			principals: []string{"orders:admin", "orders:readonly"}, ttl: 15 * time.Minute},
		{name: "over the per-grant max_ttl is refused naming it",
			req:      Request{Identity: withGroups("engineering", "dba"), TTL: 20 * time.Minute},
			wantCode: caapi.CodeTTLExceeded, wantInMsg: "max_ttl of the grants"},
		{name: "narrowing drops the short admin cap",
			req:        Request{Identity: withGroups("engineering", "dba"), Grants: []string{"orders:readonly"}, TTL: 45 * time.Minute},
			principals: []string{"orders:readonly"}, ttl: 45 * time.Minute},
		{name: "narrowing to admin keeps its cap",
			req:        Request{Identity: withGroups("engineering", "dba"), Grants: []string{"orders:admin"}},
			principals: []string{"orders:admin"}, ttl: 15 * time.Minute},
		{name: "narrowing dedupes and sorts",
			req:        Request{Identity: withGroups("engineering", "dba"), Grants: []string{"orders:readonly", "orders:admin", "orders:readonly"}},
			principals: []string{"orders:admin", "orders:readonly"}, ttl: 15 * time.Minute},
		{name: "grant max_ttl above ca.max_ttl is held to ca.max_ttl",
			req:        Request{Identity: withGroups("ops")},
			principals: []string{"billing:reader"}, ttl: time.Hour},
		{name: "grant not entitled",
			req:      Request{Identity: alice(), Grants: []string{"orders:admin"}},
			wantCode: caapi.CodeGrantNotAllowed, wantInMsg: "orders:admin is not granted to your groups (engineering)"},
		{name: "grant not configured at all",
			req:      Request{Identity: alice(), Grants: []string{"payroll:admin"}},
			wantCode: caapi.CodeGrantNotAllowed},
		{name: "malformed grant",
			req:      Request{Identity: alice(), Grants: []string{"10.0.0.1:5432"}},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "TARGET:ROLE"},
		{name: "no matching group",
			req:      Request{Identity: withGroups("marketing", "sales")},
			wantCode: caapi.CodeNoGrant, wantInMsg: "marketing, sales"},
		{name: "no groups at all",
			req:      Request{Identity: withGroups()},
			wantCode: caapi.CodeNoGrant, wantInMsg: "no groups"},
		{name: "agent gets agent_max_ttl",
			req:        Request{Identity: agentOf(alice(), "claude-code")},
			principals: []string{"orders:readonly"}, ttl: 30 * time.Minute, keyID: "alice@example.com via agent:claude-code"},
		{name: "agent over agent_max_ttl is refused naming it",
			req:      Request{Identity: agentOf(alice(), "claude-code"), TTL: 45 * time.Minute},
			wantCode: caapi.CodeTTLExceeded, wantInMsg: "ca.agent_max_ttl"},
		{name: "agent keeps a grant cap tighter than agent_max_ttl",
			req:        Request{Identity: agentOf(withGroups("dba"), "claude-code")},
			principals: []string{"orders:admin"}, ttl: 15 * time.Minute},
		{name: "bad agent name",
			req:      Request{Identity: agentOf(alice(), "claude code\n")},
			wantCode: caapi.CodeInvalidRequest},
		{name: "no public key",
			req:      Request{Identity: alice(), PublicKey: nil},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "public key"},
		{name: "no subject",
			req:      Request{Identity: policy.Identity{Issuer: "x", Groups: []string{"engineering"}}},
			wantCode: caapi.CodeInvalidRequest},
		{name: "no issuer",
			req:      Request{Identity: policy.Identity{Subject: "x", Groups: []string{"engineering"}}},
			wantCode: caapi.CodeInvalidRequest},
		{name: "negative TTL",
			req:      Request{Identity: alice(), TTL: -time.Minute},
			wantCode: caapi.CodeInvalidRequest},
		{name: "operator source is not for Issue",
			req:      Request{Identity: alice(), Source: SourceOperator},
			wantCode: caapi.CodeInternal},
		{name: "control characters in ticket id",
			req:      Request{Identity: func() policy.Identity { id := alice(); id.TicketID = "T-1\x1b[2J"; return id }()},
			wantCode: caapi.CodeInvalidRequest},
		// An ID token's claims are the client's text: none that hides or
		// rewrites what a reader sees goes into a certificate.
		{name: "ESC sequence in the email",
			req:      Request{Identity: edited(alice(), func(id *policy.Identity) { id.Email = "alice@example.com\x1b[2K\rbob@example.com" })},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "email: character U+001B"},
		{name: "bidirectional override in the subject",
			req:      Request{Identity: edited(alice(), func(id *policy.Identity) { id.Subject = "u-123\u202e" })},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "sub: character U+202E"},
		{name: "zero-width space in a group",
			req:      Request{Identity: edited(alice(), func(id *policy.Identity) { id.Groups = []string{"engineering", "d\u200bba"} })},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "groups[1]: character U+200B"},
		{name: "line separator in the issuer",
			req:      Request{Identity: edited(alice(), func(id *policy.Identity) { id.Issuer += "\u2028" })},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "iss: character U+2028"},
		{name: "bidirectional isolate in the run id",
			req:      Request{Identity: edited(alice(), func(id *policy.Identity) { id.RunID = "run\u2066-1" })},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "run_id: character U+2066"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, rec := newTestAuthority(t)
			req := tt.req
			if req.PublicKey == nil && tt.name != "no public key" {
				req.PublicKey = ed25519Pub(t)
			}
			if req.Source == "" {
				req.Source = SourceOIDC
			}
			cert, err := a.Issue(context.Background(), req)
			if tt.wantCode != "" {
				checkRefusal(t, rec, cert, err, tt.wantCode, tt.wantInMsg)
				return
			}
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			checkUserCert(t, a, cert, req, tt.principals, tt.ttl)
			if tt.keyID != "" && cert.KeyId != tt.keyID {
				t.Errorf("KeyId = %q, want %q", cert.KeyId, tt.keyID)
			}
			if ev := rec.last(t); ev.Type != event.TypeCertIssued {
				t.Errorf("recorded %s, want %s", ev.Type, event.TypeCertIssued)
			}
		})
	}
}

func checkRefusal(t *testing.T, rec *fakeRecorder, cert *gossh.Certificate, err error, code, inMsg string) {
	t.Helper()
	if cert != nil {
		t.Errorf("got a certificate with a refusal")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
	if e.Status != statusFor(code) {
		t.Errorf("status = %d, want %d", e.Status, statusFor(code))
	}
	if !strings.Contains(e.Message, inMsg) {
		t.Errorf("message %q does not contain %q", e.Message, inMsg)
	}
	ev := rec.last(t)
	if ev.Type != event.TypeCertRefused || ev.Data["code"] != code || ev.Data["reason"] == "" {
		t.Errorf("recorded %s %v, want %s with code %s", ev.Type, ev.Data, event.TypeCertRefused, code)
	}
}

// checkUserCert verifies the certificate as a bastion would, and every
// field the pipeline sets.
func checkUserCert(t *testing.T, a *Authority, cert *gossh.Certificate, req Request, principals []string, ttl time.Duration) {
	t.Helper()
	checker := gossh.CertChecker{
		IsUserAuthority: func(k gossh.PublicKey) bool {
			return string(k.Marshal()) == string(a.UserSigner.PublicKey().Marshal())
		},
		Clock: func() time.Time { return testNow },
	}
	for _, p := range principals {
		if err := checker.CheckCert(p, cert); err != nil {
			t.Errorf("CheckCert(%s): %v", p, err)
		}
	}
	if !slices.Equal(cert.ValidPrincipals, principals) {
		t.Errorf("principals = %v, want %v", cert.ValidPrincipals, principals)
	}
	if cert.CertType != gossh.UserCert {
		t.Errorf("CertType = %d, want user", cert.CertType)
	}
	if got, want := cert.ValidAfter, uint64(testNow.Add(-time.Minute).Unix()); got != want {
		t.Errorf("ValidAfter = %d, want now-1m = %d", got, want)
	}
	if got, want := cert.ValidBefore, uint64(testNow.Add(ttl).Unix()); got != want {
		t.Errorf("ValidBefore = %d, want now+%s = %d", got, ttl, want)
	}
	if string(cert.Key.Marshal()) != string(req.PublicKey.Marshal()) {
		t.Error("certificate is for another key")
	}
	if cert.KeyId != req.Identity.Name() {
		t.Errorf("KeyId = %q, want %q", cert.KeyId, req.Identity.Name())
	}
	if len(cert.CriticalOptions) != 0 {
		t.Errorf("critical options %v, want none", cert.CriticalOptions)
	}
	want := req.Identity
	want.Serial = cert.Serial
	wantExt := map[string]string{"permit-port-forwarding": "", policy.IdentityExtension: want.Encode()}
	if !reflect.DeepEqual(cert.Extensions, wantExt) {
		t.Errorf("extensions = %v, want exactly %v", cert.Extensions, wantExt)
	}
	id, err := policy.DecodeIdentity(cert.Extensions[policy.IdentityExtension])
	if err != nil {
		t.Fatal(err)
	}
	if id.Serial != cert.Serial || id.Serial == 0 {
		t.Errorf("extension serial %d, certificate serial %d", id.Serial, cert.Serial)
	}
}

func TestIssueKeyTypes(t *testing.T) {
	a, _ := newTestAuthority(t)
	// A FIDO security key (PROTOCOL.u2f wire format); not on the list.
	skKey, err := gossh.ParsePublicKey(gossh.Marshal(struct {
		Name, Key, App string
	}{gossh.KeyAlgoSKED25519, strings.Repeat("k", 32), "ssh:"}))
	if err != nil {
		t.Fatal(err)
	}
	certAsKey, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		key      gossh.PublicKey
		wantCode string
	}{
		{"ed25519", ed25519Pub(t), ""},
		{"ecdsa p256", ecdsaPub(t), ""},
		{"rsa 3072", rsaPub(t, 3072), ""},
		{"rsa 2048", rsaPub(t, 2048), caapi.CodeKeyType},
		{"sk-ed25519", skKey, caapi.CodeKeyType},
		{"certificate", certAsKey, caapi.CodeKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: tt.key, Source: SourceOIDC})
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("code %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func TestIssueOperator(t *testing.T) {
	operator := policy.Identity{Subject: "deploy-bot", Issuer: "gatehouse-operator"} // no groups: none are looked up
	agent := operator
	agent.Agent = "nightly"
	tests := []struct {
		name       string
		req        Request
		wantCode   string
		principals []string
		ttl        time.Duration
	}{
		{name: "configured grants, cap ca.max_ttl",
			req:        Request{Identity: operator, Grants: []string{"orders:admin", "billing:reader"}},
			principals: []string{"billing:reader", "orders:admin"}, ttl: time.Hour},
		{name: "per-grant max_ttl does not apply to operator grants",
			req:        Request{Identity: operator, Grants: []string{"orders:admin"}, TTL: 50 * time.Minute},
			principals: []string{"orders:admin"}, ttl: 50 * time.Minute},
		{name: "over ca.max_ttl",
			req:      Request{Identity: operator, Grants: []string{"orders:admin"}, TTL: 61 * time.Minute},
			wantCode: caapi.CodeTTLExceeded},
		{name: "agent cap",
			req:        Request{Identity: agent, Grants: []string{"orders:readonly"}},
			principals: []string{"orders:readonly"}, ttl: 30 * time.Minute},
		{name: "agent over its cap",
			req:      Request{Identity: agent, Grants: []string{"orders:readonly"}, TTL: 31 * time.Minute},
			wantCode: caapi.CodeTTLExceeded},
		{name: "unconfigured grant",
			req:      Request{Identity: operator, Grants: []string{"orders:superuser"}},
			wantCode: caapi.CodeGrantNotAllowed},
		{name: "no grants",
			req:      Request{Identity: operator},
			wantCode: caapi.CodeInvalidRequest},
		{name: "oidc source is not for IssueOperator",
			req:      Request{Identity: operator, Grants: []string{"orders:admin"}, Source: SourceOIDC},
			wantCode: caapi.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, rec := newTestAuthority(t)
			req := tt.req
			req.PublicKey = ed25519Pub(t)
			cert, err := a.IssueOperator(context.Background(), req)
			if tt.wantCode != "" {
				checkRefusal(t, rec, cert, err, tt.wantCode, "")
				return
			}
			if err != nil {
				t.Fatalf("IssueOperator: %v", err)
			}
			checkUserCert(t, a, cert, req, tt.principals, tt.ttl)
			if src := rec.last(t).Data["source"]; src != SourceOperator {
				t.Errorf("recorded source %v, want operator", src)
			}
		})
	}
}

func TestIssueRecordsEvents(t *testing.T) {
	a, rec := newTestAuthority(t)
	pub := ed25519Pub(t)
	cert, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: pub, TTL: 5 * time.Minute, Source: SourceDev})
	if err != nil {
		t.Fatal(err)
	}
	ev := rec.last(t)
	if ev.Type != event.TypeCertIssued {
		t.Fatalf("type %s", ev.Type)
	}
	id := ev.Data["identity"].(map[string]any)
	want := map[string]any{
		"source":          "dev",
		"key_id":          "alice@example.com",
		"serial":          float64(cert.Serial),
		"principals":      []any{"orders:readonly"},
		"key_fingerprint": gossh.FingerprintSHA256(pub),
		"valid_after":     "2030-01-02T03:03:05Z",
		"valid_before":    "2030-01-02T03:09:05Z",
	}
	for k, v := range want {
		if !reflect.DeepEqual(ev.Data[k], v) {
			t.Errorf("%s = %#v, want %#v", k, ev.Data[k], v)
		}
	}
	if id["sub"] != "u-123" || id["email"] != "alice@example.com" || id["serial"] != float64(cert.Serial) {
		t.Errorf("identity = %v", id)
	}
	if !strings.HasPrefix(ev.Data["key_fingerprint"].(string), "SHA256:") {
		t.Errorf("fingerprint %v", ev.Data["key_fingerprint"])
	}

	_, err = a.Issue(context.Background(), Request{Identity: alice(), PublicKey: pub, Grants: []string{"orders:admin"}, Source: SourceOIDC})
	ev = rec.last(t)
	if ev.Type != event.TypeCertRefused || errorCode(err) != caapi.CodeGrantNotAllowed {
		t.Fatalf("got %s / %v", ev.Type, err)
	}
	for _, k := range []string{"source", "identity", "reason", "code"} {
		if ev.Data[k] == nil || ev.Data[k] == "" {
			t.Errorf("refusal lacks %s: %v", k, ev.Data)
		}
	}
	if ev.Data["identity"].(map[string]any)["email"] != "alice@example.com" {
		t.Errorf("refusal identity = %v", ev.Data["identity"])
	}
}

func TestIssueFailsClosedWhenRecordingFails(t *testing.T) {
	a, rec := newTestAuthority(t)
	rec.err = errors.New("spool full")
	cert, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC})
	if cert != nil {
		t.Fatal("a certificate was returned although its issuance was not recorded")
	}
	if errorCode(err) != caapi.CodeInternal || !strings.Contains(err.Error(), "could not be recorded") {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, rec.err) {
		t.Errorf("cause %v not kept in %v", rec.err, err)
	}
	// A refusal that cannot be recorded is still a refusal.
	_, err = a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), TTL: 5 * time.Hour, Source: SourceOIDC})
	if errorCode(err) != caapi.CodeTTLExceeded || !errors.Is(err, rec.err) {
		t.Fatalf("err = %v", err)
	}
}

func TestIssueMisconfiguredAuthority(t *testing.T) {
	tests := map[string]func(a *Authority){
		"no user signer": func(a *Authority) { a.UserSigner = nil },
		"no policy":      func(a *Authority) { a.Policy = nil },
		"no recorder":    func(a *Authority) { a.Record = nil },
		"policy without defaults": func(a *Authority) {
			a.Policy = &policy.Config{Grants: a.Policy.Grants, Targets: a.Policy.Targets}
		},
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			a, _ := newTestAuthority(t)
			breakIt(a)
			cert, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC})
			if cert != nil || errorCode(err) != caapi.CodeInternal {
				t.Fatalf("cert %v err %v, want internal refusal", cert, err)
			}
		})
	}
}

func TestIssueSerialsAreRandom(t *testing.T) {
	a, _ := newTestAuthority(t)
	seen := map[uint64]bool{}
	var highBits uint64
	for range 64 {
		cert, err := a.Issue(context.Background(), Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC})
		if err != nil {
			t.Fatal(err)
		}
		if cert.Serial == 0 || seen[cert.Serial] {
			t.Fatalf("serial %d repeated or zero", cert.Serial)
		}
		seen[cert.Serial] = true
		highBits |= cert.Serial
	}
	// Sequential or time-based serials would leave the top bits unset.
	if highBits>>56 == 0 {
		t.Errorf("64 serials never set a bit of the top byte: not random")
	}
}

func TestIssueCancelledContext(t *testing.T) {
	a, rec := newTestAuthority(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cert, err := a.Issue(ctx, Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC})
	if cert != nil || err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("cert %v err %v", cert, err)
	}
	if rec.last(t).Type != event.TypeCertRefused {
		t.Error("cancellation not recorded")
	}
}

func TestIssueDoesNotAliasRequest(t *testing.T) {
	a, _ := newTestAuthority(t)
	req := Request{Identity: alice(), PublicKey: ed25519Pub(t), Source: SourceOIDC}
	if _, err := a.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if req.Identity.Serial != 0 {
		t.Error("Issue wrote the serial into the caller's identity")
	}
}

// edited is id changed by edit.
func edited(id policy.Identity, edit func(*policy.Identity)) policy.Identity {
	edit(&id)
	return id
}

// TestIssueOperatorRefusesInvisibleIdentity: `gatehouse ca sign
// --identity` goes through the same check.
func TestIssueOperatorRefusesInvisibleIdentity(t *testing.T) {
	a, rec := newTestAuthority(t)
	id := policy.Identity{Subject: "ci\u200d@example.com", Email: "ci\u200d@example.com", Issuer: "gatehouse-operator"}
	cert, err := a.IssueOperator(context.Background(), Request{Identity: id, PublicKey: ed25519Pub(t), Grants: []string{"orders:readonly"}})
	checkRefusal(t, rec, cert, err, caapi.CodeInvalidRequest, "character U+200D")
}

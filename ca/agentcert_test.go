package ca

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/ca/sshsig"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// engineer is a certificate the test authority issued, with its key.
type engineer struct {
	cert *gossh.Certificate
	key  gossh.Signer
}

// issueEngineer has a issue alice (engineering and ops: orders:readonly
// and billing:reader, both capped at 1h) a certificate with ttl.
func issueEngineer(t *testing.T, a *Authority, ttl time.Duration) engineer {
	t.Helper()
	key := newSigner(t)
	id := alice()
	id.Groups = []string{"engineering", "ops"}
	cert, err := a.Issue(context.Background(), Request{Identity: id, PublicKey: key.PublicKey(), TTL: ttl, Source: SourceOIDC})
	if err != nil {
		t.Fatal(err)
	}
	return engineer{cert: cert, key: key}
}

// agentRequest signs claims with signer (the engineer's key unless the
// test says otherwise) in namespace.
func agentRequest(t *testing.T, e engineer, signer gossh.Signer, namespace string, c caapi.AgentClaims) AgentRequest {
	t.Helper()
	claims, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sshsig.Sign(rand.Reader, signer, namespace, claims)
	if err != nil {
		t.Fatal(err)
	}
	return AgentRequest{Certificate: e.cert, Claims: claims, Signature: sig}
}

func claimsFor(t *testing.T, e engineer) caapi.AgentClaims {
	return caapi.AgentClaims{
		Agent: "claude", PublicKey: pubLine(t), RunID: "run-7", TicketID: "OPS-42",
		CertificateSerial: e.cert.Serial, IssuedAt: testNow,
	}
}

func TestIssueAgent(t *testing.T) {
	a, rec := newTestAuthority(t)
	e := issueEngineer(t, a, time.Hour)
	c := claimsFor(t, e)
	cert, err := a.IssueAgent(context.Background(), agentRequest(t, e, e.key, caapi.AgentNamespace, c))
	if err != nil {
		t.Fatalf("IssueAgent: %v", err)
	}
	if cert.KeyId != "alice@example.com via agent:claude" {
		t.Errorf("KeyId = %q", cert.KeyId)
	}
	if want := []string{"billing:reader", "orders:readonly"}; !slices.Equal(cert.ValidPrincipals, want) {
		t.Errorf("principals %v, want the engineer's %v", cert.ValidPrincipals, want)
	}
	if got, want := cert.ValidBefore, uint64(testNow.Add(30*time.Minute).Unix()); got != want {
		t.Errorf("ValidBefore %d, want now + agent_max_ttl (%d)", got, want)
	}
	id, err := policy.DecodeIdentity(cert.Extensions[policy.IdentityExtension])
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Identity{
		Subject: "u-123", Email: "alice@example.com", Groups: []string{"engineering", "ops"}, Issuer: "https://idp.example.com",
		Agent: "claude", DelegatedBy: "alice@example.com", RunID: "run-7", TicketID: "OPS-42",
		Serial: cert.Serial, DelegatedBySerial: e.cert.Serial,
	}
	if id.Encode() != want.Encode() {
		t.Errorf("identity\n got %s\nwant %s", id.Encode(), want.Encode())
	}
	ev := rec.last(t)
	if ev.Type != event.TypeCertIssued || ev.Data["source"] != SourceAgent || ev.Data["key_id"] != cert.KeyId {
		t.Errorf("recorded %s %v, want cert.issued with source agent", ev.Type, ev.Data)
	}
}

func TestIssueAgentRefusals(t *testing.T) {
	other := newSigner(t)
	tests := []struct {
		name      string
		engTTL    time.Duration                         // the engineer certificate's lifetime
		later     time.Duration                         // how long after its issuance the agent asks
		edit      func(*caapi.AgentClaims)              // changes to the claims
		req       func(engineer) (gossh.Signer, string) // signer and namespace; nil: the engineer's key, caapi.AgentNamespace
		tamper    func(*testing.T, *Authority, engineer, *AgentRequest)
		wantCode  string
		wantInMsg string
	}{
		{name: "grant beyond the engineer's",
			edit:     func(c *caapi.AgentClaims) { c.Grants = []string{"orders:readonly", "orders:admin"} },
			wantCode: caapi.CodeGrantNotAllowed, wantInMsg: "orders:admin is beyond your own grants (billing:reader, orders:readonly)"},
		{name: "grant that is not configured",
			edit:     func(c *caapi.AgentClaims) { c.Grants = []string{"payroll:admin"} },
			wantCode: caapi.CodeGrantNotAllowed, wantInMsg: "payroll:admin is beyond"},
		{name: "ttl over agent_max_ttl is refused, not clamped",
			edit:     func(c *caapi.AgentClaims) { c.TTL = "45m" },
			wantCode: caapi.CodeTTLExceeded, wantInMsg: "cap of 30m0s (ca.agent_max_ttl"},
		{name: "ttl over the engineer's remaining life",
			engTTL: time.Hour, later: 50 * time.Minute,
			edit:     func(c *caapi.AgentClaims) { c.TTL = "15m" },
			wantCode: caapi.CodeTTLExceeded, wantInMsg: "cap of 10m0s (the remaining life of your own certificate"},
		{name: "signed by another key",
			req:      func(engineer) (gossh.Signer, string) { return other, caapi.AgentNamespace },
			wantCode: caapi.CodeInvalidCertificate, wantInMsg: "signature does not verify"},
		{name: "signed for another namespace",
			req:      func(e engineer) (gossh.Signer, string) { return e.key, "file" },
			wantCode: caapi.CodeInvalidCertificate},
		{name: "claims changed after signing",
			tamper: func(_ *testing.T, _ *Authority, _ engineer, ar *AgentRequest) {
				ar.Claims = bytes.Replace(ar.Claims, []byte(`"claude"`), []byte(`"mallet"`), 1)
			},
			wantCode: caapi.CodeInvalidCertificate},
		{name: "certificate of another CA",
			tamper: func(t *testing.T, _ *Authority, _ engineer, ar *AgentRequest) {
				c := *ar.Certificate
				if err := c.SignCert(rand.Reader, newSigner(t)); err != nil {
					t.Fatal(err)
				}
				ar.Certificate = &c
			},
			wantCode: caapi.CodeInvalidCertificate, wantInMsg: "not issued by this gatehouse"},
		{name: "expired engineer certificate",
			engTTL: 10 * time.Minute, later: 11 * time.Minute,
			wantCode: caapi.CodeInvalidCertificate, wantInMsg: "not valid now"},
		{name: "revoked engineer certificate",
			tamper: func(_ *testing.T, a *Authority, _ engineer, ar *AgentRequest) {
				serial := ar.Certificate.Serial
				a.IsRevoked = func(c *gossh.Certificate) bool { return c.Serial == serial }
			},
			wantCode: caapi.CodeRevoked, wantInMsg: "revoked"},
		{name: "an agent certificate cannot delegate",
			tamper: func(t *testing.T, a *Authority, _ engineer, ar *AgentRequest) {
				// Mint an agent certificate, then present it as the engineer's.
				key := newSigner(t)
				id := alice()
				id.Agent, id.DelegatedBy = "claude", "alice@example.com"
				c, err := a.Issue(context.Background(), Request{Identity: id, PublicKey: key.PublicKey(), Source: SourceOIDC})
				if err != nil {
					t.Fatal(err)
				}
				var claims caapi.AgentClaims
				json.Unmarshal(ar.Claims, &claims)
				claims.CertificateSerial = c.Serial
				*ar = agentRequest(t, engineer{cert: c, key: key}, key, caapi.AgentNamespace, claims)
			},
			wantCode: caapi.CodeInvalidCertificate, wantInMsg: "agent certificate cannot mint"},
		{name: "stale request",
			edit:     func(c *caapi.AgentClaims) { c.IssuedAt = testNow.Add(-10 * time.Minute) },
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "check this machine's clock"},
		{name: "claims name another certificate",
			edit:     func(c *caapi.AgentClaims) { c.CertificateSerial++ },
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "names certificate serial"},
		{name: "the engineer's own key for the agent",
			tamper: func(t *testing.T, _ *Authority, e engineer, ar *AgentRequest) {
				var claims caapi.AgentClaims
				json.Unmarshal(ar.Claims, &claims)
				claims.PublicKey = string(gossh.MarshalAuthorizedKey(ar.Certificate.Key))
				resign(t, e.key, ar, claims)
			},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "key of its own"},
		{name: "no agent name",
			edit:     func(c *caapi.AgentClaims) { c.Agent = "" },
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "--agent"},
		{name: "bad agent name",
			edit:     func(c *caapi.AgentClaims) { c.Agent = "../etc" },
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "agent name"},
		{name: "unknown claim",
			tamper: func(t *testing.T, _ *Authority, e engineer, ar *AgentRequest) {
				ar.Claims = append(bytes.TrimSuffix(ar.Claims, []byte("}")), []byte(`,"grant_everything":true}`)...)
				resignRaw(t, e.key, ar)
			},
			wantCode: caapi.CodeInvalidRequest, wantInMsg: "grant_everything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, rec := newTestAuthority(t)
			engTTL := tt.engTTL
			if engTTL == 0 {
				engTTL = time.Hour
			}
			e := issueEngineer(t, a, engTTL)
			asked := testNow.Add(tt.later)
			a.Clock = func() time.Time { return asked }
			c := claimsFor(t, e)
			c.IssuedAt = asked
			if tt.edit != nil {
				tt.edit(&c)
			}
			signer, ns := e.key, caapi.AgentNamespace
			if tt.req != nil {
				signer, ns = tt.req(e)
			}
			ar := agentRequest(t, e, signer, ns, c)
			if tt.tamper != nil {
				tt.tamper(t, a, e, &ar)
			}
			cert, err := a.IssueAgent(context.Background(), ar)
			checkRefusal(t, rec, cert, err, tt.wantCode, tt.wantInMsg)
			if ev := rec.last(t); ev.Data["source"] != SourceAgent {
				t.Errorf("refusal recorded with source %v, want agent", ev.Data["source"])
			}
		})
	}
}

// resign replaces the claims and signs them again with key.
func resign(t *testing.T, key gossh.Signer, ar *AgentRequest, c caapi.AgentClaims) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	ar.Claims = b
	resignRaw(t, key, ar)
}

func resignRaw(t *testing.T, key gossh.Signer, ar *AgentRequest) {
	t.Helper()
	sig, err := sshsig.Sign(rand.Reader, key, caapi.AgentNamespace, ar.Claims)
	if err != nil {
		t.Fatal(err)
	}
	ar.Signature = sig
}

// TestIssueAgentLifetime: the lifetime is at most min(agent_max_ttl, the
// engineer certificate's remaining life); within it, what is asked.
func TestIssueAgentLifetime(t *testing.T) {
	tests := []struct {
		name   string
		later  time.Duration // after the engineer's 1h certificate was issued
		ttl    string
		expect time.Duration
	}{
		{"default is agent_max_ttl", 0, "", 30 * time.Minute},
		{"default is the remaining life when shorter", 50 * time.Minute, "", 10 * time.Minute},
		{"within both caps", 50 * time.Minute, "5m", 5 * time.Minute},
		{"exactly the remaining life", 50 * time.Minute, "10m", 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newTestAuthority(t)
			e := issueEngineer(t, a, time.Hour)
			asked := testNow.Add(tt.later)
			a.Clock = func() time.Time { return asked }
			c := claimsFor(t, e)
			c.IssuedAt, c.TTL, c.Grants = asked, tt.ttl, []string{"orders:readonly"}
			cert, err := a.IssueAgent(context.Background(), agentRequest(t, e, e.key, caapi.AgentNamespace, c))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cert.ValidBefore, uint64(asked.Add(tt.expect).Unix()); got != want {
				t.Errorf("ValidBefore = %d, want %d (now + %s)", got, want, tt.expect)
			}
			if cert.ValidBefore > e.cert.ValidBefore {
				t.Errorf("agent certificate outlives its engineer's: %d > %d", cert.ValidBefore, e.cert.ValidBefore)
			}
			if !slices.Equal(cert.ValidPrincipals, []string{"orders:readonly"}) {
				t.Errorf("principals %v", cert.ValidPrincipals)
			}
		})
	}
}

func TestAPIAgentCertificates(t *testing.T) {
	f := newAPIFixture(t)
	e := issueEngineer(t, f.api.Authority, time.Hour)
	ar := agentRequest(t, e, e.key, caapi.AgentNamespace, claimsFor(t, e))
	body := caapi.SignedRequest{
		Certificate: string(gossh.MarshalAuthorizedKey(e.cert)),
		Claims:      base64.StdEncoding.EncodeToString(ar.Claims),
		Signature:   base64.StdEncoding.EncodeToString(ar.Signature),
	}
	post := func(body any) (*http.Response, []byte) {
		b, _ := json.Marshal(body)
		resp, err := f.srv.Client().Post(f.srv.URL+"/v1/agent-certificates", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		return resp, out.Bytes()
	}
	resp, out := post(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/agent-certificates: %d %s", resp.StatusCode, out)
	}
	var got caapi.CertificateResponse
	if err := json.Unmarshal(out, &got); err != nil || got.KeyID != "alice@example.com via agent:claude" {
		t.Fatalf("answer %s (%v)", out, err)
	}

	bad := body
	bad.Signature = base64.StdEncoding.EncodeToString([]byte("SSHSIG junk"))
	resp, out = post(bad)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(out), caapi.CodeInvalidCertificate) {
		t.Errorf("bad signature: %d %s", resp.StatusCode, out)
	}
	bad = body
	bad.Certificate = pubLine(t)
	resp, out = post(bad)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(out), "not an SSH certificate") {
		t.Errorf("plain key as certificate: %d %s", resp.StatusCode, out)
	}
	if ev := f.rec.last(t); ev.Type != event.TypeCertRefused || ev.Data["source"] != SourceAgent {
		t.Errorf("refusal recorded as %s %v", ev.Type, ev.Data)
	}
}

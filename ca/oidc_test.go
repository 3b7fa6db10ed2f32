package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// testIdP is a minimal OpenID provider: discovery and a JWKS with one
// ES256 key, plus a way to mint ID tokens.
type testIdP struct {
	srv *httptest.Server
	key *ecdsa.PrivateKey
}

func newTestIdP(t *testing.T) *testIdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIdP{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{
			"issuer":                                idp.srv.URL,
			"authorization_endpoint":                idp.srv.URL + "/auth",
			"token_endpoint":                        idp.srv.URL + "/token",
			"jwks_uri":                              idp.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

// token signs claims with key (the IdP's when nil), under key id k1.
func (idp *testIdP) token(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	if key == nil {
		key = idp.key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (idp *testIdP) claims(change func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":            idp.srv.URL,
		"sub":            "u-123",
		"aud":            "gatehouse",
		"exp":            now.Add(5 * time.Minute).Unix(),
		"iat":            now.Unix(),
		"email":          "alice@example.com",
		"email_verified": true,
		"groups":         []string{"engineering", "dba"},
	}
	if change != nil {
		change(c)
	}
	return c
}

func TestOIDCVerifier(t *testing.T) {
	idp := newTestIdP(t)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ctx := context.Background()
	v, err := NewOIDCVerifier(ctx, &policy.OIDCConfig{Issuer: idp.srv.URL, ClientID: "gatehouse", GroupsClaim: "groups"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		token    string
		wantCode string
		inMsg    string
		want     policy.Identity
	}{
		{name: "good", token: idp.token(t, nil, idp.claims(nil)),
			want: policy.Identity{Subject: "u-123", Email: "alice@example.com", Issuer: idp.srv.URL, Groups: []string{"engineering", "dba"}}},
		{name: "audience list containing the client", token: idp.token(t, nil, idp.claims(func(c map[string]any) { c["aud"] = []string{"other", "gatehouse"} })),
			want: policy.Identity{Subject: "u-123", Email: "alice@example.com", Issuer: idp.srv.URL, Groups: []string{"engineering", "dba"}}},
		{name: "no groups claim", token: idp.token(t, nil, idp.claims(func(c map[string]any) { delete(c, "groups") })),
			want: policy.Identity{Subject: "u-123", Email: "alice@example.com", Issuer: idp.srv.URL}},
		{name: "unverified email is dropped", token: idp.token(t, nil, idp.claims(func(c map[string]any) { c["email_verified"] = false })),
			want: policy.Identity{Subject: "u-123", Issuer: idp.srv.URL, Groups: []string{"engineering", "dba"}}},
		{name: "email_verified as a string", token: idp.token(t, nil, idp.claims(func(c map[string]any) { c["email_verified"] = "false" })),
			want: policy.Identity{Subject: "u-123", Issuer: idp.srv.URL, Groups: []string{"engineering", "dba"}}},
		{name: "no email_verified keeps the email", token: idp.token(t, nil, idp.claims(func(c map[string]any) { delete(c, "email_verified") })),
			want: policy.Identity{Subject: "u-123", Email: "alice@example.com", Issuer: idp.srv.URL, Groups: []string{"engineering", "dba"}}},
		{name: "expired", token: idp.token(t, nil, idp.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })),
			wantCode: caapi.CodeTokenExpired, inMsg: "gatehouse login"},
		{name: "wrong audience", token: idp.token(t, nil, idp.claims(func(c map[string]any) { c["aud"] = "someone-else" })),
			wantCode: caapi.CodeWrongAudience, inMsg: "gatehouse login"},
		{name: "wrong issuer", token: idp.token(t, nil, idp.claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" })),
			wantCode: caapi.CodeWrongIssuer, inMsg: "evil.example.com"},
		{name: "bad signature", token: idp.token(t, otherKey, idp.claims(nil)),
			wantCode: caapi.CodeInvalidToken, inMsg: "gatehouse login"},
		{name: "wrong issuer and a forged signature is just invalid", token: idp.token(t, otherKey, idp.claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" })),
			wantCode: caapi.CodeInvalidToken},
		{name: "not valid before a future nbf", token: idp.token(t, nil, idp.claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })),
			wantCode: caapi.CodeInvalidToken},
		{name: "tampered payload", token: tamper(idp.token(t, nil, idp.claims(nil))),
			wantCode: caapi.CodeInvalidToken},
		{name: "not a jwt", token: "hello", wantCode: caapi.CodeInvalidToken},
		{name: "groups of the wrong type", token: idp.token(t, nil, idp.claims(func(c map[string]any) { c["groups"] = map[string]any{"a": 1} })),
			wantCode: caapi.CodeInvalidToken, inMsg: `"groups"`},
		{name: "no subject", token: idp.token(t, nil, idp.claims(func(c map[string]any) { delete(c, "sub") })),
			wantCode: caapi.CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(ctx, tt.token)
			if tt.wantCode != "" {
				e := asError(err)
				if err == nil || e.Code != tt.wantCode || e.Status != http.StatusUnauthorized {
					t.Fatalf("err = %v (%s), want %s", err, errorCode(err), tt.wantCode)
				}
				if !strings.Contains(e.Message, tt.inMsg) {
					t.Errorf("message %q does not contain %q", e.Message, tt.inMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != tt.want.Subject || id.Email != tt.want.Email || id.Issuer != tt.want.Issuer || !slices.Equal(id.Groups, tt.want.Groups) {
				t.Errorf("identity %+v, want %+v", id, tt.want)
			}
		})
	}
}

// tamper replaces the payload with one naming another subject, keeping
// the original signature.
func tamper(raw string) string {
	parts := strings.Split(raw, ".")
	payload, _ := json.Marshal(map[string]any{"sub": "mallory"})
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestOIDCVerifierGroupsClaimName(t *testing.T) {
	idp := newTestIdP(t)
	v, err := NewOIDCVerifier(context.Background(), &policy.OIDCConfig{Issuer: idp.srv.URL, ClientID: "gatehouse", GroupsClaim: "roles"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), idp.token(t, nil, idp.claims(func(c map[string]any) { c["roles"] = []string{"dba"} })))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(id.Groups, []string{"dba"}) {
		t.Errorf("groups %v, want those of the roles claim", id.Groups)
	}
}

func TestNewOIDCVerifierErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := NewOIDCVerifier(ctx, nil); err == nil {
		t.Error("nil config accepted")
	}
	if _, err := NewOIDCVerifier(ctx, &policy.OIDCConfig{Issuer: "https://x"}); err == nil {
		t.Error("missing client_id accepted")
	}
	idp := newTestIdP(t)
	// Discovery must return the configured issuer exactly (OpenID Connect
	// Discovery 1.0 §4.3).
	if _, err := NewOIDCVerifier(ctx, &policy.OIDCConfig{Issuer: idp.srv.URL + "/", ClientID: "gatehouse"}); err == nil {
		t.Error("issuer mismatch in discovery accepted")
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	if _, err := NewOIDCVerifier(ctx, &policy.OIDCConfig{Issuer: down.URL, ClientID: "gatehouse"}); err == nil || !strings.Contains(err.Error(), down.URL) {
		t.Errorf("unreachable issuer: %v", err)
	}
}

// TestAPIWithOIDCVerifier wires the real verifier into the API.
func TestAPIWithOIDCVerifier(t *testing.T) {
	idp := newTestIdP(t)
	v, err := NewOIDCVerifier(context.Background(), &policy.OIDCConfig{Issuer: idp.srv.URL, ClientID: "gatehouse", GroupsClaim: "groups"})
	if err != nil {
		t.Fatal(err)
	}
	f := newAPIFixture(t)
	f.api.OIDC = v
	resp, body := f.post(t, idp.token(t, nil, idp.claims(nil)), map[string]any{"public_key": pubLine(t), "grants": []string{"orders:admin"}})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"orders:admin"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	expired := idp.token(t, nil, idp.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	resp, body = f.post(t, expired, map[string]any{"public_key": pubLine(t)})
	if resp.StatusCode != 401 || !strings.Contains(string(body), caapi.CodeTokenExpired) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if ev := f.rec.last(t); ev.Type != event.TypeCertRefused || ev.Data["code"] != caapi.CodeTokenExpired || ev.Data["source"] != SourceOIDC {
		t.Errorf("recorded %v", ev)
	}
}

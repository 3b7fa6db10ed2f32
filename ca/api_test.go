package ca

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// fakeVerifier accepts the tokens in ids and fails the rest with err (or a
// plain error when err is nil).
type fakeVerifier struct {
	ids map[string]policy.Identity
	err error
}

func (f fakeVerifier) Verify(_ context.Context, token string) (policy.Identity, error) {
	if id, ok := f.ids[token]; ok {
		return id, nil
	}
	if f.err != nil {
		return policy.Identity{}, f.err
	}
	return policy.Identity{}, errors.New("fake: unknown token " + token)
}

type apiFixture struct {
	api *API
	rec *fakeRecorder
	srv *httptest.Server
	dev *DevTokens
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	a, rec := newTestAuthority(t)
	dba := alice()
	dba.Groups = []string{"engineering", "dba"}
	nobody := alice()
	nobody.Groups = []string{"marketing"}
	f := &apiFixture{rec: rec}
	f.dev = NewDevTokens(policy.Identity{Subject: "dev", Email: "dev@localhost", Issuer: "gatehouse-dev", Groups: []string{"engineering"}}, nil)
	f.api = &API{
		Authority: a,
		OIDC: fakeVerifier{ids: map[string]policy.Identity{"good": alice(), "dba": dba, "nobody": nobody},
			err: refusal(caapi.CodeTokenExpired, "your login expired; run `gatehouse login` again")},
		Dev: f.dev,
		Info: caapi.Info{
			UserCA:           strings.TrimSpace(string(gossh.MarshalAuthorizedKey(a.UserSigner.PublicKey()))),
			HostCAKnownHosts: HostKnownHostsLine(a.HostSigner.PublicKey(), []string{"gatehouse"}),
			SSHAddress:       "127.0.0.1:2222",
			SSHHostAlias:     "gatehouse",
			OIDC:             &caapi.OIDCInfo{Issuer: "https://idp.example.com", ClientID: "gatehouse", Scopes: []string{"openid", "groups"}},
			DevLogin:         true,
		},
	}
	f.srv = httptest.NewServer(f.api.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *apiFixture) post(t *testing.T, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/certificates", bytes.NewReader(data))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp, out.Bytes()
}

func pubLine(t *testing.T) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(ed25519Pub(t))))
}

func TestAPIInfo(t *testing.T) {
	f := newAPIFixture(t)
	resp, err := f.srv.Client().Get(f.srv.URL + "/v1/ca")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, k := range []string{"user_ca", "host_ca_known_hosts", "ssh_address", "ssh_host_alias", "oidc", "dev_login"} {
		if _, ok := got[k]; !ok {
			t.Errorf("info lacks %s: %v", k, got)
		}
	}
	if oidc := got["oidc"].(map[string]any); oidc["issuer"] != "https://idp.example.com" || oidc["client_id"] != "gatehouse" {
		t.Errorf("oidc = %v", oidc)
	}
	if !strings.HasPrefix(got["host_ca_known_hosts"].(string), "@cert-authority gatehouse ssh-ed25519 ") {
		t.Errorf("host_ca_known_hosts = %v", got["host_ca_known_hosts"])
	}
}

func TestAPIIssue(t *testing.T) {
	f := newAPIFixture(t)
	pub := pubLine(t)
	resp, body := f.post(t, "good", map[string]any{"public_key": pub, "ttl": "30m"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	var got caapi.CertificateResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(got.Certificate))
	if err != nil {
		t.Fatalf("certificate %q: %v", got.Certificate, err)
	}
	cert := key.(*gossh.Certificate)
	if got.Serial != cert.Serial || got.KeyID != "alice@example.com" || cert.KeyId != got.KeyID {
		t.Errorf("response %+v vs cert serial %d key id %q", got, cert.Serial, cert.KeyId)
	}
	if len(got.Principals) != 1 || got.Principals[0] != "orders:readonly" {
		t.Errorf("principals %v", got.Principals)
	}
	if got.ValidAfter != "2030-01-02T03:03:05Z" || got.ValidBefore != "2030-01-02T03:34:05Z" {
		t.Errorf("validity %s .. %s", got.ValidAfter, got.ValidBefore)
	}
	if ev := f.rec.last(t); ev.Type != event.TypeCertIssued || ev.Data["source"] != SourceOIDC {
		t.Errorf("recorded %v", ev)
	}
}

func TestAPIAgentCertificate(t *testing.T) {
	f := newAPIFixture(t)
	resp, body := f.post(t, "dba", map[string]any{"public_key": pubLine(t), "grants": []string{"orders:readonly"}, "agent": "claude-code", "run_id": "run-42"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got caapi.CertificateResponse
	json.Unmarshal(body, &got)
	key, _, _, _, _ := gossh.ParseAuthorizedKey([]byte(got.Certificate))
	id, err := policy.DecodeIdentity(key.(*gossh.Certificate).Extensions[policy.IdentityExtension])
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyID != "alice@example.com via agent:claude-code" || id.Agent != "claude-code" || id.DelegatedBy != "alice@example.com" || id.RunID != "run-42" {
		t.Errorf("key id %q identity %+v", got.KeyID, id)
	}
	if got.ValidBefore != testNow.Add(30*time.Minute).Format(time.RFC3339) {
		t.Errorf("agent certificate valid until %s, want the 30m agent cap", got.ValidBefore)
	}
}

// TestAPIClientSetApproval: a client cannot name an approval (or a
// ticket) that the CA never saw; the refusal names the field and is
// recorded, and no certificate is issued.
func TestAPIClientSetApproval(t *testing.T) {
	cases := []struct {
		field, value string
	}{
		{"request_id", "req-0123456789"},
		{"ticket_id", "OPS-42"},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			f := newAPIFixture(t)
			resp, body := f.post(t, "dba", map[string]any{"public_key": pubLine(t), tc.field: tc.value})
			if resp.StatusCode != 400 || !strings.Contains(string(body), tc.field+" cannot be set") {
				t.Fatalf("status %d: %s; want 400 naming %s", resp.StatusCode, body, tc.field)
			}
			if ev := f.rec.last(t); ev.Type != event.TypeCertRefused || !strings.Contains(fmt.Sprint(ev.Data["reason"]), tc.field) {
				t.Errorf("recorded %v, want %s naming %s", ev, event.TypeCertRefused, tc.field)
			}
		})
	}
}

func TestAPIDevLogin(t *testing.T) {
	f := newAPIFixture(t)
	tok := f.dev.Current()
	// A malformed request does not use up the one-time token.
	if resp, body := f.post(t, tok, `{"public_key": "nope"}`); resp.StatusCode != 400 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	resp, body := f.post(t, tok, map[string]any{"public_key": pubLine(t)})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ev := f.rec.last(t); ev.Data["source"] != SourceDev {
		t.Errorf("source %v", ev.Data["source"])
	}
	resp, body = f.post(t, tok, map[string]any{"public_key": pubLine(t)})
	if resp.StatusCode != 401 || !strings.Contains(string(body), "invalid_token") {
		t.Errorf("reused dev token: %d %s", resp.StatusCode, body)
	}
}

func TestAPIErrors(t *testing.T) {
	pub := pubLine(t)
	tests := []struct {
		name    string
		token   string
		body    any
		noDev   bool
		noOIDC  bool
		status  int
		code    string
		inMsg   string
		recFail bool
	}{
		{name: "no token", body: map[string]any{"public_key": pub}, status: 401, code: caapi.CodeInvalidToken, inMsg: "gatehouse login"},
		{name: "dev token outside dev mode", token: "ghdev_ABC", noDev: true, body: map[string]any{"public_key": pub}, status: 401, code: caapi.CodeInvalidToken, inMsg: "only available under `gatehouse dev`"},
		{name: "no IdP configured", token: "good", noOIDC: true, noDev: true, body: map[string]any{"public_key": pub}, status: 401, code: caapi.CodeInvalidToken, inMsg: "identity.oidc"},
		{name: "mistyped dev token in dev mode", token: "hdev_ABC", noOIDC: true, body: map[string]any{"public_key": pub}, status: 401, code: caapi.CodeInvalidToken, inMsg: "not a dev login token"},
		{name: "typed verifier refusal", token: "stale", body: map[string]any{"public_key": pub}, status: 401, code: caapi.CodeTokenExpired},
		{name: "bad json", token: "good", body: `{"public_key":`, status: 400, code: caapi.CodeInvalidRequest},
		{name: "unknown field", token: "good", body: map[string]any{"public_key": pub, "principals": []string{"x"}}, status: 400, code: caapi.CodeInvalidRequest, inMsg: "principals"},
		{name: "two json values", token: "good", body: `{"public_key":"` + pub + `"} {}`, status: 400, code: caapi.CodeInvalidRequest},
		{name: "missing key", token: "good", body: map[string]any{}, status: 400, code: caapi.CodeInvalidRequest, inMsg: "public_key is required"},
		{name: "bad key", token: "good", body: map[string]any{"public_key": "ssh-ed25519 AAAAnope"}, status: 400, code: caapi.CodeInvalidRequest},
		{name: "bad ttl", token: "good", body: map[string]any{"public_key": pub, "ttl": "soon"}, status: 400, code: caapi.CodeInvalidRequest, inMsg: "ttl"},
		{name: "ttl in days over the cap", token: "good", body: map[string]any{"public_key": pub, "ttl": "7d"}, status: 400, code: caapi.CodeTTLExceeded, inMsg: "1h0m0s"},
		{name: "no grant", token: "nobody", body: map[string]any{"public_key": pub}, status: 403, code: caapi.CodeNoGrant, inMsg: "marketing"},
		{name: "grant not allowed", token: "good", body: map[string]any{"public_key": pub, "grants": []string{"orders:admin"}}, status: 403, code: caapi.CodeGrantNotAllowed},
		{name: "key type", token: "good", body: map[string]any{"public_key": strings.TrimSpace(string(gossh.MarshalAuthorizedKey(rsaPub(t, 2048))))}, status: 400, code: caapi.CodeKeyType},
		{name: "recording fails", token: "good", body: map[string]any{"public_key": pub}, recFail: true, status: 500, code: caapi.CodeInternal},
		{name: "body too large", token: "good", body: `{"public_key":"` + strings.Repeat("A", maxRequestBody) + `"}`, status: 413, code: caapi.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAPIFixture(t)
			if tt.noDev {
				f.api.Dev = nil
			}
			if tt.noOIDC {
				f.api.OIDC = nil
			}
			if tt.recFail {
				f.rec.err = errors.New("spool full")
			}
			resp, body := f.post(t, tt.token, tt.body)
			var got caapi.ErrorResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if resp.StatusCode != tt.status || got.Error != tt.code {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, got.Error, got.Message, tt.status, tt.code)
			}
			if got.Message == "" || !strings.Contains(got.Message, tt.inMsg) {
				t.Errorf("message %q does not contain %q", got.Message, tt.inMsg)
			}
			if resp.StatusCode == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge")
			}
			if tt.recFail {
				return
			}
			ev := f.rec.last(t)
			if ev.Type != event.TypeCertRefused || ev.Data["code"] != tt.code {
				t.Errorf("recorded %s %v, want a refusal with code %s", ev.Type, ev.Data, tt.code)
			}
			if len(f.rec.all()) != 1 {
				t.Errorf("%d events recorded for one refusal", len(f.rec.all()))
			}
		})
	}
}

func TestAPIUntypedVerifierErrorIsNotLeaked(t *testing.T) {
	f := newAPIFixture(t)
	f.api.OIDC = fakeVerifier{} // plain error naming the token
	resp, body := f.post(t, "secret-token", map[string]any{"public_key": pubLine(t)})
	if resp.StatusCode != 401 || strings.Contains(string(body), "secret-token") || !strings.Contains(string(body), caapi.CodeInvalidToken) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

func TestAPIMethods(t *testing.T) {
	f := newAPIFixture(t)
	resp, err := f.srv.Client().Get(f.srv.URL + "/v1/certificates")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/certificates: %d", resp.StatusCode)
	}
}

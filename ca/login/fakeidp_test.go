package login

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

const (
	testClientID = "gatehouse-cli"
	testUserCode = "WDJB-MJHT"
)

// fakeIdP is an OpenID Connect provider just real enough for Login:
// discovery, JWKS, an /authorize endpoint that redirects straight back with
// a code, a /token endpoint that checks PKCE S256, and the device endpoints
// of RFC 8628, answering authorization_pending once.
type fakeIdP struct {
	t      *testing.T
	srv    *httptest.Server
	signer jose.Signer
	key    *ecdsa.PrivateKey

	mu         sync.Mutex
	authError  string // when set, /authorize redirects with error=authError
	noDevice   bool   // when set, discovery has no device endpoint
	grants     map[string]authGrant
	devices    map[string]*deviceGrant
	polls      int
	challenges []string // code_challenge_method of every /authorize
}

type authGrant struct{ challenge, nonce, redirectURI string }

type deviceGrant struct {
	challenge string
	polls     int
}

func newFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.ES256,
		Key:       jose.JSONWebKey{Key: key, KeyID: "test-key", Algorithm: string(jose.ES256)},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeIdP{t: t, signer: signer, key: key,
		grants: map[string]authGrant{}, devices: map[string]*deviceGrant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /keys", p.keys)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /device/code", p.deviceCode)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeIdP) issuer() string { return p.srv.URL }

// idpCounts is what the provider saw, read under its lock.
type idpCounts struct {
	challenges []string
	polls      int
}

func (p *fakeIdP) snapshot() idpCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return idpCounts{challenges: append([]string(nil), p.challenges...), polls: p.polls}
}

func (p *fakeIdP) discovery(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	doc := map[string]any{
		"issuer":                                p.issuer(),
		"authorization_endpoint":                p.issuer() + "/authorize",
		"token_endpoint":                        p.issuer() + "/token",
		"jwks_uri":                              p.issuer() + "/keys",
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"response_types_supported":              []string{"code"},
	}
	if !p.noDevice {
		doc["device_authorization_endpoint"] = p.issuer() + "/device/code"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *fakeIdP) keys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.key.PublicKey, KeyID: "test-key", Algorithm: string(jose.ES256), Use: "sig",
	}}})
}

// authorize plays the user who logs in at once: it redirects back.
func (p *fakeIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme != "http" || redirect.Hostname() != "127.0.0.1" || redirect.Path != "/callback" {
		http.Error(w, "bad redirect_uri "+q.Get("redirect_uri"), http.StatusBadRequest)
		return
	}
	if q.Get("client_id") != testClientID || q.Get("response_type") != "code" ||
		!strings.Contains(q.Get("scope"), "openid") || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.challenges = append(p.challenges, q.Get("code_challenge_method"))
	back := url.Values{"state": {q.Get("state")}}
	if p.authError != "" {
		back.Set("error", p.authError)
		back.Set("error_description", "the user said no")
	} else {
		code := rand.Text()
		p.grants[code] = authGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirectURI: redirect.String()}
		back.Set("code", code)
	}
	p.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (p *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != testClientID {
		oauthError(w, "invalid_client", "client_id missing from the body")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		p.codeToken(w, r.PostForm)
	case "urn:ietf:params:oauth:grant-type:device_code":
		p.deviceToken(w, r.PostForm)
	default:
		oauthError(w, "unsupported_grant_type", r.PostForm.Get("grant_type"))
	}
}

func (p *fakeIdP) codeToken(w http.ResponseWriter, form url.Values) {
	p.mu.Lock()
	g, ok := p.grants[form.Get("code")]
	delete(p.grants, form.Get("code")) // single use
	p.mu.Unlock()
	switch {
	case !ok:
		oauthError(w, "invalid_grant", "unknown code")
	case form.Get("redirect_uri") != g.redirectURI:
		oauthError(w, "invalid_grant", "redirect_uri differs")
	case oauth2.S256ChallengeFromVerifier(form.Get("code_verifier")) != g.challenge:
		oauthError(w, "invalid_grant", "PKCE verifier does not match the challenge")
	default:
		p.writeTokens(w, g.nonce)
	}
}

func (p *fakeIdP) deviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != testClientID {
		oauthError(w, "invalid_client", "client_id missing")
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.devices[code] = &deviceGrant{challenge: r.PostForm.Get("code_challenge")}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               code,
		"user_code":                 testUserCode,
		"verification_uri":          p.issuer() + "/device",
		"verification_uri_complete": p.issuer() + "/device?user_code=" + testUserCode,
		"expires_in":                300,
		"interval":                  1,
	})
}

func (p *fakeIdP) deviceToken(w http.ResponseWriter, form url.Values) {
	p.mu.Lock()
	g, ok := p.devices[form.Get("device_code")]
	if ok {
		g.polls++
		p.polls++
	}
	p.mu.Unlock()
	switch {
	case !ok:
		oauthError(w, "invalid_grant", "unknown device code")
	case g.polls == 1:
		oauthError(w, "authorization_pending", "")
	case oauth2.S256ChallengeFromVerifier(form.Get("code_verifier")) != g.challenge:
		oauthError(w, "invalid_grant", "PKCE verifier does not match the challenge")
	default:
		p.writeTokens(w, "")
	}
}

func (p *fakeIdP) writeTokens(w http.ResponseWriter, nonce string) {
	claims := map[string]any{
		"iss":            p.issuer(),
		"sub":            "user-1234",
		"aud":            testClientID,
		"iat":            time.Now().Unix(),
		"exp":            time.Now().Add(time.Hour).Unix(),
		"email":          "alice@example.com",
		"email_verified": true,
		"groups":         []string{"engineering"},
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, _ := json.Marshal(claims)
	jws, err := p.signer.Sign(payload)
	if err != nil {
		p.t.Error(err)
		return
	}
	idToken, _ := jws.CompactSerialize()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": "access-" + rand.Text(),
		"token_type":   "Bearer",
		"expires_in":   3600,
		"id_token":     idToken,
	})
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprint("encode: ", err))
	}
}

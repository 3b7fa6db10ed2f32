package login

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gatehouse-dev/gatehouse/policy"
	"golang.org/x/crypto/ssh"
)

// fakeCA serves the CA API of package ca: GET /v1/ca and POST
// /v1/certificates, verifying ID tokens against a fakeIdP with go-oidc and
// signing with a test CA key.
type fakeCA struct {
	t      *testing.T
	srv    *httptest.Server
	userCA ssh.Signer
	hostCA ssh.Signer
	idp    *fakeIdP // nil: no identity provider
	maxTTL time.Duration

	mu       sync.Mutex
	devToken string // "" → dev_login false
	refuse   *ServerError
	requests []recordedRequest
	serial   uint64
}

type recordedRequest struct {
	auth string
	body certRequest
}

func newFakeCA(t *testing.T, idp *fakeIdP) *fakeCA {
	t.Helper()
	c := &fakeCA{t: t, userCA: newSigner(t), hostCA: newSigner(t), idp: idp, maxTTL: time.Hour, serial: 41}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ca", c.info)
	mux.HandleFunc("POST /v1/certificates", c.certificates)
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (c *fakeCA) knownHostsLine() string {
	return "@cert-authority gatehouse,127.0.0.1 " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(c.hostCA.PublicKey())))
}

func (c *fakeCA) info(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	doc := map[string]any{
		"user_ca":             strings.TrimSpace(string(ssh.MarshalAuthorizedKey(c.userCA.PublicKey()))),
		"host_ca_known_hosts": c.knownHostsLine(),
		"ssh_address":         "127.0.0.1:2222",
		"ssh_host_alias":      "gatehouse",
		"dev_login":           c.devToken != "",
	}
	if c.idp != nil {
		doc["oidc"] = map[string]any{
			"issuer":    c.idp.issuer(),
			"client_id": testClientID,
			"scopes":    []string{"openid", "email", "profile", "groups"},
		}
	}
	writeJSON(w, http.StatusOK, doc)
}

func (c *fakeCA) certificates(w http.ResponseWriter, r *http.Request) {
	var req certRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		caError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	c.mu.Lock()
	c.requests = append(c.requests, recordedRequest{auth: r.Header.Get("Authorization"), body: req})
	refuse, devToken := c.refuse, c.devToken
	c.mu.Unlock()
	if refuse != nil {
		caError(w, refuse.StatusCode, refuse.Code, refuse.Message)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		caError(w, http.StatusUnauthorized, "invalid_token", "no bearer token")
		return
	}
	id, err := c.identify(r.Context(), token, devToken)
	if err != nil {
		caError(w, http.StatusUnauthorized, "invalid_token", err.Error())
		return
	}
	c.sign(w, req, id)
}

// identify checks the token as the real CA does: a dev token, or an ID
// token from the configured issuer.
func (c *fakeCA) identify(ctx context.Context, token, devToken string) (policy.Identity, error) {
	if devToken != "" && token == devToken {
		return policy.Identity{Subject: "dev", Email: "dev@gatehouse.local", Issuer: "gatehouse-dev"}, nil
	}
	if c.idp == nil {
		return policy.Identity{}, errString("no identity provider")
	}
	provider, err := oidc.NewProvider(ctx, c.idp.issuer())
	if err != nil {
		return policy.Identity{}, err
	}
	tok, err := provider.Verifier(&oidc.Config{ClientID: testClientID}).Verify(ctx, token)
	if err != nil {
		return policy.Identity{}, err
	}
	var claims struct {
		Email  string   `json:"email"`
		Groups []string `json:"groups"`
	}
	if err := tok.Claims(&claims); err != nil {
		return policy.Identity{}, err
	}
	return policy.Identity{Subject: tok.Subject, Email: claims.Email, Groups: claims.Groups, Issuer: tok.Issuer}, nil
}

func (c *fakeCA) sign(w http.ResponseWriter, req certRequest, id policy.Identity) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(req.PublicKey))
	if err != nil {
		caError(w, http.StatusBadRequest, "bad_public_key", err.Error())
		return
	}
	ttl := c.maxTTL
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil {
			caError(w, http.StatusBadRequest, "bad_ttl", err.Error())
			return
		}
	}
	grants := req.Grants
	if grants == nil {
		grants = []string{"orders:readonly"}
	}
	c.mu.Lock()
	c.serial++
	id.Serial = c.serial
	c.mu.Unlock()
	now := time.Now()
	cert := &ssh.Certificate{
		Key: pub, Serial: id.Serial, CertType: ssh.UserCert, KeyId: id.Name(),
		ValidPrincipals: grants,
		ValidAfter:      uint64(now.Add(-time.Minute).Unix()),
		ValidBefore:     uint64(now.Add(ttl).Unix()),
		Permissions: ssh.Permissions{Extensions: map[string]string{
			"permit-port-forwarding": "",
			policy.IdentityExtension: id.Encode(),
		}},
	}
	if err := cert.SignCert(rand.Reader, c.userCA); err != nil {
		caError(w, http.StatusInternalServerError, "sign", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"certificate":  strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert))),
		"key_id":       cert.KeyId,
		"serial":       cert.Serial,
		"principals":   cert.ValidPrincipals,
		"valid_after":  time.Unix(int64(cert.ValidAfter), 0).UTC().Format(time.RFC3339),
		"valid_before": time.Unix(int64(cert.ValidBefore), 0).UTC().Format(time.RFC3339),
	})
}

func (c *fakeCA) lastRequest() recordedRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.requests) == 0 {
		c.t.Fatal("the CA got no certificate request")
	}
	return c.requests[len(c.requests)-1]
}

func (c *fakeCA) requestCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

func caError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

type errString string

func (e errString) Error() string { return string(e) }

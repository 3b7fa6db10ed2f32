package login

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// loginTestPolicy gives the test IdP's user (group engineering)
// orders:readonly, and the dev login's identity (group developers) both
// roles of orders.
const loginTestPolicy = agentTestPolicy + `  - groups: [developers]
    allow: [orders:readonly, orders:admin]
`

// devIdentity is who a dev token proves, as under `gatehouse dev`.
var devIdentity = policy.Identity{Subject: "dev", Email: "dev@gatehouse.local", Issuer: "gatehouse-dev", Groups: []string{"developers"}}

// testCA is package ca's real certificate API (ca.API over a ca.Authority
// signing with in-memory keys) on httptest, with the test IdP as its
// identity provider. It keeps what Login sent, so tests can check it.
type testCA struct {
	t         *testing.T
	srv       *httptest.Server
	authority *ca.Authority
	rec       *memRecorder
	dev       *ca.DevTokens // nil: not in dev mode

	mu       sync.Mutex
	requests []recordedRequest
}

type recordedRequest struct {
	auth string
	body caapi.CertificateRequest
}

// testCAOptions are the ways a test CA differs from the plain one.
type testCAOptions struct {
	idp     *fakeIdP // nil: no identity provider
	devMode bool     // accept dev tokens (ca.DevTokens), as `gatehouse dev` does
	limiter *sourcelimit.Limiter
}

func newTestCA(t *testing.T, o testCAOptions) *testCA {
	t.Helper()
	cfg, err := policy.Parse([]byte(loginTestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	c := &testCA{t: t, rec: &memRecorder{}}
	c.authority = &ca.Authority{UserSigner: newSigner(t), HostSigner: newSigner(t), Policy: cfg, Record: c.rec}
	api := &ca.API{Authority: c.authority, Limiter: o.limiter, Info: caapi.Info{
		UserCA:           authorizedKeyLine(c.authority.UserSigner.PublicKey(), ""),
		HostCAKnownHosts: ca.HostKnownHostsLine(c.authority.HostSigner.PublicKey(), []string{"gatehouse", "127.0.0.1"}),
		SSHAddress:       "127.0.0.1:2222",
		SSHHostAlias:     "gatehouse",
	}}
	if o.devMode {
		c.dev = ca.NewDevTokens(devIdentity, nil)
		api.Dev, api.Info.DevLogin = c.dev, true
	}
	if o.idp != nil {
		oidcCfg := &policy.OIDCConfig{Issuer: o.idp.issuer(), ClientID: testClientID}
		if api.OIDC, err = ca.NewOIDCVerifier(context.Background(), oidcCfg); err != nil {
			t.Fatal(err)
		}
		api.Info.OIDC = &caapi.OIDCInfo{Issuer: oidcCfg.Issuer, ClientID: testClientID, Scopes: []string{"openid", "email", "profile", "groups"}}
	}
	c.srv = httptest.NewServer(c.keepRequests(api.Handler()))
	t.Cleanup(c.srv.Close)
	return c
}

// keepRequests notes every POST /v1/certificates before the API sees it.
func (c *testCA) keepRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/certificates" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				c.t.Errorf("reading the request: %v", err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var req caapi.CertificateRequest
			json.Unmarshal(body, &req) // a body that is not one is the API's to refuse
			c.mu.Lock()
			c.requests = append(c.requests, recordedRequest{auth: r.Header.Get("Authorization"), body: req})
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// devToken is the dev token the CA accepts next (each works once).
func (c *testCA) devToken() string {
	c.t.Helper()
	if c.dev == nil {
		c.t.Fatal("the test CA is not in dev mode")
	}
	return c.dev.Current()
}

func (c *testCA) knownHostsLine() string {
	return ca.HostKnownHostsLine(c.authority.HostSigner.PublicKey(), []string{"gatehouse", "127.0.0.1"})
}

func (c *testCA) lastRequest() recordedRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.requests) == 0 {
		c.t.Fatal("the CA got no certificate request")
	}
	return c.requests[len(c.requests)-1]
}

func (c *testCA) requestCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

// recorded is the types of the events the CA recorded, in order.
func (r *memRecorder) recorded() []event.Type {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Type(nil), r.events...)
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

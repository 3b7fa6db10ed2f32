package login

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"golang.org/x/oauth2"
)

// devTokenPrefix begins every `gatehouse dev` login token (ca.DevTokenPrefix;
// the server routes tokens by it).
const devTokenPrefix = "ghdev_"

// identityToken picks the token source the CA accepts: the dev token when
// given, else an OpenID Connect ID token from the CA's identity provider.
func (o *Options) identityToken(ctx context.Context, info *caapi.Info) (string, error) {
	if o.DevToken != "" {
		if !info.DevLogin {
			return "", fmt.Errorf("gatehouse CA at %s does not accept dev tokens: it is not running in dev mode", o.Server)
		}
		if !strings.HasPrefix(o.DevToken, devTokenPrefix) {
			return "", fmt.Errorf("--dev TOKEN: that is not a dev login token (they start with %s); copy the newest one `gatehouse dev` printed", devTokenPrefix)
		}
		return o.DevToken, nil
	}
	if info.OIDC == nil || info.OIDC.Issuer == "" || info.OIDC.ClientID == "" {
		hint := "ask its operator to configure identity.oidc"
		if info.DevLogin {
			hint = "it runs in dev mode: log in with --dev TOKEN, the token `gatehouse dev` printed"
		}
		return "", fmt.Errorf("gatehouse CA at %s %w; %s", o.Server, errNoIdP, hint)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, o.LoginTimeout,
		fmt.Errorf("login: gave up after %v waiting for the login at the identity provider", o.LoginTimeout))
	defer cancel()
	ctx = oidc.ClientContext(ctx, o.HTTPClient) // for discovery, JWKS and the oauth2 calls
	p, err := discover(ctx, info.OIDC)
	if err != nil {
		return "", canceled(ctx, err)
	}
	if o.Device {
		raw, err := p.deviceFlow(ctx, o.Out)
		return raw, canceled(ctx, err)
	}
	raw, err := p.browserFlow(ctx, o.Out, o.browser())
	return raw, canceled(ctx, err)
}

// canceled replaces err by the reason ctx ended, when it did: "context
// deadline exceeded" deep in an oauth2 call says less than the cause.
func canceled(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// browser returns the hook that shows the login URL to the user, or nil.
func (o *Options) browser() func(string) error {
	if o.NoBrowser {
		return nil
	}
	return o.OpenBrowser
}

// idp is an OpenID Connect provider as the CA configured it.
type idp struct {
	issuer   string
	config   oauth2.Config // RedirectURL is set per flow
	verifier *oidc.IDTokenVerifier
}

// discover reads the provider's metadata (OpenID Connect Discovery 1.0 §4).
func discover(ctx context.Context, info *caapi.OIDCInfo) (*idp, error) {
	provider, err := oidc.NewProvider(ctx, info.Issuer)
	if err != nil {
		return nil, fmt.Errorf("login: discover identity provider %s: %w", info.Issuer, err)
	}
	endpoint := provider.Endpoint()
	// A CLI is a public client (RFC 8252 §8.4): it has no secret, so it
	// names itself in the request body.
	endpoint.AuthStyle = oauth2.AuthStyleInParams
	return &idp{
		issuer: info.Issuer,
		config: oauth2.Config{
			ClientID: info.ClientID,
			Endpoint: endpoint,
			Scopes:   withOpenID(info.Scopes),
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: info.ClientID}),
	}, nil
}

// withOpenID makes sure the openid scope is asked for: without it there is
// no ID token (OpenID Connect Core 1.0 §3.1.2.1).
func withOpenID(scopes []string) []string {
	if len(scopes) == 0 {
		return []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		return scopes
	}
	return append([]string{oidc.ScopeOpenID}, scopes...)
}

// idToken takes the ID token out of a token response and checks it before
// handing it to the CA: signature, issuer, audience, expiry and, for the
// browser flow, the nonce that ties it to this login.
func (p *idp) idToken(ctx context.Context, tok *oauth2.Token, nonce string) (string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", fmt.Errorf("identity provider %s returned no id_token (is the openid scope allowed for client %s?)",
			p.issuer, p.config.ClientID)
	}
	id, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("identity provider %s returned an ID token that does not verify: %w", p.issuer, err)
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(nonce)) != 1 {
		return "", fmt.Errorf("identity provider %s returned an ID token for another login (nonce mismatch)", p.issuer)
	}
	return raw, nil
}

// tokenError says which side refused a token request.
func (p *idp) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("identity provider %s refused the login: %w", p.issuer, err)
	}
	return fmt.Errorf("login: token request to %s: %w", p.issuer, err)
}

// randomToken returns 256 random bits, URL-safe, for state and nonce.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

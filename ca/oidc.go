package ca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// OIDCVerifier checks ID tokens from the configured identity provider and
// turns them into identities. It is safe for concurrent use.
type OIDCVerifier struct {
	verifier *oidc.IDTokenVerifier
	// signatureOnly checks the signature alone; it only tells apart why
	// verifier refused a token (see classify) and never accepts one.
	signatureOnly *oidc.IDTokenVerifier
	issuer        string
	clientID      string
	groupsClaim   string
}

// NewOIDCVerifier discovers the issuer's configuration and keys
// (OpenID Connect Discovery 1.0 §4). An HTTP client for discovery and key
// fetches can be supplied with oidc.ClientContext.
func NewOIDCVerifier(ctx context.Context, cfg *policy.OIDCConfig) (*OIDCVerifier, error) {
	if cfg == nil || cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("ca: OIDC verifier: identity.oidc needs issuer and client_id")
	}
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("ca: discover OIDC issuer %s: %w", cfg.Issuer, err)
	}
	claim := cfg.GroupsClaim
	if claim == "" {
		claim = "groups"
	}
	// Both verifiers share the provider's cached key set, fetched with
	// the HTTP client of ctx (oidc.ClientContext) if it has one.
	return &OIDCVerifier{
		// go-oidc checks the signature against the discovered keys and
		// algorithms, then iss, aud = client_id, and exp.
		verifier:      provider.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		signatureOnly: provider.Verifier(&oidc.Config{SkipClientIDCheck: true, SkipIssuerCheck: true, SkipExpiryCheck: true}),
		issuer:        cfg.Issuer,
		clientID:      cfg.ClientID,
		groupsClaim:   claim,
	}, nil
}

// Verify checks rawIDToken and returns who it names. Failures are *Error
// with code token_expired, wrong_audience, wrong_issuer or invalid_token.
//
// The email is kept only when the token does not say it is unverified:
// the email becomes the certificate's KeyId, the name auditors read, so
// an address the provider itself has not confirmed (email_verified:
// false) must not be able to name someone else. The subject, which the
// provider does vouch for, still identifies the holder. Providers that
// omit email_verified (several enterprise IdPs only issue verified,
// directory-managed addresses) are trusted as they are.
func (v *OIDCVerifier) Verify(ctx context.Context, rawIDToken string) (policy.Identity, error) {
	tok, err := v.verifier.Verify(ctx, rawIDToken)
	if err != nil {
		return policy.Identity{}, v.classify(ctx, rawIDToken, err)
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return policy.Identity{}, invalidToken("its claims are not a JSON object", err)
	}
	if tok.Subject == "" {
		return policy.Identity{}, invalidToken("it has no subject (sub)", nil)
	}
	groups, err := stringList(claims[v.groupsClaim])
	if err != nil {
		return policy.Identity{}, invalidToken(fmt.Sprintf("its %q claim is not a list of strings (identity.oidc.groups_claim)", v.groupsClaim), err)
	}
	id := policy.Identity{Subject: tok.Subject, Issuer: tok.Issuer, Groups: groups}
	var email string
	if json.Unmarshal(claims["email"], &email) == nil && !explicitlyFalse(claims["email_verified"]) {
		id.Email = email
	}
	return id, nil
}

// classify maps a go-oidc failure to a typed error. Only go-oidc's expiry
// failure is typed (and comes after its signature check); for the rest,
// the token is checked again for its signature alone, and only a token
// the provider really signed is called wrong_issuer or wrong_audience.
func (v *OIDCVerifier) classify(ctx context.Context, raw string, err error) error {
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return &Error{Code: caapi.CodeTokenExpired, Status: statusFor(caapi.CodeTokenExpired), Err: err,
			Message: fmt.Sprintf("your login expired at %s; run `gatehouse login` again", expired.Expiry.UTC().Format(time.RFC3339))}
	}
	tok, serr := v.signatureOnly.Verify(ctx, raw)
	switch {
	case serr != nil:
		return invalidToken("its signature or format could not be verified", err)
	case tok.Issuer != v.issuer:
		return &Error{Code: caapi.CodeWrongIssuer, Status: statusFor(caapi.CodeWrongIssuer), Err: err,
			Message: fmt.Sprintf("the token was issued by %.200q, but this gatehouse trusts %q; run `gatehouse login` again against this server", tok.Issuer, v.issuer)}
	case !slices.Contains(tok.Audience, v.clientID):
		return &Error{Code: caapi.CodeWrongAudience, Status: statusFor(caapi.CodeWrongAudience), Err: err,
			Message: fmt.Sprintf("the token was issued to another client, not to gatehouse's client_id %q; run `gatehouse login` again", v.clientID)}
	default:
		return invalidToken("it is not valid yet or otherwise unacceptable", err)
	}
}

func invalidToken(why string, cause error) *Error {
	return &Error{Code: caapi.CodeInvalidToken, Status: statusFor(caapi.CodeInvalidToken), Err: cause,
		Message: "the ID token is not valid: " + why + "; run `gatehouse login` again"}
}

// stringList decodes a claim that is a list of strings or, as some
// providers send a lone group, a single string; an absent or null claim
// is an empty list.
func stringList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// explicitlyFalse reports whether a boolean claim is present and false.
// Some providers send booleans as strings ("false").
func explicitlyFalse(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "false" || s == `"false"`
}

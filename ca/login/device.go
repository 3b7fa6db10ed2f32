package login

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/oauth2"
)

// deviceFlow is the device authorization grant (RFC 8628) for machines
// without a browser: the user visits a URL elsewhere and types a code while
// this side polls the token endpoint. PKCE is added as RFC 8628 §3.1 allows
// extensions; providers that do not know it ignore it (RFC 6749 §3.1).
func (p *idp) deviceFlow(ctx context.Context, out io.Writer) (string, error) {
	if p.config.Endpoint.DeviceAuthURL == "" {
		return "", fmt.Errorf("identity provider %s does not offer the device authorization grant (no device_authorization_endpoint); log in with the browser instead", p.issuer)
	}
	verifier := oauth2.GenerateVerifier()
	da, err := p.config.DeviceAuth(ctx, oauth2.S256ChallengeOption(verifier))
	if err != nil {
		return "", p.tokenError(err)
	}
	fmt.Fprintf(out, "Visit: %s\nCode: %s\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(out, "Or open: %s\n", da.VerificationURIComplete)
	}
	fmt.Fprintln(out, "Waiting for the login to complete…")
	tok, err := p.config.DeviceAccessToken(ctx, da, oauth2.VerifierOption(verifier))
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return "", fmt.Errorf("login: the device code from %s expired before the login completed", p.issuer)
	}
	if err != nil {
		return "", p.tokenError(err)
	}
	return p.idToken(ctx, tok, "")
}

package login

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// browserFlow is the authorization code grant with PKCE (RFC 7636, S256) on
// a loopback redirect (RFC 8252 §7.3). open may be nil: the URL is printed
// either way.
func (p *idp) browserFlow(ctx context.Context, out io.Writer, open func(string) error) (string, error) {
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	rcv, err := listenLoopback(state)
	if err != nil {
		return "", err
	}
	defer rcv.close()

	conf := p.config
	conf.RedirectURL = rcv.redirectURL()
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	// The URL stands alone on its line so that it can be copied, or scraped.
	fmt.Fprintf(out, "Open this URL to log in:\n%s\n", authURL)
	if open != nil {
		if err := open(authURL); err != nil {
			fmt.Fprintf(out, "Could not open a browser (%v); open the URL above yourself.\n", err)
		}
	}

	code, err := rcv.wait(ctx)
	if err != nil {
		return "", err
	}
	raw, err := p.exchange(ctx, conf, code, verifier, nonce)
	rcv.finish(err) // the browser tab shows the outcome
	return raw, err
}

// exchange trades the authorization code for tokens (RFC 6749 §4.1.3),
// proving possession of the PKCE verifier.
func (p *idp) exchange(ctx context.Context, conf oauth2.Config, code, verifier, nonce string) (string, error) {
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", p.tokenError(err)
	}
	return p.idToken(ctx, tok, nonce)
}

// openBrowser is the default Options.OpenBrowser.
func openBrowser(url string) error {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	} else if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		// Without a display xdg-open falls back to a text browser that
		// would fight us for the terminal.
		return fmt.Errorf("no display")
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%s not found", name)
	}
	cmd := exec.Command(path, url)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; its outcome is the browser's business
	return nil
}

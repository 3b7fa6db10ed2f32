package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca/krl"
)

// maxKRL bounds the revocation list read from the CA.
const maxKRL = 16 << 20

// ErrUnusable is wrapped by Status.Problem's errors: the certificate
// cannot be used as it stands.
var ErrUnusable = errors.New("the certificate cannot be used")

// CheckRevocation asks the profile's server whether the certificate is
// revoked, from the list it publishes at GET /v1/krl (the KRL plain sshd
// servers read), and sets Revoked and RevocationChecked. hc nil means a
// client with a 10-second timeout.
func (s *Status) CheckRevocation(ctx context.Context, hc *http.Client) error {
	if s.Server == "" {
		return errors.New("status: the profile names no server to ask about revocation (run gatehouse login, or pass --offline)")
	}
	server, err := normalizeServer(s.Server)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	list, err := fetchKRL(ctx, hc, server)
	if err != nil {
		return err
	}
	s.Revoked, s.RevocationChecked = list.Revokes(s.cert), true
	return nil
}

func fetchKRL(ctx context.Context, hc *http.Client, server string) (*krl.KRL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/v1/krl", nil)
	if err != nil {
		return nil, fmt.Errorf("status: GET /v1/krl: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("status: cannot reach the gatehouse CA at %s to check revocation (--offline skips the check): %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKRL))
	if err != nil {
		return nil, fmt.Errorf("status: reading the revocation list of %s: %w", server, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status: checking revocation: %w", decodeServerError("refused the revocation list", resp.StatusCode, body))
	}
	list, err := krl.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("status: the revocation list of %s: %w", server, err)
	}
	return list, nil
}

// Problem says why the certificate cannot be used now, and what to run
// instead; nil when it can (as far as was checked).
func (s *Status) Problem() error {
	switch {
	case s.Revoked:
		return fmt.Errorf("%w: certificate serial %d is revoked: run gatehouse login for a new one (ask the operator why if that is refused too)", ErrUnusable, s.Serial)
	case s.Expired:
		return fmt.Errorf("%w: it expired %s ago: run gatehouse login", ErrUnusable, humanDuration(-s.Remaining))
	case s.NotYetValid:
		return fmt.Errorf("%w: it is not valid before %s: check this machine's clock", ErrUnusable, s.ValidAfter.Format(time.DateTime+" MST"))
	}
	return nil
}

// revocation is the status line about revocation.
func (s *Status) revocation() string {
	switch {
	case !s.RevocationChecked:
		return "not checked"
	case s.Revoked:
		return "YES, on the revocation list of " + s.Server
	}
	return "no (checked with " + s.Server + ")"
}

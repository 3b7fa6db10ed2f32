package login

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/listen"
)

// maxAnswer bounds what is read from the CA: its answers are small JSON.
const maxAnswer = 1 << 20

func newAgentCertRequest(cert *ssh.Certificate, claims, sig []byte) caapi.SignedRequest {
	return caapi.SignedRequest{
		Certificate: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert))),
		Claims:      base64.StdEncoding.EncodeToString(claims),
		Signature:   base64.StdEncoding.EncodeToString(sig),
	}
}

// ServerError is an error answer of the gatehouse CA, with the code it gave
// ("no_grant", "invalid_token", ...) for callers to branch on.
type ServerError struct {
	Op         string // what went wrong, e.g. "refused the certificate"
	StatusCode int
	Code       string
	Message    string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("gatehouse CA %s: %s: %s", e.Op, e.Code, e.Message)
}

// caClient speaks the CA's HTTP API.
type caClient struct {
	base string // normalized, without a trailing slash
	http *http.Client
}

// info asks the CA how to log in and where the bastion is.
func (c *caClient) info(ctx context.Context) (*caapi.Info, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/ca", nil)
	if err != nil {
		return nil, fmt.Errorf("login: GET /v1/ca: %w", err)
	}
	var info caapi.Info
	if err := c.do(req, "failed GET /v1/ca", &info); err != nil {
		return nil, err
	}
	if info.SSHAddress == "" || info.HostCAKnownHosts == "" {
		return nil, fmt.Errorf("gatehouse CA at %s: GET /v1/ca lacks ssh_address or host_ca_known_hosts (is --server the CA API?)", c.base)
	}
	if info.SSHHostAlias == "" {
		info.SSHHostAlias = "gatehouse"
	}
	return &info, nil
}

// certify sends the public key with the bearer token and parses the
// certificate in the answer.
func (c *caClient) certify(ctx context.Context, token string, body caapi.CertificateRequest) (*ssh.Certificate, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("login: encode certificate request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/certificates", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("login: POST /v1/certificates: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	var ans caapi.CertificateResponse
	if err := c.do(req, "refused the certificate", &ans); err != nil {
		return nil, err
	}
	return parseCertificate([]byte(ans.Certificate))
}

// agentCertify sends a signed agent certificate request. No bearer token:
// the engineer's certificate and signature are the credential.
func (c *caClient) agentCertify(ctx context.Context, body caapi.SignedRequest) (*ssh.Certificate, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("agent-cert: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/agent-certificates", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("agent-cert: POST /v1/agent-certificates: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	var ans caapi.CertificateResponse
	if err := c.do(req, "refused the agent certificate", &ans); err != nil {
		return nil, err
	}
	return parseCertificate([]byte(ans.Certificate))
}

// do sends req and decodes a 2xx JSON answer into out, or turns anything
// else into an error that names the server.
func (c *caClient) do(req *http.Request, op string, out any) error {
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return fmt.Errorf("login: %s %s: %w", req.Method, req.URL.Path, context.Cause(req.Context()))
		}
		return fmt.Errorf("cannot reach the gatehouse CA at %s (check --server): %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("gatehouse CA at %s: reading the answer to %s %s: %w", c.base, req.Method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return decodeServerError(op, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("gatehouse CA at %s: unreadable answer to %s %s (is --server the CA API?): %w",
			c.base, req.Method, req.URL.Path, err)
	}
	return nil
}

// decodeServerError reads the CA's {"error": CODE, "message": ...} body, and
// falls back to the HTTP status for anything else (a proxy's page, say).
func decodeServerError(op string, status int, body []byte) *ServerError {
	e := &ServerError{Op: op, StatusCode: status}
	var j caapi.ErrorResponse
	if json.Unmarshal(body, &j) == nil && j.Error != "" {
		e.Code, e.Message = j.Error, j.Message
		return e
	}
	e.Code = fmt.Sprintf("http_%d", status)
	e.Message = strings.TrimSpace(string(body))
	if len(e.Message) > 200 {
		e.Message = e.Message[:200] + "…"
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// parseCertificate reads a certificate in authorized_keys form.
func parseCertificate(b []byte) (*ssh.Certificate, error) {
	key, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("login: parse certificate: %w", err)
	}
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		return nil, fmt.Errorf("login: parse certificate: got a plain %s key, not a certificate", key.Type())
	}
	return cert, nil
}

// normalizeServer checks the CA URL. Plain http is refused for anything but
// loopback because the request carries a bearer ID token.
func normalizeServer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("login: server %q: want a URL like http://127.0.0.1:8443", s)
	}
	if u.Scheme == "http" && !listen.IsLoopbackHost(u.Hostname()) {
		return "", fmt.Errorf("login: server %q: plain http is allowed only on loopback; use https", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("login: server %q: want a base URL without query or fragment", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// errNoIdP is returned when the CA has no identity provider configured.
var errNoIdP = errors.New("has no identity provider configured (identity.oidc)")

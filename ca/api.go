package ca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// maxRequestBody bounds POST /v1/certificates: a 16384-bit RSA key in
// authorized_keys form is under 3 KiB.
const maxRequestBody = 64 << 10

// TokenVerifier turns a bearer token into the identity it proves.
// *OIDCVerifier and *DevTokens are the two in gatehouse.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (policy.Identity, error)
}

// API is the CA's HTTP interface. Authority is required.
type API struct {
	Authority *Authority
	OIDC      TokenVerifier // nil when no IdP is configured
	Dev       TokenVerifier // nil outside dev mode; tokens with prefix "ghdev_" go here
	Info      caapi.Info    // served at GET /v1/ca
	Logger    *slog.Logger  // nil: discard
	// KRL renders the revocation list for GET /v1/krl; nil answers 404.
	KRL KRLFunc
	// Limiter limits, per source, the requests (all but GET and HEAD)
	// that fail, each of which is recorded (ratelimit.go). nil: no limit.
	Limiter *sourcelimit.Limiter
}

// Handler serves GET /v1/ca, POST /v1/certificates, POST
// /v1/agent-certificates, GET /v1/krl and POST /v1/access-requests.
func (api *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ca", api.serveInfo)
	mux.HandleFunc("POST /v1/certificates", api.serveCertificate)
	mux.HandleFunc("POST /v1/agent-certificates", api.serveAgentCertificate)
	mux.HandleFunc("GET /v1/krl", api.serveKRL)
	mux.HandleFunc("POST /v1/access-requests", api.serveAccessRequest)
	return api.limited(mux)
}

func (api *API) serveInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Info)
}

// serveCertificate reads the whole request before verifying the token, so
// that a malformed body does not use up a one-time dev token.
func (api *API) serveCertificate(w http.ResponseWriter, r *http.Request) {
	token, verifier, source, err := api.route(r)
	if err != nil {
		api.refuse(w, r, event.CertRefused{Source: source}, err)
		return
	}
	body, pub, ttl, err := decodeCertificateRequest(w, r)
	if err != nil {
		api.refuse(w, r, event.CertRefused{Source: source}, err)
		return
	}
	id, err := verifier.Verify(r.Context(), token)
	if err != nil {
		api.refuse(w, r, event.CertRefused{Source: source, KeyFingerprint: gossh.FingerprintSHA256(pub), Grants: body.Grants}, tokenError(err))
		return
	}
	req := Request{Identity: requestIdentity(body, id), PublicKey: pub, TTL: ttl, Grants: body.Grants, Source: source}
	cert, err := api.Authority.Issue(r.Context(), req)
	if err != nil {
		api.writeError(w, r, err) // the Authority recorded the refusal
		return
	}
	api.log().InfoContext(r.Context(), "certificate issued", "key_id", cert.KeyId, "serial", cert.Serial, "principals", cert.ValidPrincipals, "source", source)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, newCertificateResponse(cert))
}

// route picks the verifier for the request's bearer token.
func (api *API) route(r *http.Request) (token string, v TokenVerifier, source string, err error) {
	token, ok := bearerToken(r)
	switch {
	case !ok:
		return "", nil, "", refusal(caapi.CodeInvalidToken, "no bearer token; run `gatehouse login` first")
	case strings.HasPrefix(token, DevTokenPrefix):
		if api.Dev == nil {
			return "", nil, SourceDev, refusal(caapi.CodeInvalidToken, "dev login is only available under `gatehouse dev`; run `gatehouse login` instead")
		}
		return token, api.Dev, SourceDev, nil
	case api.OIDC == nil && api.Dev != nil:
		// Most likely a dev token cut short or mistyped.
		return "", nil, SourceDev, refusal(caapi.CodeInvalidToken, "that is not a dev login token (they start with "+DevTokenPrefix+"); use the newest one `gatehouse dev` printed")
	case api.OIDC == nil:
		return "", nil, SourceOIDC, refusal(caapi.CodeInvalidToken, "this gatehouse has no identity provider configured (identity.oidc), so it accepts no ID tokens")
	default:
		return token, api.OIDC, SourceOIDC, nil
	}
}

// bearerToken reads "Authorization: Bearer TOKEN" (RFC 6750 §2.1; the
// scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func decodeCertificateRequest(w http.ResponseWriter, r *http.Request) (caapi.CertificateRequest, gossh.PublicKey, time.Duration, error) {
	var body caapi.CertificateRequest
	if err := decodeBody(w, r, &body, "a certificate request"); err != nil {
		return body, nil, 0, err
	}
	switch {
	case body.PublicKey == "":
		return body, nil, 0, refusal(caapi.CodeInvalidRequest, "public_key is required (an authorized_keys line such as the contents of id_ed25519.pub)")
	case body.RequestID != "":
		return body, nil, 0, refusal(caapi.CodeInvalidRequest, "request_id cannot be set by a client: gatehouse puts an access request's id into your certificate itself once the request is approved (`gatehouse request`)")
	case body.TicketID != "":
		return body, nil, 0, refusal(caapi.CodeInvalidRequest, "ticket_id cannot be set here: name the ticket of an agent's work with `gatehouse agent-cert --ticket`, which signs it")
	}
	pub, _, _, _, err := gossh.ParseAuthorizedKey([]byte(body.PublicKey))
	if err != nil {
		return body, nil, 0, refusal(caapi.CodeInvalidRequest, "public_key is not an SSH public key in authorized_keys form")
	}
	var ttl time.Duration
	if body.TTL != "" {
		if ttl, err = policy.ParseDuration(body.TTL); err != nil {
			return body, nil, 0, refusal(caapi.CodeInvalidRequest, "ttl: "+err.Error())
		}
	}
	return body, pub, ttl, nil
}

// requestIdentity adds what the body says about this certificate to the verified
// identity. An agent certificate names the token's holder as DelegatedBy.
func requestIdentity(body caapi.CertificateRequest, id policy.Identity) policy.Identity {
	if body.Agent != "" {
		id.DelegatedBy = id.Name()
		id.Agent = body.Agent
	}
	id.RunID = body.RunID
	return id
}

// tokenError keeps a verifier's typed refusal and turns anything else
// into invalid_token, so that a verifier's internals never reach clients.
func tokenError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: caapi.CodeInvalidToken, Status: statusFor(caapi.CodeInvalidToken), Err: err,
		Message: "the token could not be verified; run `gatehouse login` again"}
}

func newCertificateResponse(cert *gossh.Certificate) caapi.CertificateResponse {
	return caapi.CertificateResponse{
		Certificate: strings.TrimSpace(string(gossh.MarshalAuthorizedKey(cert))),
		KeyID:       cert.KeyId,
		Serial:      cert.Serial,
		Principals:  cert.ValidPrincipals,
		ValidAfter:  time.Unix(int64(cert.ValidAfter), 0).UTC().Format(time.RFC3339),
		ValidBefore: time.Unix(int64(cert.ValidBefore), 0).UTC().Format(time.RFC3339),
	}
}

// refuse records a refusal made by the API itself (before the Authority
// saw the request) and answers it.
func (api *API) refuse(w http.ResponseWriter, r *http.Request, ev event.CertRefused, err error) {
	if api.Authority != nil {
		err = api.Authority.recordRefusal(ev, err)
	}
	api.writeError(w, r, err)
}

func (api *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	level := slog.LevelInfo
	if e.Code == caapi.CodeInternal || err != error(e) {
		level = slog.LevelError // internal, or a refusal that could not be recorded
	}
	api.log().Log(r.Context(), level, "certificate refused", "code", e.Code, "error", err, "cause", e.Err)
	if e.Status == http.StatusUnauthorized {
		// RFC 6750 §3: a 401 names the scheme, and the error when a
		// token was presented.
		challenge := `Bearer realm="gatehouse"`
		if _, ok := bearerToken(r); ok {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	writeJSON(w, e.Status, caapi.ErrorResponse{Error: e.Code, Message: e.Message})
}

func (api *API) log() *slog.Logger {
	if api.Logger != nil {
		return api.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // the status is sent; a failed write has no one to tell
}

// decodeBody reads a request body that must be exactly one JSON value of
// dst's type (what names it in the refusal), with no unknown fields and
// no more than maxRequestBody bytes.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any, what string) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Code: caapi.CodeInvalidRequest, Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("the request body is over %d bytes", maxRequestBody)}
	case err != nil:
		return refusal(caapi.CodeInvalidRequest, "the request body is not "+what+": "+err.Error())
	}
	return nil
}

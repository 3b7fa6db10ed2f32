package ca

import (
	"errors"
	"net/http"
)

// Codes of the errors the CA returns. They are part of the certificate
// API: clients branch on them, so they are never renamed.
const (
	CodeInvalidRequest  = "invalid_request"   // malformed request: key, TTL, grant syntax, identity
	CodeInvalidToken    = "invalid_token"     // no token, or one that fails verification
	CodeTokenExpired    = "token_expired"     // a genuine token past its expiry
	CodeWrongAudience   = "wrong_audience"    // a token issued to another client
	CodeWrongIssuer     = "wrong_issuer"      // a token from another identity provider
	CodeNoGrant         = "no_grant"          // the identity's groups grant nothing
	CodeGrantNotAllowed = "grant_not_allowed" // a requested grant is not entitled (or not configured)
	CodeTTLExceeded     = "ttl_exceeded"      // the requested lifetime is over the cap
	CodeKeyType         = "key_type"          // a public key type or size the CA does not sign
	CodeInternal        = "internal"          // the CA failed; nothing was issued
)

// Codes of agent certificate requests (POST /v1/agent-certificates).
const (
	CodeInvalidCertificate = "invalid_certificate" // the engineer's certificate or signature does not verify
	CodeRevoked            = "revoked"             // the engineer's certificate is revoked
)

// Error is a refusal a caller can branch on. Message is written for the
// person at the client and says what to do; Err is the underlying cause,
// for server logs only, and is never sent to clients.
type Error struct {
	Code    string
	Message string
	Status  int   // HTTP status for the certificate API
	Err     error // optional cause; nil for plain policy refusals
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause, so errors.Is and errors.As see through.
func (e *Error) Unwrap() error { return e.Err }

// refusal builds an Error with the status that fits its code.
func refusal(code, message string) *Error {
	return &Error{Code: code, Message: message, Status: statusFor(code)}
}

func statusFor(code string) int {
	switch code {
	case CodeInvalidToken, CodeTokenExpired, CodeWrongAudience, CodeWrongIssuer, CodeInvalidCertificate:
		return http.StatusUnauthorized
	case CodeNoGrant, CodeGrantNotAllowed, CodeRevoked:
		return http.StatusForbidden
	case CodeInternal:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// asError returns err as an *Error, turning anything untyped into an
// internal error that keeps err as its cause.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal error in the certificate authority; nothing was issued (see the server log)", Status: http.StatusInternalServerError, Err: err}
}

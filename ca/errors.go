package ca

import (
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
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
	case caapi.CodeInvalidToken, caapi.CodeTokenExpired, caapi.CodeWrongAudience, caapi.CodeWrongIssuer, caapi.CodeInvalidCertificate:
		return http.StatusUnauthorized
	case caapi.CodeNoGrant, caapi.CodeGrantNotAllowed, caapi.CodeRevoked:
		return http.StatusForbidden
	case caapi.CodeInternal:
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
	return &Error{Code: caapi.CodeInternal, Message: "internal error in the certificate authority; nothing was issued (see the server log)", Status: http.StatusInternalServerError, Err: err}
}

package caapi

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

// CodeRateLimited answers a request refused by API.Limiter.
const CodeRateLimited = "rate_limited"

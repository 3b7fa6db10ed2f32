package event

import "time"

// CertIssued is cert.issued: a certificate the CA signed.
type CertIssued struct {
	// Source is oidc, dev, operator or agent: what vouched for the request.
	Source         string    `json:"source"`
	Identity       Identity  `json:"identity"` // as encoded in the certificate, serial included
	KeyID          string    `json:"key_id"`
	Serial         uint64    `json:"serial"`
	Principals     []string  `json:"principals"`
	KeyFingerprint string    `json:"key_fingerprint"` // SHA256:… of the certified public key
	ValidAfter     time.Time `json:"valid_after"`
	ValidBefore    time.Time `json:"valid_before"`
}

// CertRefused is cert.refused: a certificate request the CA refused.
type CertRefused struct {
	Source string `json:"source"` // as for cert.issued; empty when the request carried no credential
	// Identity is what was established before the refusal: nil when
	// nothing was.
	Identity       *Identity `json:"identity"`
	Reason         string    `json:"reason"` // the message the client got
	Code           string    `json:"code"`   // its code: grant_not_allowed, ttl_exceeded, ...
	KeyFingerprint string    `json:"key_fingerprint,omitempty"`
	Grants         []string  `json:"grants,omitempty"` // as requested
	TTL            string    `json:"ttl,omitempty"`    // as requested
}

// CertThrottled is cert.throttled: requests to the certificate API of one
// source refused because it made too many that failed.
type CertThrottled struct {
	ThrottleReport
	PerMinute int `json:"max_failed_requests_per_minute"` // the limit in force
}

// CertRevoked is cert.revoked: an entry `gatehouse revoke` added to the
// revocation list.
type CertRevoked struct {
	Revocation Revocation `json:"revocation"`
	// Matched are the certificates in the CA's record, still valid, that
	// the entry revokes; an entry may match none (yet).
	Matched []RevokedCertificate `json:"matched"`
}

// Revocation is one entry of the revocation list: exactly one of Serial,
// Identity and Key says what it revokes.
type Revocation struct {
	Serial    uint64    `json:"serial,omitempty"`
	Identity  string    `json:"identity,omitempty"`
	Key       string    `json:"key,omitempty"` // SHA256:… of the key
	Reason    string    `json:"reason,omitempty"`
	RevokedAt time.Time `json:"revoked_at"`
	By        string    `json:"by,omitempty"` // the local account that ran `gatehouse revoke`
}

// RevokedCertificate names one certificate a revocation covers.
type RevokedCertificate struct {
	Serial      uint64    `json:"serial"`
	KeyID       string    `json:"key_id"`
	ValidBefore time.Time `json:"valid_before"`
}

// RequestStep is request.filed, request.approved and request.denied: the
// access request as it stands after the step, and who took the step.
type RequestStep struct {
	Request AccessRequest `json:"request"`
	By      Identity      `json:"by"`
}

// AccessRequest is an access request as the CA stores it.
type AccessRequest struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	Requester Identity  `json:"requester"` // from the requester's certificate
	Grant     string    `json:"grant"`     // TARGET:ROLE
	Reason    string    `json:"reason"`
	TTL       string    `json:"ttl,omitempty"` // as asked; empty: the grant's requires_approval.max_ttl
	FiledAt   time.Time `json:"filed_at"`

	DecidedBy      string    `json:"decided_by,omitempty"` // the approver's or denier's name
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	DecisionReason string    `json:"decision_reason,omitempty"`
	// ExpiresAt ends an approval.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// AccessRequestRefused is request.refused in the CA's stream: a step on an
// access request that was refused.
type AccessRequestRefused struct {
	Action    string    `json:"action"` // file | approve | deny | list
	RequestID string    `json:"request_id,omitempty"`
	Grant     string    `json:"grant,omitempty"`
	By        *Identity `json:"by"` // nil when the caller's certificate did not verify
	Reason    string    `json:"reason"`
	Code      string    `json:"code"`
}

// Package caapi declares the wire types of gatehouse's certificate API:
// every request, answer and error body that package ca serves and package
// ca/login (the client) reads. Declaring them once keeps server and client
// from drifting apart: a renamed field no longer compiles on one side and
// silently breaks the other. The JSON of these types is part of the API
// and never changes shape.
package caapi

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
)

// SSHSIG namespaces (PROTOCOL.sshsig) of the signatures an engineer makes
// over claims: a signature made for one does not verify as the other.
const (
	AgentNamespace   = "agent-certificate@gatehouse" // AgentClaims
	RequestNamespace = "access-request@gatehouse"    // AccessRequestClaims
)

// Info is GET /v1/ca: what a client needs to log in and to trust the
// bastion.
type Info struct {
	UserCA           string    `json:"user_ca"`             // authorized_keys form of the user CA public key
	HostCAKnownHosts string    `json:"host_ca_known_hosts"` // "@cert-authority gatehouse,HOST ssh-ed25519 AAAA…"
	SSHAddress       string    `json:"ssh_address"`         // host:port clients dial
	SSHHostAlias     string    `json:"ssh_host_alias"`      // "gatehouse": the Host name in ssh_config and the host cert principal
	OIDC             *OIDCInfo `json:"oidc,omitempty"`      // for `gatehouse login`; nil: no identity provider
	DevLogin         bool      `json:"dev_login"`
}

// OIDCInfo tells `gatehouse login` which identity provider to use.
type OIDCInfo struct {
	Issuer   string   `json:"issuer"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
}

// CertificateRequest is the body of POST /v1/certificates, sent with the
// bearer token that proves who asks.
type CertificateRequest struct {
	PublicKey string   `json:"public_key"`       // authorized_keys form
	TTL       string   `json:"ttl,omitempty"`    // Go duration or Nd; empty or 0: the cap
	Grants    []string `json:"grants,omitempty"` // narrow to these TARGET:ROLE
	// Agent asks for an agent certificate on behalf of the token's
	// holder, who is recorded as DelegatedBy.
	Agent string `json:"agent,omitempty"`
	// RequestID and TicketID are refused: the CA alone puts a request id
	// into a certificate, from an access request it approved (an agent's
	// ticket is signed by its engineer: POST /v1/agent-certificates).
	// They are decoded only to say so.
	RequestID string `json:"request_id,omitempty"`
	TicketID  string `json:"ticket_id,omitempty"`
	RunID     string `json:"run_id,omitempty"`
}

// CertificateResponse is the answer to a successful POST /v1/certificates
// or POST /v1/agent-certificates.
type CertificateResponse struct {
	Certificate string   `json:"certificate"` // authorized_keys line of the certificate
	KeyID       string   `json:"key_id"`
	Serial      uint64   `json:"serial"`
	Principals  []string `json:"principals"`
	ValidAfter  string   `json:"valid_after"`  // RFC 3339
	ValidBefore string   `json:"valid_before"` // RFC 3339
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error   string `json:"error"` // a code, e.g. "no_grant"; clients branch on it
	Message string `json:"message"`
}

// SignedRequest is the body of POST /v1/agent-certificates and POST
// /v1/access-requests. No bearer token is sent: the engineer's own
// certificate, and a signature by its key over the claims, are the proof
// of who asks.
type SignedRequest struct {
	Certificate string `json:"certificate"` // the engineer's certificate, authorized_keys form
	Claims      string `json:"claims"`      // base64 (standard) of the signed claims JSON
	Signature   string `json:"signature"`   // base64 (standard) of the SSHSIG blob
}

// AgentClaims is what the engineer signs, with AgentNamespace, to ask for
// an agent certificate.
type AgentClaims struct {
	Agent     string   `json:"agent"`
	PublicKey string   `json:"public_key"` // the agent's fresh key, authorized_keys form
	Grants    []string `json:"grants,omitempty"`
	TTL       string   `json:"ttl,omitempty"` // empty or 0: the cap
	RunID     string   `json:"run_id,omitempty"`
	TicketID  string   `json:"ticket_id,omitempty"`
	// CertificateSerial is the serial of the engineer's certificate sent
	// with the claims: the signature vouches for that certificate only.
	CertificateSerial uint64    `json:"certificate_serial"`
	IssuedAt          time.Time `json:"issued_at"`
}

// Actions of POST /v1/access-requests.
const (
	ActionFile    = "file"
	ActionList    = "list"
	ActionApprove = "approve"
	ActionDeny    = "deny"
)

// AccessRequestClaims is what the engineer signs, with RequestNamespace,
// for POST /v1/access-requests.
type AccessRequestClaims struct {
	Action string `json:"action"` // file | list | approve | deny
	Grant  string `json:"grant,omitempty"`
	Reason string `json:"reason,omitempty"`
	TTL    string `json:"ttl,omitempty"`
	ID     string `json:"id,omitempty"`
	// CertificateSerial names the certificate sent with the claims.
	CertificateSerial uint64    `json:"certificate_serial"`
	IssuedAt          time.Time `json:"issued_at"`
}

// AccessRequestResponse answers POST /v1/access-requests: Request for
// file, approve and deny; Requests for list.
type AccessRequestResponse struct {
	Request  *AccessRequest  `json:"request,omitempty"`
	Requests []AccessRequest `json:"requests,omitempty"`
}

// AccessRequest is one request for a grant that requires approval, and
// what became of it. The CA also keeps it in this form in its requests
// file and its recordings.
type AccessRequest struct {
	ID        string          `json:"id"`
	State     string          `json:"state"`     // pending | approved | denied
	Requester policy.Identity `json:"requester"` // from the requester's certificate
	Grant     string          `json:"grant"`     // TARGET:ROLE
	Reason    string          `json:"reason"`
	TTL       string          `json:"ttl,omitempty"` // as asked; empty: the grant's requires_approval.max_ttl
	FiledAt   time.Time       `json:"filed_at"`

	DecidedBy      string    `json:"decided_by,omitempty"` // the approver's or denier's name
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	DecisionReason string    `json:"decision_reason,omitempty"`
	// ExpiresAt ends an approval: certificates issued after it no longer
	// carry the grant, and none issued before outlives it.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

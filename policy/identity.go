package policy

import (
	"encoding/json"
	"fmt"
)

// IdentityExtension is the SSH certificate extension that carries an
// Identity as JSON. The CA writes it; the bastion reads it.
const IdentityExtension = "identity@gatehouse"

// Identity is who a certificate was issued to, as the CA established it.
type Identity struct {
	Subject     string   `json:"sub"`
	Email       string   `json:"email,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Issuer      string   `json:"iss"`
	Agent       string   `json:"agent,omitempty"`        // set on agent certificates
	DelegatedBy string   `json:"delegated_by,omitempty"` // the human behind an agent
	RequestID   string   `json:"request_id,omitempty"`
	TicketID    string   `json:"ticket_id,omitempty"`
	RunID       string   `json:"run_id,omitempty"`
	Serial      uint64   `json:"serial"`

	// DelegatedBySerial is, on an agent certificate minted with
	// `gatehouse agent-cert`, the serial of the engineer's certificate
	// that authorised it: revoking that certificate revokes this one too.
	DelegatedBySerial uint64 `json:"delegated_by_serial,omitempty"`
}

// Name is the readable identity used as a certificate's KeyId:
// "alice@example.com" or "alice@example.com via agent:claude-code".
func (id Identity) Name() string {
	who := id.Email
	if who == "" {
		who = id.Subject
	}
	if id.Agent != "" {
		human := id.DelegatedBy
		if human == "" {
			human = who
		}
		return human + " via agent:" + id.Agent
	}
	return who
}

// Encode renders the identity for the certificate extension.
func (id Identity) Encode() string {
	b, err := json.Marshal(id)
	if err != nil {
		panic("policy: encode identity: " + err.Error()) // only plain fields: cannot fail
	}
	return string(b)
}

// DecodeIdentity parses the certificate extension.
func DecodeIdentity(s string) (Identity, error) {
	var id Identity
	if err := json.Unmarshal([]byte(s), &id); err != nil {
		return Identity{}, fmt.Errorf("policy: decode %s extension: %w", IdentityExtension, err)
	}
	if id.Subject == "" || id.Issuer == "" {
		return Identity{}, fmt.Errorf("policy: %s extension lacks subject or issuer", IdentityExtension)
	}
	return id, nil
}

package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
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
	if err := id.Validate(); err != nil {
		return Identity{}, fmt.Errorf("policy: %s extension: %w", IdentityExtension, err)
	}
	return id, nil
}

// Validate refuses an identity with a string that would not read as what
// it is: every field is shown to people (KeyId in logs, the console,
// ssh's messages) and an identity provider's claims are the client's
// text. The error names the field (its JSON name) and the character.
func (id Identity) Validate() error {
	fields := []struct{ name, value string }{
		{"sub", id.Subject}, {"email", id.Email}, {"iss", id.Issuer}, {"agent", id.Agent},
		{"delegated_by", id.DelegatedBy}, {"request_id", id.RequestID}, {"ticket_id", id.TicketID}, {"run_id", id.RunID},
	}
	for i, g := range id.Groups {
		fields = append(fields, struct{ name, value string }{"groups[" + strconv.Itoa(i) + "]", g})
	}
	var errs []error
	for _, f := range fields {
		if err := CheckVisibleText(f.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

// CheckVisibleText refuses text that does not show as what it is: invalid
// UTF-8; control characters (Cc: ESC starts terminal escape sequences);
// format characters (Cf: bidirectional overrides and isolates, zero-width
// spaces and joiners, the soft hyphen); line and paragraph separators;
// spaces other than U+0020; private-use, surrogate, unassigned and
// noncharacter code points; and the default-ignorable and variation
// selector characters that render as nothing (Hangul fillers, the
// combining grapheme joiner).
func CheckVisibleText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for i, r := range s {
		if !visible(r) {
			return fmt.Errorf("character %U at byte %d is a control, format or invisible character", r, i)
		}
	}
	return nil
}

func visible(r rune) bool {
	switch {
	case r == ' ':
		return true
	case unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector, unicode.Noncharacter_Code_Point):
		return false
	default:
		// Letters, marks, numbers, punctuation and symbols; everything
		// else (C*, Z* but the space) is refused, unassigned included.
		return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
	}
}

package ca

import (
	"errors"
	"fmt"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// Event types the CA records.
const (
	EventIssued  = "cert.issued"
	EventRefused = "cert.refused"
)

// IssuedEvent is the data of a cert.issued event.
type IssuedEvent struct {
	Source         string          `json:"source"`
	Identity       policy.Identity `json:"identity"` // as encoded in the certificate, serial included
	KeyID          string          `json:"key_id"`
	Serial         uint64          `json:"serial"`
	Principals     []string        `json:"principals"`
	KeyFingerprint string          `json:"key_fingerprint"` // SHA256:… of the certified public key
	ValidAfter     time.Time       `json:"valid_after"`
	ValidBefore    time.Time       `json:"valid_before"`
}

// RefusedEvent is the data of a cert.refused event. Identity is whatever
// was known when the request was refused: nil when no token was verified.
type RefusedEvent struct {
	Source         string           `json:"source"` // empty when the request carried no token
	Identity       *policy.Identity `json:"identity"`
	Reason         string           `json:"reason"`
	Code           string           `json:"code"`
	KeyFingerprint string           `json:"key_fingerprint,omitempty"`
	Grants         []string         `json:"grants,omitempty"` // as requested
	TTL            string           `json:"ttl,omitempty"`    // as requested
}

func newIssuedEvent(source string, id policy.Identity, cert *gossh.Certificate) IssuedEvent {
	return IssuedEvent{
		Source:         source,
		Identity:       id,
		KeyID:          cert.KeyId,
		Serial:         cert.Serial,
		Principals:     cert.ValidPrincipals,
		KeyFingerprint: gossh.FingerprintSHA256(cert.Key),
		ValidAfter:     time.Unix(int64(cert.ValidAfter), 0).UTC(),
		ValidBefore:    time.Unix(int64(cert.ValidBefore), 0).UTC(),
	}
}

// refuse records a refusal of req and returns the error to give the
// caller. The refusal stands whether or not it could be recorded; a
// recording failure is joined to the error for the server's log.
func (a *Authority) refuse(req Request, err error) error {
	ev := RefusedEvent{Source: req.Source, Grants: req.Grants}
	if req.Identity.Subject != "" {
		id := req.Identity
		// A refused request may have been refused for these: the caller
		// wrote them, unchecked.
		id.Agent, id.RequestID, id.TicketID, id.RunID = clip.Name(id.Agent), clip.Name(id.RequestID), clip.Name(id.TicketID), clip.Name(id.RunID)
		ev.Identity = &id
	}
	if req.PublicKey != nil {
		ev.KeyFingerprint = gossh.FingerprintSHA256(req.PublicKey)
	}
	if req.TTL != 0 {
		ev.TTL = req.TTL.String()
	}
	return a.recordRefusal(ev, err)
}

// recordRefusal fills in the reason and code from err and emits the event.
func (a *Authority) recordRefusal(ev RefusedEvent, err error) error {
	e := asError(err)
	ev.Reason, ev.Code = e.Message, e.Code
	if e.Code == CodeInternal && e.Err != nil {
		// Internal causes can be long and are for the server log; the
		// record keeps the public message plus the cause's text.
		ev.Reason = e.Message + ": " + e.Err.Error()
	}
	ev.Reason = clip.Detail(ev.Reason) // a message may quote what was asked
	// The grants are as the caller asked, who may hold no valid token.
	ev.Grants = clip.Names(ev.Grants)
	if a.Record == nil {
		return e
	}
	if rerr := a.Record.Emit(EventRefused, ev); rerr != nil {
		return errors.Join(e, fmt.Errorf("ca: record refusal (%s): %w", e.Code, rerr))
	}
	return e
}

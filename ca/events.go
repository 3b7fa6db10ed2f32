package ca

import (
	"errors"
	"fmt"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// The CA records its events (cert.issued, cert.refused, cert.throttled,
// request.*) as the payload types of recorder/event.

// IssuedEvent is a cert.issued event as the CA reads it back (the issued
// certificates behind revocation): event.CertIssued, with what revocation
// asks of it.
type IssuedEvent event.CertIssued

func newIssuedEvent(source string, id policy.Identity, cert *gossh.Certificate) event.CertIssued {
	return event.CertIssued{
		Source:         source,
		Identity:       event.Identity(id),
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
	ev := event.CertRefused{Source: req.Source, Grants: req.Grants}
	if req.Identity.Subject != "" {
		id := req.Identity
		// A refused request may have been refused for these: the caller
		// wrote them, unchecked.
		id.Agent, id.RequestID, id.TicketID, id.RunID = clip.Name(id.Agent), clip.Name(id.RequestID), clip.Name(id.TicketID), clip.Name(id.RunID)
		recorded := event.Identity(id)
		ev.Identity = &recorded
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
func (a *Authority) recordRefusal(ev event.CertRefused, err error) error {
	e := asError(err)
	ev.Reason, ev.Code = e.Message, e.Code
	if e.Code == caapi.CodeInternal && e.Err != nil {
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
	if rerr := a.Record.Emit(event.TypeCertRefused, ev); rerr != nil {
		return errors.Join(e, fmt.Errorf("ca: record refusal (%s): %w", e.Code, rerr))
	}
	return e
}

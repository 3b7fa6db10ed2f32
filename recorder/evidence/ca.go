package evidence

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// readStreams is every event of the streams of kind (the CA's, the
// console's) recorded before the period's end, in stream and seq order,
// each Stream set to "KIND/ID" as the populations name it. A stream that
// cannot be read, or whose chain is broken, fails the bundle: what it
// holds could not all be listed.
func readStreams(src Source, kind string, scope Scope) ([]recorder.Event, error) {
	ids, err := src.List(kind)
	if err != nil {
		return nil, fmt.Errorf("listing %s streams: %w", kind, err)
	}
	slices.Sort(ids)
	var out []recorder.Event
	for _, id := range ids {
		if t, ok := recorder.IDTime(id); ok && !scope.To.IsZero() && !t.Before(scope.To) {
			continue
		}
		lines, err := src.Lines(kind, id)
		if err != nil {
			return nil, fmt.Errorf("reading %s stream %s: %w", kind, id, err)
		}
		events, err := recorder.VerifyChain(lines)
		if err != nil {
			return nil, fmt.Errorf("%s stream %s (gatehouse verify --kind %s %s says more): %w", kind, id, kind, id, err)
		}
		for _, ev := range events {
			if scope.To.IsZero() || ev.Time.Before(scope.To) {
				ev.Stream = kind + "/" + id
				out = append(out, ev)
			}
		}
	}
	return out, nil
}

// addIssuances adds the certificates issued and refused in the period
// (and the refusals to the denials), as scope selects them, in record
// order.
func (p *populations) addIssuances(ca []recorder.Event, scope Scope) error {
	for _, ev := range ca {
		if !scope.inPeriod(ev.Time) {
			continue
		}
		switch ev.Type {
		case event.TypeCertIssued:
			var ci event.CertIssued
			if ev.DecodeData(&ci) == nil && scope.matchesIssued(ci) {
				p.issuances = append(p.issuances, issuedRow(ev, ci))
			}
		case event.TypeCertRefused:
			var c event.CertRefused
			if ev.DecodeData(&c) != nil || !scope.matchesRefusal(c) {
				continue
			}
			p.issuances = append(p.issuances, refusedRow(ev, c))
			err := p.denials.add(denialRow{Stream: ev.Stream, Seq: ev.Seq, Time: utc(ev.Time),
				Type: string(ev.Type), Identity: refusedName(c.Identity), Reason: c.Code + ": " + c.Reason,
				Detail: strings.Join(c.Grants, " ")})
			if err != nil {
				return err
			}
		}
	}
	slices.SortFunc(p.issuances, func(a, b issuanceRow) int { return inRecordOrder(a.Time, a.Stream, a.Seq, b.Time, b.Stream, b.Seq) })
	for i, c := range p.issuances {
		if err := p.report.certificate(i, c); err != nil {
			return err
		}
	}
	return nil
}

// matchesIssued says whether an issued certificate is in scope, as a
// refused one would be (matchesRefusal): of a named identity, with a
// grant on a named target.
func (sc Scope) matchesIssued(ci event.CertIssued) bool {
	id := ci.Identity
	return sc.matchesRefusal(event.CertRefused{Identity: &id, Grants: ci.Principals})
}

func issuedRow(ev recorder.Event, ci event.CertIssued) issuanceRow {
	id := ci.Identity
	return issuanceRow{Time: utc(ev.Time), Stream: ev.Stream, Seq: ev.Seq, Outcome: "issued", Identity: ci.KeyID,
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, LoginMethod: ci.Source, Principals: orEmpty(ci.Principals),
		Serial: ci.Serial, KeyFingerprint: ci.KeyFingerprint, ValidAfter: utc(ci.ValidAfter), ValidBefore: utc(ci.ValidBefore),
		Agent: id.Agent, VouchedBy: id.DelegatedBy, VouchedBySerial: id.DelegatedBySerial, Request: id.RequestID}
}

func refusedRow(ev recorder.Event, c event.CertRefused) issuanceRow {
	r := issuanceRow{Time: utc(ev.Time), Stream: ev.Stream, Seq: ev.Seq, Outcome: "refused", Identity: refusedName(c.Identity),
		LoginMethod: c.Source, Principals: orEmpty(c.Grants), KeyFingerprint: c.KeyFingerprint, Code: c.Code, Reason: c.Reason}
	if id := c.Identity; id != nil {
		r.Identity = audit.IdentityName(*id)
		r.Issuer, r.Subject, r.Email, r.Agent, r.VouchedBy, r.Request = id.Issuer, id.Subject, id.Email, id.Agent, id.DelegatedBy, id.RequestID
	}
	return r
}

package audit

import (
	"slices"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Revocation is one cert.revoked event: the entry, when it was made (the
// event's time when the entry does not say), and where it is recorded.
type Revocation struct {
	event.CertRevoked
	Stream string
	Seq    uint64
}

// Revocations are the CA's revocations in the order read.
type Revocations []Revocation

// Add takes a CA event, keeping it when it is a revocation.
func (rs *Revocations) Add(ev recorder.Event) {
	var cr event.CertRevoked
	if ev.Type != event.TypeCertRevoked || ev.DecodeData(&cr) != nil {
		return
	}
	if cr.Revocation.RevokedAt.IsZero() {
		cr.Revocation.RevokedAt = ev.Time
	}
	*rs = append(*rs, Revocation{CertRevoked: cr, Stream: ev.Stream, Seq: ev.Seq})
}

// Covers says whether r revokes the certificate of serial and key: one
// naming its serial or key, or one that matched it in the CA's record (an
// identity's revocation covers only the certificates issued before it,
// which are those it matched).
func (r Revocation) Covers(serial uint64, key string) bool {
	e := r.Revocation
	return (e.Serial != 0 && e.Serial == serial) || (e.Key != "" && e.Key == key) ||
		(serial != 0 && slices.ContainsFunc(r.Matched, func(m event.RevokedCertificate) bool { return m.Serial == serial }))
}

// Before is the first revocation covering s's certificate made before s
// started, if any.
func (rs Revocations) Before(s recorder.Summary) (Revocation, bool) {
	for _, r := range rs {
		if r.Covers(s.Serial, s.KeyFingerprint) && r.Revocation.RevokedAt.Before(s.Start) {
			return r, true
		}
	}
	return Revocation{}, false
}

// What says what a revocation names.
func (r Revocation) What() string {
	switch e := r.Revocation; {
	case e.Serial != 0:
		return "serial " + strconv.FormatUint(e.Serial, 10)
	case e.Identity != "":
		return "identity " + e.Identity
	default:
		return "key " + e.Key
	}
}

package audit

import (
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// The states of a request: the CA's (pending, approved, denied), and two
// derived from later events.
const (
	StateExpired = "expired" // approved, and the approval has ended
	StateRevoked = "revoked" // a certificate issued under it was revoked
)

// States are every state a Request may be in.
var States = []string{"pending", "approved", "denied", StateExpired, StateRevoked}

// Request is an access request as its last step left it, with the
// certificates issued under it.
type Request struct {
	event.AccessRequest
	// Certificates are the serials of the certificates issued naming the
	// request, ascending.
	Certificates []uint64
}

// Requests are the access requests of the CA's streams, as read.
type Requests struct {
	Order   []string // request ids in filing order
	ByID    map[string]*Request
	serials map[uint64][]string // certificate serial → the requests it was issued under
	revoked map[uint64]bool     // serials a revocation matched
}

// NewRequests is an empty log; Add each CA event to it, then Settle.
func NewRequests() *Requests {
	return &Requests{ByID: map[string]*Request{}, serials: map[uint64][]string{}, revoked: map[uint64]bool{}}
}

// Add takes one CA event: a request's step, a certificate issued under
// requests, or a revocation.
func (l *Requests) Add(ev recorder.Event) {
	switch ev.Type {
	case event.TypeRequestFiled, event.TypeRequestApproved, event.TypeRequestDenied:
		var st event.RequestStep
		if ev.DecodeData(&st) == nil && st.Request.ID != "" {
			if _, seen := l.ByID[st.Request.ID]; !seen {
				l.Order = append(l.Order, st.Request.ID)
			}
			l.ByID[st.Request.ID] = &Request{AccessRequest: st.Request}
		}
	case event.TypeCertIssued:
		var ci event.CertIssued
		if ev.DecodeData(&ci) == nil && ci.Identity.RequestID != "" {
			for id := range strings.SplitSeq(ci.Identity.RequestID, ",") {
				l.serials[ci.Serial] = append(l.serials[ci.Serial], id)
			}
		}
	case event.TypeCertRevoked:
		var cr event.CertRevoked
		if ev.DecodeData(&cr) == nil {
			for _, m := range cr.Matched {
				l.revoked[m.Serial] = true
			}
		}
	}
}

// Under are the ids of the requests a certificate was issued under.
func (l *Requests) Under(serial uint64) []string {
	if serial == 0 {
		return nil
	}
	return l.serials[serial]
}

// Settle adds the certificates issued under each request and derives
// the states the CA does not store, as they stand at now: revoked when
// one of them was revoked, expired when an approval has ended.
func (l *Requests) Settle(now time.Time) {
	for serial, ids := range l.serials {
		for _, id := range ids {
			rq := l.ByID[id]
			if rq == nil {
				continue
			}
			rq.Certificates = append(rq.Certificates, serial)
			if l.revoked[serial] {
				rq.State = StateRevoked
			}
		}
	}
	for _, rq := range l.ByID {
		slices.Sort(rq.Certificates)
		if rq.State == "approved" && !rq.ExpiresAt.IsZero() && !now.Before(rq.ExpiresAt) {
			rq.State = StateExpired
		}
	}
}

// Serials are the certificates issued under requests: those Under names
// requests for.
func (l *Requests) Serials() []uint64 {
	out := make([]uint64, 0, len(l.serials))
	for serial := range l.serials {
		if serial != 0 {
			out = append(out, serial)
		}
	}
	return out
}

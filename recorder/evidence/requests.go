package evidence

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
)

// requestRow is one access request as it stood at the period's end
// (audit.Requests), with the sessions of the bundle opened under it.
type requestRow struct {
	ID             string   `json:"id"`
	Filed          string   `json:"filed"`
	Requester      string   `json:"requester"`
	Justification  string   `json:"justification"`
	Grant          string   `json:"grant"` // TARGET:ROLE
	TTL            string   `json:"ttl"`
	State          string   `json:"state"`      // pending, approved, denied, expired or revoked
	DecidedBy      string   `json:"decided_by"` // the approver, or who denied it
	Decided        string   `json:"decided"`
	DecisionReason string   `json:"decision_reason"`
	Expires        string   `json:"expires"`
	Certificates   []uint64 `json:"certificates"` // serials issued under it
	Used           bool     `json:"used"`         // a session of the bundle was opened under it
	Sessions       []string `json:"sessions"`
}

var requestHeader = []string{"id", "filed", "requester", "justification", "grant", "ttl", "state", "decided_by", "decided",
	"decision_reason", "expires", "certificates", "used", "sessions"}

func (r requestRow) cells() []string {
	serials := make([]string, len(r.Certificates))
	for i, s := range r.Certificates {
		serials[i] = strconv.FormatUint(s, 10)
	}
	used := "never used"
	if r.Used {
		used = "used"
	}
	return []string{cell(r.ID), r.Filed, cell(r.Requester), cell(r.Justification), cell(r.Grant), cell(r.TTL), r.State,
		cell(r.DecidedBy), r.Decided, cell(r.DecisionReason), r.Expires, strings.Join(serials, " "), used,
		cell(strings.Join(r.Sessions, " "))}
}

// settleAt is when requests' states are taken: the period's end, or now
// when that is still to come (an approval is not expired before it has).
func settleAt(scope Scope, now time.Time) time.Time {
	if scope.To.IsZero() || now.Before(scope.To) {
		return now
	}
	return scope.To
}

// addRequests adds the access requests filed in the period, as scope
// selects them (a requester named by --identity, a grant on a --target),
// each with the bundle's sessions opened with a certificate issued
// under it.
func (p *populations) addRequests(ca []recorder.Event, scope Scope, at time.Time) {
	log := audit.NewRequests()
	for _, ev := range ca {
		log.Add(ev)
	}
	log.Settle(at)
	p.requestLog = log
	for _, id := range log.Order {
		rq := log.ByID[id]
		if !scope.inPeriod(rq.FiledAt) || !scope.matchesRequest(rq) {
			continue
		}
		r := requestRow{ID: rq.ID, Filed: utc(rq.FiledAt), Requester: audit.RequesterName(rq.Requester), Justification: rq.Reason,
			Grant: rq.Grant, TTL: rq.TTL, State: rq.State, DecidedBy: rq.DecidedBy, Decided: utc(rq.DecidedAt),
			DecisionReason: rq.DecisionReason, Expires: utc(rq.ExpiresAt), Certificates: rq.Certificates, Sessions: []string{}}
		if r.Certificates == nil {
			r.Certificates = []uint64{}
		}
		for _, s := range p.inBundle {
			if slices.Contains(log.Under(s.Serial), id) {
				r.Sessions = append(r.Sessions, s.ID)
			}
		}
		r.Used = len(r.Sessions) > 0
		p.requests = append(p.requests, r)
	}
	slices.SortStableFunc(p.requests, func(a, b requestRow) int { return byTime(a.Filed, b.Filed) })
}

// matchesRequest says whether a request is in scope: filed by a named
// identity (its e-mail or subject), for a grant on a named target.
func (sc Scope) matchesRequest(rq *audit.Request) bool {
	who := rq.Requester
	if len(sc.Identities) > 0 && !slices.Contains(sc.Identities, who.Email) && !slices.Contains(sc.Identities, who.Subject) {
		return false
	}
	target, _, _ := strings.Cut(rq.Grant, ":")
	return len(sc.Targets) == 0 || slices.Contains(sc.Targets, target)
}

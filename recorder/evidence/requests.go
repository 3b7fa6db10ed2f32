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

// requestRows are the access requests filed in the period, as scope
// selects them (a requester named by --identity, a grant on a
// --target), each with the bundle's sessions opened with a certificate
// issued under it, added as the sessions are read.
type requestRows struct {
	log  *audit.Requests  // every request before the period's end, settled
	rows []requestRow     // in the log's order until finished
	byID map[string][]int // indexes in rows
}

func newRequestRows(ca []recorder.Event, scope Scope, at time.Time) *requestRows {
	log := audit.NewRequests()
	for _, ev := range ca {
		log.Add(ev)
	}
	log.Settle(at)
	rr := &requestRows{log: log, byID: map[string][]int{}}
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
		rr.byID[id] = append(rr.byID[id], len(rr.rows))
		rr.rows = append(rr.rows, r)
	}
	return rr
}

// addSession adds one of the bundle's sessions to the requests it was
// opened under.
func (rr *requestRows) addSession(s recorder.Summary) {
	seen := map[string]bool{}
	for _, id := range rr.log.Under(s.Serial) {
		if seen[id] {
			continue
		}
		seen[id] = true
		for _, i := range rr.byID[id] {
			rr.rows[i].Sessions = append(rr.rows[i].Sessions, s.ID)
			rr.rows[i].Used = true
		}
	}
}

// finish puts the requests in the order they were filed.
func (rr *requestRows) finish() []requestRow {
	slices.SortStableFunc(rr.rows, func(a, b requestRow) int { return byTime(a.Filed, b.Filed) })
	return rr.rows
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

package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
)

// requestFilterNames are the filters /requests takes, in the order
// exports name them.
var requestFilterNames = []string{"id", "state", "requester", "grant", "used", "since", "until"}

// requestFilter selects requests; an empty field selects all. Requester
// matches a substring, case-insensitively; the others whole.
type requestFilter struct {
	id, state, requester, grant, used string
	since, until                      time.Time // of filing
}

func (f requestFilter) matches(r requestRow) bool {
	switch {
	case f.id != "" && r.ID != f.id,
		f.state != "" && r.State != f.state,
		f.requester != "" && !containsFold(r.Requester, f.requester),
		f.grant != "" && r.Grant != f.grant,
		f.used == "yes" && len(r.Sessions) == 0,
		f.used == "no" && len(r.Sessions) > 0,
		!within(r.filedAt, f.since, f.until):
		return false
	}
	return true
}

func parseRequestQuery(r *http.Request, parseTime func(string) (time.Time, error)) (query, requestFilter, error) {
	return parseFiltered(r, "/requests", requestFilterNames, parseTime, func(in url.Values, q *query) (requestFilter, error) {
		f := requestFilter{id: in.Get("id"), state: in.Get("state"), requester: in.Get("requester"), grant: in.Get("grant"),
			used: in.Get("used"), since: q.filter.Since, until: q.filter.Until}
		switch {
		case f.state != "" && !slices.Contains(audit.States, f.state):
			return f, errors.New("state is one of " + strings.Join(audit.States, ", "))
		case f.used != "" && f.used != "yes" && f.used != "no":
			return f, errors.New("used is yes or no")
		}
		return f, nil
	})
}

// listRequests is /requests: every access request the CA's recordings
// hold that the viewer may see and the filters select, in filing order,
// each with the sessions opened under it, as a page, CSV or JSON Lines.
func (c *Console) listRequests(w http.ResponseWriter, r *http.Request, v viewer) {
	q, f, err := parseRequestQuery(r, c.parseTime)
	if target, _, _ := strings.Cut(f.grant, ":"); !c.listAllowed(w, r, v, err, target) {
		return
	}
	read := func() ([]requestRow, error) { return c.readRequests(v) }
	serveMatching(c, w, q, v, "access requests", read, f, requestsTable, "requests.html")
}

// requestRow is one access request as every format shows it; text is as
// recorded.
type requestRow struct {
	ID             string   `json:"id"`
	State          string   `json:"state"`
	Requester      string   `json:"requester"`
	Grant          string   `json:"grant"`
	Reason         string   `json:"reason"`
	TTL            string   `json:"ttl"`
	Filed          string   `json:"filed"`
	DecidedBy      string   `json:"decided_by"`
	Decided        string   `json:"decided"`
	DecisionReason string   `json:"decision_reason"`
	Expires        string   `json:"expires"`
	Certificates   []uint64 `json:"certificates"` // serials issued naming it
	Sessions       []string `json:"sessions"`     // opened with one of them

	filedAt time.Time
}

// readRequests reads every CA stream (audit.Requests), then every
// session, keeping what v may see: requests filed in a link's period for
// one of its targets, and sessions inside its scope. Requests are in
// filing order.
func (c *Console) readRequests(v viewer) ([]requestRow, error) {
	log := audit.NewRequests()
	if err := c.caEvents(log.Add); err != nil {
		return nil, err
	}
	log.Settle(c.cfg.Clock())
	var rows []requestRow
	at := map[string]int{} // request id → its row
	for _, id := range log.Order {
		if r := requestRowOf(log.ByID[id]); v.allowsRequest(r) {
			at[id] = len(rows)
			rows = append(rows, r)
		}
	}
	sessions, err := c.listed(recorder.Filter{}, false)
	if err != nil {
		return nil, err
	}
	for _, s := range sessions {
		for _, id := range log.Under(s.Serial) {
			if i, ok := at[id]; ok && s.Unreadable == nil && v.allows(s.Summary) {
				rows[i].Sessions = append(rows[i].Sessions, s.ID)
			}
		}
	}
	return rows, nil
}

// caEvents passes every event of the CA's streams to add; a stream that
// cannot be read fails it all, rather than show a history with a gap.
func (c *Console) caEvents(add func(recorder.Event)) error {
	ids, err := c.cfg.Sessions.List(recorder.KindCA)
	if err != nil {
		return fmt.Errorf("console: list the CA's streams: %w", err)
	}
	for _, id := range ids {
		lines, err := c.cfg.Sessions.Lines(recorder.KindCA, id)
		if err != nil {
			return fmt.Errorf("console: read the CA's stream %s: %w", id, err)
		}
		for _, line := range lines {
			if ev, err := recorder.Decode(line); err == nil {
				add(ev)
			}
		}
	}
	return nil
}

// requestRowOf is a request as the console shows it.
func requestRowOf(r *audit.Request) requestRow {
	return requestRow{ID: r.ID, State: r.State, Requester: audit.RequesterName(r.Requester), Grant: r.Grant, Reason: r.Reason,
		TTL: r.TTL, Filed: utc(r.FiledAt), DecidedBy: r.DecidedBy, Decided: utc(r.DecidedAt), DecisionReason: r.DecisionReason,
		Expires: utc(r.ExpiresAt), Certificates: r.Certificates, filedAt: r.FiledAt}
}

// allowsRequest says whether the viewer may see r: one filed within a
// link's period, for a grant (TARGET:ROLE) on one of its targets.
func (v viewer) allowsRequest(r requestRow) bool {
	if v.Scope == nil {
		return true
	}
	l := v.Scope
	if (!l.From.IsZero() && r.filedAt.Before(l.From)) || (!l.To.IsZero() && !r.filedAt.Before(l.To)) {
		return false
	}
	target, _, _ := strings.Cut(r.Grant, ":")
	return len(l.Targets) == 0 || slices.Contains(l.Targets, target)
}

// requestsCSVHeader names the columns of a requests CSV export.
var requestsCSVHeader = []string{"id", "state", "requester", "grant", "reason", "ttl", "filed", "decided_by", "decided",
	"decision_reason", "expires", "certificates", "used", "sessions"}

// requestsTable is the requests as the exports write them.
var requestsTable = table[requestRow]{noun: "requests", header: requestsCSVHeader, json: func(r requestRow) any { return r },
	csv: func(r requestRow) []string {
		serials := make([]string, len(r.Certificates))
		for i, s := range r.Certificates {
			serials[i] = strconv.FormatUint(s, 10)
		}
		return []string{cell(r.ID), cell(r.State), cell(r.Requester), cell(r.Grant), cell(r.Reason), cell(r.TTL), r.Filed,
			cell(r.DecidedBy), r.Decided, cell(r.DecisionReason), r.Expires, strings.Join(serials, " "), r.Used(),
			cell(strings.Join(r.Sessions, " "))}
	}}

// Used says whether a session was opened under the request.
func (r requestRow) Used() string {
	if len(r.Sessions) == 0 {
		return "never used"
	}
	return "used"
}

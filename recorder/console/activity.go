package console

import (
	"cmp"
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
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// StreamSource is where console streams are read: a recorder.FileStore
// or the S3 bucket.
type StreamSource interface {
	List(kind string) ([]string, error)
	Lines(kind, id string) ([][]byte, error)
}

// activityFilterNames are the filters /activity takes, in the order
// exports name them.
var activityFilterNames = []string{"auditor", "kind", "since", "until"}

// activityKinds are the console events /activity shows, by the name its
// kind filter takes.
var activityKinds = map[string]event.Type{
	"login": event.TypeConsoleLogin, "logout": event.TypeConsoleLogout, "view": event.TypeConsoleView,
	"export": event.TypeConsoleExport, "refused": event.TypeConsoleRefused, "throttled": event.TypeConsoleThrottled,
	"link_minted": event.TypeConsoleLinkMinted, "link_used": event.TypeConsoleLinkUsed,
}

// activityFilter selects console events; an empty field selects all.
// Auditor matches a substring of the auditor's e-mail, subject or
// issuer, or of who minted a link or whom it is for, case-insensitively.
type activityFilter struct {
	auditor, kind string
	since, until  time.Time
	own           *event.Auditor // a link's auditor: only their own events
}

func (f activityFilter) matches(r activityRow) bool {
	switch {
	case f.own != nil && r.auditor != *f.own,
		f.auditor != "" && !containsFold(r.Auditor, f.auditor),
		f.kind != "" && r.Kind != f.kind,
		!within(r.at, f.since, f.until):
		return false
	}
	return true
}

func parseActivityQuery(r *http.Request, parseTime func(string) (time.Time, error)) (query, activityFilter, error) {
	return parseFiltered(r, "/activity", activityFilterNames, parseTime, func(in url.Values, q *query) (activityFilter, error) {
		f := activityFilter{auditor: in.Get("auditor"), kind: in.Get("kind"), since: q.filter.Since, until: q.filter.Until}
		if _, ok := activityKinds[f.kind]; f.kind != "" && !ok {
			return f, errors.New("kind is one of login, logout, view, export, refused, throttled, link_minted, link_used")
		}
		return f, nil
	})
}

// listActivity is /activity: the console streams' events the viewer may
// see and the filters select, oldest first, as a page, CSV or JSON Lines.
// An external auditor sees only their own link session's events.
func (c *Console) listActivity(w http.ResponseWriter, r *http.Request, v viewer) {
	q, f, err := parseActivityQuery(r, c.parseTime)
	if !c.listAllowed(w, r, v, err, "") {
		return
	}
	if v.Scope != nil {
		f.own = &v.Auditor
	}
	serveMatching(c, w, q, v, "the console's activity", c.readActivity, f, activityTable, "activity.html")
}

// activityRow is one console event as every format shows it; text is as
// recorded.
type activityRow struct {
	Time    string `json:"time"`
	Stream  string `json:"stream"`
	Seq     uint64 `json:"seq"`
	Kind    string `json:"kind"`    // the event type without "console."
	Auditor string `json:"auditor"` // who, for reading
	What    string `json:"what"`    // the page, export, link or reason

	at      time.Time
	auditor event.Auditor // whose event it is, to keep a link's session to its own
}

// readActivity reads every console stream of the store and of the spool
// (each id once), in time order.
func (c *Console) readActivity() ([]activityRow, error) {
	var rows []activityRow
	seen := map[string]bool{}
	for _, src := range []StreamSource{c.cfg.Sessions, c.cfg.Spool} {
		if src == nil {
			continue
		}
		ids, err := src.List(recorder.KindConsole)
		if err != nil {
			return nil, fmt.Errorf("console: list the console streams: %w", err)
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			lines, err := src.Lines(recorder.KindConsole, id)
			if err != nil {
				return nil, fmt.Errorf("console: read the console stream %s: %w", id, err)
			}
			for _, line := range lines {
				if ev, err := recorder.Decode(line); err == nil {
					if r, ok := activityOf(ev); ok {
						rows = append(rows, r)
					}
				}
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b activityRow) int {
		return cmp.Or(a.at.Compare(b.at), strings.Compare(a.Stream, b.Stream), cmp.Compare(a.Seq, b.Seq))
	})
	return rows, nil
}

// activityOf is the row of a console event; ok is false for any other
// event (the stream's own start and end).
func activityOf(ev recorder.Event) (activityRow, bool) {
	a, ok := audit.ActivityOf(ev)
	return activityRow{Time: utc(a.At), Stream: a.Stream, Seq: a.Seq, Kind: a.Kind, Auditor: a.Auditor, What: a.What,
		at: a.At, auditor: a.By}, ok
}

// activityCSVHeader names the columns of an activity CSV export.
var activityCSVHeader = []string{"time", "stream", "seq", "kind", "auditor", "what"}

// activityTable is the activity as the exports write it.
var activityTable = table[activityRow]{noun: "activity", header: activityCSVHeader, json: func(r activityRow) any { return r },
	csv: func(r activityRow) []string {
		return []string{r.Time, cell(r.Stream), strconv.FormatUint(r.Seq, 10), cell(r.Kind), cell(r.Auditor), cell(r.What)}
	}}

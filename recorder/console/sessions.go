package console

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// query is a list's filters as the URL gives them, and the filter they
// make. Names are `gatehouse sessions`' flags.
type query struct {
	path   string     // the list's path: /sessions, /statements, ...
	names  []string   // the filters it takes, in the order exports name them
	values url.Values // the filters as given, for links and the record
	filter recorder.Filter
	page   int
	format string // html, csv or jsonl
}

// filterNames are the filters a sessions URL takes, in the order they are
// written in export headers.
var filterNames = []string{"identity", "agent", "target", "since", "until", "outcome",
	"human", "role", "decision", "denials", "masked", "verification"}

func parseQuery(r *http.Request, parseTime func(string) (time.Time, error)) (query, error) {
	q, err := parseList(r, "/sessions", filterNames, parseTime)
	if err != nil {
		return q, err
	}
	in := r.URL.Query()
	f := &q.filter
	f.Identity, f.Agent, f.Target = in.Get("identity"), in.Get("agent"), in.Get("target")
	f.Outcome, f.Human, f.Role = in.Get("outcome"), in.Get("human"), in.Get("role")
	f.Decision, f.Denials, f.Masked, f.Verification = in.Get("decision"), in.Get("denials"), in.Get("masked"), in.Get("verification")
	if name, allowed := f.BadChoice(); name != "" {
		return q, fmt.Errorf("%s is %s", name, strings.Join(allowed, ", "))
	}
	return q, nil
}

// parseList reads what every list takes: its filters named in names (kept
// as given), since and until, the format and the page.
func parseList(r *http.Request, path string, names []string, parseTime func(string) (time.Time, error)) (query, error) {
	in := r.URL.Query()
	q := query{path: path, names: names, values: url.Values{}, page: 1, format: in.Get("format")}
	for _, name := range names {
		if v := in.Get(name); v != "" {
			q.values.Set(name, v)
		}
	}
	var err error
	if q.filter.Since, err = parseTime(in.Get("since")); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.filter.Until, err = parseTime(in.Get("until")); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	switch q.format {
	case "":
		q.format = "html"
	case "html", "csv", "jsonl":
	default:
		return q, errors.New("format is html, csv or jsonl")
	}
	if p := in.Get("page"); p != "" {
		if q.page, err = strconv.Atoi(p); err != nil || q.page < 1 {
			return q, errors.New("page is a number from 1")
		}
	}
	return q, nil
}

// parseFiltered is parseList for a list with its own filter, which
// build reads from the URL's values (and may add to q's session filter).
func parseFiltered[F any](r *http.Request, path string, names []string, parseTime func(string) (time.Time, error),
	build func(in url.Values, q *query) (F, error)) (query, F, error) {
	q, err := parseList(r, path, names, parseTime)
	if err != nil {
		var none F
		return q, none, err
	}
	f, err := build(r.URL.Query(), &q)
	return q, f, err
}

// within says whether t is in [since, until); a zero bound is none.
func within(t, since, until time.Time) bool {
	return (since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until))
}

// recordedFilters are the filters as the activity stream records them,
// with the page for a page view.
func (q query) recordedFilters(withPage bool) map[string]string {
	m := map[string]string{}
	for name := range q.values {
		m[name] = q.values.Get(name)
	}
	if withPage && q.page > 1 {
		m["page"] = strconv.Itoa(q.page)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// listSessions is /sessions: the sessions the filters select, as a page,
// as CSV or as JSON Lines.
func (c *Console) listSessions(w http.ResponseWriter, r *http.Request, v viewer) {
	q, err := parseQuery(r, c.parseTime)
	if !c.listAllowed(w, r, v, err, q.filter.Target) {
		return
	}
	if c.cfg.Index != nil && q.format == "html" {
		c.listIndexedSessions(w, q, v)
		return
	}
	if c.cfg.Index != nil {
		exportIndexed(c, w, q, v, sessionsTable, c.indexedSessions(q, v))
		return
	}
	list, err := c.listed(q.filter, true)
	if err != nil {
		c.failListing(w, err)
		return
	}
	rows := make([]row, 0, len(list))
	for _, s := range list {
		if v.Scope == nil || (s.Unreadable == nil && v.allows(s.Summary)) {
			rows = append(rows, rowOf(s))
		}
	}
	serveList(c, w, q, v, rows, sessionsTable, "sessions.html")
}

// listIndexedSessions is a page of /sessions read from the index: only
// the page's rows and the count, not every session; a link's scope is
// selected by SQL too, and each row checked against it.
func (c *Console) listIndexedSessions(w http.ResponseWriter, q query, v viewer) {
	if err := c.cfg.Index.Current(context.Background()); err != nil {
		c.failListing(w, err)
		return
	}
	size := c.cfg.PageSize
	list, total, err := c.cfg.Index.SessionsPage(q.filter, c.cfg.Lag, indexScope(v), pageOffset(q.page, size), size)
	if err == nil {
		err = checkScope(v, list)
	}
	if err != nil {
		c.failListing(w, err)
		return
	}
	rows := make([]row, len(list))
	for i, s := range list {
		rows[i] = rowOf(s)
	}
	l, from, to := c.pageOf(q, v, total)
	if to-from != len(rows) {
		c.failListing(w, fmt.Errorf("console: the index gave %d sessions for rows %d to %d of %d", len(rows), from, to, total))
		return
	}
	servePage(c, w, q, v, l, rows, total, "sessions.html")
}

func (c *Console) failListing(w http.ResponseWriter, err error) {
	c.cfg.Logger.Error("console: listing sessions failed", "error", err)
	c.fail(w, http.StatusBadGateway, "the recordings could not be listed; see the console's log")
}

// listAllowed answers a list itself, and returns false, when its filters
// are bad (err) or name a target outside the viewer's scope (refused and
// recorded).
func (c *Console) listAllowed(w http.ResponseWriter, r *http.Request, v viewer, err error, target string) bool {
	if err != nil {
		c.fail(w, http.StatusBadRequest, "bad filter: "+err.Error())
		return false
	}
	if !v.allowsTarget(target) {
		c.refuseOutsideScope(w, r, v, fmt.Sprintf("target %.100q is outside the link's targets", target))
		return false
	}
	return true
}

// parseTime reads since and until with Config.ParseTime: empty is no
// bound.
func (c *Console) parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if c.cfg.ParseTime == nil {
		return time.Parse(time.RFC3339, s)
	}
	return c.cfg.ParseTime(s, c.cfg.Clock())
}

// matcher is a list's own filter.
type matcher[R any] interface{ matches(R) bool }

// serveMatching is serveList of the rows read gives that f selects, in
// their order; a failure to read them (what) answers 502.
func serveMatching[R any](c *Console, w http.ResponseWriter, q query, v viewer, what string, read func() ([]R, error), f matcher[R],
	t table[R], page string) {
	all, err := read()
	if err != nil {
		c.unreadable(w, what, err)
		return
	}
	var rows []R
	for _, r := range all {
		if f.matches(r) {
			rows = append(rows, r)
		}
	}
	serveList(c, w, q, v, rows, t, page)
}

// serveList answers a list with the export q asks for, or with the page
// of rows it asks for shown by the template page; either is recorded
// first.
func serveList[R any](c *Console, w http.ResponseWriter, q query, v viewer, rows []R, t table[R], page string) {
	if q.format != "html" {
		export(c, w, q, v.Auditor, t, sliceSource(rows))
		return
	}
	l, from, to := c.pageOf(q, v, len(rows))
	servePage(c, w, q, v, l, rows[from:to], len(rows), page)
}

// servePage records the view of a page of a list of total rows, then
// shows it with the template page.
func servePage[R any](c *Console, w http.ResponseWriter, q query, v viewer, l listPage, rows []R, total int, page string) {
	if !c.record(w, event.TypeConsoleView, event.ConsoleView{Auditor: v.Auditor, Path: q.path, Filters: q.recordedFilters(true), Rows: len(rows), Total: total}) {
		return
	}
	c.render(w, http.StatusOK, page, listData[R]{listPage: l, Rows: rows})
}

// listData is what a list's template shows.
type listData[R any] struct {
	listPage
	Rows []R
}

// listPage is what every list page shows besides its rows: the filters,
// the count, and the links to other pages and to the exports.
type listPage struct {
	Viewer                 viewer
	Filters                url.Values // as typed, to fill the form in again
	Applied                string     // the filters, quoted, for reading
	Noun                   string     // what a row is, plural
	Total, From, To        int
	Prev, Next, CSV, JSONL string
}

// pageOf is the page q asks for of a list of total rows: what it shows
// besides the rows, and the rows' bounds [from, to).
func (c *Console) pageOf(q query, v viewer, total int) (l listPage, from, to int) {
	size := c.cfg.PageSize
	from = min(pageOffset(q.page, size), total)
	to = min(from+size, total)
	l = listPage{Viewer: v, Filters: q.values, Applied: filterText(q), Noun: strings.TrimPrefix(q.path, "/"), Total: total, From: from + 1, To: to,
		CSV: q.link("csv", 0), JSONL: q.link("jsonl", 0)}
	if from == to {
		l.From = 0
	}
	if q.page > 1 {
		l.Prev = q.link("", q.page-1)
	}
	if to < total {
		l.Next = q.link("", q.page+1)
	}
	return l, from, to
}

// pageOffset is where page (from 1) of size rows begins, at most
// math.MaxInt: a page number from the URL may be anything.
func pageOffset(page, size int) int {
	if page-1 > math.MaxInt/size {
		return math.MaxInt
	}
	return (page - 1) * size
}

// link is q's list with its filters, in format (html when empty) and at
// page (none when 0).
func (q query) link(format string, page int) string {
	v := url.Values{}
	for name := range q.values {
		v.Set(name, q.values.Get(name))
	}
	if format != "" {
		v.Set("format", format)
	}
	if page > 0 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return q.path
	}
	return q.path + "?" + v.Encode()
}

// row is one session as every format shows it; text is as recorded (the
// HTML and CSV make it Printable, JSON Lines keep it exact).
type row struct {
	Session      string `json:"session"`
	Start        string `json:"start"`
	End          string `json:"end"`
	Duration     string `json:"duration"`
	Identity     string `json:"identity"`
	Agent        string `json:"agent"`
	Targets      string `json:"targets"`
	Channels     int    `json:"channels"`
	Statements   int    `json:"statements"`
	Denied       int    `json:"denied"`
	Refusals     int    `json:"refusals"`
	EndReason    string `json:"end_reason"`
	Chain        string `json:"chain"`
	Verification string `json:"verification"`
}

func rowOf(s recorder.Listed) row {
	if s.Unreadable != nil {
		return row{Session: s.ID, Chain: "UNREADABLE: " + s.Unreadable.Error()}
	}
	r := row{Session: s.ID, Start: utc(s.Start), End: utc(s.End), Duration: "open", Identity: s.Identity, Agent: s.Agent,
		Targets: strings.Join(s.Targets, ","), Channels: s.Channels, Statements: s.Statements, Denied: s.Denied,
		Refusals: s.Refusals, EndReason: s.EndReason, Chain: "intact"}
	if !s.Open() {
		r.Duration = s.End.Sub(s.Start).Round(time.Millisecond).String()
	}
	if s.ChainError != nil {
		r.Chain = "BROKEN: " + s.ChainError.Error()
	}
	r.Verification = verification(s)
	return r
}

func verification(s recorder.Listed) string {
	switch {
	case !s.Verified:
		return "not verified"
	case s.Verification == nil:
		return "verified"
	case errors.Is(s.Verification, recorder.ErrIncomplete):
		return "INCOMPLETE: " + s.Verification.Error()
	}
	return "FAILED: " + s.Verification.Error()
}

// utc is t in UTC, RFC 3339 ending in Z; empty for the zero time.
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

package console

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// statementFilterNames are the filters /statements takes, in the order
// exports name them.
var statementFilterNames = []string{"text", "kind", "decision", "rule", "masked", "target", "identity", "since", "until"}

// statementFilter selects statements; an empty field selects all. Text,
// masked and identity match a substring, case-insensitively; kind, rule
// and target match whole (kind case-insensitively); decision is allow or
// deny as event.Decision.Allowed says.
type statementFilter struct {
	text, kind, decision, rule, masked, target string
}

// matches says whether s, on a channel to target, is selected.
func (f statementFilter) matches(s event.DBStatement, target string) bool {
	switch {
	case f.text != "" && !containsFold(s.Text, f.text),
		f.kind != "" && !slices.ContainsFunc(s.Kinds, func(k string) bool { return strings.EqualFold(k, f.kind) }),
		f.decision == string(event.Allow) && !s.Decision.Allowed(),
		f.decision == string(event.Deny) && s.Decision.Allowed(),
		f.rule != "" && s.Rule != f.rule,
		f.masked != "" && !slices.ContainsFunc(s.Masked, func(m string) bool { return containsFold(m, f.masked) }),
		f.target != "" && target != f.target:
		return false
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func parseStatementQuery(r *http.Request, parseTime func(string) (time.Time, error)) (query, statementFilter, error) {
	q, err := parseList(r, "/statements", statementFilterNames, parseTime)
	if err != nil {
		return q, statementFilter{}, err
	}
	in := r.URL.Query()
	q.filter.Identity = in.Get("identity")
	f := statementFilter{text: in.Get("text"), kind: in.Get("kind"), decision: in.Get("decision"), rule: in.Get("rule"),
		masked: in.Get("masked"), target: in.Get("target")}
	switch f.decision {
	case "", string(event.Allow), string(event.Deny):
	default:
		return q, f, errors.New("decision is allow or deny")
	}
	return q, f, nil
}

// listStatements is /statements: the statements of every session the
// viewer may see that the filters select, oldest session first and in
// recorded order within one, as a page, CSV or JSON Lines.
func (c *Console) listStatements(w http.ResponseWriter, r *http.Request, v viewer) {
	q, f, err := parseStatementQuery(r, c.parseTime)
	if !c.listAllowed(w, r, v, err, f.target) {
		return
	}
	if c.cfg.Index != nil && q.format != "html" {
		exportIndexed(c, w, q, v, statementsTable, c.indexedStatements(q.filter, f, v))
		return
	}
	rows, err := c.findStatements(q.filter, f, v)
	if err != nil {
		c.cfg.Logger.Error("console: searching statements failed", "error", err)
		c.fail(w, http.StatusBadGateway, "the recordings could not be read; see the console's log")
		return
	}
	serveList(c, w, q, v, rows, statementsTable, "statements.html")
}

// findStatements reads every session sf selects that v may see (an
// unreadable one has no statements to show: /sessions lists it) and
// keeps the statements f selects.
func (c *Console) findStatements(sf recorder.Filter, f statementFilter, v viewer) ([]foundStatement, error) {
	if c.cfg.Index != nil {
		return c.findIndexedStatements(sf, f, v)
	}
	list, err := recorder.Summaries(c.cfg.Sessions, sf, c.cfg.Lag)
	if err != nil {
		return nil, err
	}
	var out []foundStatement
	for _, s := range list {
		if s.Unreadable != nil || !v.allows(s.Summary) {
			continue
		}
		lines, err := c.cfg.Sessions.Lines(recorder.KindSession, s.ID)
		if err != nil {
			continue // gone since it was listed
		}
		out = append(out, statementsOf(s.Summary, lines, f)...)
	}
	return out, nil
}

// statementsOf is the statements of one session's lines that f selects,
// each with the target of its channel.
func statementsOf(s recorder.Summary, lines [][]byte, f statementFilter) []foundStatement {
	var out []foundStatement
	audit.SessionWalk{Statement: func(st audit.Statement) {
		if f.matches(st.Data, st.Target) {
			out = append(out, foundStatement{Session: s.ID, Identity: s.Identity, Agent: s.Agent,
				Target: st.Target, statementRow: statementOf(st.Event, st.Data)})
		}
	}}.Walk(lines)
	return out
}

// foundStatement is one statement as /statements and its exports show it.
type foundStatement struct {
	Session  string
	Identity string
	Agent    string
	Target   string
	statementRow
}

// statementsCSVHeader names the columns of a statements CSV export.
var statementsCSVHeader = []string{"session", "seq", "time", "identity", "agent", "target", "channel", "text", "text_bytes", "cut",
	"kinds", "relations", "decision", "rule", "outcome", "error", "rows", "duration", "masked"}

// statementsTable is the statements as the exports write them: the CSV's
// text cut as on the page, the JSON Lines' whole as recorded.
var statementsTable = table[foundStatement]{noun: "statements", header: statementsCSVHeader,
	csv: func(r foundStatement) []string {
		return []string{cell(r.Session), strconv.FormatUint(r.Seq, 10), r.Time, cell(r.Identity), cell(r.Agent),
			cell(r.Target), strconv.Itoa(r.Channel), cell(r.Text), strconv.Itoa(r.Bytes), strconv.FormatBool(r.Cut), cell(r.Kinds),
			cell(r.Relations), cell(r.Decision), cell(r.Rule), cell(r.Outcome), cell(r.Error), strconv.FormatInt(r.Rows, 10),
			r.Duration, cell(r.Masked)}
	},
	json: func(r foundStatement) any {
		return statementJSON{r.Session, r.Seq, r.Time, r.Identity, r.Agent, r.Target, r.Channel, r.full, r.Bytes,
			r.Kinds, r.Relations, r.Decision, r.Rule, r.Outcome, r.Error, r.Rows, r.Duration, r.Masked}
	}}

// statementJSON is a statement's JSON Lines object.
type statementJSON struct {
	Session   string `json:"session"`
	Seq       uint64 `json:"seq"`
	Time      string `json:"time"`
	Identity  string `json:"identity"`
	Agent     string `json:"agent"`
	Target    string `json:"target"`
	Channel   int    `json:"channel"`
	Text      string `json:"text"`
	TextBytes int    `json:"text_bytes"`
	Kinds     string `json:"kinds"`
	Relations string `json:"relations"`
	Decision  string `json:"decision"`
	Rule      string `json:"rule"`
	Outcome   string `json:"outcome"`
	Error     string `json:"error"`
	Rows      int64  `json:"rows"`
	Duration  string `json:"duration"`
	Masked    string `json:"masked"`
}

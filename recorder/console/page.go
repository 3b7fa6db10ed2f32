package console

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// maxShownText is how much of a statement the session page shows; the
// whole text is in the raw recording.
const maxShownText = 4 << 10

// sessionID is what a session id may look like in a URL: the store names
// files and objects after it, so nothing that could climb out of a
// directory gets through.
var sessionID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// stored is one session read from the store for its page.
type stored struct {
	id      string
	lines   [][]byte
	summary recorder.Summary
}

// readSession reads the session of the URL for v, answering the request
// itself (and returning false) when it is malformed, missing, unreadable
// or outside v's scope; the last is recorded.
func (c *Console) readSession(w http.ResponseWriter, r *http.Request, v viewer) (stored, bool) {
	s := stored{id: r.PathValue("id")}
	if !sessionID.MatchString(s.id) {
		c.fail(w, http.StatusNotFound, "no such session")
		return s, false
	}
	var err error
	if s.lines, err = c.cfg.Sessions.Lines(recorder.KindSession, s.id); err != nil || len(s.lines) == 0 {
		c.cfg.Logger.Info("console: session not read", "session", s.id, "error", err)
		c.fail(w, http.StatusNotFound, "no such session, or it cannot be read")
		return s, false
	}
	s.summary = recorder.Summarize(s.id, s.lines)
	if !v.allows(s.summary) {
		c.refuseOutsideScope(w, r, v, "session outside the link's period and targets")
		return s, false
	}
	return s, true
}

// refuseOutsideScope answers 403 to a link's viewer asking for more than
// the link allows, and records it.
func (c *Console) refuseOutsideScope(w http.ResponseWriter, r *http.Request, v viewer, reason string) {
	refused := event.ConsoleRefused{Auditor: &v.Auditor, Path: r.URL.Path, Reason: reason, ClientAddr: r.RemoteAddr}
	if c.record(w, event.TypeConsoleRefused, refused) {
		c.fail(w, http.StatusForbidden, "refused: "+reason+" ("+v.ScopeText()+")")
	}
}

// sessionPage is /sessions/ID: who, where, every statement, and whether
// the recording verifies.
func (c *Console) sessionPage(w http.ResponseWriter, r *http.Request, v viewer) {
	s, ok := c.readSession(w, r, v)
	if !ok {
		return
	}
	data := sessionPageData{Viewer: v, ID: s.id, Raw: "/sessions/" + s.id + "/raw"}
	for _, line := range s.lines {
		if ev, err := recorder.Decode(line); err == nil {
			data.add(ev)
		}
	}
	data.Verify = c.verifyPanel(s)
	data.Lock = c.lockPanel(r.Context(), s.id)
	view := event.ConsoleView{Auditor: v.Auditor, Path: "/sessions/" + s.id, Rows: len(data.Statements), Total: len(data.Statements)}
	if !c.record(w, event.TypeConsoleView, view) {
		return
	}
	c.render(w, http.StatusOK, "session.html", data)
}

// rawSession is /sessions/ID/raw: the recording's lines exactly as
// stored, as a download.
func (c *Console) rawSession(w http.ResponseWriter, r *http.Request, v viewer) {
	s, ok := c.readSession(w, r, v)
	if !ok {
		return
	}
	rec := event.ConsoleExport{Auditor: v.Auditor, Path: r.URL.Path, Format: "raw", Rows: len(s.lines)}
	if !c.record(w, event.TypeConsoleExport, rec) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.jsonl"`, s.id))
	for _, line := range s.lines {
		if _, err := w.Write(append(line, '\n')); err != nil {
			c.cfg.Logger.Warn("console: writing a raw recording failed", "session", s.id, "error", err)
			return
		}
	}
}

// sessionPageData is what session.html shows; text is as recorded (the
// template makes it Printable).
type sessionPageData struct {
	Viewer     viewer
	ID, Raw    string
	Who        []field
	Requests   []string // the access requests its certificate was issued under
	Grants     []string // its certificate's principals (TARGET:ROLE), as auth.success recorded them
	Channels   []channelRow
	Statements []statementRow
	Verify     verifyPanel
	Lock       lockPanel
}

type field struct{ Name, Value string }

type channelRow struct {
	Channel                  int
	Target, Role, Database   string
	UpstreamUser, Statements string
}

type statementRow struct {
	Seq       uint64 // the event's: the statement's anchor on its session page
	Time      string
	Channel   int
	Text      string
	Cut       bool
	Bytes     int // the whole text's length
	Kinds     string
	Decision  string
	Rule      string
	Outcome   string
	Rows      int64
	Duration  string
	Masked    string
	Error     string
	Relations string
	full      string // the text as recorded, for JSON Lines
}

// add takes what the page shows from one event.
func (d *sessionPageData) add(ev recorder.Event) {
	switch ev.Type {
	case event.TypeAuthSuccess:
		var a event.AuthSuccess
		if ev.DecodeData(&a) == nil {
			d.Who, d.Grants = whoOf(a), a.Principals
			if a.Identity.RequestID != "" {
				d.Requests = strings.Split(a.Identity.RequestID, ",")
			}
		}
	case event.TypeDBSessionStart:
		var s event.DBSessionStart
		if ev.DecodeData(&s) == nil {
			d.Channels = append(d.Channels, channelRow{Channel: s.Channel, Target: s.Target, Role: s.Role, Database: s.Database,
				UpstreamUser: s.UpstreamUser, Statements: s.Statements})
		}
	case event.TypeDBStatement:
		var s event.DBStatement
		if ev.DecodeData(&s) == nil {
			d.Statements = append(d.Statements, statementOf(ev, s))
		}
	}
}

// whoOf is the identity an auth.success records, in the order an auditor
// asks: who, for whom, how, with which certificate.
func whoOf(a event.AuthSuccess) []field {
	id := a.Identity
	all := []field{{"Identity", a.Name}, {"Agent", id.Agent}, {"Delegated by", id.DelegatedBy}, {"IdP issuer", id.Issuer},
		{"IdP subject", id.Subject}, {"E-mail", id.Email}, {"Request", id.RequestID}, {"Login method", a.Method},
		{"Certificate serial", serial(a.Serial)}, {"Key fingerprint", a.KeyFingerprint}, {"Key type", a.KeyType},
		{"CA fingerprint", a.CAFingerprint}}
	var out []field
	for _, f := range all {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}

func serial(n uint64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

func statementOf(ev recorder.Event, s event.DBStatement) statementRow {
	row := statementRow{Seq: ev.Seq, full: s.Text, Time: ev.Time.UTC().Format("2006-01-02T15:04:05.000Z"), Channel: s.Channel, Text: s.Text, Bytes: len(s.Text),
		Kinds: strings.Join(s.Kinds, ", "), Decision: string(s.Decision), Rule: s.Rule, Outcome: s.Outcome, Rows: s.Rows,
		Duration: strconv.FormatFloat(s.DurationMS, 'f', 1, 64) + " ms", Masked: strings.Join(s.Masked, "; "), Error: s.Error,
		Relations: strings.Join(s.Relations, ", ")}
	if s.TextBytes > row.Bytes {
		row.Bytes, row.Cut = s.TextBytes, true
	}
	if len(row.Text) > maxShownText {
		row.Text, row.Cut = cutText(row.Text, maxShownText), true
	}
	return row
}

// cutText is s's first n bytes at most, not splitting a character.
func cutText(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// verifyPanel is the verification of one recording, as the page shows it.
type verifyPanel struct {
	Status      string // verified, INCOMPLETE, FAILED or not verified
	At          string // when: now, as the page is made
	Problem     string
	FirstBadSeq string // the seq of the first failing line, when one failed
	Events      int
	Checkpoints int
	Signed      int
	Keys        string
	Manifest    string
}

// verifyPanel verifies s with the console's keys, as `gatehouse verify`
// does; the ledgers are read only for a recording whose manifest is
// missing or was written by recovery, the only ones they can fail.
func (c *Console) verifyPanel(s stored) verifyPanel {
	ring := c.keyring()
	if ring.Len() == 0 {
		p := verifyPanel{Status: "not verified", Problem: "the console has no recorder key to verify with"}
		if s.summary.ChainError != nil {
			p.Status, p.Problem = "FAILED", "the hash chain is broken: "+s.summary.ChainError.Error()
		}
		return p
	}
	rep, err := ring.VerifyStored(c.cfg.Sessions, recorder.KindSession, s.id)
	if needsLedgers(rep, err) {
		rep, err = c.verifyWithLedgers(ring, s.id)
	}
	p := verifyPanel{Status: "verified", At: utc(c.cfg.Clock()), Events: rep.Events, Checkpoints: rep.Checkpoints, Signed: rep.Signed, Keys: strings.Join(rep.Keys, ", ")}
	if rep.Manifest != nil {
		p.Manifest = fmt.Sprintf("signed manifest: last seq %d, chain head %s", rep.Manifest.LastSeq, rep.Manifest.ChainHead)
	}
	if err == nil {
		return p
	}
	p.Status, p.Problem = "FAILED", err.Error()
	if errors.Is(err, recorder.ErrIncomplete) {
		p.Status = "INCOMPLETE"
	}
	var ve *recorder.VerifyError
	if errors.As(err, &ve) && ve.Line > 0 && !ve.Incomplete {
		p.FirstBadSeq = fmt.Sprintf("%d (line %d)", ve.Seq, ve.Line)
	}
	return p
}

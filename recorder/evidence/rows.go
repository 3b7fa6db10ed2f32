package evidence

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// A population's rows are structs with a cells method: the JSON Lines
// take the struct as it is (text exact), the CSV its cells (each text
// cell through recorder.CSVCell).

// sessionRow is one session as `gatehouse sessions` lists it.
type sessionRow struct {
	Session        string   `json:"session"`
	Start          string   `json:"start"`
	End            string   `json:"end"` // empty while open
	Open           bool     `json:"open"`
	OpenAtEnd      bool     `json:"open_at_end"` // not ended by the period's end: still open, or ended after it
	Identity       string   `json:"identity"`
	Agent          string   `json:"agent"`
	Serial         uint64   `json:"serial"`
	KeyFingerprint string   `json:"key_fingerprint"`
	ClientAddr     string   `json:"client_addr"`
	Targets        []string `json:"targets"`
	Channels       int      `json:"channels"`
	Statements     int      `json:"statements"`
	Denied         int      `json:"denied"`
	Refusals       int      `json:"refusals"`
	EndReason      string   `json:"end_reason"`
	Chain          string   `json:"chain"`
	Unreadable     string   `json:"unreadable"`
}

var sessionHeader = []string{"session", "start", "end", "open", "open_at_end", "identity", "agent", "serial", "key_fingerprint", "client_addr",
	"targets", "channels", "statements", "denied", "refusals", "end_reason", "chain", "unreadable"}

func (r sessionRow) cells() []string {
	return []string{cell(r.Session), r.Start, r.End, strconv.FormatBool(r.Open), strconv.FormatBool(r.OpenAtEnd), cell(r.Identity), cell(r.Agent),
		strconv.FormatUint(r.Serial, 10), cell(r.KeyFingerprint), cell(r.ClientAddr), cell(strings.Join(r.Targets, " ")),
		strconv.Itoa(r.Channels), strconv.Itoa(r.Statements), strconv.Itoa(r.Denied), strconv.Itoa(r.Refusals),
		cell(r.EndReason), cell(r.Chain), cell(r.Unreadable)}
}

func newSessionRow(s recorder.Listed, periodEnd time.Time) sessionRow {
	if s.Unreadable != nil {
		return sessionRow{Session: s.ID, Unreadable: s.Unreadable.Error(), Targets: []string{}}
	}
	r := sessionRow{Session: s.ID, Start: utc(s.Start), End: utc(s.End), Open: s.Open(), Identity: s.Identity, Agent: s.Agent,
		Serial: s.Serial, KeyFingerprint: s.KeyFingerprint, ClientAddr: s.ClientAddr, Targets: s.Targets,
		Channels: s.Channels, Statements: s.Statements, Denied: s.Denied, Refusals: s.Refusals, EndReason: s.EndReason,
		Chain: "intact", OpenAtEnd: s.End.IsZero() || (!periodEnd.IsZero() && !s.End.Before(periodEnd))}
	if r.Targets == nil {
		r.Targets = []string{}
	}
	if s.ChainError != nil {
		r.Chain = "broken: " + s.ChainError.Error()
	}
	return r
}

// statementRow is one db.statement event.
type statementRow struct {
	Session  string   `json:"session"`
	Seq      uint64   `json:"seq"`
	Time     string   `json:"time"`
	Identity string   `json:"identity"`
	Target   string   `json:"target"`
	Channel  int      `json:"channel"`
	Text     string   `json:"text"`
	Kinds    []string `json:"kinds"`
	Decision string   `json:"decision"`
	Rule     string   `json:"rule"`
	Outcome  string   `json:"outcome"`
	Rows     int64    `json:"rows"`
	Error    string   `json:"error"`
	Masked   []string `json:"masked"`
}

var statementHeader = []string{"session", "seq", "time", "identity", "target", "channel", "text", "kinds", "decision", "rule",
	"outcome", "rows", "error", "masked"}

func (r statementRow) cells() []string {
	return []string{cell(r.Session), strconv.FormatUint(r.Seq, 10), r.Time, cell(r.Identity), cell(r.Target),
		strconv.Itoa(r.Channel), cell(r.Text), cell(strings.Join(r.Kinds, " ")), cell(r.Decision), cell(r.Rule),
		cell(r.Outcome), strconv.FormatInt(r.Rows, 10), cell(r.Error), cell(strings.Join(r.Masked, "; "))}
}

// denialRow is one refusal: a denied statement, a refused channel, a
// failed authentication (in a session's stream) or a refused certificate
// (in a CA stream).
type denialRow struct {
	Stream   string `json:"stream"` // sessions/ID or ca/ID
	Seq      uint64 `json:"seq"`
	Time     string `json:"time"`
	Type     string `json:"type"`
	Identity string `json:"identity"`
	Reason   string `json:"reason"`
	Detail   string `json:"detail"` // the statement, the channel's destination, the SSH user, the grants asked for
}

var denialHeader = []string{"stream", "seq", "time", "type", "identity", "reason", "detail"}

func (r denialRow) cells() []string {
	return []string{cell(r.Stream), strconv.FormatUint(r.Seq, 10), r.Time, cell(r.Type), cell(r.Identity), cell(r.Reason), cell(r.Detail)}
}

// verificationRow is one session's verification, as `gatehouse verify`
// does it.
type verificationRow struct {
	Session      string `json:"session"`
	Result       string `json:"result"`       // ok, incomplete or failed
	Chain        string `json:"chain"`        // intact, broken or unread
	Signature    string `json:"signature"`    // verified; partial (an unclosed stream's events after its last checkpoint are unsigned); unproven (verification failed) or unchecked (unread)
	Completeness string `json:"completeness"` // complete (a verified manifest) or incomplete
	Error        string `json:"error"`
	// ObjectLock is the session's objects' Object Lock as read from the
	// bucket when the bundle was made: COMPLIANCE, GOVERNANCE, none (a
	// directory store, or an object without retention) or unread.
	ObjectLock    string `json:"object_lock"`
	RetainUntil   string `json:"retain_until"`   // the earliest of its objects'
	LockedObjects string `json:"locked_objects"` // locked/all; empty for a directory store
	// Keys are the fingerprints of the recorder keys whose signatures
	// of the session verified, space-separated: across a rotation, the
	// key each session was signed with.
	Keys string `json:"keys"`
}

var verificationHeader = []string{"session", "result", "chain", "signature", "completeness", "error", "object_lock",
	"retain_until", "locked_objects", "keys"}

func (r verificationRow) cells() []string {
	return []string{cell(r.Session), r.Result, r.Chain, r.Signature, r.Completeness, cell(r.Error), r.ObjectLock, r.RetainUntil,
		r.LockedObjects, cell(r.Keys)}
}

// newVerificationRow classifies VerifyStored's result for s.
func newVerificationRow(s recorder.Listed, err error) verificationRow {
	r := verificationRow{Session: s.ID, Result: "ok", Chain: "intact", Signature: "verified", Completeness: "complete"}
	switch {
	case s.Unreadable != nil:
		return verificationRow{Session: s.ID, Result: "failed", Chain: "unread", Signature: "unchecked",
			Completeness: "incomplete", Error: s.Unreadable.Error()}
	case err == nil:
		return r
	case errors.Is(err, recorder.ErrIncomplete):
		r.Result, r.Signature, r.Completeness = "incomplete", "partial", "incomplete"
	default:
		r.Result, r.Signature, r.Completeness = "failed", "unproven", "incomplete"
	}
	if s.ChainError != nil {
		r.Chain = "broken"
	}
	r.Error = err.Error()
	return r
}

func cell(s string) string { return recorder.CSVCell(s) }

// utc is t as the bundle writes every time: UTC, RFC 3339 with
// nanoseconds, Z; empty for the zero time.
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// byTime orders two times as utc writes them, chronologically (their
// text does not sort so: RFC 3339 drops trailing zeros of the fraction).
func byTime(a, b string) int {
	ta, _ := time.Parse(time.RFC3339Nano, a)
	tb, _ := time.Parse(time.RFC3339Nano, b)
	return ta.Compare(tb)
}

package pgsession

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// msgStatementUnrecordable refuses a statement while the recorder cannot
// take it on (docs/recording-format.md, "Fail closed").
const msgStatementUnrecordable = "gatehouse: statement refused: %s, so gatehouse runs no new statement; try again later (the operator sees why at /healthz)"

// inspectRecorded is pgwire's Inspect hook: a statement is decided by
// policy (inspect) only while the recorder can take it on; otherwise it
// is refused before anything reaches the database (fail closed).
func (s *pgSession) inspectRecorded(ctx context.Context, q pgwire.Query) pgwire.Verdict {
	if err := s.stream.Ready(); err != nil {
		s.log.Warn("statement refused: recording unavailable", "error", err)
		return s.deny(&statementDetail{Rule: "recording"}, fmt.Sprintf(msgStatementUnrecordable, recorder.UnavailableSummary(err)))
	}
	return s.inspect(ctx, q)
}

// dbStatement is the record of one statement (event.DBStatement), encoded
// by its AppendJSON, which a new field of event.DBStatement must join.
type dbStatement event.DBStatement

// observe records each statement's outcome. pgwire calls it on its relay
// path; a failed recording closes the connection (fail closed). Its
// decision (db.decision) was durable before it went ahead, so the outcome
// is written without waiting. One per statement: the recording has them
// all; the log keeps only denials, so it does not slow the relay down.
func (s *pgSession) observe(ev pgwire.StatementEvent) {
	rec := statementRecord(s.channel, ev)
	level := slog.LevelDebug
	if rec.Decision == event.Deny {
		level = slog.LevelWarn
	}
	if s.conn.RecordOutcome(event.TypeDBStatement, rec, level) == nil && s.p.cfg.Statement != nil {
		s.p.cfg.Statement(string(rec.Decision), ev.Duration)
	}
}

// statementRecord is the record of a statement's outcome, within the
// bounds of what a record keeps of the client's text.
func statementRecord(channel int, ev pgwire.StatementEvent) dbStatement {
	rec := dbStatement{
		Channel: channel, Extended: ev.Extended, Statement: clip.Name(ev.StatementName),
		Portal: clip.Name(ev.Portal), Params: ev.ParamCount, Parameters: recordedParameters(ev.Parameters), Decision: event.Allow, Outcome: string(ev.Outcome),
		SkippedAlso: ev.SkippedAlso, Rows: ev.Rows, Tag: ev.Tag, Bytes: ev.Bytes, Error: ev.SQLState,
		DurationMS: float64(ev.Duration.Microseconds()) / 1000, Masked: clipList(ev.Rewritten),
	}
	rec.Text, rec.TextBytes, rec.TextSHA256 = recordedText(ev.SQL)
	if d, ok := ev.Detail.(*statementDetail); ok {
		rec.Kinds, rec.Relations, rec.Functions, rec.Rule = d.recordKinds(), clipList(d.Relations), clipList(d.Functions), clip.Detail(d.Rule)
		if !d.Allow {
			rec.Decision = event.Deny
		}
	}
	if ev.Outcome == pgwire.OutcomeDenied {
		rec.Decision = event.Deny
	}
	return rec
}

// AppendJSON encodes the record exactly as recorder.Marshal would (the
// recording is hash-chained and its format fixed), without reflection:
// one is written for every statement (recorder.Stream). Bind values,
// recorded only under log_parameters, still go through recorder.Marshal.
func (r dbStatement) AppendJSON(dst []byte) ([]byte, error) {
	dst = appendStatementText(dst, r.Channel, r.Text, r.TextBytes, r.TextSHA256, r.Extended, r.Statement)
	dst = appendOmitEmptyString(dst, `,"portal":`, r.Portal)
	dst = appendIntField(dst, `,"params":`, int64(r.Params))
	if len(r.Parameters) > 0 {
		values, err := recorder.Marshal(r.Parameters)
		if err != nil {
			return dst, fmt.Errorf("bastion: encode parameters: %w", err)
		}
		dst = append(append(dst, `,"parameters":`...), values...)
	}
	dst = appendVerdict(dst, r.Kinds, r.Relations, r.Functions, r.Decision, r.Rule)
	return r.appendOutcome(dst)
}

// appendOutcome appends the fields from outcome on and closes the object.
func (r dbStatement) appendOutcome(dst []byte) ([]byte, error) {
	dst = appendStringField(dst, `,"outcome":`, r.Outcome)
	if r.SkippedAlso > 0 {
		dst = appendIntField(dst, `,"skipped_also":`, r.SkippedAlso)
	}
	dst = appendIntField(dst, `,"rows":`, r.Rows)
	dst = appendOmitEmptyString(dst, `,"tag":`, r.Tag)
	dst = appendIntField(dst, `,"bytes":`, r.Bytes)
	dst, err := recorder.AppendJSONFloat(append(dst, `,"duration_ms":`...), r.DurationMS)
	if err != nil {
		return dst, fmt.Errorf("bastion: encode duration_ms: %w", err)
	}
	dst = appendOmitEmptyString(dst, `,"error":`, r.Error)
	dst = appendOmitEmptyStrings(dst, `,"masked":`, r.Masked)
	return append(dst, '}'), nil
}

// appendStatementText opens a statement's record (db.decision or
// db.statement) with the fields both begin with.
func appendStatementText(dst []byte, channel int, text string, textBytes int, textSHA256 string, extended bool, name string) []byte {
	dst = appendIntField(dst, `{"channel":`, int64(channel))
	dst = appendStringField(dst, `,"text":`, text)
	if textBytes != 0 {
		dst = appendIntField(dst, `,"text_bytes":`, int64(textBytes))
	}
	dst = appendOmitEmptyString(dst, `,"text_sha256":`, textSHA256)
	if extended {
		dst = append(dst, `,"extended":true`...)
	}
	return appendOmitEmptyString(dst, `,"statement_name":`, name)
}

// appendVerdict appends what a statement does and the policy's decision
// on it, the fields both records share in this order.
func appendVerdict(dst []byte, kinds, relations, functions []string, decision event.Decision, rule string) []byte {
	dst = appendOmitEmptyStrings(dst, `,"kinds":`, kinds)
	dst = appendOmitEmptyStrings(dst, `,"relations":`, relations)
	dst = appendOmitEmptyStrings(dst, `,"functions":`, functions)
	dst = appendStringField(dst, `,"decision":`, string(decision))
	return appendOmitEmptyString(dst, `,"rule":`, rule)
}

// The field appenders take the field's key with its comma and colon
// (`,"rows":`), a constant, and mirror encoding/json's omitempty.

func appendStringField(dst []byte, key, s string) []byte {
	return recorder.AppendJSONString(append(dst, key...), s)
}

func appendOmitEmptyString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return appendStringField(dst, key, s)
}

func appendOmitEmptyStrings(dst []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return dst
	}
	return recorder.AppendJSONStrings(append(dst, key...), ss)
}

func appendIntField(dst []byte, key string, n int64) []byte {
	return strconv.AppendInt(append(dst, key...), n, 10)
}

// Bounds of what one statement's record keeps of what the client sent,
// so that every event stays far below what a reader holds in memory for
// a line (docs/recording-format.md, "Bounds"): a statement of 16 MiB
// (pgwire's largest message) would otherwise be a line of up to 96 MiB,
// each control character escaped as six bytes.
const (
	// maxRecordedText is how much of a statement's text is kept; a longer
	// one is recorded as its first maxRecordedText bytes (cut at a
	// character), text_bytes and text_sha256.
	maxRecordedText = 64 << 10
	// maxRecordedList and maxRecordedListEntry bound the lists of a
	// record (kinds, relations, functions, masked columns): a longer list
	// ends with an entry "… N more"; a longer entry is clipped (clip.String).
	maxRecordedList      = 100
	maxRecordedListEntry = 256
)

// recordedText is a statement's text as its record keeps it: whole, or
// cut to maxRecordedText with the whole text's length and SHA-256.
func recordedText(sql string) (text string, textBytes int, textSHA256 string) {
	if len(sql) <= maxRecordedText {
		return sql, 0, ""
	}
	sum := sha256.Sum256([]byte(sql))
	return clip.Cut(sql, maxRecordedText), len(sql), hex.EncodeToString(sum[:])
}

// recordKinds is d's kinds as a record keeps them: those its decision's
// record made (decisionRecord), or made now for a statement that had none
// (a refused one).
func (d *statementDetail) recordKinds() []string {
	if d.recordedKinds != nil || len(d.Kinds) == 0 {
		return d.recordedKinds
	}
	return clipList(sqlkind.Strings(d.Kinds))
}

// clipList bounds a list of a record and each of its entries.
func clipList(ss []string) []string {
	n := min(len(ss), maxRecordedList)
	clipped := false
	for _, e := range ss[:n] {
		clipped = clipped || len(e) > maxRecordedListEntry
	}
	if !clipped && n == len(ss) {
		return ss
	}
	out := make([]string, n, n+1)
	for i, e := range ss[:n] {
		out[i] = clip.String(e, maxRecordedListEntry)
	}
	if n < len(ss) {
		out = append(out, fmt.Sprintf("… %d more", len(ss)-n))
	}
	return out
}

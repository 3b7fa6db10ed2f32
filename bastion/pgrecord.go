package bastion

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// inspectRecorded is pgwire's Inspect hook: a statement is decided by
// policy (inspect) only while the recorder can take it on; otherwise it
// is refused before anything reaches the database (fail closed).
func (s *pgSession) inspectRecorded(ctx context.Context, q pgwire.Query) pgwire.Verdict {
	if err := s.cs.stream.Ready(); err != nil {
		s.cs.log.Warn("statement refused: recording unavailable", "error", err)
		return s.deny(&statementDetail{Rule: "recording"}, fmt.Sprintf(msgStatementUnrecordable, unrecordable(err)))
	}
	return s.inspect(ctx, q)
}

// dbStatement is the record of one statement (docs/recording-format.md).
type dbStatement struct {
	Channel    int      `json:"channel"`
	Text       string   `json:"text"`
	Extended   bool     `json:"extended,omitempty"`
	Statement  string   `json:"statement_name,omitempty"`
	Portal     string   `json:"portal,omitempty"`
	Params     int      `json:"params"`               // bind parameters: their count
	Parameters []any    `json:"parameters,omitempty"` // and their values, only under log_parameters (pgparams.go)
	Kinds      []string `json:"kinds,omitempty"`
	Relations  []string `json:"relations,omitempty"`
	Functions  []string `json:"functions,omitempty"`
	Decision   string   `json:"decision"` // allow | deny
	Rule       string   `json:"rule,omitempty"`
	Outcome    string   `json:"outcome"`
	Rows       int64    `json:"rows"`
	Tag        string   `json:"tag,omitempty"`
	Bytes      int64    `json:"bytes"`
	DurationMS float64  `json:"duration_ms"`
	Error      string   `json:"error,omitempty"` // SQLSTATE of the first error
	// Masked says which result columns were masked and by which rule
	// ("column: function (why)"), never a value.
	Masked []string `json:"masked,omitempty"`
}

// observe records each statement's outcome. pgwire calls it on its relay
// path; a failed recording closes the connection (fail closed).
func (s *pgSession) observe(ev pgwire.StatementEvent) {
	rec := dbStatement{
		Channel: s.channel, Text: ev.SQL, Extended: ev.Extended, Statement: ev.StatementName,
		Portal: ev.Portal, Params: ev.ParamCount, Parameters: recordedParameters(ev.Parameters), Decision: "allow", Outcome: string(ev.Outcome),
		Rows: ev.Rows, Tag: ev.Tag, Bytes: ev.Bytes, Error: ev.SQLState,
		DurationMS: float64(ev.Duration.Microseconds()) / 1000, Masked: ev.Rewritten,
	}
	if d, ok := ev.Detail.(*statementDetail); ok {
		rec.Kinds, rec.Relations, rec.Functions, rec.Rule = d.Kinds, d.Relations, d.Functions, d.Rule
		if !d.Allow {
			rec.Decision = "deny"
		}
	}
	if ev.Outcome == pgwire.OutcomeDenied {
		rec.Decision = "deny"
	}
	_ = s.cs.record(evDBStatement, rec)
}

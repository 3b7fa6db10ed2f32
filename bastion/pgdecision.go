package bastion

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// evDBDecision is the record of an allowed statement, durable (fsync'd)
// before the statement is forwarded, or within recording.decision_sync_window
// (docs/recording-format.md).
const evDBDecision = "db.decision"

// dbDecision is encoded by its AppendJSON, which a new field must join.
type dbDecision struct {
	Channel   int      `json:"channel"`
	Text      string   `json:"text"`
	Extended  bool     `json:"extended,omitempty"`
	Statement string   `json:"statement_name,omitempty"`
	Params    int      `json:"params"`
	Kinds     []string `json:"kinds,omitempty"`
	Relations []string `json:"relations,omitempty"`
	Functions []string `json:"functions,omitempty"`
	Decision  string   `json:"decision"` // allow
	Rule      string   `json:"rule,omitempty"`
}

// AppendJSON encodes the record exactly as json.Marshal would, without
// reflection: one is written for every statement (recorder.Stream).
func (d dbDecision) AppendJSON(dst []byte) ([]byte, error) {
	dst = appendStatementText(dst, d.Channel, d.Text, d.Extended, d.Statement)
	dst = appendIntField(dst, `,"params":`, int64(d.Params))
	dst = appendVerdict(dst, d.Kinds, d.Relations, d.Functions, d.Decision, d.Rule)
	return append(dst, '}'), nil
}

// inspectDurable is pgwire's Inspect hook: a statement the recorder can
// take on is decided by policy, and an allowed one goes ahead only once
// its decision is durable in the spool. Concurrent statements of one SSH
// connection share an fsync (the stream's group commit); the outcome,
// db.statement, is written without waiting (state.go), so a statement
// costs one fsync. A decision that cannot be recorded refuses the
// statement and closes the connection (fail closed). Under
// recording.decision_sync_window the statement goes ahead once its
// decision is written, and the fsync follows within the window.
func (s *pgSession) inspectDurable(ctx context.Context, q pgwire.Query) pgwire.Verdict {
	v := s.inspectRecorded(ctx, q)
	if !v.Allow {
		return v
	}
	ev := dbDecision{Channel: s.channel, Text: q.SQL, Extended: q.Extended, Statement: q.StatementName,
		Params: q.ParamCount, Decision: "allow"}
	d, ok := v.Detail.(*statementDetail)
	if ok {
		ev.Kinds, ev.Relations, ev.Functions, ev.Rule = d.Kinds, d.Relations, d.Functions, d.Rule
	} else {
		d = &statementDetail{}
	}
	if err := s.emitDecision(ev); err != nil {
		s.cs.log.Error("recording failed; closing connection", "event", evDBDecision, "error", err)
		s.cs.conn.closeWith(fmt.Errorf("recording failed: %w", err))
		d.Rule = "recording"
		return s.deny(d, "gatehouse: statement refused: its decision could not be recorded")
	}
	return v
}

// emitDecision records an allowed statement's decision: durable before it
// returns, or, under recording.decision_sync_window, written at once and
// made durable within the window.
func (s *pgSession) emitDecision(ev dbDecision) error {
	if w := s.cs.srv.cfg.Policy.Recording.DecisionSyncWindow.D(); w > 0 {
		return s.cs.stream.EmitWithin(evDBDecision, ev, w)
	}
	return s.cs.stream.Emit(evDBDecision, ev)
}

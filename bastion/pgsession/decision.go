package pgsession

import (
	"context"
	"fmt"
	"sync"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// dbDecision is the record of an allowed statement (event.DBDecision),
// durable (fsync'd) before the statement is forwarded, or within
// recording.decision_sync_window. It is encoded by its AppendJSON, which a
// new field of event.DBDecision must join.
type dbDecision event.DBDecision

// AppendJSON encodes the record exactly as recorder.Marshal would, without
// reflection: one is written for every statement (recorder.Stream).
func (d dbDecision) AppendJSON(dst []byte) ([]byte, error) {
	dst = appendStatementText(dst, d.Channel, d.Text, d.TextBytes, d.TextSHA256, d.Extended, d.Statement)
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
// statement and closes the connection (fail closed). A string that only
// reads goes ahead at once under recording.overlap_reads (the default),
// its results held until its decision is durable (emitDecision). Under
// recording.decision_sync_window every statement goes ahead once its
// decision is written, and the fsync follows within the window.
func (s *pgSession) inspectDurable(ctx context.Context, q pgwire.Query) pgwire.Verdict {
	v := s.inspectRecorded(ctx, q)
	if !v.Allow {
		return v
	}
	d, ok := v.Detail.(*statementDetail)
	if !ok {
		d = &statementDetail{}
	}
	hold, err := s.emitDecision(s.decisionRecord(q, d), d.readsOnly)
	if err != nil {
		s.recordingFailed(err)
		d.Rule = "recording"
		return s.deny(d, "gatehouse: statement refused: its decision could not be recorded")
	}
	v.Hold = hold
	return v
}

// decisionRecord is the record of an allowed statement's decision. The
// kinds it records are kept in d, before pgwire has the verdict, for the
// record of the statement's outcome (statementRecord): a statement's
// kinds are made into strings once.
func (s *pgSession) decisionRecord(q pgwire.Query, d *statementDetail) dbDecision {
	ev := dbDecision{Channel: s.channel, Extended: q.Extended, Statement: clip.Name(q.StatementName),
		Params: q.ParamCount, Decision: event.Allow}
	ev.Text, ev.TextBytes, ev.TextSHA256 = recordedText(q.SQL)
	d.recordedKinds = clipList(sqlkind.Strings(d.Kinds))
	ev.Kinds, ev.Relations, ev.Functions, ev.Rule = d.recordedKinds, clipList(d.Relations), clipList(d.Functions), clip.Detail(d.Rule)
	return ev
}

// emitDecision records an allowed statement's decision: durable before it
// returns; or, for a string that only reads under recording.overlap_reads,
// written at once with a Hold for its results that makes it durable; or,
// under recording.decision_sync_window, written at once and made durable
// within the window.
//
// The relay calls the Hold once the string has gone to the database, so
// that the commit runs while the database works, and again before it
// releases the first byte of the results, which waits for that commit.
// The Hold is the first call's sync, whatever else was written after it:
// the outcome, db.statement, written once the database has answered,
// waits for no commit of its own (it is made durable by the next), so a
// statement costs one commit, not two.
func (s *pgSession) emitDecision(ev dbDecision, readsOnly bool) (hold func() error, err error) {
	rec := s.p.cfg.Policy.Recording
	if w := rec.DecisionSyncWindow.D(); w > 0 {
		return nil, s.stream.EmitWithin(event.TypeDBDecision, ev, w)
	}
	if !readsOnly || !rec.OverlapsReads() {
		return nil, s.stream.Emit(event.TypeDBDecision, ev)
	}
	wait, err := s.stream.EmitHeld(event.TypeDBDecision, ev)
	if err != nil {
		return nil, err
	}
	return sync.OnceValue(func() error {
		err := wait()
		if err != nil {
			s.recordingFailed(err)
		}
		return err
	}), nil
}

// recordingFailed ends the connection whose statement's decision could
// not be recorded (fail closed).
func (s *pgSession) recordingFailed(err error) {
	s.log.Error("recording failed; closing connection", "event", event.TypeDBDecision, "error", err)
	s.conn.Fail(fmt.Errorf("recording failed: %w", err))
}

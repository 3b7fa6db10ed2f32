package pgsession

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// onCancel is pgwire's OnCancel hook: the request is recorded in this
// session's stream and, when its key names a session, in that session's,
// before it is forwarded; if either cannot be recorded, it is not
// forwarded (fail closed).
func (s *pgSession) onCancel(a pgwire.CancelAttempt) error {
	ev := event.DBCancel{Channel: s.channel, ProcessID: a.ProcessID, Matched: a.Matched}
	target, _ := a.Target.(*pgSession)
	if target != nil {
		ev.TargetSession, ev.TargetChannel, ev.TargetIdentity = target.sessionID, target.channel, target.identity.Name()
	}
	if err := s.conn.Record(event.TypeDBCancel, ev); err != nil {
		return err
	}
	if target == nil {
		return nil
	}
	by := event.DBCancelled{Channel: target.channel, BySession: s.sessionID, ByChannel: s.channel, ByIdentity: s.identity.Name()}
	if err := target.conn.Record(event.TypeDBCancelled, by); err != nil {
		return fmt.Errorf("record the cancel in session %s: %w", target.sessionID, err)
	}
	return nil
}

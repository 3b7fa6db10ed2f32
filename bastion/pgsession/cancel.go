package pgsession

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// Cancel events (docs/recording-format.md): a CancelRequest arrives on a
// channel of its own, possibly of another SSH connection and identity than
// the session it stops, so it is recorded on both sides.
const (
	evDBCancel    = "db.cancel"
	evDBCancelled = "db.cancelled"
)

// dbCancel is a CancelRequest a channel carried, matched or not (a key
// that names no session is a probe, and recorded as one).
type dbCancel struct {
	Channel        int    `json:"channel"`
	ProcessID      uint32 `json:"process_id"` // of the key sent (gatehouse's, never the database's)
	Matched        bool   `json:"matched"`
	TargetSession  string `json:"target_session,omitempty"`
	TargetChannel  int    `json:"target_channel,omitempty"`
	TargetIdentity string `json:"target_identity,omitempty"`
}

// dbCancelled is the same request, in the stream of the session it stops.
type dbCancelled struct {
	Channel    int    `json:"channel"`
	BySession  string `json:"by_session"`
	ByChannel  int    `json:"by_channel"`
	ByIdentity string `json:"by_identity"`
}

// onCancel is pgwire's OnCancel hook: the request is recorded in this
// session's stream and, when its key names a session, in that session's,
// before it is forwarded; if either cannot be recorded, it is not
// forwarded (fail closed).
func (s *pgSession) onCancel(a pgwire.CancelAttempt) error {
	ev := dbCancel{Channel: s.channel, ProcessID: a.ProcessID, Matched: a.Matched}
	target, _ := a.Target.(*pgSession)
	if target != nil {
		ev.TargetSession, ev.TargetChannel, ev.TargetIdentity = target.sessionID, target.channel, target.identity.Name()
	}
	if err := s.conn.Record(evDBCancel, ev); err != nil {
		return err
	}
	if target == nil {
		return nil
	}
	by := dbCancelled{Channel: target.channel, BySession: s.sessionID, ByChannel: s.channel, ByIdentity: s.identity.Name()}
	if err := target.conn.Record(evDBCancelled, by); err != nil {
		return fmt.Errorf("record the cancel in session %s: %w", target.sessionID, err)
	}
	return nil
}

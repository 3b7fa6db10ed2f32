package recorder

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// EmitWithin appends an event like EmitLazy and makes it durable within
// window: the first such event arms a timer that syncs the stream, and
// every event written before the timer fires shares that sync. It is for
// a configuration that lets an action go ahead before its record is
// durable (recording.decision_sync_window): the event is in the kernel at
// once, so a crash of gatehouse loses nothing, but a crash of the machine
// can lose the events of the last window. An error means the event was
// not recorded; a failed sync fails the stream, so every later Emit fails.
func (s *Stream) EmitWithin(typ event.Type, data any, window time.Duration) error {
	if _, err := s.write(typ, data); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncArmed || s.closed {
		return nil
	}
	s.syncArmed = true
	if s.syncTimer == nil {
		s.syncTimer = time.AfterFunc(window, s.windowSync)
	} else {
		s.syncTimer.Reset(window)
	}
	return nil
}

// windowSync runs on EmitWithin's timer.
func (s *Stream) windowSync() {
	s.mu.Lock()
	s.syncArmed = false
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		_ = s.Sync() // a failure fails the stream: the next Emit reports it
	}
}

// EmitHeld appends an event like EmitLazy, starting no sync of its own,
// and returns a wait that makes it durable together with every event the
// stream has written by the time wait is called, in one sync. It is for
// an action that may begin before its record is durable because nothing
// of its outcome is released until wait returns nil (a read whose results
// the relay holds: recording.overlap_reads). The relay starts it once the
// action has begun, so that the sync runs beside it, and waits for it
// before releasing the outcome. A crash of gatehouse loses nothing (the
// event is in the kernel); a crash of the machine before wait's sync ends
// can lose the event of an action whose outcome nobody received. wait is
// the stream's Sync, the same func for every event: each call makes
// durable what was written by then, so a caller that waits in several
// places and wants one sync calls it once (pgsession's Hold does); its
// error fails the stream, as Emit's does. An error from EmitHeld means
// the event was not recorded.
func (s *Stream) EmitHeld(typ event.Type, data any) (wait func() error, err error) {
	if _, err := s.write(typ, data); err != nil {
		return nil, err
	}
	return s.syncFunc, nil
}

package pgsession

import (
	"log/slog"
	"sync"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// streamConn is a Conn over a real recording stream, as bastion's
// connection is: Record emits, RecordOutcome emits without waiting for
// durability.
type streamConn struct{ stream *recorder.Stream }

func (c streamConn) Record(typ event.Type, data any) error { return c.stream.Emit(typ, data) }

func (c streamConn) RecordOutcome(typ event.Type, data any, _ slog.Level) error {
	return c.stream.EmitLazy(typ, data)
}

func (streamConn) Fail(error) {}

// memConn is a Conn that keeps what it is given, for tests that read
// what a session recorded without a recorder.
type memConn struct {
	mu     sync.Mutex
	events []memEvent
	failed []error
}

type memEvent struct {
	typ     event.Type
	data    any
	outcome bool       // by RecordOutcome
	level   slog.Level // RecordOutcome's
}

func (c *memConn) Record(typ event.Type, data any) error {
	return c.add(memEvent{typ: typ, data: data})
}

func (c *memConn) RecordOutcome(typ event.Type, data any, level slog.Level) error {
	return c.add(memEvent{typ: typ, data: data, outcome: true, level: level})
}

func (c *memConn) add(ev memEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
	return nil
}

func (c *memConn) Fail(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = append(c.failed, cause)
}

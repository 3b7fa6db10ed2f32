package audit

import (
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Statement is one db.statement of a session stream, with the target of
// its channel.
type Statement struct {
	Line   int            // its index among the stream's lines
	Event  recorder.Event // its envelope: seq, time
	Target string         // what its channel's channel.open named; "" when none did
	Data   event.DBStatement
}

// SessionWalk reads a session stream's lines in recorded order for those
// that list its statements (the console's search and its index), so that
// how a statement is read, and which channel it belongs to, is written
// once and the two cannot disagree. Every hook is optional; each is
// called on the walking goroutine, in line order.
type SessionWalk struct {
	// Statement takes each db.statement whose payload decodes.
	Statement func(Statement)
	// Identity takes each auth.success whose payload decodes.
	Identity func(event.AuthSuccess)
	// Refusal takes each auth.failure and channel.refused (the refusals
	// a session has besides its denied statements) with its line's index,
	// its payload undecoded: the reader decodes what it shows.
	Refusal func(line int, ev recorder.Event)
}

// Walk reads lines. A line that is not an event, or a payload that does
// not decode, is passed over: verification says what is wrong with the
// stream, and the rest of it is still read.
//
// A channel's target is the last channel.open of its number. A
// channel.close does not forget it: channel numbers are never reused
// within a session (event.ChannelOpen), and a statement recorded as its
// channel closes still belongs to that target.
func (w SessionWalk) Walk(lines [][]byte) {
	targets := map[int]string{} // channel number → target
	for i, line := range lines {
		if ev, err := recorder.Decode(line); err == nil {
			w.take(i, ev, targets)
		}
	}
}

// take reads one event, line i of the stream.
func (w SessionWalk) take(i int, ev recorder.Event, targets map[int]string) {
	switch ev.Type {
	case event.TypeChannelOpen:
		var o event.ChannelOpen
		if ev.DecodeData(&o) == nil {
			targets[o.Channel] = o.Target
		}
	case event.TypeDBStatement:
		var st event.DBStatement
		if w.Statement != nil && ev.DecodeData(&st) == nil {
			w.Statement(Statement{Line: i, Event: ev, Target: targets[st.Channel], Data: st})
		}
	case event.TypeAuthSuccess:
		var a event.AuthSuccess
		if w.Identity != nil && ev.DecodeData(&a) == nil {
			w.Identity(a)
		}
	case event.TypeAuthFailure, event.TypeChannelRefused:
		if w.Refusal != nil {
			w.Refusal(i, ev)
		}
	}
}

package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// sessionLine is one encoded session event; data given as a
// json.RawMessage is taken as it is (to record a payload that does not
// decode).
func sessionLine(t *testing.T, seq uint64, typ event.Type, data any) []byte {
	t.Helper()
	raw, ok := data.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			t.Fatal(err)
		}
	}
	line, err := json.Marshal(recorder.Event{V: recorder.SchemaVersion, Stream: "s1", Seq: seq, Time: t0, Type: typ, Data: raw})
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// walked is what every hook of a SessionWalk took, one line a call.
func walked(lines [][]byte) []string {
	var got []string
	SessionWalk{
		Statement: func(st Statement) {
			got = append(got, fmt.Sprintf("statement line %d seq %d ch %d target %q %q %s %s masked %s", st.Line, st.Event.Seq,
				st.Data.Channel, st.Target, st.Data.Text, st.Data.Decision, st.Data.Rule, strings.Join(st.Data.Masked, ";")))
		},
		Identity: func(a event.AuthSuccess) {
			got = append(got, "identity "+a.Identity.Subject+" at "+a.Identity.Issuer)
		},
		Refusal: func(line int, ev recorder.Event) {
			got = append(got, fmt.Sprintf("refusal line %d seq %d %s %s", line, ev.Seq, ev.Type, ev.Data))
		},
	}.Walk(lines)
	return got
}

func TestSessionWalk(t *testing.T) {
	open := func(ch int, target string) event.ChannelOpen { return event.ChannelOpen{Channel: ch, Target: target} }
	stmt := func(ch int, text string) event.DBStatement {
		return event.DBStatement{Channel: ch, Text: text, Decision: event.Allow}
	}
	type rec struct {
		typ  event.Type
		data any
	}
	tests := []struct {
		name  string
		lines []rec
		want  []string
	}{
		{"a statement takes its channel's target",
			[]rec{{event.TypeChannelOpen, open(1, "orders")}, {event.TypeDBStatement, stmt(1, "SELECT 1")}},
			[]string{`statement line 1 seq 2 ch 1 target "orders" "SELECT 1" allow  masked `}},
		{"channels keep their own targets",
			[]rec{{event.TypeChannelOpen, open(1, "orders")}, {event.TypeChannelOpen, open(2, "billing")},
				{event.TypeDBStatement, stmt(2, "a")}, {event.TypeDBStatement, stmt(1, "b")}},
			[]string{`statement line 2 seq 3 ch 2 target "billing" "a" allow  masked `,
				`statement line 3 seq 4 ch 1 target "orders" "b" allow  masked `}},
		{"a statement on a channel never opened has no target",
			[]rec{{event.TypeChannelOpen, open(1, "orders")}, {event.TypeDBStatement, stmt(7, "SELECT 1")}},
			[]string{`statement line 1 seq 2 ch 7 target "" "SELECT 1" allow  masked `}},
		{"a statement before its channel.open has no target",
			[]rec{{event.TypeDBStatement, stmt(1, "early")}, {event.TypeChannelOpen, open(1, "orders")}},
			[]string{`statement line 0 seq 1 ch 1 target "" "early" allow  masked `}},
		{"a closed channel keeps its target",
			[]rec{{event.TypeChannelOpen, open(1, "orders")}, {event.TypeChannelClose, event.ChannelClose{Channel: 1}},
				{event.TypeDBStatement, stmt(1, "late")}},
			[]string{`statement line 2 seq 3 ch 1 target "orders" "late" allow  masked `}},
		{"the last channel.open of a number names its target",
			[]rec{{event.TypeChannelOpen, open(1, "orders")}, {event.TypeChannelOpen, open(1, "billing")}, {event.TypeDBStatement, stmt(1, "x")}},
			[]string{`statement line 2 seq 3 ch 1 target "billing" "x" allow  masked `}},
		{"an undecodable channel.open names nothing",
			[]rec{{event.TypeChannelOpen, open(1, "orders")}, {event.TypeChannelOpen, json.RawMessage(`{"channel":1,"target":7}`)},
				{event.TypeDBStatement, stmt(1, "x")}},
			[]string{`statement line 2 seq 3 ch 1 target "orders" "x" allow  masked `}},
		{"masked columns and denials as recorded",
			[]rec{{event.TypeChannelOpen, open(1, "orders")},
				{event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "SELECT email", Decision: event.Allow, Rule: "grant.read",
					Masked: []string{"email: hash (customers.email)", "card: redact"}}},
				{event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "DROP TABLE t", Decision: event.Deny, Rule: "policy.deny"}}},
			[]string{`statement line 1 seq 2 ch 1 target "orders" "SELECT email" allow grant.read masked email: hash (customers.email);card: redact`,
				`statement line 2 seq 3 ch 1 target "orders" "DROP TABLE t" deny policy.deny masked `}},
		{"an undecodable statement is passed over",
			[]rec{{event.TypeDBStatement, json.RawMessage(`{"channel":"one"}`)}, {event.TypeDBStatement, stmt(1, "next")}},
			[]string{`statement line 1 seq 2 ch 1 target "" "next" allow  masked `}},
		{"the identity of auth.success",
			[]rec{{event.TypeAuthSuccess, event.AuthSuccess{Identity: event.Identity{Issuer: "https://idp", Subject: "alice"}}},
				{event.TypeAuthSuccess, json.RawMessage(`{"identity":"alice"}`)}},
			[]string{"identity alice at https://idp"}},
		{"auth.failure and channel.refused are refusals, undecoded",
			[]rec{{event.TypeAuthFailure, event.AuthFailure{Method: "password", Reason: "not a certificate"}},
				{event.TypeChannelRefused, json.RawMessage(`{"channel":"x"}`)},
				{event.TypeRequestRefused, event.RequestRefused{Type: "shell"}},
				{event.TypeAuthThrottled, event.AuthThrottled{}}},
			[]string{`refusal line 0 seq 1 auth.failure {"method":"password","user":"","reason":"not a certificate"}`,
				`refusal line 1 seq 2 channel.refused {"channel":"x"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines [][]byte
			for i, r := range tt.lines {
				lines = append(lines, sessionLine(t, uint64(i+1), r.typ, r.data))
			}
			if got := walked(lines); !slices.Equal(got, tt.want) {
				t.Errorf("walked\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// A line that is not an event is passed over, and still counted in the
// line numbers the index keeps.
func TestSessionWalkPassesOverBadLines(t *testing.T) {
	lines := [][]byte{
		sessionLine(t, 1, event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: "orders"}),
		[]byte(`{"seq":`),
		sessionLine(t, 3, event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "SELECT 1", Decision: event.Allow}),
	}
	want := []string{`statement line 2 seq 3 ch 1 target "orders" "SELECT 1" allow  masked `}
	if got := walked(lines); !slices.Equal(got, want) {
		t.Errorf("walked %q, want %q", got, want)
	}
	SessionWalk{}.Walk(lines) // no hooks: reads and calls nothing
}

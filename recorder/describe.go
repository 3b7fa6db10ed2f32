package recorder

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Describe renders one event for a person: the session's events in words
// (docs/recording-format.md), and any other event as its type and payload.
// What the client chose is in it, so it is made Printable.
func Describe(ev Event) string {
	return Printable(describe(ev))
}

func describe(ev Event) string {
	if d, ok := describers[ev.Type]; ok {
		if s, err := d(ev.Data); err == nil {
			return s
		}
	}
	if len(ev.Data) == 0 || string(ev.Data) == "null" {
		return string(ev.Type)
	}
	return string(ev.Type) + " " + string(ev.Data)
}

// describers render the payloads they know; an error falls back to the
// raw payload.
var describers = map[event.Type]func(json.RawMessage) (string, error){
	event.TypeSessionStart:   describeStart,
	event.TypeAuthFailure:    describeAuthFailure,
	event.TypeAuthSuccess:    describeAuthSuccess,
	event.TypeChannelOpen:    describeChannelOpen,
	event.TypeChannelRefused: describeChannelRefused,
	event.TypeChannelClose:   describeChannelClose,
	event.TypeRequestRefused: describeRequestRefused,
	event.TypeDBStatement:    describeStatement,
	event.TypeDBDecision:     describeDecision,
	event.TypeDBCancel:       describeCancel,
	event.TypeDBCancelled:    describeCancelled,
	event.TypeSessionEnd:     describeEnd,
	event.TypeCheckpoint:     describeCheckpoint,
}

func describeStart(data json.RawMessage) (string, error) {
	var p event.SessionStart
	err := json.Unmarshal(data, &p)
	s := fmt.Sprintf("connection from %s to %s", p.ClientAddr, p.ServerAddr)
	return s + parenthesised(p.ClientVersion), err
}

// describeKey names the certificate (or key) an auth event carries.
func describeKey(k event.KeyFacts) string {
	var parts []string
	if k.KeyID != "" {
		parts = append(parts, fmt.Sprintf("certificate %q", k.KeyID))
	}
	if k.Serial != 0 {
		parts = append(parts, fmt.Sprintf("serial %d", k.Serial))
	}
	if k.KeyFingerprint != "" {
		parts = append(parts, "key "+k.KeyFingerprint)
	}
	return strings.Join(parts, ", ")
}

func describeAuthFailure(data json.RawMessage) (string, error) {
	var p event.AuthFailure
	err := json.Unmarshal(data, &p)
	return fmt.Sprintf("authentication refused (%s, user %q): %s", p.Method, p.User, p.Reason) + parenthesised(describeKey(p.KeyFacts)), err
}

func describeAuthSuccess(data json.RawMessage) (string, error) {
	var p event.AuthSuccess
	err := json.Unmarshal(data, &p)
	s := fmt.Sprintf("authenticated as %s", p.Name) + parenthesised(describeKey(p.KeyFacts))
	return s + "; grants " + orNone(p.Principals), err
}

func describeChannelOpen(data json.RawMessage) (string, error) {
	var p event.ChannelOpen
	err := json.Unmarshal(data, &p)
	return fmt.Sprintf("channel %d: opened to %s port %d, roles %s", p.Channel, p.Target, p.Port, orNone(p.Roles)), err
}

func describeChannelRefused(data json.RawMessage) (string, error) {
	var p event.ChannelRefused
	err := json.Unmarshal(data, &p)
	dest := p.Host
	if p.Port != 0 {
		dest = fmt.Sprintf("%s:%d", p.Host, p.Port)
	}
	return fmt.Sprintf("channel %d: %s %s REFUSED: %s", p.Channel, p.Type, dest, p.Reason), err
}

func describeChannelClose(data json.RawMessage) (string, error) {
	var p event.ChannelClose
	err := json.Unmarshal(data, &p)
	s := fmt.Sprintf("channel %d: closed, %d bytes to the target, %d from it", p.Channel, p.BytesToTarget, p.BytesFromTarget)
	if p.Error != "" {
		s += ": " + p.Error
	}
	return s, err
}

func describeRequestRefused(data json.RawMessage) (string, error) {
	var p event.RequestRefused
	err := json.Unmarshal(data, &p)
	s := "request " + p.Type
	if p.Channel != 0 {
		s = fmt.Sprintf("channel %d: %s", p.Channel, s)
	}
	if p.Detail != "" {
		s += fmt.Sprintf(" %q", p.Detail)
	}
	return s + " REFUSED: " + p.Reason, err
}

// describeStatement renders the PostgreSQL proxy's db.statement: the
// decision first, since that is what an auditor scans for. Rows and
// duration are shown only when recorded, and masked columns may be
// names or, in early recordings, {"column", "rule"} objects.
func describeStatement(data json.RawMessage) (string, error) {
	var p struct {
		event.DBStatement
		Rows       *int64          `json:"rows"`
		DurationMS *float64        `json:"duration_ms"`
		Masked     json.RawMessage `json:"masked"`
	}
	err := json.Unmarshal(data, &p)
	st := p.DBStatement
	s := describeVerdict(st.Channel, st.Decision, st.Rule, st.Text, st.TextBytes, st.TextSHA256)
	var facts []string
	if p.Rows != nil {
		facts = append(facts, fmt.Sprintf("%d rows", *p.Rows))
	}
	if p.DurationMS != nil {
		facts = append(facts, fmt.Sprintf("%g ms", *p.DurationMS))
	}
	if m := maskedColumns(p.Masked); m != "" {
		facts = append(facts, "masked "+m)
	}
	if st.Error != "" {
		facts = append(facts, "error "+st.Error)
	}
	if len(facts) > 0 {
		s += " → " + strings.Join(facts, ", ")
	}
	return s, err
}

// describeDecision renders db.decision, a statement allowed before it ran.
func describeDecision(data json.RawMessage) (string, error) {
	var p event.DBDecision
	err := json.Unmarshal(data, &p)
	return describeVerdict(p.Channel, p.Decision, p.Rule, p.Text, p.TextBytes, p.TextSHA256), err
}

// describeVerdict renders what a statement's records share: the channel,
// the decision and its rule, and the text, with a note when it was cut.
func describeVerdict(channel int, decision event.Decision, rule, text string, textBytes int, textSHA256 string) string {
	s := strings.ToUpper(string(decision))
	if rule != "" {
		s += fmt.Sprintf(" (rule %s)", rule)
	}
	if channel != 0 {
		s = fmt.Sprintf("channel %d: %s", channel, s)
	}
	s += " " + oneLine(text)
	if textBytes > 0 {
		s += fmt.Sprintf(" … [cut: %d bytes in all, sha256 %s]", textBytes, textSHA256)
	}
	return s
}

// maskedColumns reads a statement's masked columns, a list of names or of
// {"column", "rule"} objects.
func maskedColumns(raw json.RawMessage) string {
	var names []string
	if json.Unmarshal(raw, &names) == nil {
		return strings.Join(names, ", ")
	}
	var cols []struct{ Column, Rule string }
	if json.Unmarshal(raw, &cols) != nil {
		return ""
	}
	for _, c := range cols {
		names = append(names, c.Column+parenthesised(c.Rule))
	}
	return strings.Join(names, ", ")
}

// describeCancel renders a CancelRequest a channel carried: whose
// statement it stops, or that its key matched nothing (a probe).
func describeCancel(data json.RawMessage) (string, error) {
	var p event.DBCancel
	err := json.Unmarshal(data, &p)
	s := fmt.Sprintf("channel %d: CANCEL request (key %d)", p.Channel, p.ProcessID)
	if !p.Matched {
		return s + " matched no session", err
	}
	return s + fmt.Sprintf(" → session %s channel %d (%s)", p.TargetSession, p.TargetChannel, p.TargetIdentity), err
}

func describeCancelled(data json.RawMessage) (string, error) {
	var p event.DBCancelled
	err := json.Unmarshal(data, &p)
	return fmt.Sprintf("channel %d: CANCELLED by session %s channel %d (%s)", p.Channel, p.BySession, p.ByChannel, p.ByIdentity), err
}

func describeEnd(data json.RawMessage) (string, error) {
	var p event.SessionEnd
	err := json.Unmarshal(data, &p)
	d := (time.Duration(p.DurationMS) * time.Millisecond).String()
	return fmt.Sprintf("session ended: %s (after %s, channels opened: %d)", p.Reason, d, p.Channels), err
}

func describeCheckpoint(data json.RawMessage) (string, error) {
	var cp event.Checkpoint
	err := json.Unmarshal(data, &cp)
	return fmt.Sprintf("signature over the events through seq %d, key %s", cp.Seq, cp.Key), err
}

func parenthesised(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// oneLine keeps a statement on its line of the timeline.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

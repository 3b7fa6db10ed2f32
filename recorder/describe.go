package recorder

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
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
		return ev.Type
	}
	return ev.Type + " " + string(ev.Data)
}

// describers render the payloads they know; an error falls back to the
// raw payload.
var describers = map[string]func(json.RawMessage) (string, error){
	"session.start":   describeStart,
	"auth.failure":    describeAuthFailure,
	typeAuthSuccess:   describeAuthSuccess,
	"channel.open":    describeChannelOpen,
	"channel.refused": describeChannelRefused,
	"channel.close":   describeChannelClose,
	"request.refused": describeRequestRefused,
	typeStatement:     describeStatement,
	"db.decision":     describeStatement,
	"db.cancel":       describeCancel,
	"db.cancelled":    describeCancelled,
	typeSessionEnd:    describeEnd,
	TypeCheckpoint:    describeCheckpoint,
}

func describeStart(data json.RawMessage) (string, error) {
	var p struct {
		ClientAddr    string `json:"client_addr"`
		ServerAddr    string `json:"server_addr"`
		ClientVersion string `json:"client_version"`
	}
	err := json.Unmarshal(data, &p)
	s := fmt.Sprintf("connection from %s to %s", p.ClientAddr, p.ServerAddr)
	return s + parenthesised(p.ClientVersion), err
}

// certFacts are the key facts auth events carry.
type certFacts struct {
	KeyID          string `json:"key_id"`
	Serial         uint64 `json:"serial"`
	KeyFingerprint string `json:"key_fingerprint"`
}

func (c certFacts) String() string {
	var parts []string
	if c.KeyID != "" {
		parts = append(parts, fmt.Sprintf("certificate %q", c.KeyID))
	}
	if c.Serial != 0 {
		parts = append(parts, fmt.Sprintf("serial %d", c.Serial))
	}
	if c.KeyFingerprint != "" {
		parts = append(parts, "key "+c.KeyFingerprint)
	}
	return strings.Join(parts, ", ")
}

func describeAuthFailure(data json.RawMessage) (string, error) {
	var p struct {
		certFacts
		Method string `json:"method"`
		User   string `json:"user"`
		Reason string `json:"reason"`
	}
	err := json.Unmarshal(data, &p)
	return fmt.Sprintf("authentication refused (%s, user %q): %s", p.Method, p.User, p.Reason) + parenthesised(p.certFacts.String()), err
}

func describeAuthSuccess(data json.RawMessage) (string, error) {
	var p struct {
		certFacts
		Name       string   `json:"name"`
		Principals []string `json:"principals"`
	}
	err := json.Unmarshal(data, &p)
	s := fmt.Sprintf("authenticated as %s", p.Name) + parenthesised(p.certFacts.String())
	return s + "; grants " + orNone(p.Principals), err
}

func describeChannelOpen(data json.RawMessage) (string, error) {
	var p struct {
		Channel int      `json:"channel"`
		Target  string   `json:"target"`
		Port    int      `json:"port"`
		Roles   []string `json:"roles"`
	}
	err := json.Unmarshal(data, &p)
	return fmt.Sprintf("channel %d: opened to %s port %d, roles %s", p.Channel, p.Target, p.Port, orNone(p.Roles)), err
}

func describeChannelRefused(data json.RawMessage) (string, error) {
	var p struct {
		Channel int    `json:"channel"`
		Type    string `json:"type"`
		Host    string `json:"host"`
		Port    int    `json:"port"`
		Reason  string `json:"reason"`
	}
	err := json.Unmarshal(data, &p)
	dest := p.Host
	if p.Port != 0 {
		dest = fmt.Sprintf("%s:%d", p.Host, p.Port)
	}
	return fmt.Sprintf("channel %d: %s %s REFUSED: %s", p.Channel, p.Type, dest, p.Reason), err
}

func describeChannelClose(data json.RawMessage) (string, error) {
	var p struct {
		Channel int    `json:"channel"`
		To      int64  `json:"bytes_to_target"`
		From    int64  `json:"bytes_from_target"`
		Error   string `json:"error"`
	}
	err := json.Unmarshal(data, &p)
	s := fmt.Sprintf("channel %d: closed, %d bytes to the target, %d from it", p.Channel, p.To, p.From)
	if p.Error != "" {
		s += ": " + p.Error
	}
	return s, err
}

func describeRequestRefused(data json.RawMessage) (string, error) {
	var p struct {
		Channel int    `json:"channel"`
		Type    string `json:"type"`
		Detail  string `json:"detail"`
		Reason  string `json:"reason"`
	}
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
// decision first, since that is what an auditor scans for.
func describeStatement(data json.RawMessage) (string, error) {
	var p struct {
		Channel    int             `json:"channel"`
		Text       string          `json:"text"`
		TextBytes  int             `json:"text_bytes"`
		TextSHA256 string          `json:"text_sha256"`
		Decision   string          `json:"decision"`
		Rule       string          `json:"rule"`
		Rows       *int64          `json:"rows"`
		DurationMS *float64        `json:"duration_ms"`
		Error      string          `json:"error"`
		Masked     json.RawMessage `json:"masked"`
	}
	err := json.Unmarshal(data, &p)
	s := strings.ToUpper(p.Decision)
	if p.Rule != "" {
		s += fmt.Sprintf(" (rule %s)", p.Rule)
	}
	if p.Channel != 0 {
		s = fmt.Sprintf("channel %d: %s", p.Channel, s)
	}
	s += " " + oneLine(p.Text)
	if p.TextBytes > 0 {
		s += fmt.Sprintf(" … [cut: %d bytes in all, sha256 %s]", p.TextBytes, p.TextSHA256)
	}
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
	if p.Error != "" {
		facts = append(facts, "error "+p.Error)
	}
	if len(facts) > 0 {
		s += " → " + strings.Join(facts, ", ")
	}
	return s, err
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
	var p struct {
		Channel        int    `json:"channel"`
		ProcessID      uint32 `json:"process_id"`
		Matched        bool   `json:"matched"`
		TargetSession  string `json:"target_session"`
		TargetChannel  int    `json:"target_channel"`
		TargetIdentity string `json:"target_identity"`
	}
	err := json.Unmarshal(data, &p)
	s := fmt.Sprintf("channel %d: CANCEL request (key %d)", p.Channel, p.ProcessID)
	if !p.Matched {
		return s + " matched no session", err
	}
	return s + fmt.Sprintf(" → session %s channel %d (%s)", p.TargetSession, p.TargetChannel, p.TargetIdentity), err
}

func describeCancelled(data json.RawMessage) (string, error) {
	var p struct {
		Channel    int    `json:"channel"`
		BySession  string `json:"by_session"`
		ByChannel  int    `json:"by_channel"`
		ByIdentity string `json:"by_identity"`
	}
	err := json.Unmarshal(data, &p)
	return fmt.Sprintf("channel %d: CANCELLED by session %s channel %d (%s)", p.Channel, p.BySession, p.ByChannel, p.ByIdentity), err
}

func describeEnd(data json.RawMessage) (string, error) {
	var p struct {
		Reason     string `json:"reason"`
		DurationMS int64  `json:"duration_ms"`
		Channels   int    `json:"channels"`
	}
	err := json.Unmarshal(data, &p)
	d := (time.Duration(p.DurationMS) * time.Millisecond).String()
	return fmt.Sprintf("session ended: %s (after %s, channels opened: %d)", p.Reason, d, p.Channels), err
}

func describeCheckpoint(data json.RawMessage) (string, error) {
	var cp Checkpoint
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

package recorder

import (
	"encoding/json"
	"strings"
	"time"
)

// Summary is one session as `gatehouse sessions` lists it.
type Summary struct {
	ID         string
	Start      time.Time
	End        time.Time // zero while the session is open (or was cut short)
	Identity   string    // the certificate's KeyId, once authenticated
	ClientAddr string
	Channels   int // channels opened
	Refusals   int // auth failures and refused channels and requests
	EndReason  string
	Targets    []string // targets of opened channels
	ChainError error    // nil when the hash chain is intact
}

// summaryFields are the payload fields a summary reads; the full schema is
// in docs/recording-format.md.
type summaryFields struct {
	KeyID      string `json:"key_id"`
	ClientAddr string `json:"client_addr"`
	Target     string `json:"target"`
	Reason     string `json:"reason"`
}

// Summarize condenses a session stream's lines.
func Summarize(id string, lines [][]byte) Summary {
	s := Summary{ID: id}
	events, err := VerifyChain(lines)
	s.ChainError = err
	for _, ev := range events {
		var f summaryFields
		_ = json.Unmarshal(ev.Data, &f) // a payload without these fields is fine
		switch {
		case ev.Type == "session.start":
			s.Start, s.ClientAddr = ev.Time, f.ClientAddr
		case ev.Type == "auth.success":
			s.Identity = f.KeyID
		case ev.Type == "channel.open":
			s.Channels++
			s.Targets = appendUnique(s.Targets, f.Target)
		case ev.Type == "auth.failure" || strings.HasSuffix(ev.Type, ".refused"):
			s.Refusals++
		case ev.Type == "session.end":
			s.End, s.EndReason = ev.Time, f.Reason
		}
	}
	return s
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

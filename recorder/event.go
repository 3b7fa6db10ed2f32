// Package recorder writes gatehouse's audit record: streams of JSON-lines
// events, each chained to the one before it by SHA-256, with checkpoints
// and a closing manifest signed by the recorder's Ed25519 key, so that an
// edited, reordered, truncated or forged recording can be detected
// (Verify) with the public key alone. It also summarises and replays
// recordings for the auditor's commands. What the events are (their types
// and payloads) is package recorder/event.
package recorder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// SchemaVersion is the version of the event format (docs/recording-format.md).
const SchemaVersion = 1

// GenesisHash is the "previous hash" of a stream's first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Event is one line of a recording. Prev is the hex SHA-256 of the exact
// bytes of the previous line (without its newline), which chains every
// event to all that came before it in the stream. Stream encodes it by
// hand (encode.go), byte for byte as encoding/json would with these tags.
type Event struct {
	V      int             `json:"v"`
	Stream string          `json:"stream"`
	Seq    uint64          `json:"seq"`
	Time   time.Time       `json:"time"`
	Type   event.Type      `json:"type"`
	Prev   string          `json:"prev"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// LineHash is the chain hash of one encoded event line.
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// Decode parses one line of a recording.
func Decode(line []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return Event{}, fmt.Errorf("recorder: decode event: %w", err)
	}
	return ev, nil
}

// DecodeData unmarshals an event's payload into v.
func (e Event) DecodeData(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("recorder: decode %s payload of event %d: %w", e.Type, e.Seq, err)
	}
	return nil
}

package recorder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// ChainError says which event broke the chain and how.
type ChainError struct {
	Line   int // 1-based line number in the stream
	Seq    uint64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("recorder: chain broken at line %d (seq %d): %s", e.Line, e.Seq, e.Reason)
}

// VerifyChain checks that lines form one unbroken stream: every line
// decodes, sequence numbers start at 0 and increase by one, every event
// names the same stream, and each Prev is the hash of the line before it.
// It returns the decoded events and the first problem found.
func VerifyChain(lines [][]byte) ([]Event, error) {
	events := make([]Event, 0, len(lines))
	prev := GenesisHash
	for i, line := range lines {
		ev, err := Decode(line)
		if err != nil {
			return events, &ChainError{Line: i + 1, Seq: uint64(i), Reason: err.Error()}
		}
		switch {
		case ev.V != SchemaVersion:
			return events, &ChainError{i + 1, ev.Seq, fmt.Sprintf("schema version %d, want %d", ev.V, SchemaVersion)}
		case ev.Seq != uint64(i):
			return events, &ChainError{i + 1, ev.Seq, fmt.Sprintf("sequence %d where %d was expected (an event is missing or out of order)", ev.Seq, i)}
		case ev.Prev != prev:
			return events, &ChainError{i + 1, ev.Seq, prevMismatch(i)}
		case i > 0 && ev.Stream != events[0].Stream:
			return events, &ChainError{i + 1, ev.Seq, fmt.Sprintf("event belongs to stream %q, not %q", ev.Stream, events[0].Stream)}
		}
		events = append(events, ev)
		prev = LineHash(line)
	}
	return events, nil
}

func prevMismatch(i int) string {
	if i == 0 {
		return "previous-hash of the first line is not the genesis hash: events were removed from the start"
	}
	return fmt.Sprintf("previous-hash is not the hash of line %d (seq %d): that line was edited, or events were removed or reordered here", i, i-1)
}

// chainHead is a stream's last line's hash, LineHash's hex, kept in an
// array so that chaining an event allocates nothing: a string of it is
// made only for the rare checkpoint, mark and manifest.
type chainHead [2 * sha256.Size]byte

// genesisHead is the chain head before a stream's first event.
var genesisHead = func() (h chainHead) {
	copy(h[:], GenesisHash)
	return h
}()

// follow makes h the hash of line, the stream's newest.
func (h *chainHead) follow(line []byte) {
	sum := sha256.Sum256(line)
	hex.Encode(h[:], sum[:])
}

// appendJSON appends h as a JSON string (hex needs no escaping).
func (h *chainHead) appendJSON(dst []byte) []byte {
	dst = append(dst, '"')
	dst = append(dst, h[:]...)
	return append(dst, '"')
}

func (h *chainHead) String() string { return string(h[:]) }

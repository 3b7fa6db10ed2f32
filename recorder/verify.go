package recorder

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// ErrIncomplete matches (errors.Is) a *VerifyError for a stream that has
// no manifest: as far as it goes it is intact, but it was never closed.
var ErrIncomplete = errors.New("recorder: recording incomplete")

// VerifyError is the first problem Verify found, and where.
type VerifyError struct {
	Stream string
	Line   int    // 1-based line of the stream; 0 when the problem is the manifest itself
	Seq    uint64 // the seq of the event on Line
	// Incomplete is set when nothing was found altered but the stream has
	// no manifest: the session is still open, or the recorder crashed
	// before closing it. Events after the last checkpoint are then
	// covered by no signature.
	Incomplete bool
	Reason     string
}

func (e *VerifyError) Error() string {
	prefix := "recorder: "
	if e.Stream != "" {
		prefix += e.Stream + ": "
	}
	switch {
	case e.Incomplete:
		return prefix + "incomplete: " + e.Reason
	case e.Line == 0:
		return prefix + "manifest: " + e.Reason
	}
	return fmt.Sprintf("%sline %d (seq %d): %s", prefix, e.Line, e.Seq, e.Reason)
}

// Is makes errors.Is(err, ErrIncomplete) true for an incomplete stream.
func (e *VerifyError) Is(target error) bool { return target == ErrIncomplete && e.Incomplete }

// Report is what Verify established, as far as it got.
type Report struct {
	Stream      string
	Events      int       // lines whose chain verified
	Checkpoints int       // checkpoints whose signature verified
	Signed      int       // events, from the first, that a verified signature covers
	Keys        []string  // fingerprints of the keys that signed, in first-use order
	Manifest    *Manifest // nil unless the manifest verified
}

// Verify checks one stream against trusted recorder keys: the manifest's
// signature; the hash chain and sequence of every line; the signature of
// every checkpoint; and that the manifest describes exactly these lines
// (last seq, chain head, counts by type, times). manifest is the stream's
// manifest file, nil when it has none. The error, if any, is a
// *VerifyError naming the first problem.
func Verify(lines [][]byte, manifest []byte, keys ...ed25519.PublicKey) (*Report, error) {
	return Trust(keys...).Verify(lines, manifest)
}

// Verify is the package's Verify with the ring's keys, each within its
// NotAfter.
func (r *Keyring) Verify(lines [][]byte, manifest []byte) (*Report, error) {
	if r.Len() == 0 {
		return &Report{}, errors.New("recorder: verify: no recorder public key to verify with")
	}
	v := &verification{keys: r, lines: lines, report: &Report{}}
	err := v.run(manifest)
	return v.report, err
}

// VerifySource reads streams back; FileStore is one.
type VerifySource interface {
	Lines(kind, id string) ([][]byte, error)
	// Manifest's error wraps fs.ErrNotExist when the stream has none.
	Manifest(kind, id string) ([]byte, error)
}

// VerifyStored verifies the stored stream kind/id, and that it is the
// stream of that name: a recording copied over another does not verify.
func VerifyStored(src VerifySource, kind, id string, keys ...ed25519.PublicKey) (*Report, error) {
	return Trust(keys...).VerifyStored(src, kind, id)
}

// VerifyStored is the package's VerifyStored with the ring's keys.
func (r *Keyring) VerifyStored(src VerifySource, kind, id string) (*Report, error) {
	rep, _, err := r.verifyStored(src, kind, id)
	return rep, err
}

// verifyStored is VerifyStored, which also returns the stream's lines.
func (r *Keyring) verifyStored(src VerifySource, kind, id string) (*Report, [][]byte, error) {
	// The manifest first: a stream closed after it was looked for is
	// verified as the open stream it was, not as lines short of a
	// manifest written after they were read.
	manifest, merr := src.Manifest(kind, id)
	lines, err := src.Lines(kind, id)
	if err != nil {
		return &Report{Stream: id}, nil, err
	}
	if merr != nil && !errors.Is(merr, fs.ErrNotExist) {
		return &Report{Stream: id}, lines, merr
	}
	rep, err := r.Verify(lines, manifest)
	var ve *VerifyError
	if errors.As(err, &ve) && ve.Stream == "" {
		ve.Stream = id
	}
	if err != nil && !errors.Is(err, ErrIncomplete) {
		return rep, lines, err
	}
	switch {
	case rep.Stream != "" && rep.Stream != id:
		return rep, lines, &VerifyError{Stream: id, Line: 1, Reason: fmt.Sprintf("the recording stored as %s is stream %s", id, rep.Stream)}
	case err == nil && rep.Manifest.Kind != kind:
		return rep, lines, &VerifyError{Stream: id, Reason: fmt.Sprintf("kind %q, but stored as %q", rep.Manifest.Kind, kind)}
	}
	return rep, lines, err
}

// verification is one run of Verify.
type verification struct {
	keys        *Keyring
	lines       [][]byte
	events      []Event
	manifest    *Manifest
	manifestKey string    // the fingerprint that signed the manifest
	latest      time.Time // the latest event time read so far: what the next signature vouches for
	report      *Report
}

func (v *verification) run(manifest []byte) error {
	if manifest != nil {
		if err := v.openManifest(manifest); err != nil {
			return err
		}
	}
	events, chainErr := VerifyChain(v.lines)
	v.events = events
	if len(events) > 0 {
		v.report.Stream = events[0].Stream
	}
	if err := v.checkEvents(); err != nil {
		return err
	}
	if chainErr != nil {
		return v.chainError(chainErr)
	}
	v.report.Events = len(events)
	if v.manifest == nil {
		return v.incomplete()
	}
	// A manifest vouches for every event and for its own end.
	if why := v.keys.window(v.manifestKey, latest(v.latest, v.manifest.End)); why != "" {
		return &VerifyError{Stream: v.manifest.Stream, Reason: why}
	}
	if err := v.checkManifest(); err != nil {
		return err
	}
	v.report.Manifest = v.manifest
	v.report.Signed = len(events)
	return nil
}

func (v *verification) openManifest(data []byte) error {
	m, key, why := openManifest(data, v.keys)
	if m == nil {
		return &VerifyError{Stream: v.streamName(), Reason: why}
	}
	v.manifest, v.manifestKey = m, key
	v.report.Stream = m.Stream
	v.useKey(key)
	return nil
}

// streamName is the stream's id as far as it is known, for errors.
func (v *verification) streamName() string {
	if v.manifest != nil {
		return v.manifest.Stream
	}
	if len(v.lines) > 0 {
		if ev, err := Decode(v.lines[0]); err == nil {
			return ev.Stream
		}
	}
	return ""
}

// checkEvents checks what VerifyChain does not: stream ids that could not
// be named unambiguously in a signature, and checkpoint signatures.
func (v *verification) checkEvents() error {
	for i, ev := range v.events {
		if strings.ContainsAny(ev.Stream, "\n\r") || ev.Stream == "" {
			return v.lineError(i, "the stream id is empty or holds a line break")
		}
		// A checkpoint vouches for the events before it and is signed
		// at its own time: both count against its key's not_after.
		v.latest = latest(v.latest, ev.Time)
		if ev.Type != event.TypeCheckpoint {
			continue
		}
		if why := v.checkCheckpoint(ev); why != "" {
			return v.lineError(i, "checkpoint "+why)
		}
		v.report.Checkpoints++
		v.report.Signed = i // the checkpoint signs the events before it
	}
	return nil
}

func (v *verification) checkCheckpoint(ev Event) string {
	var cp event.Checkpoint
	if err := json.Unmarshal(ev.Data, &cp); err != nil {
		return "cannot be decoded: " + err.Error()
	}
	switch {
	case ev.Seq == 0 || cp.Seq != ev.Seq-1:
		return fmt.Sprintf("covers seq %d, but the event before it is not that one", cp.Seq)
	case cp.ChainHead != ev.Prev:
		return "chain head is not the hash of the line before it"
	}
	if why := v.keys.check(cp.Key, cp.Sig, CheckpointMessage(ev.Stream, cp.Seq, cp.ChainHead), v.latest); why != "" {
		return why
	}
	v.useKey(cp.Key)
	return ""
}

// latest is the later of a and b.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (v *verification) useKey(fp string) {
	for _, k := range v.report.Keys {
		if k == fp {
			return
		}
	}
	v.report.Keys = append(v.report.Keys, fp)
}

func (v *verification) lineError(i int, reason string) *VerifyError {
	return &VerifyError{Stream: v.streamName(), Line: i + 1, Seq: v.events[i].Seq, Reason: reason}
}

func (v *verification) chainError(err error) error {
	var ce *ChainError
	if !errors.As(err, &ce) {
		return err
	}
	reason := ce.Reason
	if ce.Line == len(v.lines) && strings.HasPrefix(reason, "recorder: decode") {
		reason = "the last line is cut short or garbled (truncated, or the recorder crashed mid-write): " + reason
	}
	return &VerifyError{Stream: v.streamName(), Line: ce.Line, Seq: ce.Seq, Reason: reason}
}

func (v *verification) incomplete() error {
	e := &VerifyError{Stream: v.streamName(), Line: len(v.events), Incomplete: true}
	if n := len(v.events); n > 0 {
		e.Seq = v.events[n-1].Seq
	}
	e.Reason = fmt.Sprintf("no manifest: the session was not closed — it is still open (as a running CA's stream is), "+
		"or the recorder crashed; %d events chain correctly, and signed checkpoints cover the first %d of them", len(v.events), v.report.Signed)
	return e
}

// checkManifest compares the verified manifest with the verified lines.
// The times are not compared: they are signed where they stand, and a
// wall clock that steps back would make an honest recording look forged.
func (v *verification) checkManifest() error {
	m, n := v.manifest, uint64(len(v.events))
	switch {
	case m.Events > 0 && (m.FirstSeq != 0 || m.LastSeq != m.Events-1):
		return &VerifyError{Stream: m.Stream, Reason: fmt.Sprintf("seq %d to %d do not make %d events", m.FirstSeq, m.LastSeq, m.Events)}
	case n > 0 && m.Stream != v.events[0].Stream:
		return &VerifyError{Stream: v.events[0].Stream, Reason: fmt.Sprintf("it is the manifest of stream %s", m.Stream)}
	case m.Events > n && n == 0:
		return &VerifyError{Stream: m.Stream, Reason: fmt.Sprintf("the stream is empty, but its manifest counts %d events: truncated", m.Events)}
	case m.Events > n:
		return v.lineError(int(n-1), fmt.Sprintf("the stream ends here, but its manifest says the last event is seq %d: truncated", m.LastSeq))
	case m.Events < n:
		return v.lineError(int(m.Events), fmt.Sprintf("this event comes after the last one the manifest counts (%d events): added after the stream was closed", m.Events))
	case n == 0 && m.ChainHead != GenesisHash:
		return &VerifyError{Stream: m.Stream, Reason: "the stream is empty, but the manifest's chain head is not the genesis hash"}
	case n > 0 && m.ChainHead != LineHash(v.lines[n-1]):
		return v.lineError(int(n-1), "the hash of the last line is not the manifest's chain head: the line was changed")
	}
	counts := map[string]uint64{}
	for _, ev := range v.events {
		counts[string(ev.Type)]++
	}
	if !maps.Equal(counts, m.Counts) {
		return &VerifyError{Stream: m.Stream, Reason: fmt.Sprintf("event counts %v do not match the stream's %v", m.Counts, counts)}
	}
	return nil
}

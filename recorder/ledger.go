package recorder

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// The ledger is what a recorder knows of how far each of its streams
// reached, kept outside the streams themselves, so that a stream cut
// short (its last checkpoints and its end removed, its manifest deleted)
// cannot pass for one a crash cut short: Recover refuses to sign a
// manifest for it, and Verify reports it. Each process that records
// (gatehouse serve) writes its marks to a stream of its own, of kind
// KindLedger, hash-chained, checkpointed and closed with a signed
// manifest like any other, and uploaded with the others (with the S3
// store, into the locked bucket within the chunk interval): what one can
// write to the spool can cut a stream there, but cannot take back marks
// already in the bucket. docs/recording-format.md, "The ledger", says
// what it does and does not protect against.
const KindLedger = "ledger"

// A ledger's events are event.LedgerMark payloads of types
// event.TypeStreamOpen (a stream registered when it is opened),
// event.TypeStreamCheckpoint (a stream's checkpoint, once durable) and
// event.TypeStreamClosed (a stream closed with its manifest).

// OpenLedger starts the ledger of this recorder's streams: every stream
// Open returns from now on is registered in it, its checkpoints are
// marked once durable, and its close once its manifest is stored. Call
// it once, before Open; CloseLedger closes it.
func (r *Recorder) OpenLedger() error {
	s, err := r.Open(KindLedger)
	if err != nil {
		return fmt.Errorf("recorder: open the ledger: %w", err)
	}
	r.marks = s
	return nil
}

// CloseLedger closes the ledger, if one is open; streams still open are
// marked in it no more.
func (r *Recorder) CloseLedger() error {
	if r.marks == nil {
		return nil
	}
	return r.marks.Close()
}

// Ledgers are the marks of every ledger in a store, by stream.
type Ledgers struct {
	marks map[string]*streamMarks // by kind/id
	// broken is the first ledger that does not verify against its own
	// manifest and signatures, and why: marks may have been cut from it,
	// so no stream short of a manifest of its own can be trusted.
	broken error
}

// streamMarks are the marks of one stream: the ledger that registered
// it, its furthest checkpoint, and its close.
type streamMarks struct {
	ledger     string
	opened     *Opening
	checkpoint *event.LedgerMark
	closed     *event.LedgerMark
}

// LedgerSource lists and reads streams: a FileStore, or the S3 bucket.
type LedgerSource interface {
	VerifySource
	List(kind string) ([]string, error)
}

// ReadLedgers reads every ledger in src. Each ledger's marks are taken as
// far as its chain is intact; a forged mark can only make an intact
// stream look cut (a false alarm), never the reverse. With keys, each
// ledger is also verified as a stream: one that fails (cut short of its
// manifest, say) makes Check fail every stream that lacks a manifest of
// its own or was recovered, and Recover recover none.
func ReadLedgers(src LedgerSource, keys ...ed25519.PublicKey) (*Ledgers, error) {
	return Trust(keys...).ReadLedgers(src)
}

// ReadLedgers is the package's ReadLedgers, the ledgers verified with
// the ring's keys (without keys, not verified).
func (r *Keyring) ReadLedgers(src LedgerSource) (*Ledgers, error) {
	ids, err := src.List(KindLedger)
	if err != nil {
		return nil, fmt.Errorf("recorder: list the ledgers: %w", err)
	}
	l := &Ledgers{marks: map[string]*streamMarks{}}
	for _, id := range ids {
		lines, err := src.Lines(KindLedger, id)
		if err != nil {
			return nil, fmt.Errorf("recorder: read ledger %s: %w", id, err)
		}
		events, _ := VerifyChain(lines)
		for _, ev := range events {
			l.add(id, ev)
		}
		if r.Len() == 0 || l.broken != nil {
			continue
		}
		if _, err := r.VerifyStored(src, KindLedger, id); err != nil && !errors.Is(err, ErrIncomplete) {
			l.broken = fmt.Errorf("ledger %s does not verify, so marks may have been cut from it: %w", id, err)
		}
	}
	return l, nil
}

func (l *Ledgers) add(ledger string, ev Event) {
	var m event.LedgerMark
	if ev.DecodeData(&m) != nil || m.Stream == "" {
		return
	}
	key := m.Kind + "/" + m.Stream
	sm := l.marks[key]
	if sm == nil {
		sm = &streamMarks{ledger: ledger}
		l.marks[key] = sm
	}
	switch ev.Type {
	case event.TypeStreamOpen:
		if sm.opened == nil {
			sm.opened = &Opening{Kind: m.Kind, Stream: m.Stream, Ledger: ledger, Seq: ev.Seq, Time: ev.Time}
		}
	case event.TypeStreamCheckpoint:
		if sm.checkpoint == nil || m.Seq > sm.checkpoint.Seq {
			sm.checkpoint = &m
		}
	case event.TypeStreamClosed:
		sm.closed = &m
	}
}

// Registered names the ledger that registered the stream, "" if none.
func (l *Ledgers) Registered(kind, id string) string {
	if sm := l.marks[kind+"/"+id]; sm != nil {
		return sm.ledger
	}
	return ""
}

// Opening is a ledger's stream.open mark: the stream it registered, and
// the ledger line that registers it.
type Opening struct {
	Kind, Stream string
	Ledger       string // the ledger's stream id
	Seq          uint64 // the stream.open event's seq in that ledger
	Time         time.Time
}

// Opened is every stream of kind the ledgers registered as opened, by
// time, then in each ledger's order: what the store should hold, whatever
// it lists.
func (l *Ledgers) Opened(kind string) []Opening {
	var out []Opening
	for _, sm := range l.marks {
		if o := sm.opened; o != nil && o.Kind == kind {
			out = append(out, *o)
		}
	}
	slices.SortFunc(out, func(a, b Opening) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Ledger, b.Ledger); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return out
}

// Check compares a stream's lines and manifest (nil when it has none,
// or it did not verify) with its marks, and says, as a *VerifyError, how
// the stream falls short of them: it was closed, but has no manifest or
// one Recover wrote; it ends before a checkpoint that was durable; or its
// recovered manifest names a ledger that is not there.
func (l *Ledgers) Check(kind, id string, lines [][]byte, m *Manifest) error {
	if l.broken != nil && (m == nil || m.Recovered != nil) {
		return &VerifyError{Stream: id, Reason: "nothing shows how far this stream reached: " + l.broken.Error()}
	}
	sm := l.marks[kind+"/"+id]
	if sm == nil {
		if m != nil && m.Recovered != nil && m.Recovered.Ledger != "" {
			// Not verified, and not failed: the ledger, closed by the same
			// recovery, may be on its way to the bucket.
			return &VerifyError{Stream: id, Incomplete: true, Reason: fmt.Sprintf("recovered after a crash as ledger %s had it, but that ledger is not here (yet?) or does not register it: "+
				"nothing shows that only the unsigned tail of a crash is missing", m.Recovered.Ledger)}
		}
		return nil
	}
	if c := sm.closed; c != nil && (m == nil || m.Recovered != nil || m.Events != c.Events || m.ChainHead != c.Hash) {
		return &VerifyError{Stream: id, Reason: fmt.Sprintf("ledger %s records the stream closed with %d events (chain head %s), "+
			"but %s: it was cut and its manifest removed or replaced", sm.ledger, c.Events, c.Hash, l.describe(m, len(lines)))}
	}
	if c := sm.checkpoint; c != nil && (uint64(len(lines)) <= c.Seq || LineHash(lines[c.Seq]) != c.Hash) {
		return &VerifyError{Stream: id, Line: len(lines), Seq: uint64(max(len(lines)-1, 0)), Reason: fmt.Sprintf("truncated: ledger %s records a checkpoint at seq %d (line hash %s), "+
			"but the stream has %d events and not that one", sm.ledger, c.Seq, c.Hash, len(lines))}
	}
	return nil
}

// allowRecovery says whether Recover may close a stream of these lines
// as a crash's, and names the ledger that shows it: only a stream a
// ledger registered, that was not closed, and that holds every durable
// checkpoint the ledger marked, so that what it lacks can only be the
// unsigned tail the crash lost.
func (l *Ledgers) allowRecovery(kind, id string, lines [][]byte) (string, error) {
	if l.broken != nil {
		return "", fmt.Errorf("left without a manifest for verify to report: %w", l.broken)
	}
	ledger := l.Registered(kind, id)
	if ledger == "" {
		return "", errors.New("no ledger registers this stream, so nothing shows that only the unsigned tail of a crash is missing; " +
			"left without a manifest for verify to report")
	}
	if err := l.Check(kind, id, lines, nil); err != nil {
		return "", fmt.Errorf("not a crash's damage, left as it is for verify to report: %w", err)
	}
	return ledger, nil
}

// describe says what stands of a stream, for Check's errors.
func (l *Ledgers) describe(m *Manifest, lines int) string {
	switch {
	case m == nil:
		return fmt.Sprintf("it has %d events and no manifest", lines)
	case m.Recovered != nil:
		return fmt.Sprintf("its manifest, of %d events, was written by recovery as if it had crashed", m.Events)
	}
	return fmt.Sprintf("its manifest counts %d events (chain head %s)", m.Events, m.ChainHead)
}

// VerifyStoredWith is VerifyStored, then the stream checked against the
// ledgers (Ledgers.Check) unless it failed already.
func VerifyStoredWith(src VerifySource, ledgers *Ledgers, kind, id string, keys ...ed25519.PublicKey) (*Report, error) {
	return Trust(keys...).VerifyStoredWith(src, ledgers, kind, id)
}

// VerifyStoredWith is the package's VerifyStoredWith with the ring's keys.
func (r *Keyring) VerifyStoredWith(src VerifySource, ledgers *Ledgers, kind, id string) (*Report, error) {
	rep, lines, err := r.verifyStored(src, kind, id)
	if ledgers == nil || (err != nil && !errors.Is(err, ErrIncomplete)) || errors.Is(err, fs.ErrNotExist) {
		return rep, err
	}
	if lerr := ledgers.Check(kind, id, lines, rep.Manifest); lerr != nil {
		return rep, lerr
	}
	return rep, err
}

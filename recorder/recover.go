package recorder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"github.com/gatehouse-dev/gatehouse/recorder/journal"
)

// Recovered is one stream Recover closed.
type Recovered struct {
	Kind, ID string
	Manifest Manifest
}

// Recover closes every stream of kind in fs that has no manifest and that
// no process holds open (a FileStore stream is locked while it is
// written): the process that wrote it died. The stream keeps its longest
// valid prefix (a last line cut short by the crash is dropped, and the
// manifest says so) and gets a signed manifest with end reason
// EndRecovered. What is not a crash's work is left for Verify to report,
// and named in the error: a chain broken before its last line; and,
// against the ledgers in fs (ledger.go), a stream no ledger registered
// (nothing would show what it lost), one that was closed (its manifest
// was removed), or one that ends before a checkpoint that was durable.
// Ledgers themselves are recovered on the chain alone.
func (r *Recorder) Recover(fs FileStore, kind string) ([]Recovered, error) {
	sign, err := newSigner(r.Signer)
	if err != nil || sign == nil {
		return nil, errors.Join(err, errors.New("recorder: recover: a Signer is required"))
	}
	ids, err := fs.List(kind)
	if err != nil {
		return nil, err
	}
	var ledgers *Ledgers
	if kind != KindLedger {
		if ledgers, err = ReadLedgers(fs, sign.pub); err != nil {
			return nil, fmt.Errorf("recorder: recover: %w", err)
		}
	}
	var done []Recovered
	var errs []error
	for _, id := range ids {
		m, err := r.recoverOne(fs, sign, ledgers, kind, id)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("recorder: recover %s/%s: %w", kind, id, err))
		case m != nil:
			done = append(done, Recovered{Kind: kind, ID: id, Manifest: *m})
		}
	}
	return done, errors.Join(errs...)
}

// recoverOne closes one stream if it needs it; nil, nil when it does not.
func (r *Recorder) recoverOne(fs FileStore, sign *signer, ledgers *Ledgers, kind, id string) (*Manifest, error) {
	if _, err := os.Stat(fs.manifestPath(kind, id)); !errors.Is(err, os.ErrNotExist) {
		return nil, err // closed already (or unreadable)
	}
	f, err := os.OpenFile(filepath.Join(fs.Dir, kind, id+".jsonl"), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if held, err := lockStream(f); err != nil || held {
		return nil, err // a live process writes it
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	keep, lines, err := validPrefix(data)
	if err != nil {
		return nil, err
	}
	m, err := r.recoveredManifest(id, kind, lines)
	if err != nil {
		return nil, err
	}
	if ledgers != nil {
		if m.Recovered.Ledger, err = ledgers.allowRecovery(kind, id, lines); err != nil {
			return nil, err
		}
	}
	if torn := data[keep:]; len(torn) > 0 {
		sum := sha256.Sum256(torn)
		m.Recovered.TornTailBytes, m.Recovered.TornTailSHA256 = len(torn), hex.EncodeToString(sum[:])
		if err := f.Truncate(int64(keep)); err != nil {
			return nil, fmt.Errorf("drop the torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	signed, err := sign.signManifest(*m)
	if err != nil {
		return nil, err
	}
	if err := privatefile.Create(fs.manifestPath(kind, id), signed); err != nil {
		return nil, fmt.Errorf("write manifest: %w", err)
	}
	return m, nil
}

// lockStream takes a stream file's lock; held is true when another
// process has it. The lock ends when the file is closed or its process
// dies, however it dies.
func lockStream(f *os.File) (held bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return false, nil
}

// validPrefix splits a stream into its lines and says how many bytes of
// it form a valid chain. Only the last line may be invalid (cut short or
// garbled by the crash): a break before it is an error.
func validPrefix(data []byte) (keep int, lines [][]byte, err error) {
	for rest := data; len(rest) > 0; {
		line, after, found := bytes.Cut(rest, []byte("\n"))
		if !found {
			break // the last write was cut short
		}
		lines = append(lines, line)
		rest = after
	}
	_, chainErr := VerifyChain(lines)
	var ce *ChainError
	switch {
	case chainErr == nil:
	case errors.As(chainErr, &ce) && ce.Line == len(lines):
		lines = lines[:len(lines)-1]
	default:
		return 0, nil, fmt.Errorf("not a crash's damage, left as it is for verify to report: %w", chainErr)
	}
	for _, l := range lines {
		keep += len(l) + 1
	}
	return keep, lines, nil
}

// recoveredManifest is the manifest of the lines a crash left.
func (r *Recorder) recoveredManifest(id, kind string, lines [][]byte) (*Manifest, error) {
	l := ledger{counts: map[string]uint64{}}
	if t, ok := IDTime(id); ok {
		l.opened = t
	}
	m := &Manifest{V: SchemaVersion, Stream: id, Kind: kind, ChainHead: GenesisHash, EndReason: EndRecovered,
		Recovered: &Recovery{At: r.now().UTC()}}
	for i, line := range lines {
		ev, err := Decode(line)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			l.opened = ev.Time
		}
		if ev.Type == event.TypeCheckpoint {
			m.Recovered.Checkpointed = ev.Seq
		}
		l.note(ev.Type, ev.Data)
		m.End, m.LastSeq, m.ChainHead = ev.Time, ev.Seq, LineHash(line)
	}
	m.Events, m.Counts, m.Identity, m.Start = uint64(len(lines)), l.counts, l.identity, l.opened.UTC()
	m.Recovered.SessionEnd = l.endReason
	if m.End.IsZero() {
		m.End = m.Start
	}
	return m, nil
}

// RecoverJournal completes, from the journal an earlier run of fs's
// journal left (fs.Journal, just opened), every stream file that lost
// lines the journal made durable (a crash of the machine before the file
// was synced): the file is made to hold each journaled line at its
// offset, what is missing appended and what is there checked byte for
// byte. A file that differs from its journal, or lacks the lines before a
// journaled one, is named in the error and left as it is, never
// overwritten. Once every stream is whole, the earlier segments are
// removed; after an error they all stay, for the next start. It returns
// the streams it completed, as KIND/ID. Run it before Recover, which then
// closes the completed streams like any other a crash left open.
func RecoverJournal(fs FileStore) ([]string, error) {
	if fs.Journal == nil {
		return nil, errors.New("recorder: recover the journal: the store has none")
	}
	segs, err := journal.Read(fs.Journal.j.Dir(), fs.Journal.j.First())
	errs := []error{err}
	pending, order := journaledLines(segs)
	var done []string
	for _, key := range order {
		n, err := completeStream(fs, key.kind, key.stream, pending[key])
		if err != nil {
			errs = append(errs, fmt.Errorf("recorder: recover %s/%s from the journal: %w", key.kind, key.stream, err))
		} else if n > 0 {
			done = append(done, key.kind+"/"+key.stream)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return done, err
	}
	return done, journal.Remove(segs)
}

type streamRef struct{ kind, stream string }

// journaledLines returns, for each stream, the lines its file may not
// hold durably: those past the last Durable record.
func journaledLines(segs []journal.Segment) (map[streamRef][]journal.Record, []streamRef) {
	lines := map[streamRef][]journal.Record{}
	durable := map[streamRef]int64{}
	var order []streamRef
	for _, seg := range segs {
		for _, r := range seg.Records {
			key := streamRef{r.Kind, r.Stream}
			if _, seen := lines[key]; !seen {
				order = append(order, key)
				lines[key] = nil
			}
			if r.Durable {
				durable[key] = max(durable[key], r.Offset)
			} else {
				lines[key] = append(lines[key], r)
			}
		}
	}
	for key, recs := range lines {
		kept := recs[:0]
		for _, r := range recs {
			if r.Offset+int64(len(r.Line))+1 > durable[key] {
				kept = append(kept, r)
			}
		}
		lines[key] = kept
	}
	return lines, order
}

// completeStream makes one stream's file hold lines at their offsets and
// returns how many bytes it added.
func completeStream(fs FileStore, kind, id string, lines []journal.Record) (int64, error) {
	if len(lines) == 0 {
		return 0, nil
	}
	if err := errors.Join(checkName(kind), checkName(id)); err != nil {
		return 0, err
	}
	dir := filepath.Join(fs.Dir, kind)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(filepath.Join(dir, id+".jsonl"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if held, err := lockStream(f); err != nil || held {
		return 0, errors.Join(err, errors.New("a live process holds it"))
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, err
	}
	size := int64(len(data))
	for _, r := range lines {
		if data, err = completeLine(f, data, r); err != nil {
			return 0, err
		}
	}
	added := int64(len(data)) - size
	if added == 0 {
		return 0, nil
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return added, privatefile.SyncDir(dir) // the file may be new
}

// completeLine checks the part of r's line that data holds and writes the
// rest; it returns the file's bytes after it.
func completeLine(f *os.File, data []byte, r journal.Record) ([]byte, error) {
	want := append(append([]byte(nil), r.Line...), '\n')
	if r.Offset > int64(len(data)) {
		return nil, fmt.Errorf("the file ends at %d, before the journal's line at %d: lines are missing that the journal does not hold", len(data), r.Offset)
	}
	have := data[r.Offset:min(int64(len(data)), r.Offset+int64(len(want)))]
	if !bytes.Equal(have, want[:len(have)]) {
		return nil, fmt.Errorf("the file differs from the journal in the line at offset %d; left as it is", r.Offset)
	}
	rest := want[len(have):]
	if len(rest) == 0 {
		return data, nil
	}
	if _, err := f.WriteAt(rest, int64(len(data))); err != nil {
		return nil, fmt.Errorf("complete the line at %d: %w", r.Offset, err)
	}
	return append(data, rest...), nil
}

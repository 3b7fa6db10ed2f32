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

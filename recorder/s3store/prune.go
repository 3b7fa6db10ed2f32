package s3store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// pruneOrder is the order in which an uploaded stream's spool files are
// removed. The stream file goes first: recorder.Recover closes a stream
// file that has no manifest, so a crash must never leave one behind
// without it. The marker goes last: it is how the next pass finds a
// stream a crash left half removed, and while it is there Scan does not
// queue the stream again. A stream with no stream file is invisible to
// Scan and Recover (both list KIND/*.jsonl), so a half-removed one is
// neither uploaded again nor recovered, only finished by the next pass.
var pruneOrder = []string{".jsonl", ".manifest.json", ProgressSuffix, UploadedSuffix}

// Prune removes from the spool every stream whose .uploaded marker was
// written at least KeepUploaded[kind] before now, and returns how many it
// removed. A stream without a marker, one of a kind KeepUploaded does not
// name, and one this Uploader has open are never removed. A failure with
// one stream does not stop the others; the error joins every failure.
func (u *Uploader) Prune(now time.Time) (int, error) {
	n := 0
	var errs []error
	for _, kind := range []string{recorder.KindSession, recorder.KindCA, recorder.KindLedger, recorder.KindConsole} {
		keep, ok := u.KeepUploaded[kind]
		if !ok {
			continue
		}
		pruned, err := u.pruneKind(kind, now.Add(-keep))
		n += pruned
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// pruneKind removes the streams of kind marked uploaded at or before
// cutoff, one step of pruneOrder at a time for all of them, each step
// made durable before the next so that a crash leaves only what the next
// pass can finish.
func (u *Uploader) pruneKind(kind string, cutoff time.Time) (int, error) {
	dir := filepath.Join(u.Spool.Dir, kind)
	ids, err := u.uploadedBefore(dir, kind, cutoff)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	var errs []error
	for i, suffix := range pruneOrder {
		ids = removeEach(dir, ids, suffix, &errs)
		if i == len(pruneOrder)-1 {
			break // a marker that comes back after a crash is removed again
		}
		if err := privatefile.SyncDir(dir); err != nil {
			// Unsynced, the next step could reach the disk before this
			// one: stop here and let the next pass go on.
			errs = append(errs, fmt.Errorf("s3store: prune %s: %w", dir, err))
			return 0, errors.Join(errs...)
		}
	}
	return len(ids), errors.Join(errs...)
}

// uploadedBefore lists the streams of dir whose marker is dated at or
// before cutoff and that this Uploader does not have open.
func (u *Uploader) uploadedBefore(dir, kind string, cutoff time.Time) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("s3store: prune: list %s: %w", dir, err)
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), UploadedSuffix)
		if !ok || id == "" || strings.HasPrefix(id, ".") || !e.Type().IsRegular() || u.isOpen(kind, id) {
			continue
		}
		// An entry that cannot be read now is tried again at the next pass.
		if info, err := e.Info(); err == nil && !info.ModTime().After(cutoff) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// isOpen says whether the Uploader has the stream in hand: being written,
// or closed and not yet uploaded.
func (u *Uploader) isOpen(kind, id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.streams[[2]string{kind, id}]
	return ok
}

// removeEach removes DIR/ID+suffix for each id (one already gone counts
// as removed) and returns the ids it removed; the others are left for
// the next pass, their failures added to errs.
func removeEach(dir string, ids []string, suffix string, errs *[]error) []string {
	done := ids[:0]
	for _, id := range ids {
		err := os.Remove(filepath.Join(dir, id+suffix))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			*errs = append(*errs, fmt.Errorf("s3store: prune %s: %w", id, err))
			continue
		}
		done = append(done, id)
	}
	return done
}

// prune is Run's pruning pass: it logs, once per pass, what it removed and
// what it could not.
func (u *Uploader) prune(now time.Time) {
	if len(u.KeepUploaded) == 0 {
		return
	}
	n, err := u.Prune(now)
	if n > 0 {
		u.log().Info("recording spool: removed streams uploaded long enough ago", "dir", u.Spool.Dir, "count", n)
	}
	if err != nil {
		u.log().Warn("recording spool: removing uploaded streams failed; retried at the next pass", "dir", u.Spool.Dir, "error", err)
	}
}

package pgstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/ca"
)

// channel is the LISTEN/NOTIFY channel an append notifies, in the
// transaction that inserts the entries (PostgreSQL NOTIFY: delivered when
// it commits, never before).
const channel = "gatehouse_revocations"

// DefaultPoll is how often a watcher reads the list while it cannot
// listen: a revocation still reaches it within about a second.
const DefaultPoll = time.Second

// resync is how often a listening watcher reads the list anyway, in case
// a notification was lost to a connection that failed unnoticed.
const resync = 30 * time.Second

// Revocations is the revocation list of a Store: ca.RevocationWriter, and
// Watch, which keeps a ca.RevocationList current.
type Revocations struct {
	s *Store
	// Poll is how often Watch reads the list while it cannot listen;
	// 0 means DefaultPoll.
	Poll time.Duration

	listening atomic.Bool
}

// Listening reports whether Watch holds a connection listening for
// revocations now; false while it polls (or before it first listens).
func (v *Revocations) Listening() bool { return v.listening.Load() }

var _ ca.RevocationWriter = (*Revocations)(nil)

// Where names the list for operators.
func (v *Revocations) Where() string { return "the shared state database (state.store: postgres)" }

// Append adds rs, in one transaction that notifies every watcher.
// An entry already in the list (the same JSON) is not added twice.
func (v *Revocations) Append(rs ...ca.Revocation) error {
	_, err := v.add(rs)
	return err
}

// Import adds those of rs the list lacks, and reports how many it added
// (`gatehouse state import`).
func (v *Revocations) Import(rs ...ca.Revocation) (int, error) { return v.add(rs) }

func (v *Revocations) add(rs []ca.Revocation) (int, error) {
	added := 0
	err := v.s.inTx("revocations", "add revocations", func(ctx context.Context, tx pgx.Tx) error {
		for _, r := range rs {
			if err := r.Validate(); err != nil {
				return fmt.Errorf("%w: revocation %s: %w", errStored, r, err)
			}
			doc, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("%w: revocation %s: %w", errStored, r, err)
			}
			digest := sha256.Sum256(doc)
			tag, err := tx.Exec(ctx, `INSERT INTO gatehouse_revocations (entry, digest) VALUES ($1, $2)
				ON CONFLICT (digest) DO NOTHING`, doc, hex.EncodeToString(digest[:]))
			if err != nil {
				return err
			}
			added += int(tag.RowsAffected())
		}
		if added == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, channel)
		return err
	}, nil)
	return added, err
}

// Load reads the whole list, oldest entry first.
func (v *Revocations) Load(ctx context.Context) ([]ca.Revocation, error) {
	out, err := queryJSON[ca.Revocation](ctx, v.s, "revocations", "read the revocation list", `SELECT entry FROM gatehouse_revocations ORDER BY id`)
	if err != nil {
		return nil, err
	}
	for _, r := range out {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("pgstate: read the revocation list: %w: %s: %w", errStored, r, err)
		}
	}
	return out, nil
}

// Refresh reads the list into list, and reports whether it grew.
func (v *Revocations) Refresh(ctx context.Context, list *ca.RevocationList) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, v.s.timeout())
	defer cancel()
	entries, err := v.Load(ctx)
	if err != nil {
		return false, err
	}
	return list.Set(entries), nil
}

// Watch keeps list current until ctx ends, calling onChange after it
// grows. It listens on the channel and reads the list on each
// notification; while it cannot (the database is down, its connection
// was closed), it reads the list every Poll and tries to listen again, so
// it recovers on its own. list keeps its entries meanwhile: a replica
// that has lost the database still enforces what it last read. Failures
// are logged once until the watcher recovers.
func (v *Revocations) Watch(ctx context.Context, list *ca.RevocationList, log *slog.Logger, onChange func()) {
	w := watcher{v: v, list: list, log: log, onChange: onChange}
	for ctx.Err() == nil {
		err := w.listen(ctx)
		v.listening.Store(false)
		if ctx.Err() != nil {
			return
		}
		v.s.failed("watch", err)
		w.failed("listening for revocations failed; reading the list every poll until it works again", err)
		w.refresh(ctx)
		w.sleep(ctx)
	}
}

type watcher struct {
	v        *Revocations
	list     *ca.RevocationList
	log      *slog.Logger
	onChange func()
	lastErr  string
}

// listen holds one connection listening on the channel, and returns when
// it fails.
func (w *watcher) listen(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, w.v.s.timeout())
	conn, err := w.v.s.pool.Acquire(actx)
	cancel()
	if err != nil {
		return err
	}
	// A listening connection must not go back to the pool: it would
	// carry the LISTEN and its queued notifications to another user.
	own := conn.Hijack()
	defer own.Close(context.Background())
	lctx, cancel := context.WithTimeout(ctx, w.v.s.timeout())
	_, err = own.Exec(lctx, "LISTEN "+channel)
	cancel()
	if err != nil {
		return err
	}
	// Anything appended while nothing listened is read now.
	if err := w.refresh(ctx); err != nil {
		return err
	}
	w.v.listening.Store(true)
	if w.lastErr != "" {
		w.log.Info("listening for revocations again")
		w.lastErr = ""
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, resync)
		_, err := own.WaitForNotification(wctx)
		resynced := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !resynced {
			return err
		}
		if err := w.refresh(ctx); err != nil {
			return err
		}
	}
}

// refresh reads the list and calls onChange if it grew.
func (w *watcher) refresh(ctx context.Context) error {
	grew, err := w.v.Refresh(ctx, w.list)
	if err != nil {
		w.failed("the revocation list could not be read; enforcing the entries read before", err)
		return err
	}
	if grew {
		w.onChange()
	}
	return nil
}

// failed logs err unless it is the failure logged last.
func (w *watcher) failed(msg string, err error) {
	if err == nil || err.Error() == w.lastErr {
		return
	}
	w.lastErr = err.Error()
	w.log.Error(msg, "error", err)
}

func (w *watcher) sleep(ctx context.Context) {
	poll := w.v.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	t := time.NewTimer(poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

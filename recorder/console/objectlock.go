package console

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// ObjectLocks reads the Object Lock of a store's objects at the time of
// asking: the S3 store (*s3store.Client) is one. A directory store has
// none.
type ObjectLocks interface {
	// Objects are the names of every object of a stream, in order.
	Objects(ctx context.Context, kind, id string) ([]string, error)
	// Retention is an object's mode (GOVERNANCE or COMPLIANCE) and
	// retain-until date: "" and the zero time when it has none.
	Retention(ctx context.Context, key string) (mode string, until time.Time, err error)
	// LegalHold says whether the object is under a legal hold.
	LegalHold(ctx context.Context, key string) (bool, error)
}

// lockPanel is the Object Lock of a session's objects, as read when the
// page was made.
type lockPanel struct {
	Status  string // locked, NOT SHOWN LOCKED, or that the store has none
	Read    string // when the bucket was asked, UTC
	Objects []lockRow
	// Problems are the exceptions: an object not locked, or whose lock
	// could not be read. Locked is never said while there is one.
	Problems []string
}

// lockRow is one object's lock.
type lockRow struct {
	Key, Mode, Until, LegalHold, Problem string
}

// Statuses of the Object Lock panel.
const (
	lockNone   = "no Object Lock (directory store)"
	lockOK     = "locked"
	lockFailed = "NOT SHOWN LOCKED"
)

// lockPanel reads the lock of every object of session id. Anything that
// cannot be read, an object without retention and one whose retention
// has ended are problems: the page says locked only when every object
// was read locked (fail closed).
func (c *Console) lockPanel(ctx context.Context, id string) lockPanel {
	if c.cfg.Locks == nil {
		return lockPanel{Status: lockNone}
	}
	now := c.cfg.Clock()
	p := lockPanel{Status: lockOK, Read: utc(now)}
	keys, err := c.cfg.Locks.Objects(ctx, recorder.KindSession, id)
	switch {
	case err != nil:
		p.Problems = append(p.Problems, "the session's objects could not be listed: "+err.Error())
	case len(keys) == 0:
		p.Problems = append(p.Problems, "the bucket holds no object of this session")
	}
	p.Objects = c.lockRows(ctx, keys, now)
	for _, row := range p.Objects {
		if row.Problem != "" {
			p.Problems = append(p.Problems, row.Key+": "+row.Problem)
		}
	}
	if len(p.Problems) > 0 {
		p.Status = lockFailed
	}
	return p
}

// lockReaders is how many objects' locks are read at once: a long
// session has a chunk every few seconds, and each object takes two
// requests.
const lockReaders = 8

// lockRows reads the lock of each key, lockReaders at a time, in the
// keys' order.
func (c *Console) lockRows(ctx context.Context, keys []string, now time.Time) []lockRow {
	rows := make([]lockRow, len(keys))
	slots := make(chan struct{}, lockReaders)
	var wg sync.WaitGroup
	for i, key := range keys {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			rows[i] = c.lockRow(ctx, key, now)
		})
	}
	wg.Wait()
	return rows
}

// lockRow reads one object's retention and legal hold as of now.
func (c *Console) lockRow(ctx context.Context, key string, now time.Time) lockRow {
	row := lockRow{Key: key}
	mode, until, err := c.cfg.Locks.Retention(ctx, key)
	switch {
	case err != nil:
		row.Problem = "its retention could not be read: " + err.Error()
	case mode == "" || until.IsZero():
		row.Problem = "no retention: it can be deleted or replaced"
	case !until.After(now):
		row.Mode, row.Until = strings.ToUpper(mode), utc(until)
		row.Problem = fmt.Sprintf("its retention ended at %s: it can be deleted", utc(until))
	default:
		row.Mode, row.Until = strings.ToUpper(mode), utc(until)
	}
	hold, err := c.cfg.Locks.LegalHold(ctx, key)
	switch {
	case err != nil:
		row.LegalHold = "unknown"
		if row.Problem == "" {
			row.Problem = "its legal hold could not be read: " + err.Error()
		}
	case hold:
		row.LegalHold = "legal hold"
	}
	return row
}

package pgsession

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// lineagePool shares one lineage connection per target, database and
// upstream user among the masked sessions that read it, instead of one
// each: a masked session holds one backend of the database, its own, and
// the database's max_connections is not spent twice. Nothing on the shared
// connection depends on a session: every lookup names its schemas
// (candidates of the session's search_path, read from the session itself),
// and view definitions are read under SET LOCAL search_path = ”. An entry
// lives while a session holds it; the last to let go closes the
// connection, so the pool holds nothing once every session has ended.
type lineagePool struct {
	mu      sync.Mutex
	entries map[string]*sharedLineage
}

// sharedLineage is one shared lineage connection. One lookup uses it at a
// time (use, a one-slot semaphore, so that a waiting session's ctx still
// ends its wait).
type sharedLineage struct {
	key  string
	refs int // sessions holding it; lineagePool.mu
	cfg  *pgconn.Config
	use  chan struct{}
	// Under use: the connection, or an opening started with the first
	// session (so that its first statement does not wait for a
	// connection and its authentication).
	opening *lineageOpening
	conn    *pgconn.PgConn
}

// acquire returns key's shared connection, opening it in the background
// for the first session; release must be called once when the session
// ends.
func (p *lineagePool) acquire(ctx context.Context, key string, cfg *pgconn.Config) *sharedLineage {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries == nil {
		p.entries = map[string]*sharedLineage{}
	}
	l := p.entries[key]
	if l == nil {
		l = &sharedLineage{key: key, cfg: cfg, use: make(chan struct{}, 1), opening: openLineage(ctx, cfg)}
		p.entries[key] = l
	}
	l.refs++
	return l
}

// release lets go of l; the last session closes its connection. No lookup
// can be running then: every session that could run one holds it.
func (p *lineagePool) release(l *sharedLineage) {
	p.mu.Lock()
	l.refs--
	last := l.refs == 0
	if last {
		delete(p.entries, l.key)
	}
	p.mu.Unlock()
	if !last {
		return
	}
	if l.opening != nil {
		l.opening.abandon()
	}
	if l.conn != nil {
		l.conn.Close(context.Background())
	}
}

// size is how many shared connections are held (for tests).
func (p *lineagePool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// do runs f on the connection, connecting first if need be, one caller at
// a time. A connection that f leaves broken is dropped; the next caller
// connects again.
func (l *sharedLineage) do(ctx context.Context, f func(*pgconn.PgConn) error) error {
	select {
	case l.use <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the lineage connection: %w", context.Cause(ctx))
	}
	defer func() { <-l.use }()
	if err := l.connect(ctx); err != nil {
		return err
	}
	err := f(l.conn)
	if l.conn.IsClosed() {
		l.conn = nil
	}
	return err
}

// connect makes sure l.conn is up; under use.
func (l *sharedLineage) connect(ctx context.Context) error {
	if l.conn != nil {
		return nil
	}
	if l.opening != nil {
		cat, finished := l.opening.take(ctx)
		if !finished {
			return fmt.Errorf("connecting to read the catalog: %w", context.Cause(ctx))
		}
		l.opening = nil
		if cat != nil {
			l.conn = cat.conn
			return nil
		}
	}
	cat, err := newLineageCatalog(ctx, l.cfg)
	if err != nil {
		return err
	}
	l.conn = cat.conn
	return nil
}

package consoleindex

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// batch is how many sessions one transaction writes: enough to make a
// rebuild fast, few enough that readers see progress.
const batch = 256

// Progress is what one Sync did.
type Progress struct {
	Indexed int // sessions read and (re)written
	Gone    int // sessions newly marked gone from the store
	Listed  int // sessions the store lists
}

// indexed is what the index holds of a session to decide whether to read
// it again.
type indexed struct {
	version string
	gone    bool
	settled bool // closed, verified complete: without versions, never re-read
}

// Sync reads into the index every session stream of the store that is
// new or changed since it was indexed (by the versions of every stream),
// and marks gone those the store no longer lists. It stops between
// batches when ctx ends.
func (x *Index) Sync(ctx context.Context) (Progress, error) {
	x.sync.Lock()
	defer x.sync.Unlock()
	return x.syncLocked(ctx, x.versions)
}

// Current brings the index up to date unless a sync that began at most
// MaxAge before now has completed. Callers that ask while a sync runs
// wait for it, then sync again only if it began too early for them.
//
// It lists the store's names only, and takes the version of the streams
// that are new or were not settled (closed and verified) when indexed: a
// settled stream changed in place (edited) is read again by the next
// Sync (Run's, every interval), which compares every stream's version.
func (x *Index) Current(ctx context.Context) error {
	asked := time.Now()
	x.sync.Lock()
	defer x.sync.Unlock()
	if !x.synced.IsZero() && !x.synced.Before(asked.Add(-x.MaxAge)) {
		return nil
	}
	if ok, err := x.unlisted(ctx, asked); ok || err != nil {
		return err
	}
	_, err := x.syncLocked(ctx, x.quickVersions)
	return err
}

// unlisted is Current when the store's listing stamp says nothing was
// added or removed since the last sync listed it: only the sessions that
// were not settled when indexed are asked for their versions, and those
// that changed read again. ok is false when the stamp does not allow it.
func (x *Index) unlisted(ctx context.Context, asked time.Time) (ok bool, err error) {
	stamper, _ := x.src.(ListStamper)
	v, _ := x.src.(Versioner)
	if stamper == nil || v == nil || x.listed == "" || x.known == nil {
		return false, nil
	}
	if stamp, err := stamper.ListStamp(recorder.KindSession); err != nil || stamp != x.listed {
		return false, nil // list, and say why there if it still fails
	}
	changed := map[string]string{}
	for id, k := range x.known {
		if k.settled || k.gone {
			continue
		}
		if version, err := v.Version(recorder.KindSession, id); err != nil || version != k.version {
			changed[id] = version
		}
	}
	if _, err := x.writeAll(ctx, slices.Sorted(maps.Keys(changed)), changed); err != nil {
		return true, err
	}
	x.synced = asked
	return true, nil
}

// syncLocked is a sync with the store's versions as list gives them,
// x.sync held.
func (x *Index) syncLocked(ctx context.Context, list func() (map[string]string, error)) (Progress, error) {
	began := time.Now()
	x.pendingStamp = ""
	if err := x.loadKnown(); err != nil {
		return Progress{}, err
	}
	known := x.known
	versions, err := list()
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Listed: len(versions)}
	var todo []string
	for id, v := range versions {
		if k, ok := known[id]; !ok || k.gone || k.version != v || (v == "" && !k.settled) {
			todo = append(todo, id)
		}
	}
	slices.Sort(todo)
	if p.Indexed, err = x.writeAll(ctx, todo, versions); err != nil {
		return p, err
	}
	for id, k := range known {
		if _, listed := versions[id]; !listed && !k.gone {
			if _, err := x.db.Exec("UPDATE sessions SET gone = 1 WHERE id = ?", id); err != nil {
				return p, fmt.Errorf("consoleindex: mark %s gone: %w", id, err)
			}
			k.gone = true
			known[id] = k
			p.Gone++
		}
	}
	x.synced, x.listed, x.pendingStamp = began, x.pendingStamp, ""
	return p, nil
}

// Run syncs every interval until ctx ends, logging failures (the index
// then stays as it was; the next round tries again).
func (x *Index) Run(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if p, err := x.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Error("consoleindex: sync failed", "error", err)
		} else if p.Indexed > 0 || p.Gone > 0 {
			log.Info("consoleindex: synced", "indexed", p.Indexed, "gone", p.Gone, "listed", p.Listed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// versions lists the store's session streams with their versions ("" for
// each when the store cannot say).
func (x *Index) versions() (map[string]string, error) {
	if v, ok := x.src.(Versioner); ok {
		versions, err := v.Versions(recorder.KindSession)
		if err != nil {
			return nil, fmt.Errorf("consoleindex: list the store: %w", err)
		}
		return versions, nil
	}
	ids, err := x.src.List(recorder.KindSession)
	if err != nil {
		return nil, fmt.Errorf("consoleindex: list the store: %w", err)
	}
	versions := make(map[string]string, len(ids))
	for _, id := range ids {
		versions[id] = ""
	}
	return versions, nil
}

// quickVersions lists the store's streams by name, with the version
// indexed for those settled when indexed (not asked again: Sync does),
// and the store's for the others.
func (x *Index) quickVersions() (map[string]string, error) {
	ids, err := x.names()
	if err != nil {
		return nil, err
	}
	v, _ := x.src.(Versioner)
	versions := make(map[string]string, len(ids))
	for _, id := range ids {
		k, ok := x.known[id]
		switch {
		case ok && k.settled && !k.gone:
			versions[id] = k.version
		case v != nil:
			if versions[id], err = v.Version(recorder.KindSession, id); err != nil {
				versions[id] = "unreadable" // read it: Lines says why
			}
		default:
			versions[id] = ""
		}
	}
	return versions, nil
}

// names lists the store's sessions by name, or, when the store's stamp
// says its listing has not changed since the last one, the sessions the
// index holds that were listed then.
func (x *Index) names() ([]string, error) {
	stamper, _ := x.src.(ListStamper)
	stamp := ""
	if stamper != nil {
		var err error
		if stamp, err = stamper.ListStamp(recorder.KindSession); err != nil {
			return nil, fmt.Errorf("consoleindex: stamp the store: %w", err)
		}
		if stamp != "" && stamp == x.listed {
			ids := make([]string, 0, len(x.known))
			for id, k := range x.known {
				if !k.gone {
					ids = append(ids, id)
				}
			}
			return ids, nil
		}
	}
	ids, err := x.src.List(recorder.KindSession)
	if err != nil {
		return nil, fmt.Errorf("consoleindex: list the store: %w", err)
	}
	x.pendingStamp = stamp
	return ids, nil
}

// loadKnown reads what the index holds once; syncs keep it current.
func (x *Index) loadKnown() error {
	if x.known != nil {
		return nil
	}
	known, err := x.readKnown()
	x.known = known
	return err
}

// readKnown is every indexed session.
func (x *Index) readKnown() (map[string]indexed, error) {
	rows, err := x.db.Query(`SELECT id, version, gone, unreadable IS NULL AND end_time IS NOT NULL AND verification IS NULL FROM sessions`)
	if err != nil {
		return nil, fmt.Errorf("consoleindex: read the index: %w", err)
	}
	defer rows.Close()
	out := map[string]indexed{}
	for rows.Next() {
		var id string
		var k indexed
		if err := rows.Scan(&id, &k.version, &k.gone, &k.settled); err != nil {
			return nil, fmt.Errorf("consoleindex: read the index: %w", err)
		}
		out[id] = k
	}
	return out, rows.Err()
}

// writeAll reads ids from the store into the index, a batch per
// transaction, stopping between batches when ctx ends; n is how many it
// wrote. The next batch is read and verified while one is written: the
// two cost about the same, and only reading runs on every CPU.
func (x *Index) writeAll(ctx context.Context, ids []string, versions map[string]string) (n int, err error) {
	total := len(ids)
	read := make(chan []session, 1)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(read)
		for len(ids) > 0 && ctx.Err() == nil {
			k := min(batch, len(ids))
			select {
			case read <- x.readAll(ids[:k]):
			case <-stop:
				return
			}
			ids = ids[k:]
		}
	}()
	// Not to be reading the store after returning.
	defer func() { close(stop); <-done }()
	for docs := range read {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if err := x.write(docs, versions); err != nil {
			return n, err
		}
		n += len(docs)
	}
	if n < total {
		return n, ctx.Err() // the reader stopped early
	}
	return n, nil
}

// write replaces docs in the index, in one transaction.
func (x *Index) write(docs []session, versions map[string]string) error {
	tx, err := x.db.Begin()
	if err != nil {
		return fmt.Errorf("consoleindex: write: %w", err)
	}
	defer tx.Rollback()
	w, err := prepare(tx)
	if err != nil {
		return fmt.Errorf("consoleindex: write: %w", err)
	}
	defer w.close()
	for _, d := range docs {
		_, had := x.known[d.ID]
		if err := w.put(d, versions[d.ID], had); err != nil {
			return fmt.Errorf("consoleindex: write %s: %w", d.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("consoleindex: write: %w", err)
	}
	for _, d := range docs {
		x.known[d.ID] = indexed{version: versions[d.ID], settled: d.Unreadable == nil && !d.End.IsZero() && d.Verification == nil}
	}
	return nil
}

// readAll reads ids on every CPU: reading and verifying costs more than
// writing to the database, which one goroutine does.
func (x *Index) readAll(ids []string) []session {
	docs := make([]session, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), len(ids)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				docs[i] = x.read(ids[i])
			}
		})
	}
	wg.Wait()
	return docs
}

// session is one session as the index holds it.
type session struct {
	recorder.Listed
	issuer, subject string
	firstBadSeq     *uint64
	statements      []statement
	refusals        []refusal
}

// statement is one db.statement as the index holds it.
type statement struct {
	line   int
	seq    uint64
	time   time.Time
	target string
	data   event.DBStatement
}

// read reads one session from the store as recorder.Summaries lists it,
// verified with x's keys, and its statements as /statements finds them.
func (x *Index) read(id string) session {
	// The manifest first, as VerifyStored reads them: a stream closed
	// between the two reads is then indexed as the open stream it was,
	// not as lines short of a manifest written after they were read.
	manifest, merr := x.src.Manifest(recorder.KindSession, id)
	lines, err := x.src.Lines(recorder.KindSession, id)
	if err != nil {
		return session{Listed: recorder.Listed{Summary: recorder.Summary{ID: id}, Unreadable: err}}
	}
	s := session{Listed: recorder.Listed{Summary: recorder.Summarize(id, lines)}}
	if merr == nil {
		s.AddManifest(manifest)
	}
	if x.keys.Len() > 0 {
		// The lines and manifest just read, verified as VerifyStored
		// verifies a stored stream, without reading them again.
		_, s.Verification = x.keys.VerifyStored(readOnce{lines, manifest, merr}, recorder.KindSession, id)
		s.Verified = true
		var ve *recorder.VerifyError
		if errors.As(s.Verification, &ve) && ve.Line > 0 && !ve.Incomplete {
			s.firstBadSeq = &ve.Seq
		}
	}
	s.addEvents(lines)
	return s
}

// addEvents takes the statements and the identity details from a
// stream's lines, as the console's statement search reads them.
func (s *session) addEvents(lines [][]byte) {
	audit.SessionWalk{
		Statement: func(st audit.Statement) {
			s.statements = append(s.statements, statement{line: st.Line, seq: st.Event.Seq, time: st.Event.Time, target: st.Target, data: st.Data})
		},
		Identity: func(a event.AuthSuccess) { s.issuer, s.subject = a.Identity.Issuer, a.Identity.Subject },
		Refusal: func(line int, ev recorder.Event) {
			s.refusals = append(s.refusals, refusal{line: line, seq: ev.Seq, time: ev.Time, typ: ev.Type, data: ev.Data})
		},
	}.Walk(lines)
}

// readOnce is a stream already read, as a recorder.VerifySource.
type readOnce struct {
	lines    [][]byte
	manifest []byte
	err      error // the manifest's
}

func (r readOnce) Lines(string, string) ([][]byte, error)  { return r.lines, nil }
func (r readOnce) Manifest(string, string) ([]byte, error) { return r.manifest, r.err }

// writer writes sessions in one transaction, each statement prepared
// once for all of them.
type writer struct {
	tx                                        *sql.Tx
	session, target, statement, text, unindex *sql.Stmt
}

func prepare(tx *sql.Tx) (*writer, error) {
	w := &writer{tx: tx}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.session, `INSERT INTO sessions (id, version, id_time, unreadable, start, end_time, identity, agent, human, issuer, subject,
		serial, key_fingerprint, client_addr, channels, statements, denied, refusals, masked, end_reason, targets, roles,
		chain_error, verified, verification, incomplete, first_bad_seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.target, "INSERT OR IGNORE INTO session_targets (session, target) VALUES (?, ?)"},
		{&w.statement, "INSERT INTO statements (session, line, seq, time, target, allowed, rule, text, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"},
		// One row, no trigger: no statement savepoint, so FTS5 keeps the
		// trigrams in memory until the transaction commits.
		{&w.text, "INSERT INTO statement_text (rowid, text) VALUES (?, ?)"},
		{&w.unindex, "INSERT INTO statement_text (statement_text, rowid, text) SELECT 'delete', rowid, text FROM statements WHERE session = ?"},
	} {
		var err error
		if *p.stmt, err = tx.Prepare(p.sql); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

func (w *writer) close() {
	for _, st := range []*sql.Stmt{w.session, w.target, w.statement, w.text, w.unindex} {
		if st != nil {
			st.Close()
		}
	}
}

// session replaces s in the index; had says whether the index holds it.
func (w *writer) put(s session, version string, had bool) error {
	if had {
		if err := w.remove(s.ID); err != nil {
			return err
		}
	}
	var idTime any
	if t, ok := recorder.IDTime(s.ID); ok {
		idTime = t.UnixNano()
	}
	targets, _ := json.Marshal(nonNil(s.Targets))
	roles, _ := json.Marshal(nonNil(s.Roles))
	_, err := w.session.Exec(s.ID, version, idTime, errText(s.Unreadable), nanos(s.Start), nanos(s.End), s.Identity, s.Agent, s.Human, s.issuer, s.subject,
		int64(s.Serial), s.KeyFingerprint, s.ClientAddr, s.Channels, s.Statements, s.Denied, s.Refusals, s.Masked, s.EndReason,
		string(targets), string(roles), errText(s.ChainError), s.Verified, errText(s.Verification),
		errors.Is(s.Verification, recorder.ErrIncomplete), s.firstBadSeq)
	if err != nil {
		return err
	}
	for _, t := range s.Targets {
		if _, err := w.target.Exec(s.ID, t); err != nil {
			return err
		}
	}
	if err := s.writeRefusals(w.tx); err != nil {
		return err
	}
	return w.statements(s)
}

// remove deletes what the index holds of session id, its statements'
// trigrams first (they are read from the rows).
func (w *writer) remove(id string) error {
	if _, err := w.unindex.Exec(id); err != nil {
		return err
	}
	for _, q := range []string{"DELETE FROM statements WHERE session = ?", "DELETE FROM session_refusals WHERE session = ?", "DELETE FROM session_targets WHERE session = ?", "DELETE FROM sessions WHERE id = ?"} {
		if _, err := w.tx.Exec(q, id); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) statements(s session) error {
	for _, st := range s.statements {
		text := st.data.Text
		st.data.Text = ""
		data, err := json.Marshal(st.data)
		if err != nil {
			return err
		}
		res, err := w.statement.Exec(s.ID, st.line, int64(st.seq), st.time.UnixNano(), st.target, st.data.Decision.Allowed(), st.data.Rule, text, string(data))
		if err != nil {
			return err
		}
		rowid, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if _, err := w.text.Exec(rowid, text); err != nil {
			return err
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// nanos is t in unix ns, NULL for the zero time.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// errText is err's text, NULL for none.
func errText(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

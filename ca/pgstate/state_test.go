//go:build servers

package pgstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// TestStore runs the state store against a real PostgreSQL: one cluster,
// a fresh database per subtest.
func TestStore(t *testing.T) {
	pg := testenv.StartPostgres(t)
	var n atomic.Int64
	db := func(t *testing.T) string {
		name := fmt.Sprintf("state_%d", n.Add(1))
		pg.Exec(t, "CREATE DATABASE "+name)
		return name
	}
	env := &pgEnv{pg: pg, newDB: db}
	t.Run("access requests behave alike in a file and in postgres", env.testRequestsSuite)
	t.Run("revocations appended are read back alike from a file and from postgres", env.testRevocationsSuite)
	t.Run("two approvals at once give one decision", env.testConcurrentDecide)
	t.Run("migrations apply once, under a lock", env.testMigrations)
	t.Run("a revocation reaches another instance's watcher by NOTIFY", env.testNotify)
	t.Run("a watcher whose connection is terminated polls and listens again", env.testListenLost)
	t.Run("a lost database refuses writes, keeps the list, recovers", env.testOutage)
	t.Run("import is idempotent", env.testImport)
	t.Run("issued certificates are shared", env.testIssued)
}

type pgEnv struct {
	pg    *testenv.Postgres
	newDB func(t *testing.T) string
}

// open opens a store on database name, closed when the test ends.
func (e *pgEnv) open(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Open(context.Background(), e.pg.DSN(name, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// query runs sql as the superuser in database name and returns the first
// column of the first row as text ("" when there is none).
func (e *pgEnv) query(t *testing.T, name, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.pg.DSN(name, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out *string
	if err := conn.QueryRow(ctx, sql).Scan(&out); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("%s: %v", sql, err)
	}
	if out == nil {
		return ""
	}
	return *out
}

func requester(name string) policy.Identity {
	return policy.Identity{Subject: name, Email: name + "@example.com", Issuer: "https://idp.example.com", Groups: []string{"engineering"}}
}

func pending(id, who string, filed time.Time) ca.AccessRequest {
	return ca.AccessRequest{ID: id, State: ca.RequestPending, Requester: requester(who), Grant: "orders:admin", Reason: "INC-1", FiledAt: filed.UTC()}
}

func approved(r ca.AccessRequest, at time.Time, life time.Duration) ca.AccessRequest {
	r.State, r.DecidedBy, r.DecidedAt, r.ExpiresAt = ca.RequestApproved, "carol@example.com", at.UTC(), at.Add(life).UTC()
	return r
}

var errRecorder = errors.New("the recorder is down")

func ok() error { return nil }

// testRequestsSuite: the same steps, the same answers, from the file
// store of one machine and the database of replicas.
func (e *pgEnv) testRequestsSuite(t *testing.T) {
	impls := []struct {
		name string
		open func(t *testing.T) ca.AccessRequests
	}{
		{"file", func(t *testing.T) ca.AccessRequests {
			s, err := ca.OpenRequestStore(filepath.Join(t.TempDir(), "requests.json"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"postgres", func(t *testing.T) ca.AccessRequests { return e.open(t, e.newDB(t)).Requests() }},
	}
	now := time.Now().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t)
			r1, r2 := pending("req-1", "alice", now.Add(-2*time.Minute)), pending("req-2", "bob", now.Add(-time.Minute))
			for _, r := range []ca.AccessRequest{r1, r2} {
				if err := s.Add(r, now, ok); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Add(pending("req-3", "alice", now), now, func() error { return errRecorder }); !errors.Is(err, errRecorder) {
				t.Fatalf("add with a failing recorder: %v", err)
			}
			if _, found, err := s.Get("req-3"); found || err != nil {
				t.Fatalf("an unrecorded request was kept (found %v, %v)", found, err)
			}
			if got, found, err := s.Get("req-1"); !found || err != nil || got.Requester.Subject != "alice" || got.State != ca.RequestPending {
				t.Fatalf("get req-1: %+v %v %v", got, found, err)
			}
			if all, err := s.All(); err != nil || len(all) != 2 || all[0].ID != "req-1" || all[1].ID != "req-2" {
				t.Fatalf("all: %+v %v", all, err)
			}
			a1 := approved(r1, now, time.Hour)
			if err := s.Decide(a1, func() error { return errRecorder }); !errors.Is(err, errRecorder) {
				t.Fatalf("decide with a failing recorder: %v", err)
			}
			if got, _, _ := s.Get("req-1"); got.State != ca.RequestPending {
				t.Fatalf("an unrecorded decision was kept: %s", got.State)
			}
			if err := s.Decide(a1, ok); err != nil {
				t.Fatal(err)
			}
			if err := s.Decide(approved(r1, now, 2*time.Hour), ok); !errors.Is(err, ca.ErrDecided) {
				t.Fatalf("second decision: %v, want ErrDecided", err)
			}
			if err := s.Decide(approved(pending("req-nope", "x", now), now, time.Hour), ok); !errors.Is(err, ca.ErrDecided) {
				t.Fatalf("decision of an unknown request: %v, want ErrDecided", err)
			}
			got, err := s.Approved(requester("alice"), now)
			if err != nil || len(got) != 1 || got[0].ID != "req-1" || !got[0].ExpiresAt.Equal(a1.ExpiresAt) || got[0].DecidedBy != "carol@example.com" {
				t.Fatalf("alice's approvals: %+v %v", got, err)
			}
			if got, _ := s.Approved(requester("alice"), now.Add(2*time.Hour)); len(got) != 0 {
				t.Fatalf("an expired approval counts: %+v", got)
			}
			if got, _ := s.Approved(requester("bob"), now); len(got) != 0 {
				t.Fatalf("bob's pending request counts as approved: %+v", got)
			}
			// Long after: filing prunes the approval done with, keeps the pending one.
			later := now.Add(ca.RequestHistory + 2*time.Hour)
			if err := s.Add(pending("req-4", "dave", later), later, ok); err != nil {
				t.Fatal(err)
			}
			all, _ := s.All()
			var ids []string
			for _, r := range all {
				ids = append(ids, r.ID)
			}
			if fmt.Sprint(ids) != "[req-2 req-4]" {
				t.Fatalf("after pruning: %v, want [req-2 req-4]", ids)
			}
		})
	}
}

func revocation(serial uint64, reason string) ca.Revocation {
	return ca.Revocation{Serial: serial, Reason: reason, RevokedAt: time.Now().UTC().Truncate(time.Second), By: "ops"}
}

// testRevocationsSuite: what a writer appends, the list read from its
// store holds, in order.
func (e *pgEnv) testRevocationsSuite(t *testing.T) {
	impls := []struct {
		name string
		open func(t *testing.T) (ca.RevocationWriter, func() []ca.Revocation)
	}{
		{"file", func(t *testing.T) (ca.RevocationWriter, func() []ca.Revocation) {
			path := filepath.Join(t.TempDir(), ca.RevocationFile)
			return ca.RevocationListFile{Path: path}, func() []ca.Revocation {
				l, err := ca.OpenRevocationList(path)
				if err != nil {
					t.Fatal(err)
				}
				return l.Entries()
			}
		}},
		{"postgres", func(t *testing.T) (ca.RevocationWriter, func() []ca.Revocation) {
			name := e.newDB(t)
			w, r := e.open(t, name).Revocations(), e.open(t, name).Revocations()
			return w, func() []ca.Revocation {
				l := ca.NewRevocationList()
				if _, err := r.Refresh(context.Background(), l); err != nil {
					t.Fatal(err)
				}
				return l.Entries()
			}
		}},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			w, read := impl.open(t)
			if got := read(); len(got) != 0 {
				t.Fatalf("a new list holds %v", got)
			}
			a, b, c := revocation(11, "lost laptop"), revocation(12, ""), ca.Revocation{Identity: "alice@example.com", RevokedAt: time.Now().UTC(), By: "ops"}
			if err := w.Append(a); err != nil {
				t.Fatal(err)
			}
			if err := w.Append(b, c); err != nil {
				t.Fatal(err)
			}
			if err := w.Append(ca.Revocation{RevokedAt: time.Now()}); err == nil {
				t.Fatal("an entry naming nothing was accepted")
			}
			got := read()
			if len(got) != 3 || got[0].Serial != 11 || got[0].Reason != "lost laptop" || got[1].Serial != 12 || got[2].Identity != "alice@example.com" || !got[2].RevokedAt.Equal(c.RevokedAt) {
				t.Fatalf("read back %+v", got)
			}
		})
	}
}

// testConcurrentDecide: approvers on two replicas decide one request at
// the same moment; exactly one decision is kept and recorded.
func (e *pgEnv) testConcurrentDecide(t *testing.T) {
	name := e.newDB(t)
	replicas := []*Requests{e.open(t, name).Requests(), e.open(t, name).Requests()}
	now := time.Now().Truncate(time.Microsecond)
	for round := range 5 {
		r := pending(fmt.Sprintf("req-race-%d", round), "alice", now)
		if err := replicas[0].Add(r, now, ok); err != nil {
			t.Fatal(err)
		}
		const approvers = 8
		var recorded atomic.Int32
		var wins, decided atomic.Int32
		var winner atomic.Value
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range approvers {
			wg.Go(func() {
				d := approved(r, now, time.Duration(i+1)*time.Hour)
				d.DecidedBy = fmt.Sprintf("approver-%d", i)
				<-start
				err := replicas[i%2].Decide(d, func() error { recorded.Add(1); return nil })
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(d.DecidedBy)
				case errors.Is(err, ca.ErrDecided):
					decided.Add(1)
				default:
					t.Errorf("approver %d: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || decided.Load() != approvers-1 || recorded.Load() != 1 {
			t.Fatalf("round %d: %d decisions, %d told it was decided, %d recorded; want 1, %d, 1", round, wins.Load(), decided.Load(), recorded.Load(), approvers-1)
		}
		got, _, err := replicas[1].Get(r.ID)
		if err != nil || got.State != ca.RequestApproved || got.DecidedBy != winner.Load() {
			t.Fatalf("round %d: kept %+v (%v), winner %v", round, got, err, winner.Load())
		}
	}
}

// testMigrations: replicas starting together migrate once; a later start
// applies nothing.
func (e *pgEnv) testMigrations(t *testing.T) {
	name := e.newDB(t)
	dsn := e.pg.DSN(name, "", "")
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			s, err := Open(context.Background(), dsn)
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	s := e.open(t, name)
	applied, err := s.Migrate(context.Background())
	if err != nil || len(applied) != 0 {
		t.Fatalf("migrating again applied %v (%v)", applied, err)
	}
	if got := e.query(t, name, `SELECT count(*)::text FROM gatehouse_schema_version WHERE version_id > 0`); got != "1" {
		t.Fatalf("%s migrations recorded, want 1", got)
	}
}

// watch runs a watcher of list on s until the test ends, and returns the
// channel onChange signals.
func watch(t *testing.T, v *Revocations, list *ca.RevocationList) <-chan struct{} {
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		v.Watch(ctx, list, slog.New(slog.NewTextHandler(t.Output(), nil)), func() { changed <- struct{}{} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return changed
}

// listener is the pid of the backend listening on the channel in
// database name, or "".
func (e *pgEnv) listener(t *testing.T, name string) string {
	return e.query(t, name, fmt.Sprintf(`SELECT pid::text FROM pg_stat_activity WHERE datname = '%s' AND query = 'LISTEN %s'`, name, channel))
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitChange fails the test unless the watcher reports a change within
// a generous deadline.
func awaitChange(t *testing.T, changed <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatalf("the watcher never saw %s", what)
	}
}

// testNotify: a revocation appended through one instance reaches another
// instance's watcher. The watcher's poll is an hour, so only the
// notification can bring it.
func (e *pgEnv) testNotify(t *testing.T) {
	name := e.newDB(t)
	a, b := e.open(t, name).Revocations(), e.open(t, name).Revocations()
	b.Poll = time.Hour
	list := ca.NewRevocationList()
	changed := watch(t, b, list)
	waitFor(t, "the watcher to listen", func() bool { return e.listener(t, name) != "" })
	waitFor(t, "the watcher to say it listens", b.Listening)
	if err := a.Append(revocation(42, "notify")); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changed, "the revocation")
	if got := list.Entries(); len(got) != 1 || got[0].Serial != 42 {
		t.Fatalf("list after the notification: %+v", got)
	}
}

// testListenLost: the listening backend is terminated; the watcher reads
// by polling meanwhile and listens again on its own.
func (e *pgEnv) testListenLost(t *testing.T) {
	name := e.newDB(t)
	a, b := e.open(t, name).Revocations(), e.open(t, name).Revocations()
	b.Poll = 100 * time.Millisecond
	list := ca.NewRevocationList()
	changed := watch(t, b, list)
	waitFor(t, "the watcher to listen", func() bool { return e.listener(t, name) != "" })
	pid := e.listener(t, name)
	e.pg.Exec(t, "SELECT pg_terminate_backend("+pid+")")
	if err := a.Append(revocation(7, "after the connection was lost")); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changed, "the revocation made while its connection was lost")
	waitFor(t, "the watcher to listen again", func() bool {
		p := e.listener(t, name)
		return p != "" && p != pid
	})
	if err := a.Append(revocation(8, "after it listened again")); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changed, "the revocation made after it listened again")
	if got := list.Entries(); len(got) != 2 {
		t.Fatalf("list: %+v", got)
	}
}

// testOutage: the state database refuses connections; writes fail with
// ca.ErrStateUnavailable, the watcher's list keeps what it had, and both
// recover when the database is back, without a new Store.
func (e *pgEnv) testOutage(t *testing.T) {
	name := e.newDB(t)
	s := e.open(t, name)
	s.Timeout = 2 * time.Second
	revs := s.Revocations()
	revs.Poll = 100 * time.Millisecond
	if err := revs.Append(revocation(99, "before the outage")); err != nil {
		t.Fatal(err)
	}
	list := ca.NewRevocationList()
	changed := watch(t, revs, list)
	awaitChange(t, changed, "the first revocation")

	e.pg.Exec(t, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false")
	e.pg.Exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+name+"'")
	now := time.Now()
	if err := s.Requests().Add(pending("req-down", "alice", now), now, ok); !errors.Is(err, ca.ErrStateUnavailable) {
		t.Fatalf("filing while the database is down: %v, want ErrStateUnavailable", err)
	}
	if err := s.Issued().Add(ca.IssuedEvent{Serial: 5, KeyID: "alice", ValidBefore: now.Add(time.Hour)}); !errors.Is(err, ca.ErrStateUnavailable) {
		t.Fatalf("keeping an issuance while the database is down: %v, want ErrStateUnavailable", err)
	}
	if _, err := s.Requests().Approved(requester("alice"), now); !errors.Is(err, ca.ErrStateUnavailable) {
		t.Fatalf("reading approvals while the database is down: %v, want ErrStateUnavailable", err)
	}
	if got := list.Entries(); len(got) != 1 || got[0].Serial != 99 {
		t.Fatalf("the list during the outage: %+v", got)
	}

	e.pg.Exec(t, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
	waitFor(t, "filing to work again", func() bool { return s.Requests().Add(pending("req-up", "alice", now), now, ok) == nil })
	waitFor(t, "the watcher to listen again", func() bool { return e.listener(t, name) != "" })
	other := e.open(t, name).Revocations()
	if err := other.Append(revocation(100, "after the outage")); err != nil {
		t.Fatal(err)
	}
	awaitChange(t, changed, "the revocation after the outage")
	if got := list.Entries(); len(got) != 2 {
		t.Fatalf("list after recovery: %+v", got)
	}
}

// testImport: importing a data_dir twice adds everything once.
func (e *pgEnv) testImport(t *testing.T) {
	s := e.open(t, e.newDB(t))
	now := time.Now().Truncate(time.Microsecond).UTC()
	src := Sources{
		Revocations: []ca.Revocation{revocation(1, "a"), {Key: "SHA256:" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", RevokedAt: now, By: "ops"}},
		Requests:    []ca.AccessRequest{pending("req-p", "alice", now), approved(pending("req-a", "bob", now), now, time.Hour)},
		Issued:      []ca.IssuedEvent{{Serial: 1 << 63, KeyID: "alice@example.com", ValidBefore: now.Add(time.Hour)}, {Serial: 3, KeyID: "bob", ValidBefore: now}},
	}
	first, err := s.Import(src)
	if err != nil || first != (Imported{Revocations: 2, Requests: 2, Issued: 2}) {
		t.Fatalf("first import: %+v %v", first, err)
	}
	again, err := s.Import(src)
	if err != nil || again != (Imported{}) {
		t.Fatalf("second import: %+v %v, want nothing added", again, err)
	}
	if got, _ := s.Requests().Approved(requester("bob"), now); len(got) != 1 || got[0].ID != "req-a" {
		t.Fatalf("the imported approval: %+v", got)
	}
	issued, err := s.Issued().All()
	if err != nil || len(issued) != 2 || issued[1].Serial != 1<<63 {
		t.Fatalf("imported issuances: %+v %v", issued, err)
	}
}

// testIssued: an issuance kept through one instance is read through
// another, serials above 2^63 included.
func (e *pgEnv) testIssued(t *testing.T) {
	name := e.newDB(t)
	a, b := e.open(t, name).Issued(), e.open(t, name).Issued()
	ev := ca.IssuedEvent{Serial: 1<<64 - 1, KeyID: "alice@example.com via agent:claude", KeyFingerprint: "SHA256:x", ValidBefore: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	ev.Identity.DelegatedBySerial = 77
	if err := a.Add(ev); err != nil {
		t.Fatal(err)
	}
	got, err := b.All()
	if err != nil || len(got) != 1 || got[0].Serial != ev.Serial || got[0].Facts() != ev.Facts() {
		t.Fatalf("read through another instance: %+v %v", got, err)
	}
}

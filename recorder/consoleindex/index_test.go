package consoleindex

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// store is a file store of signed sessions, written as the bastion would.
type store struct {
	t   *testing.T
	fs  recorder.FileStore
	key ed25519.PrivateKey
	n   int
}

func newStore(t *testing.T) *store {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &store{t: t, fs: recorder.FileStore{Dir: t.TempDir()}, key: key}
}

func (s *store) pub() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// session writes a session of identity running texts on orders, each
// a second after the last one written; open leaves it unclosed.
func (s *store) session(identity string, open bool, texts ...string) (*recorder.Stream, string) {
	s.t.Helper()
	now := time.Date(2026, 12, 1, 10, 0, s.n, 0, time.UTC)
	s.n++
	rec := &recorder.Recorder{Store: s.fs, Signer: s.key, Clock: func() time.Time { now = now.Add(time.Millisecond); return now }}
	st, err := rec.Open(recorder.KindSession)
	if err != nil {
		s.t.Fatal(err)
	}
	emit := func(typ event.Type, data any) {
		if err := st.Emit(typ, data); err != nil {
			s.t.Fatal(err)
		}
	}
	emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000"})
	emit(event.TypeAuthSuccess, event.AuthSuccess{Name: identity, KeyFacts: event.KeyFacts{KeyID: identity, Serial: 1}})
	emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: "orders"})
	for _, text := range texts {
		emit(event.TypeDBStatement, event.DBStatement{Channel: 1, Text: text, Decision: event.Allow})
	}
	if !open {
		emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected"})
		if err := st.Close(); err != nil {
			s.t.Fatal(err)
		}
	}
	return st, st.ID
}

func (s *store) open(dir string) *Index {
	s.t.Helper()
	x, err := Open(dir, s.fs, s.fs.Dir, s.pub())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { x.Close() })
	return x
}

func (s *store) sync(x *Index) Progress {
	s.t.Helper()
	p, err := x.Sync(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func ids(list []recorder.Listed) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.ID)
	}
	return out
}

// TestSyncReadsOnlyWhatChanged: a second sync reads nothing; a session
// that grew (an open one that ended) is read again, with its new state.
func TestSyncReadsOnlyWhatChanged(t *testing.T) {
	s := newStore(t)
	s.session("alice", false, "SELECT 1")
	st, open := s.session("bob", true, "SELECT 2")
	x := s.open(t.TempDir())
	if p := s.sync(x); p.Indexed != 2 || p.Listed != 2 {
		t.Fatalf("first sync %+v", p)
	}
	if p := s.sync(x); p.Indexed != 0 {
		t.Fatalf("second sync read %d sessions again", p.Indexed)
	}
	list, _ := x.Sessions(recorder.Filter{Outcome: recorder.OutcomeOpen}, 0)
	if !slices.Equal(ids(list), []string{open}) || !errors.Is(list[0].Verification, recorder.ErrIncomplete) {
		t.Fatalf("open sessions %v %v", ids(list), list)
	}
	if err := st.Emit(event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "SELECT 3", Decision: event.Deny}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if p := s.sync(x); p.Indexed != 1 {
		t.Fatalf("sync after a session changed read %d", p.Indexed)
	}
	list, _ = x.Sessions(recorder.Filter{Outcome: recorder.OutcomeOpen}, 0)
	if len(list) != 0 {
		t.Fatalf("still open: %v", ids(list))
	}
	found, err := x.Statements(recorder.Filter{}, 0, StatementQuery{Text: "select 3"})
	if err != nil || len(found) != 1 || found[0].Session != open || found[0].Data.Decision != event.Deny {
		t.Fatalf("search found %+v, %v", found, err)
	}
}

// TestGoneIsKeptAndNamed: a session deleted from the store leaves the
// lists but is named by Reconcile, as is one not yet indexed.
func TestGoneIsKeptAndNamed(t *testing.T) {
	s := newStore(t)
	_, first := s.session("alice", false, "SELECT 1")
	_, second := s.session("bob", false, "SELECT 2")
	x := s.open(t.TempDir())
	s.sync(x)
	if err := os.Remove(filepath.Join(s.fs.Dir, recorder.KindSession, first+".jsonl")); err != nil {
		t.Fatal(err)
	}
	_, third := s.session("carol", false)
	r, err := x.Reconcile(time.Time{}, time.Time{})
	if err != nil || !slices.Equal(r.Gone, []string{first}) || !slices.Equal(r.NotIndexed, []string{third}) {
		t.Fatalf("before sync: %+v %v", r, err)
	}
	if p := s.sync(x); p.Gone != 1 || p.Indexed != 1 {
		t.Fatalf("sync %+v", p)
	}
	list, _ := x.Sessions(recorder.Filter{}, 0)
	if !slices.Equal(ids(list), []string{second, third}) {
		t.Fatalf("listed %v", ids(list))
	}
	if found, _ := x.Statements(recorder.Filter{}, 0, StatementQuery{Text: "SELECT 1"}); len(found) != 0 {
		t.Fatalf("a gone session's statements are found: %+v", found)
	}
	r, _ = x.Reconcile(time.Time{}, time.Time{})
	if !slices.Equal(r.Gone, []string{first}) || len(r.NotIndexed) != 0 {
		t.Fatalf("after sync: %+v", r)
	}
	if r, _ = x.Reconcile(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}); len(r.Gone) != 0 {
		t.Fatalf("outside the period: %+v", r)
	}
}

// TestVerifiedWhenIndexed: a tampered recording is indexed with its
// verification failure and the seq of its first bad line.
func TestVerifiedWhenIndexed(t *testing.T) {
	s := newStore(t)
	_, id := s.session("alice", false, "SELECT 1", "SELECT 2")
	path := filepath.Join(s.fs.Dir, recorder.KindSession, id+".jsonl")
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(data, []byte("SELECT 2"), []byte("SELECT 9"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	x := s.open(t.TempDir())
	s.sync(x)
	list, _ := x.Sessions(recorder.Filter{}, 0)
	want, _ := recorder.Summaries(s.fs, recorder.Filter{}, 0, s.pub())
	if len(list) != 1 || !list[0].Verified || list[0].Verification == nil || list[0].Verification.Error() != want[0].Verification.Error() ||
		list[0].ChainError == nil || list[0].ChainError.Error() != want[0].ChainError.Error() {
		t.Fatalf("indexed %+v, want %+v", list, want)
	}
	var bad sql.NullInt64
	if err := x.db.QueryRow("SELECT first_bad_seq FROM sessions").Scan(&bad); err != nil || !bad.Valid || bad.Int64 == 0 {
		t.Fatalf("first bad seq %v %v", bad, err)
	}
}

// TestRebuildsWhatItCannotTrust: a damaged file, another schema version
// and other keys each make Open start an empty index, which Sync fills.
func TestRebuildsWhatItCannotTrust(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spoil  func(t *testing.T, dir string, x *Index)
		reopen func(s *store, dir string) (*Index, error)
	}{
		{"damaged", func(t *testing.T, dir string, x *Index) {
			x.Close()
			if err := os.WriteFile(filepath.Join(dir, FileName), bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"old schema", func(t *testing.T, dir string, x *Index) {
			if _, err := x.db.Exec("PRAGMA user_version = 99"); err != nil {
				t.Fatal(err)
			}
			x.Close()
		}, nil},
		{"another store", func(t *testing.T, dir string, x *Index) { x.Close() }, func(s *store, dir string) (*Index, error) {
			return Open(dir, s.fs, "s3:elsewhere", s.pub())
		}},
		{"other keys", func(t *testing.T, dir string, x *Index) { x.Close() }, func(s *store, dir string) (*Index, error) {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			return Open(dir, s.fs, s.fs.Dir, other.Public().(ed25519.PublicKey))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			s.session("alice", false, "SELECT 1")
			dir := t.TempDir()
			x := s.open(dir)
			s.sync(x)
			tc.spoil(t, dir, x)
			open := func(s *store, dir string) (*Index, error) { return Open(dir, s.fs, s.fs.Dir, s.pub()) }
			if tc.reopen != nil {
				open = tc.reopen
			}
			y, err := open(s, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer y.Close()
			if list, err := y.Sessions(recorder.Filter{}, 0); err != nil || len(list) != 0 {
				t.Fatalf("reopened index lists %v, %v", ids(list), err)
			}
			if p := s.sync(y); p.Indexed != 1 {
				t.Fatalf("rebuild indexed %d", p.Indexed)
			}
		})
	}
}

// TestEditedRecordingIsReadAgain: a recording edited in place after it
// was indexed, its size kept and its modification time put back, is read
// again, and listed as failing verification, never as the verified
// recording it was.
func TestEditedRecordingIsReadAgain(t *testing.T) {
	s := newStore(t)
	_, id := s.session("alice", false, "SELECT 1", "SELECT 2")
	x := s.open(t.TempDir())
	s.sync(x)
	path := filepath.Join(s.fs.Dir, recorder.KindSession, id+".jsonl")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(data, []byte("SELECT 1"), []byte("SELECT 9"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if p := s.sync(x); p.Indexed != 1 {
		t.Fatalf("the edited recording was not read again: %+v", p)
	}
	list, _ := x.Sessions(recorder.Filter{}, 0)
	if len(list) != 1 || list[0].Verification == nil || list[0].ChainError == nil {
		t.Fatalf("the edited recording is listed as %+v", list)
	}
	for text, want := range map[string]int{"SELECT 9": 1, "SELECT 1": 0} {
		if found, err := x.Statements(recorder.Filter{}, 0, StatementQuery{Text: text}); err != nil || len(found) != want {
			t.Errorf("a search for %q finds %+v, %v; want %d", text, found, err, want)
		}
	}
	textIndexIntact(t, x)
}

// textIndexIntact fails t unless the trigram index holds exactly the
// statements' texts: what the writer adds and removes by hand (no
// trigger does) left nothing stale and missed nothing.
func textIndexIntact(t *testing.T, x *Index) {
	t.Helper()
	if _, err := x.db.Exec("INSERT INTO statement_text (statement_text, rank) VALUES ('integrity-check', 1)"); err != nil {
		t.Errorf("the text index disagrees with the statements: %v", err)
	}
}

// TestCurrentSeesNewAndClosedSessions: Current, which lists names only,
// still reads a session recorded since the last sync and one that was
// open then and has ended since.
func TestCurrentSeesNewAndClosedSessions(t *testing.T) {
	s := newStore(t)
	st, open := s.session("alice", true, "SELECT 1")
	x := s.open(t.TempDir())
	if err := x.Current(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	_, added := s.session("bob", false)
	if err := x.Current(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, _ := x.Sessions(recorder.Filter{}, 0)
	if !slices.Equal(ids(list), []string{open, added}) || list[0].Open() || list[0].Verification != nil {
		t.Fatalf("listed %v; want both, the first closed by its manifest and verified", list)
	}
}

// stamped is a store whose listing stamp the test sets, and that counts
// its listings.
type stamped struct {
	recorder.FileStore
	stamp string
	lists int
}

func (s *stamped) ListStamp(string) (string, error) { return s.stamp, nil }
func (s *stamped) List(kind string) ([]string, error) {
	s.lists++
	return s.FileStore.List(kind)
}

// TestListStampSavesListings: while the store's stamp is unchanged,
// Current does not list it again; a new stamp, or none, makes it list.
func TestListStampSavesListings(t *testing.T) {
	s := newStore(t)
	_, first := s.session("alice", false)
	src := &stamped{FileStore: s.fs, stamp: "1"}
	x, err := Open(t.TempDir(), src, "stamped", s.pub())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	current := func() []string {
		t.Helper()
		if err := x.Current(context.Background()); err != nil {
			t.Fatal(err)
		}
		list, _ := x.Sessions(recorder.Filter{}, 0)
		return ids(list)
	}
	if got := current(); !slices.Equal(got, []string{first}) || src.lists != 1 {
		t.Fatalf("first: %v after %d listings", got, src.lists)
	}
	current()
	if src.lists != 1 {
		t.Fatalf("an unchanged stamp listed the store again (%d listings)", src.lists)
	}
	_, second := s.session("bob", false)
	for _, stamp := range []string{"2", ""} {
		src.stamp = stamp
		if got := current(); !slices.Equal(got, []string{first, second}) {
			t.Fatalf("stamp %q: %v", stamp, got)
		}
	}
	if src.lists != 3 {
		t.Fatalf("%d listings, want 3 (a new stamp, then none)", src.lists)
	}
}

// TestSessionsPageIsSessionsPaged: every page SessionsPage reads, and its
// count, are Sessions' list cut into pages, for filters SQL could
// misjudge: bytes that are not UTF-8, NUL, times beyond int64 ns.
func TestSessionsPageIsSessionsPaged(t *testing.T) {
	s := newStore(t)
	for _, id := range []string{"alice", "ali\uFFFDce", "b\x00ob", "carol", "ALICE"} {
		s.session(id, false, "SELECT 1")
	}
	s.session("dave", true)
	x := s.open(t.TempDir())
	s.sync(x)
	far := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
	for name, f := range map[string]recorder.Filter{
		"none": {}, "ali": {Identity: "ali"}, "invalid UTF-8": {Identity: "\xff"}, "replacement": {Identity: "\uFFFD"},
		"NUL": {Identity: "\x00"}, "open": {Outcome: recorder.OutcomeOpen}, "clean": {Outcome: recorder.OutcomeClean},
		"year 1500 to 9999": {Since: far(1500), Until: far(9999)}, "since 9999": {Since: far(9999)}, "until 1500": {Until: far(1500)},
	} {
		t.Run(name, func(t *testing.T) {
			all, err := x.Sessions(f, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for offset := 0; offset <= len(all)+2; offset += 2 {
				page, total, err := x.SessionsPage(f, time.Minute, nil, offset, 2)
				if err != nil {
					t.Fatal(err)
				}
				want := all[min(offset, len(all)):min(offset+2, len(all))]
				if total != len(all) || !slices.Equal(ids(page), ids(want)) {
					t.Errorf("offset %d: %q of %d, want %q of %d", offset, ids(page), total, ids(want), len(all))
				}
			}
		})
	}
}

// TestTextSearchLeadsWithItsMatches: a statement search with a text reads
// the trigram index's matches first and looks their sessions up, never
// every statement of every session the filter selects (seconds at ten
// million statements: the console's benchmark found it).
func TestTextSearchLeadsWithItsMatches(t *testing.T) {
	s := newStore(t)
	s.session("alice", false, "SELECT pg_sleep(1)", "SELECT 2")
	x := s.open(t.TempDir())
	s.sync(x)
	deny := false
	for _, c := range []struct {
		f recorder.Filter
		q StatementQuery
	}{
		{recorder.Filter{}, StatementQuery{Text: "pg_sleep"}},
		{recorder.Filter{Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, StatementQuery{Text: "pg_sleep", Allowed: &deny}},
		{recorder.Filter{Target: "orders", Identity: "alice"}, StatementQuery{Text: "sleep", Rule: "r", Target: "orders"}},
	} {
		query, args := statementsQuery(c.f, 0, c.q)
		rows, err := x.db.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) == 0 || plan[0] != "SEARCH st USING INTEGER PRIMARY KEY (rowid=?)" {
			t.Errorf("%+v %+v: the search begins %q, not with the text's matches", c.f, c.q, plan)
		}
	}
}

// closingAsRead is a store whose one session closes just after its lines
// are read: until then it has no manifest and only its first lines.
type closingAsRead struct {
	recorder.FileStore
	open   int // lines the session had while open
	closed bool
}

func (c *closingAsRead) Lines(kind, id string) ([][]byte, error) {
	lines, err := c.FileStore.Lines(kind, id)
	if c.closed || err != nil {
		return lines, err
	}
	c.closed = true
	return lines[:c.open], nil
}

func (c *closingAsRead) Manifest(kind, id string) ([]byte, error) {
	if !c.closed {
		return nil, fs.ErrNotExist
	}
	return c.FileStore.Manifest(kind, id)
}

// TestIndexLooksForTheManifestFirst: a session that closes while it is
// read is indexed as the open session it was when its lines were read,
// not failed as lines short of the manifest written after them.
func TestIndexLooksForTheManifestFirst(t *testing.T) {
	s := newStore(t)
	s.session("alice", false, "SELECT 1", "SELECT 2")
	src := &closingAsRead{FileStore: s.fs, open: 3}
	x, err := Open(t.TempDir(), src, s.fs.Dir, s.pub())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	s.sync(x)
	list, err := x.Sessions(recorder.Filter{}, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions %v, %v", list, err)
	}
	if v := list[0].Verification; !errors.Is(v, recorder.ErrIncomplete) {
		t.Fatalf("a session closed while it was read is indexed with %v, want it incomplete (open)", v)
	}
}

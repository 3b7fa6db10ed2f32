// Package consoleindex is the auditor console's index of the recording
// store: per session the summary its lists show (with the verification
// result found when it was indexed), and per statement what /statements
// filters and shows, with a trigram full-text index of statement texts.
//
// It is derived data, in an embedded SQLite database (modernc.org/sqlite,
// pure Go): the recordings stay the source of truth. Open rebuilds it when
// it is missing, unreadable, of another schema or made with other keys;
// Sync brings it up to date with the store's listing (new streams, and
// streams whose size or etag changed); a stream the store no longer lists
// is kept, marked gone, for the overview to name (Reconcile), never
// dropped silently.
package consoleindex

import (
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// schemaVersion is the layout below; an index of another version is
// rebuilt. Raise it whenever the schema or what is derived changes.
const schemaVersion = 5 // 5: human, roles and masked as recorder.Summarize derives them

// FileName is the index's database file in its directory.
const FileName = "index.db"

const schema = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
	id TEXT PRIMARY KEY,
	version TEXT NOT NULL,      -- the store's size/etag when indexed
	gone INTEGER NOT NULL DEFAULT 0, -- indexed, then no longer listed by the store
	id_time INTEGER,            -- the time in the id, unix ns; NULL: none
	unreadable TEXT,            -- why it could not be read; NULL: read
	start INTEGER, end_time INTEGER, -- unix ns; NULL: zero
	identity TEXT NOT NULL DEFAULT '', agent TEXT NOT NULL DEFAULT '',
	human TEXT NOT NULL DEFAULT '', issuer TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL DEFAULT '',
	serial INTEGER NOT NULL DEFAULT 0, key_fingerprint TEXT NOT NULL DEFAULT '', client_addr TEXT NOT NULL DEFAULT '',
	channels INTEGER NOT NULL DEFAULT 0, statements INTEGER NOT NULL DEFAULT 0,
	denied INTEGER NOT NULL DEFAULT 0, refusals INTEGER NOT NULL DEFAULT 0, masked INTEGER NOT NULL DEFAULT 0,
	end_reason TEXT NOT NULL DEFAULT '',
	targets TEXT NOT NULL DEFAULT '[]', roles TEXT NOT NULL DEFAULT '[]', -- JSON arrays, in recorded order
	chain_error TEXT,
	verified INTEGER NOT NULL DEFAULT 0, verification TEXT, incomplete INTEGER NOT NULL DEFAULT 0,
	first_bad_seq INTEGER
);
CREATE INDEX sessions_start ON sessions (start);
CREATE INDEX sessions_listed ON sessions (gone, id); -- /sessions' pages and counts
CREATE TABLE session_targets (session TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (session, target)) WITHOUT ROWID;
CREATE INDEX session_targets_target ON session_targets (target, session);
CREATE TABLE statements (
	session TEXT NOT NULL,
	line INTEGER NOT NULL,      -- its line in the stream: the order shown
	seq INTEGER NOT NULL,
	time INTEGER NOT NULL,      -- unix ns
	target TEXT NOT NULL,       -- of its channel
	allowed INTEGER NOT NULL,
	rule TEXT NOT NULL,
	text TEXT NOT NULL,         -- as recorded (the recorder may have cut it: data's text_bytes)
	data TEXT NOT NULL,         -- the db.statement payload without its text, JSON
	UNIQUE (session, line)
);
-- Kept by the writer (sync.go), not by triggers: FTS5 writes its pending
-- trigrams to disk at every statement savepoint, and a statement that
-- fires a trigger takes one, so a trigger made a segment of each row
-- and most of a rebuild went on merging them.
CREATE VIRTUAL TABLE statement_text USING fts5 (text, content='statements', content_rowid='rowid', tokenize='trigram');
`

// Source is the recording store the index is built from:
// recorder.FileStore, or the S3 bucket.
type Source interface {
	List(kind string) ([]string, error)
	Lines(kind, id string) ([][]byte, error)
	// Manifest's error wraps fs.ErrNotExist when the stream has none.
	Manifest(kind, id string) ([]byte, error)
}

// Versioner is a Source that can say a version of a stream (its files'
// or objects' sizes and change times or etags) that changes whenever the
// stream does: of every stream of a kind in one listing, or of one.
// Without it, a sync re-reads every stream that was open, incomplete or
// unreadable when it was indexed, besides new ones.
type Versioner interface {
	Versions(kind string) (map[string]string, error)
	Version(kind, id string) (string, error)
}

// ListStamper is a Source that can stamp its listing of a kind's
// streams cheaply (a directory's change time): while the stamp is the
// same, the names are, and a list need not list the store again.
type ListStamper interface {
	ListStamp(kind string) (string, error)
}

// Index is an open index. Its methods are safe for concurrent use; Sync
// runs one at a time.
type Index struct {
	// MaxAge is how old the index may be when Current is asked: 0 means
	// Current always syncs first (every list sees every stream the store
	// listed when it was asked).
	MaxAge time.Duration

	db           *sql.DB
	src          Source
	keys         *recorder.Keyring
	source       string // the store's name
	path         string
	sync         sync.Mutex         // one Sync at a time; guards synced and known
	synced       time.Time          // when the last successful sync began
	known        map[string]indexed // what the database holds, once read
	listed       string             // the store's ListStamp of the last listing a sync completed
	pendingStamp string             // the stamp of the listing of the sync under way
}

// Open opens the index in dir (created 0700) of src, which source names
// (a directory, a bucket), verified with keys. An index that is missing,
// cannot be read, is of another schema version, or was made of another
// store or with other keys is made anew (empty: Sync fills it).
func Open(dir string, src Source, source string, keys ...ed25519.PublicKey) (*Index, error) {
	return OpenKeyring(dir, src, source, recorder.Trust(keys...))
}

// OpenKeyring is Open with a ring of keys: the recorder key and those
// rotated out, each held to its not_after. An index made with other keys
// or other windows is made anew.
func OpenKeyring(dir string, src Source, source string, keys *recorder.Keyring) (*Index, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("consoleindex: create %s: %w", dir, err)
	}
	x := &Index{src: src, keys: keys, source: source, path: filepath.Join(dir, FileName)}
	err := x.open()
	if err == nil {
		return x, nil
	}
	// Derived data: whatever is wrong with it, it is made again.
	if err := x.remove(); err != nil {
		return nil, err
	}
	if err := x.open(); err != nil {
		return nil, err
	}
	return x, nil
}

// errStale is an index of another schema, store or keys: it is rebuilt.
var errStale = errors.New("consoleindex: index of another schema or keys")

// open opens x.path, creating the schema in an empty database, and fails
// when the database holds another schema, other keys, or is not one.
func (x *Index) open() error {
	// Statement texts are as sensitive as the recordings: the file (and
	// the WAL, which SQLite creates with the file's mode) is the
	// console's only.
	f, err := os.OpenFile(x.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("consoleindex: open %s: %w", x.path, err)
	}
	f.Close()
	// Derived data: a crash may lose the last sync (synchronous NORMAL
	// in WAL mode), never corrupt what is there; the next Sync redoes it.
	db, err := sql.Open("sqlite", "file:"+x.path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)"+
		"&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return fmt.Errorf("consoleindex: open %s: %w", x.path, err)
	}
	x.db = db
	if err = x.checkSchema(); err != nil {
		db.Close()
		x.db = nil
		return err
	}
	return nil
}

// checkSchema creates the schema in an empty database, or checks that
// the one there is this version's, for these keys.
func (x *Index) checkSchema() error {
	var version int
	if err := x.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("consoleindex: read %s: %w", x.path, err)
	}
	if version == 0 {
		return x.create()
	}
	if version != schemaVersion {
		return errStale
	}
	var made string
	if err := x.db.QueryRow("SELECT value FROM meta WHERE key = 'made'").Scan(&made); err != nil {
		return fmt.Errorf("consoleindex: read %s: %w", x.path, err)
	}
	if made != x.made() {
		return errStale
	}
	// A damaged file can pass the reads above: quick_check reads the
	// structure of the sessions table and its indexes at each start.
	// Checking the statements' text index too takes minutes at ten
	// million statements; a damaged one fails its searches (502), and
	// console reindex makes it again.
	var ok string
	if err := x.db.QueryRow("PRAGMA quick_check(sessions)").Scan(&ok); err != nil || ok != "ok" {
		return fmt.Errorf("consoleindex: %s is damaged: %v %s", x.path, err, ok)
	}
	return nil
}

// create makes the schema in an empty database.
func (x *Index) create() error {
	tx, err := x.db.Begin()
	if err != nil {
		return fmt.Errorf("consoleindex: create %s: %w", x.path, err)
	}
	defer tx.Rollback()
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{schema, nil},
		{refusalsSchema, nil},
		{"INSERT INTO meta (key, value) VALUES ('made', ?)", []any{x.made()}},
		// Buffer 64 MiB of trigrams before writing a segment, not 1 MiB:
		// far fewer segments to merge while a rebuild inserts millions.
		{"INSERT INTO statement_text (statement_text, rank) VALUES ('hashsize', 67108864)", nil},
		{fmt.Sprintf("PRAGMA user_version = %d", schemaVersion), nil},
	} {
		if _, err := tx.Exec(stmt.sql, stmt.args...); err != nil {
			return fmt.Errorf("consoleindex: create %s: %w", x.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("consoleindex: create %s: %w", x.path, err)
	}
	return nil
}

// remove deletes the database and its WAL.
func (x *Index) remove() error {
	for _, p := range []string{x.path, x.path + "-wal", x.path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("consoleindex: remove %s: %w", p, err)
		}
	}
	return nil
}

// Rebuild empties the index; the next Sync reads every recording again.
func (x *Index) Rebuild() error {
	x.sync.Lock()
	defer x.sync.Unlock()
	if err := x.db.Close(); err != nil {
		return fmt.Errorf("consoleindex: close %s: %w", x.path, err)
	}
	if err := x.remove(); err != nil {
		return err
	}
	x.known, x.listed = nil, ""
	return x.open()
}

// Close closes the database.
func (x *Index) Close() error { return x.db.Close() }

// Path is the database file.
func (x *Index) Path() string { return x.path }

// made is what the index is made of: the store and the keys.
func (x *Index) made() string {
	made := x.source + "\n" + keysFingerprint(x.keys.Public())
	// Windows are part of what a verification found; an index made
	// without any keeps the form it had before keys could have them.
	for _, k := range x.keys.Keys() {
		if !k.NotAfter.IsZero() {
			made += "\n" + recorder.Fingerprint(k.Key) + " not_after " + k.NotAfter.UTC().Format(time.RFC3339Nano)
		}
	}
	return made
}

// keysFingerprint names a set of keys: verification results hold only
// for the keys they were found with.
func keysFingerprint(keys []ed25519.PublicKey) string {
	var hexes []string
	for _, k := range keys {
		hexes = append(hexes, hex.EncodeToString(k))
	}
	slices.Sort(hexes)
	h := sha256.New()
	for _, s := range hexes {
		h.Write([]byte(s + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

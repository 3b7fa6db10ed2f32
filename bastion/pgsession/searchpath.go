package pgsession

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// learnPathSQL reads the session's search_path as PostgreSQL resolves
// names with it: the schemas that exist, "$user" expanded, in order.
const learnPathSQL = `SELECT s FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS t(s, i) ORDER BY i`

// Bounds on what a session's prepared statements make gatehouse keep
// (their texts, to judge them again): gatehouse does not see them closed,
// so without a bound a client could make the set grow for ever.
const (
	// maxDefinitions bounds how many texts one prepared statement name
	// may have had (a Parse of a name in use fails upstream, so a name
	// may stand for any of them).
	maxDefinitions = 8
	// maxPreparedBytes bounds the texts of all of a session's prepared
	// statements together.
	maxPreparedBytes = 32 << 20
)

// sessionPath follows a masked session's search_path, which lineage
// resolves unqualified names with. The path is read from the client's own
// upstream session (pgwire's Query.Ask), between statements, whenever
// something may have changed it since it was last read: a statement that
// sets it (SET, SET LOCAL, RESET, set_config, DISCARD ALL, RESET ALL), the
// end of a transaction in which it was read (ROLLBACK of a SET), or the
// Bind of a prepared statement that does any of these. Until it is read
// again, a statement that needs it is refused (fail closed): in the middle
// of a pipeline, or after a change earlier in the same query string.
//
// A prepared statement is analyzed again by PostgreSQL under the path in
// force when it runs, not when it was prepared; so its every Bind (and
// EXECUTE) is judged again under the current path when the path may have
// changed since it was judged.
//
// Everything but gen is used from Inspect's goroutine only (Inspect and
// Bind); gen is also read by Results.
type sessionPath struct {
	gen   atomic.Uint64 // moves on at every possible change
	known bool
	path  []string
	inTx  bool // read inside a transaction block, whose end may undo what was read
	// userCode says whether a statement may run code of the database's
	// own that gatehouse cannot see into and that may set the path (nil:
	// none).
	userCode func(sqlclass.Statement) bool
	// statements are the prepared statements (Parse and PREPARE share
	// PostgreSQL's namespace) by name: their texts and when they were
	// judged. preparedBytes is the size of all their texts.
	statements    map[string]*preparedPath
	preparedBytes int
}

type preparedPath struct {
	texts  []string         // every text the name was prepared with; any may be the one in force
	detail *statementDetail // a Parse's, which pgwire hands Results: the one to update when judged again
	judged uint64           // the gen under which every text was last judged
	sets   bool             // running it may set the search_path (setsPath)
	ends   bool             // running it may end a transaction
}

// errPathUnknown refuses a statement whose names cannot be resolved yet.
var errPathUnknown = errors.New("search_path may have changed earlier in this pipeline or query string, and gatehouse reads it again only between statements; send Sync (or the statement on its own) after changing search_path")

// current returns the search_path, reading it from the session when it
// may have changed since it was last read.
func (p *sessionPath) current(ctx context.Context, ask pgwire.AskFunc) ([]string, error) {
	if p.known {
		return p.path, nil
	}
	if ask == nil {
		return nil, errPathUnknown
	}
	rows, tx, err := ask(ctx, learnPathSQL)
	if errors.Is(err, pgwire.ErrNotIdle) {
		return nil, errPathUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("reading the session's search_path: %w", err)
	}
	path := make([]string, 0, len(rows))
	for _, r := range rows {
		if len(r) != 1 {
			return nil, fmt.Errorf("reading the session's search_path: %d columns", len(r))
		}
		path = append(path, r[0])
	}
	p.path, p.known, p.inTx = path, true, tx != 'I'
	return path, nil
}

// changed notes that the path may differ from what was read.
func (p *sessionPath) changed() {
	p.known = false
	p.gen.Add(1)
}

// ran notes that st is about to run.
func (p *sessionPath) ran(st sqlclass.Statement) {
	if p.sets(st) || endsTx(st) && p.inTx {
		p.changed()
	}
}

// bound notes that the prepared statement e is about to run.
func (p *sessionPath) bound(e *preparedPath) {
	if e.sets || e.ends && p.inTx {
		p.changed()
	}
}

// sets is setsPath, or st may run code that may set the path (userCode).
func (p *sessionPath) sets(st sqlclass.Statement) bool {
	return setsPath(st) || p.userCode != nil && p.userCode(st)
}

// setsPath says whether running st may leave another search_path in
// force: it sets one (or an unknown parameter, or all), changes the user
// "$user" stands for, creates or drops a schema, or runs code gatehouse
// cannot see into (DO, CALL, EXECUTE).
func setsPath(st sqlclass.Statement) bool {
	for _, s := range st.Settings {
		switch s {
		case "search_path", sqlclass.SettingAll, sqlclass.SettingUnknown, "role", "session_authorization":
			return true
		}
	}
	for _, k := range st.Kinds {
		switch k {
		case sqlkind.DDL, sqlkind.Do, sqlkind.Call, sqlkind.Execute, sqlkind.SetRole:
			return true
		}
	}
	return len(st.Executes) > 0
}

// endsTx says whether st may end a transaction (or roll back to a
// savepoint), undoing a SET or SET LOCAL made in it: any transaction
// statement but one that begins a transaction or sets a savepoint (read
// from its first word; anything else, a comment first included, counts).
func endsTx(st sqlclass.Statement) bool {
	if !slices.Contains(st.Kinds, "transaction") {
		return false
	}
	words := strings.Fields(strings.ToUpper(st.Text))
	return len(words) == 0 || !slices.Contains([]string{"BEGIN", "START", "SAVEPOINT", "RELEASE"}, words[0])
}

// needsPath says whether lineage resolves any name of st through the
// search_path.
func needsPath(st sqlclass.Statement) bool {
	return len(st.Relations) > 0 || len(st.Functions) > 0 || st.Prepared != nil
}

// prepared notes a statement prepared under name (a Parse, or a PREPARE)
// with text, judged under the current path. A name prepared again keeps
// its earlier texts: the new Parse may fail upstream and leave the old one.
func (p *sessionPath) prepared(name, text string, stmts []sqlclass.Statement, detail *statementDetail) error {
	if p.statements == nil {
		p.statements = map[string]*preparedPath{}
	}
	sets, ends := false, false
	for _, st := range stmts {
		sets, ends = sets || p.sets(st), ends || endsTx(st)
	}
	e := p.statements[name]
	if e != nil && slices.Contains(e.texts, text) {
		e.sets, e.ends = e.sets || sets, e.ends || ends
		return nil
	}
	if p.preparedBytes+len(text) > maxPreparedBytes {
		return fmt.Errorf("this session's prepared statements hold more than %d MiB of SQL, gatehouse's limit; start another session", maxPreparedBytes>>20)
	}
	if e == nil || name == "" { // a Parse of the unnamed statement always replaces it
		if e != nil {
			p.preparedBytes -= len(e.texts[0])
		}
		p.preparedBytes += len(text)
		p.statements[name] = &preparedPath{texts: []string{text}, detail: detail, judged: p.gen.Load(), sets: sets, ends: ends}
		return nil
	}
	if len(e.texts) >= maxDefinitions {
		return fmt.Errorf("prepared statement %q was defined %d times in this session; use another name", name, maxDefinitions)
	}
	p.preparedBytes += len(text)
	e.texts = append(e.texts, text)
	e.sets, e.ends = e.sets || sets, e.ends || ends
	return nil
}

// bind is pgwire's Bind hook: under masking, a prepared statement is
// judged again when the search_path may have changed since it was judged.
func (s *pgSession) bind(ctx context.Context, statement string, ask pgwire.AskFunc) pgwire.Verdict {
	if s.masking == nil {
		return pgwire.Verdict{Allow: true}
	}
	if msg := s.masking.bind(ctx, statement, ask); msg != "" {
		return s.deny(&statementDetail{Rule: "masking." + s.masking.name}, msg)
	}
	return pgwire.Verdict{Allow: true}
}

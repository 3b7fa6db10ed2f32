// Package sqlclass says what a SQL statement does — its statement kinds, the
// relations it names and the functions it calls — from PostgreSQL's own
// parser (libpg_query through pg_query_go). It makes no decisions: policy
// judges what sqlclass reports. It imports no other gatehouse package.
//
// A statement is judged by everything it does: the whole parse tree is
// walked, so a DELETE inside a WITH, a set_config('role', ...) inside a
// SELECT, or the query of a COPY (...) TO all count. What cannot be known
// from the text alone is not guessed at: the body of a DO block or of a
// function is not inspected, views and functions are not expanded, names
// are not resolved through search_path, and EXECUTE name says only that a
// prepared statement runs (see Statement.Prepared).
//
// Choices that follow from judging by what a statement does:
//   - EXPLAIN is explain; with ANALYZE (unless certainly false) it runs its
//     statement and adds that statement's kinds. Without it, only explain,
//     but the relations and functions inside are still reported.
//   - Statements stored for later (CREATE VIEW, CREATE RULE, a function's
//     BEGIN ATOMIC body, PREPARE) report the kinds of what they store.
//   - set_config is set, or set_role when its first argument is role or
//     session_authorization or is not a constant PostgreSQL reads as
//     written (see Statement.Settings); UPDATE pg_settings is also
//     set_role; pg_notify is listen_notify.
//   - The parameters a statement changes are reported apart from its kinds
//     (Statement.Settings), so that a caller can refuse the ones it relies
//     on whatever kinds it allows.
//   - SQL given as text to a built-in that runs it (query_to_xml and its
//     schema variants, ts_stat, ts_rewrite with a query) is part of the
//     statement: its kinds, relations, functions and settings are
//     reported as the statement's. Text that is not a string constant
//     (see stringConstant), does not parse or nests too deep is set_role
//     and changes "*" (see Statement.Settings), as it may call set_config
//     with any name. table_to_xml and its variants report a constant
//     relation name as a relation.
//   - COPY to or from a server file or PROGRAM is also "other".
//   - Statements that fit no kind (LOCK, LOAD, CHECKPOINT) are "other".
package sqlclass

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// Statement is what one statement of a query string does.
type Statement struct {
	// Text is the statement's own text, without the whitespace around it
	// or the semicolon after it.
	Text string
	// Location is the byte offset of Text in the classified string.
	Location int
	// Command is the statement's parse node, as libpg_query names it
	// ("SelectStmt", "FetchStmt", "ExecuteStmt", ...).
	Command Command
	// Cursor is the cursor a DECLARE, FETCH, MOVE or CLOSE names ("" for
	// CLOSE ALL and other statements).
	Cursor string
	// Kinds are every kind the statement does, the statement's own kind
	// first, each once. Never empty: what fits no kind is "other".
	Kinds []sqlkind.Kind
	// Relations are the relations it names (reads, writes, creates, locks),
	// as written: schema-qualified when written so, lower-cased unless
	// quoted. A WITH query's name is not a relation when referenced.
	Relations []string
	// Functions are the functions it calls, schema-qualified when written
	// so, lower-cased.
	Functions []string
	// Settings are the run-time parameters (GUCs) the statement changes or
	// may change, each once, in the order met. A name is lower-cased the
	// way PostgreSQL compares parameter names (ASCII letters only), quoted
	// or not; an obsolete name PostgreSQL still accepts (sort_mem,
	// vacuum_mem, ssl_ecdh_curve) is followed by its current name.
	//   - SET [SESSION | LOCAL] name, SET name TO DEFAULT, SET name FROM
	//     CURRENT, RESET name: name. The grammar's own spellings give
	//     their parameter: SET TIME ZONE timezone, SET ROLE role, SET
	//     SESSION AUTHORIZATION session_authorization, SET NAMES
	//     client_encoding, SET SCHEMA search_path, SET XML OPTION
	//     xmloption.
	//   - The same where a setting is stored for later: ALTER ROLE,
	//     ALTER DATABASE, ALTER SYSTEM, CREATE or ALTER FUNCTION or
	//     PROCEDURE ... SET name or RESET name.
	//   - READ WRITE in BEGIN, START TRANSACTION or SET TRANSACTION:
	//     transaction_read_only; in SET SESSION CHARACTERISTICS AS
	//     TRANSACTION: default_transaction_read_only. READ ONLY, which only
	//     tightens, the isolation level and [NOT] DEFERRABLE give nothing.
	//   - set_config(name, ...) anywhere in the statement: name, when it is
	//     a string constant (bare or cast to pg_catalog.text or varchar
	//     without a length).
	//   - "all": RESET ALL (also stored: ALTER ROLE ... RESET ALL and the
	//     like) and DISCARD ALL, which may put any parameter back to its
	//     default. DISCARD ALL also gives session_authorization, which
	//     PostgreSQL's RESET ALL leaves alone.
	//   - "*": a parameter the text does not name: set_config whose name is
	//     a parameter ($1), an expression, NULL, a named argument or a
	//     constant under any other cast; UPDATE (or DELETE, MERGE) of
	//     pg_settings, whose rule calls set_config for the rows picked;
	//     SQL text run by query_to_xml or ts_stat that is not a constant;
	//     a form of SET the grammar did not have when this was written.
	// A caller should take "all" and "*" as naming every parameter. Like
	// Kinds, Settings leave out what EXPLAIN only plans, and include what
	// PREPARE, CREATE VIEW, CREATE RULE or a BEGIN ATOMIC body stores.
	// Parameters changed out of sight are not known: in a DO block or a
	// function's body, by a function's own SET clause when it is called,
	// through a view over pg_settings, or by EXECUTE (see Prepared).
	Settings []string
	// Prepared is set for PREPARE: the name and what the prepared
	// statement does each time it is executed.
	Prepared *Prepared
	// Executes names the prepared statements an EXECUTE runs (also inside
	// EXPLAIN ANALYZE or CREATE TABLE AS). What they do is not in the text.
	Executes []string
	// Names is what the statement does to the session's cursors and
	// prepared statements (DECLARE, CLOSE, FETCH, MOVE, PREPARE,
	// DEALLOCATE, DISCARD ALL).
	Names NameChange
	// Copy is set for a COPY statement: its direction and options.
	Copy *Copy
	// LocksRows: a SELECT in the statement, at any depth, takes row locks
	// (FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE), which
	// other sessions wait on. Not set inside EXPLAIN without ANALYZE.
	LocksRows bool
}

// Copy is what a COPY statement says of the form of its data.
type Copy struct {
	To    bool // COPY ... TO (else FROM)
	Stdio bool // to STDOUT or from STDIN, not a file or program
	// Options by lower-cased name (format, header, delimiter, ...), each
	// value as optionValue renders it; the old syntax (CSV HEADER, BINARY)
	// gives the same names. "?" names an option gatehouse cannot read.
	Options map[string]string
}

// Prepared is what a PREPARE statement stores under Name. The session that
// prepared it is the only place it can be executed, so a caller remembers
// it per session: on EXECUTE Name it judges Kinds, Relations, Functions
// and Settings (plus "execute"); it refuses an EXECUTE of a name it does
// not know (the statement may have been prepared where the proxy could not
// see it, such as inside a DO block); and it forgets the name on
// DEALLOCATE (of it or ALL) and DISCARD ALL. A PREPARE of a name already in
// use fails upstream, so the caller should remember a PREPARE only once it
// has succeeded.
type Prepared struct {
	Name      string
	Kinds     []sqlkind.Kind
	Relations []string
	Functions []string
	Settings  []string
}

// ParseError is PostgreSQL's parser refusing the text. Callers refuse the
// whole query string: nothing that does not parse is forwarded.
type ParseError struct {
	Message string
	// Position is where the parser stopped, counted in characters from 1
	// as in ErrorResponse field P; 0 when unknown.
	Position int
}

func (e *ParseError) Error() string {
	if e.Position > 0 {
		return fmt.Sprintf("sqlclass: syntax: %s at character %d", e.Message, e.Position)
	}
	return "sqlclass: syntax: " + e.Message
}

// errNUL refuses text the C parser would read only up to its first NUL:
// the rest would go unjudged.
var errNUL = &ParseError{Message: "statement text contains a NUL byte"}

// Classify parses sql, which may hold several statements separated by
// semicolons, and returns what each does, in order. A string with no
// statement (empty, blanks, comments) gives none and no error. Any error
// means the text could not be judged, and callers must refuse it.
func Classify(sql string) ([]Statement, error) {
	sts, _, err := classify(sql)
	return sts, err
}

// classify is Classify that also says whether the result depends on the
// values of the text's constants (see walker.readsConstants).
func classify(sql string) (sts []Statement, readsConstants bool, err error) {
	if strings.IndexByte(sql, 0) >= 0 {
		return nil, false, errNUL
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, false, parseError(err)
	}
	out := make([]Statement, 0, len(tree.Stmts))
	for _, raw := range tree.Stmts {
		st, reads, err := classifyRaw(sql, raw)
		if err != nil {
			return nil, false, err
		}
		readsConstants = readsConstants || reads
		out = append(out, st)
	}
	return out, readsConstants, nil
}

func parseError(err error) error {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return &ParseError{Message: pe.Message, Position: pe.Cursorpos}
	}
	// The tree came back but could not be decoded (for example a string
	// that is not UTF-8): still a refusal.
	return fmt.Errorf("sqlclass: decode parse tree: %w", err)
}

func classifyRaw(sql string, raw *pg_query.RawStmt) (Statement, bool, error) {
	text, at, err := statementText(sql, raw)
	if err != nil {
		return Statement{}, false, err
	}
	if raw.GetStmt() == nil {
		return Statement{}, false, fmt.Errorf("sqlclass: statement at byte %d: empty parse tree", at)
	}
	w := walkStatement(raw.Stmt)
	return Statement{
		Text:      text,
		Location:  at,
		Command:   commandOf(raw.Stmt),
		Cursor:    cursorOf(raw.Stmt),
		Kinds:     w.kinds,
		Relations: w.relations,
		Functions: w.functions,
		Settings:  w.settings,
		Prepared:  w.prepared,
		Executes:  w.executes,
		Names:     namesOf(raw.Stmt),
		Copy:      w.copy,
		LocksRows: w.locksRows,
	}, w.readsConstants, nil
}

// statementText slices one statement out of sql by the byte range the
// parser reports (stmt_len 0 means "to the end"), trimmed of the blanks
// PostgreSQL's scanner skips.
func statementText(sql string, raw *pg_query.RawStmt) (string, int, error) {
	start, n := int(raw.StmtLocation), int(raw.StmtLen)
	end := len(sql)
	if n > 0 {
		end = start + n
	}
	if start < 0 || start > end || end > len(sql) {
		return "", 0, fmt.Errorf("sqlclass: statement range [%d,%d) outside the %d-byte text", start, end, len(sql))
	}
	text := sql[start:end]
	trimmed := strings.TrimLeft(text, pgSpace)
	start += len(text) - len(trimmed)
	return strings.TrimRight(trimmed, pgSpace), start, nil
}

// pgSpace is the whitespace of PostgreSQL's scanner (scan.l, "space").
const pgSpace = " \t\n\r\f\v"

// commandOf names a statement's parse node (the field set in the Node
// oneof, e.g. select_stmt → SelectStmt).
func commandOf(n *pg_query.Node) Command {
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd == nil {
		return ""
	}
	return Command(fd.Message().Name())
}

func cursorOf(n *pg_query.Node) string {
	switch {
	case n.GetDeclareCursorStmt() != nil:
		return n.GetDeclareCursorStmt().GetPortalname()
	case n.GetFetchStmt() != nil:
		return n.GetFetchStmt().GetPortalname()
	case n.GetClosePortalStmt() != nil:
		return n.GetClosePortalStmt().GetPortalname()
	}
	return ""
}

// Command is a statement's parse node, as libpg_query names it. The
// constants are the ones gatehouse decides by; any other node's name
// can be a Command too.
type Command string

// The commands decided by name.
const (
	SelectCommand  Command = "SelectStmt"
	ExecuteCommand Command = "ExecuteStmt"
	FetchCommand   Command = "FetchStmt"
)

package pgwire

// PostgreSQL keeps one namespace of portals, which SQL cursors (DECLARE,
// FETCH, MOVE, CLOSE) and the extended protocol's Bind, Execute and Close
// share, and one of prepared statements, which PREPARE, EXECUTE,
// DEALLOCATE and Parse share (protocol §55.2.3; DISCARD ALL empties both).
// Rows an Execute or a FETCH returns come from whatever query the server
// holds under the name at that moment, so masking needs the same picture
// the server has: a name swapped behind gatehouse's back, by the other
// half of the namespace, must never keep the description of what it held
// before. namespace tracks both, changed in the order the database
// answered, and anything it cannot know exactly is untrusted: its rows
// are described without a source, which Results masks as it masks what
// it cannot trace.

// NameOp is what one SQL statement does to the session's portals and
// prepared statements, for Verdict.Names.
type NameOp uint8

const (
	// NamesUntouched: the statement names neither namespace.
	NamesUntouched NameOp = iota
	// DeclareCursor creates the portal Name (DECLARE); Hold: WITH HOLD.
	DeclareCursor
	// CloseCursor closes the portal Name, or every portal (All).
	CloseCursor
	// FetchCursor returns (FETCH) or skips (MOVE) rows of the portal Name.
	FetchCursor
	// PrepareStatement creates the prepared statement Name (PREPARE).
	PrepareStatement
	// DeallocateStatement removes the statement Name, or every one (All).
	DeallocateStatement
	// ExecuteStatement returns the rows of the prepared statement Name
	// (SQL EXECUTE).
	ExecuteStatement
	// DiscardAll empties both namespaces (DISCARD ALL).
	DiscardAll
	// NamesUnknown: the statement runs code gatehouse cannot see (DO,
	// CALL), which may create, close or replace names: nothing held
	// before it is trusted after it.
	NamesUnknown
)

// NameEffect is what one statement of a SQL string does to the names.
type NameEffect struct {
	Op   NameOp
	Name string
	All  bool
	Hold bool
	// SQL and Source, for DeclareCursor and PrepareStatement: the
	// statement's own text, for the record of Executes of the portal, and
	// what Results is given as Result.Detail (with Statement 0) for rows
	// that come from the name.
	SQL    string
	Source any
}

// prepared is a statement as the server holds it under a name.
type prepared struct {
	sql    string
	detail any
	// names are what running the statement does (Verdict.Names of its
	// one statement); nil: nothing.
	names []NameEffect
	// untrusted: the name may have been replaced out of sight since.
	untrusted bool
}

// source is the Detail for rows of the statement: nil unless gatehouse
// knows exactly what the server holds.
func (p *prepared) source() any {
	if p == nil || p.untrusted {
		return nil
	}
	return p.detail
}

// effect is what running the statement does to the names.
func (p *prepared) effect() NameEffect {
	if p == nil || len(p.names) == 0 {
		return NameEffect{}
	}
	return p.names[0]
}

type portal struct {
	stmtName  string
	stmt      *prepared // nil: not a statement gatehouse saw defined
	params    int
	values    []Parameter
	rewrite   *RowRewrite // from Results, at the portal's description
	described bool        // rewrite and width are known
	width     int         // fields in the portal's rows, as described
	hold      bool        // a cursor WITH HOLD: outlives its transaction
	inTxn     bool        // created in the current transaction
}

// namespace is the session's portals and prepared statements. Owned by
// the upstream-side copier.
type namespace struct {
	statements map[string]*prepared
	portals    map[string]*portal
	// txnFailed: since the last idle ReadyForQuery an error or a rollback
	// happened, so cursors created in the transaction may be gone.
	txnFailed bool
}

func newNamespace() namespace {
	return namespace{statements: map[string]*prepared{}, portals: map[string]*portal{}}
}

// apply makes a statement's effect on the names, once it has succeeded.
func (n *namespace) apply(e NameEffect) {
	switch e.Op {
	case DeclareCursor:
		n.portals[e.Name] = &portal{stmt: &prepared{sql: e.SQL, detail: e.Source}, hold: e.Hold, inTxn: true}
	case CloseCursor:
		drop(n.portals, e.Name, e.All)
	case PrepareStatement:
		n.statements[e.Name] = &prepared{sql: e.SQL, detail: e.Source}
	case DeallocateStatement:
		drop(n.statements, e.Name, e.All)
	case DiscardAll:
		clear(n.portals)
		clear(n.statements)
	case NamesUnknown:
		n.distrust()
	}
}

// drop removes name from m, or every name (CLOSE ALL, DEALLOCATE ALL).
func drop[V any](m map[string]V, name string, all bool) {
	if all {
		clear(m)
	} else {
		delete(m, name)
	}
}

// distrust keeps every name for the record but trusts none of them for
// masking. Copies, since a portal shares its statement's entry.
func (n *namespace) distrust() {
	for name, p := range n.statements {
		n.statements[name] = p.distrusted()
	}
	for _, pt := range n.portals {
		pt.stmt = pt.stmt.distrusted()
		pt.described = false
	}
}

func (p *prepared) distrusted() *prepared {
	if p == nil {
		return &prepared{untrusted: true}
	}
	c := *p
	c.untrusted = true
	return &c
}

// rolledBack is a ROLLBACK, ROLLBACK TO SAVEPOINT or an error inside a
// transaction: cursors it created may have been closed with it.
func (n *namespace) rolledBack() {
	n.txnFailed = true
	for name, pt := range n.portals {
		if pt.inTxn {
			delete(n.portals, name)
		}
	}
}

// idle is a ReadyForQuery outside a transaction block: the transaction
// ended, and with it every portal but the cursors WITH HOLD it committed
// (protocol §55.2.3; DECLARE). Whether it committed is not always known
// (a COMMIT of a failed block rolls back), so a cursor WITH HOLD created
// in a transaction that saw an error is dropped here: an Execute or FETCH
// of it is then described without a source.
func (n *namespace) idle() {
	for name, pt := range n.portals {
		if !pt.hold || (pt.inTxn && n.txnFailed) {
			delete(n.portals, name)
			continue
		}
		pt.inTxn = false
	}
	n.txnFailed = false
}

// rowsSource is the Detail for the rows of a statement whose effect is e
// and whose own detail is own: a FETCH's rows are its cursor's, an
// EXECUTE's its prepared statement's, and a name gatehouse does not know
// exactly gives nil.
func (n *namespace) rowsSource(e NameEffect, own any) any {
	switch e.Op {
	case FetchCursor:
		if pt := n.portals[e.Name]; pt != nil {
			return pt.stmt.source()
		}
		return nil
	case ExecuteStatement:
		return n.statements[e.Name].source()
	}
	return own
}

package sqlclass

import pg_query "github.com/pganalyze/pg_query_go/v6"

// NameChange is what a statement does to the session's named cursors and
// prepared statements. PostgreSQL keeps one namespace of portals, shared
// by SQL cursors and the extended protocol's Bind, and one of prepared
// statements, shared by PREPARE and Parse; a proxy that masks rows must
// know which query stands behind a name when rows come from it.
type NameChange struct {
	// Op is NoNameChange when the statement names neither namespace.
	Op   NameOp
	Name string // the cursor or statement; "" with All
	All  bool   // CLOSE ALL, DEALLOCATE ALL, DISCARD ALL
	Hold bool   // DECLARE ... WITH HOLD: the cursor outlives its transaction
}

// NameOp is what a statement does to a namespace.
type NameOp string

// The name operations.
const (
	NoNameChange NameOp = ""
	Declare      NameOp = "declare"
	Close        NameOp = "close"
	Fetch        NameOp = "fetch" // FETCH and MOVE
	Prepare      NameOp = "prepare"
	Deallocate   NameOp = "deallocate"
	// Discard is DISCARD ALL, which empties both namespaces.
	Discard NameOp = "discard"
)

// cursorOptHold is PostgreSQL's CURSOR_OPT_HOLD (parsenodes.h).
const cursorOptHold = 0x0020

// namesOf reads the name change of a statement's parse node.
func namesOf(n *pg_query.Node) NameChange {
	switch {
	case n.GetDeclareCursorStmt() != nil:
		d := n.GetDeclareCursorStmt()
		return NameChange{Op: Declare, Name: d.GetPortalname(), Hold: d.GetOptions()&cursorOptHold != 0}
	case n.GetClosePortalStmt() != nil:
		name := n.GetClosePortalStmt().GetPortalname()
		return NameChange{Op: Close, Name: name, All: name == ""}
	case n.GetFetchStmt() != nil:
		return NameChange{Op: Fetch, Name: n.GetFetchStmt().GetPortalname()}
	case n.GetPrepareStmt() != nil:
		return NameChange{Op: Prepare, Name: n.GetPrepareStmt().GetName()}
	case n.GetDeallocateStmt() != nil:
		d := n.GetDeallocateStmt()
		return NameChange{Op: Deallocate, Name: d.GetName(), All: d.GetIsall() || d.GetName() == ""}
	case n.GetDiscardStmt() != nil && n.GetDiscardStmt().GetTarget() == pg_query.DiscardMode_DISCARD_ALL:
		return NameChange{Op: Discard, All: true}
	}
	return NameChange{}
}

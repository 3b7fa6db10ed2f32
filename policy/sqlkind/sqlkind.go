// Package sqlkind is the vocabulary of what a SQL statement does, in the
// words statement policies use (`allow`, `deny`; DESIGN.md, "Statement
// kinds used by allow/deny"). policy/sqlclass classifies statements into
// these kinds and policy judges them; both import this package so that
// the two cannot name a kind differently, and a misspelt kind is a
// compile error rather than a rule that never matches.
package sqlkind

// Kind is one thing a statement does. A statement may do several (an
// INSERT ... SELECT both inserts and selects).
type Kind string

// The kinds a statement is classified into.
const (
	Select        Kind = "select"
	Insert        Kind = "insert"
	Update        Kind = "update"
	Delete        Kind = "delete"
	Merge         Kind = "merge"
	CopyFrom      Kind = "copy_from"
	CopyTo        Kind = "copy_to"
	DDL           Kind = "ddl"
	Truncate      Kind = "truncate"
	Grant         Kind = "grant"
	Explain       Kind = "explain"
	Show          Kind = "show"
	Set           Kind = "set"
	Transaction   Kind = "transaction"
	Call          Kind = "call"
	Do            Kind = "do"
	Prepare       Kind = "prepare"
	Execute       Kind = "execute"
	ListenNotify  Kind = "listen_notify"
	VacuumAnalyze Kind = "vacuum_analyze"
	DropDatabase  Kind = "drop_database"
	AlterSystem   Kind = "alter_system"
	SetRole       Kind = "set_role"
	// Other is a statement that fits no kind (LOCK, LOAD, CHECKPOINT...);
	// only an explicit "other" or All allows it.
	Other Kind = "other"
)

// All is not a kind a statement has: in a policy's allow or deny it
// stands for every kind, Other included.
const All Kind = "all"

// Known lists the kinds statements are classified into, in the order the
// documentation gives them.
var Known = []Kind{
	Select, Insert, Update, Delete, Merge, CopyFrom, CopyTo,
	DDL, Truncate, Grant, Explain, Show, Set, Transaction,
	Call, Do, Prepare, Execute, ListenNotify, VacuumAnalyze,
	DropDatabase, AlterSystem, SetRole, Other,
}

// writes are the kinds that can change data, the schema or who the
// session is. Other is among them: what fits no kind is not known to
// change nothing.
var writes = map[Kind]bool{
	Insert: true, Update: true, Delete: true, Merge: true, CopyFrom: true, DDL: true,
	Truncate: true, Grant: true, Call: true, Do: true, VacuumAnalyze: true,
	DropDatabase: true, AlterSystem: true, SetRole: true, Other: true,
}

// Writes reports whether a statement of kind k can change data, the
// schema or who the session is.
func (k Kind) Writes() bool { return writes[k] }

// Strings returns kinds as plain strings, for recordings and messages.
func Strings(kinds []Kind) []string {
	if kinds == nil {
		return nil
	}
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

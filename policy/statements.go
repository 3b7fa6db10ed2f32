package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// Decision is the verdict on one statement.
type Decision struct {
	Allow bool
	// Rule is what decided, for the recording: for example
	// `statements.readonly.allow`, `statements.admin.deny: drop_database`,
	// `statements.readonly.deny_functions: pg_read_file`.
	Rule string
	// Reason is what the client is told on a denial, for example
	// `delete not allowed by statement policy "readonly"`.
	Reason string
}

// DecideStatement judges one statement by everything it does: its kinds,
// the relations it names and the functions it calls, as policy/sqlclass
// reports them (the bastion passes them on; policy stays free of the
// parser). policyName is the role's `statements` policy:
//
//   - "" means the role sets no `statements`: no statement restrictions,
//     everything is allowed (as with `allow: [all]`).
//   - A name with no policy under `statements` is denied (fail closed;
//     Validate rejects such a configuration before it gets here).
//   - Every kind must be allowed (`all` allows every kind, including
//     "other") and none denied; deny wins over allow. A statement with no
//     kinds counts as "other", which only `all` or an explicit "other"
//     allows.
//   - deny_functions and deny_relations are matched without regard to
//     case, on the trailing parts of the name (see nameMatches).
//
// Checks run in this order and the first failure decides: kinds, then
// functions, then relations.
func (c *Config) DecideStatement(policyName string, kinds []sqlkind.Kind, relations, functions []string) Decision {
	if policyName == "" {
		return Decision{Allow: true, Rule: "statements: unset"}
	}
	var sp StatementPolicy
	ok := false
	if c != nil {
		sp, ok = c.Statements[policyName]
	}
	if !ok {
		return Decision{
			Rule:   fmt.Sprintf("statements.%s: no such policy", policyName),
			Reason: fmt.Sprintf("statement policy %q is not configured", policyName),
		}
	}
	// Every statement is decided here: the strings of a denial are built
	// only for one, and an allowed statement costs one (its rule).
	at := "statements." + policyName
	if len(kinds) == 0 {
		kinds = []sqlkind.Kind{sqlkind.Other}
	}
	for _, k := range kinds {
		if d, denied := sp.denyKind(policyName, k); denied {
			return d
		}
	}
	for _, f := range functions {
		if entry, hit := firstMatch(sp.DenyFunctions, f); hit {
			return deny(at+".deny_functions: "+entry, fmt.Sprintf("function %s not allowed by statement policy %q", f, policyName))
		}
	}
	for _, r := range relations {
		if entry, hit := firstMatch(sp.DenyRelations, r); hit {
			return deny(at+".deny_relations: "+entry, fmt.Sprintf("relation %s not allowed by statement policy %q", r, policyName))
		}
	}
	return Decision{Allow: true, Rule: at + ".allow"}
}

// denyKind reports whether kind k is refused by the policy called name:
// denied by name or by `all`, or missing from allow.
func (sp StatementPolicy) denyKind(name string, k sqlkind.Kind) (Decision, bool) {
	rule := ""
	for _, d := range sp.Deny {
		if d == k || d == sqlkind.All {
			rule = ".deny: " + string(d)
			break
		}
	}
	if rule == "" && !slices.Contains(sp.Allow, k) && !slices.Contains(sp.Allow, sqlkind.All) {
		rule = ".allow: " + string(k) + " not listed"
	}
	if rule == "" {
		return Decision{}, false
	}
	return deny("statements."+name+rule, fmt.Sprintf("%s not allowed by statement policy %q", k, name)), true
}

func deny(rule, reason string) Decision {
	return Decision{Rule: rule, Reason: reason}
}

func firstMatch(entries []string, name string) (string, bool) {
	for _, e := range entries {
		if nameMatches(e, name) {
			return e, true
		}
	}
	return "", false
}

// nameMatches compares a configured name with a name as written in SQL,
// both possibly qualified (schema.name, or catalog.schema.name), on as many
// trailing parts as the shorter has, without regard to case:
// `pg_read_file` matches `pg_catalog.pg_read_file` and `x.pg_read_file`;
// `public.customers` matches `customers` and `public.customers` but not
// `other.customers`.
//
// search_path is not resolved here: an unqualified name in SQL matches an
// entry in any schema, which may refuse more than needed (never less).
// Names reached indirectly — through a view, a function, a synonym-like
// wrapper, dynamic SQL or a regclass literal — are not seen at all; list
// those too, or revoke the privilege in the database.
// Case is ignored although PostgreSQL distinguishes quoted names:
// `"Customers"` and `customers` are two tables, and both match either
// entry, again refusing more rather than less.
//
// It walks both names from their ends rather than splitting them: it runs
// for every relation of every statement against every entry.
func nameMatches(entry, name string) bool {
	if entry == "" || name == "" {
		return false
	}
	for {
		e, eRest, eMore := cutLastPart(entry)
		n, nRest, nMore := cutLastPart(name)
		if !strings.EqualFold(e, n) {
			return false
		}
		if !eMore || !nMore {
			return true
		}
		entry, name = eRest, nRest
	}
}

// cutLastPart splits a dotted name before its last part; more says that
// a part precedes it (possibly an empty one, as in "a..b").
func cutLastPart(s string) (last, rest string, more bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s, "", false
	}
	return s[i+1:], s[:i], true
}

// ReadOnly reports whether a statement policy allows no kind that writes,
// in which case the proxy also sets default_transaction_read_only upstream
// as a second wall. "" (no policy) and unknown names are not read-only.
func (c *Config) ReadOnly(policyName string) bool {
	sp, ok := c.Statements[policyName]
	if !ok || slices.Contains(sp.Allow, sqlkind.All) {
		return false
	}
	for _, k := range sp.Allow {
		if k.Writes() {
			return false
		}
	}
	return true
}

// StatementPolicyFor names the statement policy that applies to a role:
// agent_statements for an agent identity when set, else statements.
func (r *Role) StatementPolicyFor(agent bool) string {
	if agent && r.AgentStatements != "" {
		return r.AgentStatements
	}
	return r.Statements
}

// MaskingPolicyFor names the masking policy that applies to a role:
// agent_masking for an agent identity when set, else masking ("" for none).
func (r *Role) MaskingPolicyFor(agent bool) string {
	if agent && r.AgentMasking != "" {
		return r.AgentMasking
	}
	return r.Masking
}

package bastion

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/masking"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
)

// sessionMasking applies one masking policy to one database session.
//
// A column is masked by what it is: RowDescription names each result
// column's table OID and attribute number, which the catalog maps to the
// configured columns whatever alias, `*` or subquery produced it. What the
// catalog cannot vouch for is masked too (fail closed): columns of views
// that read masked data, of relations created since the catalog was read,
// and computed columns (no table OID) of statements that read a table or
// view holding masked data.
type sessionMasking struct {
	name   string
	policy policy.MaskingPolicy
	masker *masking.Masker
	cache  *catalogCache
	key    string         // the cache key: target, database, policy
	cfg    *pgconn.Config // the role's upstream, to read the catalog again
	now    func() time.Time

	// Inspect (the client side) replaces the catalog; Results (the
	// database side) reads it.
	mu         sync.Mutex
	cat        *maskCatalog
	generation int
}

// maskingDetail is what Inspect found for Results: whether the statement
// string reads data masking cannot trace column by column.
type maskingDetail struct {
	readsMasked bool
}

// catalogFor returns the session's catalog, reading it again when the
// database's generation moved on (DDL) or it is older than catalogTTL.
func (m *sessionMasking) refresh(ctx context.Context) error {
	now := m.now()
	cat, gen := m.cache.get(m.key, now)
	if cat == nil {
		var err error
		cat, err = readCatalog(ctx, m.cfg, m.policy.Columns, now)
		if err != nil {
			return err
		}
		m.cache.put(m.key, cat, gen)
	}
	m.mu.Lock()
	m.cat, m.generation = cat, gen
	m.mu.Unlock()
	return nil
}

// current is the catalog and whether it may be out of date (a DDL
// statement ran since it was read).
func (m *sessionMasking) current() (*maskCatalog, bool) {
	m.mu.Lock()
	cat, gen := m.cat, m.generation
	m.mu.Unlock()
	return cat, m.cache.generation(m.key) != gen
}

// check judges a statement string that policy allowed, for what masking
// refuses: functions that are not built in (they can read masked data out
// of sight) unless allow_functions lists them, and COPY TO of data with
// masked columns (COPY's rows carry no column identity). It also notes in
// d whether the string reads masked data.
func (m *sessionMasking) check(ctx context.Context, stmts []sqlclass.Statement, d *statementDetail) string {
	if err := m.refresh(ctx); err != nil {
		return fmt.Sprintf("gatehouse: statement refused: masking policy %q applies and gatehouse could not read the database's catalog (%v)", m.name, err)
	}
	cat, _ := m.current()
	md := &maskingDetail{}
	for _, st := range stmts {
		for _, f := range st.Functions {
			if cat.userFunctions[bareName(f)] && !strings.HasPrefix(f, "pg_catalog.") && !m.allowed(f) {
				return fmt.Sprintf("gatehouse: function %s refused: it is not built into PostgreSQL and masking policy %q applies (it could read masked data out of sight); an operator may list it in allow_functions", f, m.name)
			}
			if cat.userFunctions[bareName(f)] {
				md.readsMasked = true
			}
		}
		reads := slices.ContainsFunc(st.Relations, func(r string) bool { return cat.maskedNames[bareName(r)] })
		if reads && slices.Contains(st.Kinds, "copy_to") {
			return fmt.Sprintf("gatehouse: COPY TO of a relation with masked columns is refused (masking policy %q); use SELECT, whose results are masked", m.name)
		}
		// FETCH and EXECUTE run what was declared or prepared earlier.
		if reads || st.Command == "FetchStmt" || st.Command == "ExecuteStmt" || slices.Contains(st.Kinds, "execute") {
			md.readsMasked = true
		}
		if slices.Contains(st.Kinds, "ddl") {
			m.cache.changed(m.key) // every session of this database is cautious until it reads again
		}
	}
	d.masking = md
	return ""
}

func (m *sessionMasking) allowed(f string) bool {
	return slices.Contains(m.policy.AllowFunctions, f) || slices.Contains(m.policy.AllowFunctions, bareName(f))
}

func bareName(name string) string {
	return name[strings.LastIndexByte(name, '.')+1:]
}

// results is pgwire's Results hook: how each column of a result is masked.
func (m *sessionMasking) results(r pgwire.Result) *pgwire.RowRewrite {
	cat, stale := m.current()
	derived := true // unknown statements read masked data
	if d, ok := r.Detail.(*statementDetail); ok && d.masking != nil {
		derived = d.masking.readsMasked
	}
	rw := &pgwire.RowRewrite{Columns: make([]pgwire.ColumnRewrite, len(r.Fields))}
	for i, f := range r.Fields {
		fn, why := m.columnRule(cat, stale, derived, f)
		if fn == "" {
			if len(m.policy.Detectors) > 0 {
				rw.Columns[i] = m.detect(f)
			}
			continue
		}
		rw.Columns[i] = m.mask(masking.Func(fn), f)
		rw.Notes = append(rw.Notes, fmt.Sprintf("%s: %s (%s)", f.Name, fn, why))
	}
	if len(m.policy.Detectors) > 0 {
		rw.Notes = append(rw.Notes, "detectors: "+strings.Join(m.policy.Detectors, ", "))
	}
	return rw
}

// columnRule is the mask function for a result column and the reason, or
// "" when it is not masked.
func (m *sessionMasking) columnRule(cat *maskCatalog, stale, derived bool, f pgproto3.FieldDescription) (fn, why string) {
	fallback := string(masking.FuncRedact)
	if m.policy.OnDerived == "deny" {
		fallback = string(masking.FuncNull)
	}
	switch {
	case cat == nil:
		return fallback, "masking catalog not read"
	case f.TableOID == 0:
		if derived || stale {
			return fallback, "computed from a statement that reads masked data"
		}
	default:
		if c, ok := cat.columns[columnID{f.TableOID, f.TableAttributeNumber}]; ok {
			return c.fn, c.name
		}
		if t, ok := cat.tables[f.TableOID]; ok && f.TableAttributeNumber == 0 {
			return fallback, "whole row of " + t
		}
		if v, ok := cat.views[f.TableOID]; ok {
			return fallback, "view " + v + " reads masked data"
		}
		if !cat.relations[f.TableOID] || stale {
			return fallback, "relation changed since the masking catalog was read"
		}
	}
	return "", ""
}

// mask rewrites a column's values with fn, in the format they are in. A
// value the mask cannot handle goes out as NULL rather than as it was.
func (m *sessionMasking) mask(fn masking.Func, f pgproto3.FieldDescription) pgwire.ColumnRewrite {
	if f.Format == 1 {
		typ := f.DataTypeOID
		return func(dst, v []byte) ([]byte, bool) {
			out, null, err := m.masker.AppendBinary(dst, fn, typ, v)
			return out, null || err != nil
		}
	}
	return func(dst, v []byte) ([]byte, bool) {
		out, null, err := m.masker.AppendText(dst, fn, v)
		return out, null || err != nil
	}
}

// detect redacts what the policy's detectors find in a column's text.
// Binary values are text only for the text-like types.
func (m *sessionMasking) detect(f pgproto3.FieldDescription) pgwire.ColumnRewrite {
	if f.Format == 1 && !masking.BinaryIsText(f.DataTypeOID) {
		return nil
	}
	ds := make([]masking.Detector, 0, len(m.policy.Detectors))
	for _, name := range m.policy.Detectors {
		if d, err := masking.ParseDetector(name); err == nil {
			ds = append(ds, d)
		}
	}
	return func(dst, v []byte) ([]byte, bool) {
		return append(dst, masking.Redact(ds, v)...), false
	}
}

// startMasking sets up the role's masking policy for the session, if it
// has one: the catalog is read before the client is let in, and a session
// that cannot be masked is refused.
func (s *pgSession) startMasking(ctx context.Context, role *policy.Role, database string, up *pgwire.Upstream) error {
	name := role.MaskingPolicyFor(s.agent)
	if name == "" {
		return nil
	}
	srv := s.cs.srv
	refuse := func(why string, err error) error {
		s.cs.log.Error("masking unavailable", "target", s.target, "role", s.role, "masking", name, "error", err)
		return &pgwire.Error{Code: "28000", Message: fmt.Sprintf("gatehouse: masking policy %q applies to %s:%s and %s; the session is refused", name, s.target, s.role, why)}
	}
	if srv.cfg.Masker == nil {
		return refuse("the bastion has no masking key", nil)
	}
	m := &sessionMasking{
		name: name, policy: srv.cfg.Policy.Masking[name], masker: srv.cfg.Masker, cache: &srv.catalogs,
		key: s.target + "\x00" + database + "\x00" + name, cfg: up.Config.Copy(), now: srv.cfg.Clock,
	}
	if err := m.refresh(ctx); err != nil {
		return refuse("gatehouse could not read the database's catalog", err)
	}
	s.masking = m
	up.Results = m.results
	return nil
}

package pgsession

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/lineage"
	"github.com/gatehouse-dev/gatehouse/policy/masking"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
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
	key    string // the cache key: target, database, policy
	now    func() time.Time
	log    *slog.Logger

	// lineage traces computed columns; opened at the first statement,
	// closed when the session ends. Used by Inspect only. (The outputs of
	// DECLAREs and PREPAREs, which FETCHes and EXECUTEs return, travel
	// with pgwire's names: nameEffects.)
	lineage  *pgLineageCatalog                          // over the connection shared with the database's other sessions
	path     sessionPath                                // the session's search_path (searchpath.go)
	classify func(string) ([]sqlclass.Statement, error) // to judge a prepared statement again

	// Inspect (the client side) replaces the catalog; Results (the
	// database side) reads it.
	mu         sync.Mutex
	cat        *maskCatalog
	generation int
}

// maskingDetail is what Inspect found for Results: whether the statement
// string reads masked data, and where each statement's output columns
// come from (nil for a statement lineage did not trace).
type maskingDetail struct {
	gen         uint64 // sessionPath.gen when traced: outputs hold under that search_path only
	readsMasked bool
	outputs     [][]lineage.Output
	copies      map[int]*copyPlan // by statement index: COPY TO that reads masked data
}

// refresh makes the session's catalog the database's current one,
// reading it again when the database's generation moved on (DDL) or it is
// older than catalogTTL. It is read over the shared lineage connection, so
// that sessions finding it stale at once take no connection each, and one
// read serves those that waited for it.
func (m *sessionMasking) refresh(ctx context.Context) error {
	now := m.now()
	cat, gen := m.cache.get(m.key, now)
	if cat == nil {
		err := m.lineage.shared.do(ctx, func(conn *pgconn.PgConn) error {
			if cat, gen = m.cache.get(m.key, now); cat != nil {
				return nil // read by another session while this one waited
			}
			var err error
			cat, err = readCatalog(ctx, conn, m.policy.Columns, now)
			return err
		})
		if err != nil {
			return err
		}
		m.cache.put(m.key, cat, gen)
		if missing := cat.missing(m.policy.Columns); len(missing) > 0 && m.log != nil {
			// Names are matched exactly, as PostgreSQL stores them: a
			// misspelt or wrongly cased entry masks nothing.
			m.log.Warn("masking: configured columns not found in this database", "masking", m.name, "columns", missing)
		}
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
// refuses: names it cannot resolve because the search_path is not known
// (sessionPath), what lineage refuses (trace: among them functions outside
// pg_catalog that allow_functions does not list, which can read masked
// data out of sight), and COPY TO of masked data in a form gatehouse
// cannot mask (planCopy). It notes in d what Results needs: whether the
// string reads masked data, each statement's traced outputs, and the plans
// of its COPYs.
func (m *sessionMasking) check(ctx context.Context, q pgwire.Query, stmts []sqlclass.Statement, d *statementDetail) string {
	md, msg := m.judge(ctx, q.Ask, stmts)
	if msg != "" {
		return msg
	}
	if msg := m.notePath(q, stmts, d); msg != "" {
		return msg
	}
	d.masking.Store(md)
	m.followPath(q, stmts)
	return ""
}

// judge is check's judgment of stmts under the current search_path, and
// what Results needs of them.
func (m *sessionMasking) judge(ctx context.Context, ask pgwire.AskFunc, stmts []sqlclass.Statement) (*maskingDetail, string) {
	if err := m.refresh(ctx); err != nil {
		return nil, fmt.Sprintf("gatehouse: statement refused: masking policy %q applies and gatehouse could not read the database's catalog (%v)", m.name, err)
	}
	md := &maskingDetail{gen: m.path.gen.Load()}
	changedHere := false // by a statement earlier in the string
	for i, st := range stmts {
		path, stale, msg := m.pathFor(ctx, ask, st, changedHere)
		if msg != "" {
			return nil, msg
		}
		changedHere = changedHere || m.path.sets(st) || endsTx(st)
		outputs, reads, msg := m.trace(ctx, st, path)
		if msg != "" {
			return nil, msg
		}
		// FETCH and EXECUTE run what was declared or prepared earlier.
		if reads || st.Command == sqlclass.FetchCommand || st.Command == sqlclass.ExecuteCommand || slices.Contains(st.Kinds, sqlkind.Execute) {
			md.readsMasked = true
		}
		if st.Names.Op == sqlclass.Fetch || st.Command == sqlclass.ExecuteCommand || stale {
			// pgwire describes a FETCH's or EXECUTE's rows by what the
			// server holds under the name when they come (nameEffects);
			// stale: an EXECUTE analyzed again under another path than
			// its PREPARE's.
			outputs = nil
		}
		md.outputs = append(md.outputs, outputs)
		if outputs == nil {
			md.readsMasked = true
		}
		if st.Copy != nil && st.Copy.To && (reads || outputs == nil) {
			plan, msg := m.planCopy(st.Copy, outputs)
			if msg != "" {
				return nil, msg
			}
			if md.copies == nil {
				md.copies = map[int]*copyPlan{}
			}
			md.copies[i] = plan
		}
		if slices.Contains(st.Kinds, "ddl") {
			m.cache.changed(m.key) // every session of this database is cautious until it reads again
		}
	}
	return md, ""
}

// pathFor is the search_path to resolve st's names with (nil when it names
// nothing), and whether st is an EXECUTE of a statement prepared under
// another path; or a refusal.
func (m *sessionMasking) pathFor(ctx context.Context, ask pgwire.AskFunc, st sqlclass.Statement, changedHere bool) (path []string, stale bool, refusal string) {
	if !needsPath(st) && len(st.Executes) == 0 {
		return nil, false, ""
	}
	if changedHere {
		return nil, false, m.pathRefusal(errPathUnknown)
	}
	path, err := m.path.current(ctx, ask)
	if err != nil {
		return nil, false, m.pathRefusal(err)
	}
	for _, name := range st.Executes {
		e := m.path.statements[name]
		if e == nil {
			continue // prepared earlier in this string (effect saw it), under this path
		}
		if e.judged != m.path.gen.Load() {
			stale = true
		}
		if msg := m.rejudge(ctx, ask, name, e); msg != "" {
			return nil, false, msg
		}
	}
	return path, stale, ""
}

func (m *sessionMasking) pathRefusal(err error) string {
	return fmt.Sprintf("gatehouse: statement refused: masking policy %q applies and gatehouse cannot resolve its names: %v", m.name, err)
}

// notePath remembers what the string prepares (a Parse, PREPAREs), to be
// judged again when it runs under another path.
func (m *sessionMasking) notePath(q pgwire.Query, stmts []sqlclass.Statement, d *statementDetail) string {
	if q.Extended {
		if err := m.path.prepared(q.StatementName, q.SQL, stmts, d); err != nil {
			return "gatehouse: statement refused: " + err.Error()
		}
	}
	for _, st := range stmts {
		if st.Prepared == nil {
			continue
		}
		if err := m.path.prepared(st.Prepared.Name, st.Text, []sqlclass.Statement{st}, nil); err != nil {
			return "gatehouse: statement refused: " + err.Error()
		}
	}
	return ""
}

// followPath notes what an allowed simple query string does to the path
// as it runs. A Parse runs nothing: its Binds do (bind).
func (m *sessionMasking) followPath(q pgwire.Query, stmts []sqlclass.Statement) {
	if q.Extended {
		return
	}
	for _, st := range stmts {
		m.path.ran(st)
	}
}

// rejudge judges the prepared statement e (name) again under the current
// search_path, when the path may have changed since it was judged:
// PostgreSQL analyzes it again under the path in force when it runs. Every
// text the name may stand for must pass. When it stands for one text, the
// new judgment replaces what Results masks that statement's rows by; else
// they stay judged under the old path, which Results takes as untraced.
func (m *sessionMasking) rejudge(ctx context.Context, ask pgwire.AskFunc, name string, e *preparedPath) string {
	gen := m.path.gen.Load()
	if e.judged == gen {
		return ""
	}
	var latest *maskingDetail
	for _, text := range e.texts {
		stmts, err := m.classify(text)
		if err != nil {
			return "gatehouse: statement refused: gatehouse could not parse it (" + err.Error() + ")"
		}
		md, msg := m.judge(ctx, ask, stmts)
		if msg != "" {
			return fmt.Sprintf("%s (prepared statement %q, judged again under the session's search_path)", msg, name)
		}
		latest = md
	}
	if len(e.texts) == 1 && e.detail != nil {
		e.detail.masking.Store(latest)
	}
	e.judged = gen
	return ""
}

// bind judges the Bind of a prepared statement (pgwire's Bind hook), and
// notes what running it may do to the search_path.
func (m *sessionMasking) bind(ctx context.Context, name string, ask pgwire.AskFunc) string {
	e := m.path.statements[name]
	if e == nil {
		return fmt.Sprintf("gatehouse: prepared statement %q refused: gatehouse did not see it prepared in this session (masking policy %q)", name, m.name)
	}
	if msg := m.rejudge(ctx, ask, name, e); msg != "" {
		return msg
	}
	m.path.bound(e)
	return ""
}

// trace runs the lineage analysis of one statement: its refusals (probing
// under deny_probing, values stored where they would not be masked, what
// it cannot trace while it reads masked data) and, under on_derived: deny,
// outputs computed from masked columns. The outputs are nil when the
// statement is not traced (then Results masks every computed column);
// reads says whether it reads masked data, or might.
func (m *sessionMasking) trace(ctx context.Context, st sqlclass.Statement, path []string) (outputs []lineage.Output, reads bool, refusal string) {
	ctx, cancel := context.WithTimeout(ctx, lineageTimeout)
	defer cancel()
	m.lineage.answers = m.cache.lineage(m.key)
	m.lineage.answers.expire(m.cache.generation(m.key), m.now())
	res, err := lineage.Analyze(ctx, st.Text, lineage.Options{
		Catalog: m.lineage, SearchPath: path, Masked: m.policy.Columns,
		AllowFunctions: m.policy.AllowFunctions, DenyProbing: m.policy.DenyProbing,
	})
	if err != nil {
		return nil, false, fmt.Sprintf("gatehouse: statement refused: masking policy %q applies and gatehouse could not trace it (%v)", m.name, err)
	}
	if res.Refuse != "" {
		return nil, false, fmt.Sprintf("gatehouse: %s (masking policy %q)", res.Refuse, m.name)
	}
	if m.policy.OnDerived == policy.DerivedDeny {
		for _, o := range res.Outputs {
			if o.Kind == lineage.Derived {
				return nil, false, fmt.Sprintf("gatehouse: output %s is computed from masked %s, and masking policy %q refuses such outputs (on_derived: deny); select the column itself, which is masked", o.Name, columnList(o.Sources), m.name)
			}
		}
	}
	return res.Outputs, res.ReadsMasked, ""
}

func columnList(cols []lineage.Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.String()
	}
	return strings.Join(names, ", ")
}

// closeMasking ends what masking holds for the session.
func (s *pgSession) closeMasking() {
	if s.masking == nil {
		return
	}
	s.p.lineages.release(s.masking.lineage.shared)
}

// results is pgwire's Results hook: how each column of a result is masked.
func (m *sessionMasking) results(r pgwire.Result) *pgwire.RowRewrite {
	cat, stale := m.current()
	derived := true // unknown statements read masked data
	var outputs []lineage.Output
	if md := currentDetail(r.Detail, m.path.gen.Load()); md != nil {
		derived = md.readsMasked
		if r.Statement < len(md.outputs) {
			outputs = traced(md.outputs[r.Statement], len(r.Fields))
		}
	}
	if r.Copy {
		return m.copyResult(r)
	}
	rw := &pgwire.RowRewrite{Columns: make([]pgwire.ColumnRewrite, len(r.Fields))}
	detectors := m.detectors()
	for i, f := range r.Fields {
		var fn, why string
		if f.TableOID == 0 && outputs != nil && !stale {
			fn, why = m.outputRule(outputs[i])
		} else {
			fn, why = m.columnRule(cat, stale, derived, f)
		}
		if fn == "" {
			if len(detectors) > 0 {
				rw.Columns[i] = detect(detectors, f)
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
	if m.policy.OnDerived == policy.DerivedDeny {
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

// detectors are the policy's content detectors (validated with the
// configuration), parsed once for a result rather than for each column.
func (m *sessionMasking) detectors() []masking.Detector {
	if len(m.policy.Detectors) == 0 {
		return nil
	}
	ds := make([]masking.Detector, 0, len(m.policy.Detectors))
	for _, name := range m.policy.Detectors {
		if d, err := masking.ParseDetector(name); err == nil {
			ds = append(ds, d)
		}
	}
	return ds
}

// detect redacts what the detectors ds find in a column's text. Binary
// values are text only for the text-like types.
func detect(ds []masking.Detector, f pgproto3.FieldDescription) pgwire.ColumnRewrite {
	if f.Format == 1 && !masking.BinaryIsText(f.DataTypeOID) {
		return nil
	}
	return func(dst, v []byte) ([]byte, bool) {
		return append(dst, masking.Redact(ds, v)...), false
	}
}

// startMasking sets up the role's masking policy for the session, if it
// has one: the catalog is read before the client is let in, and a session
// that cannot be masked is refused.
func (s *pgSession) startMasking(ctx context.Context, role *policy.Role, st pgwire.Startup, up *pgwire.Upstream) error {
	name := role.MaskingPolicyFor(s.agent)
	if name == "" {
		return nil
	}
	p := s.p
	refuse := func(why string, err error) error {
		s.log.Error("masking unavailable", "target", s.target, "role", s.role, "masking", name, "error", err)
		return &pgwire.Error{Code: "28000", Message: fmt.Sprintf("gatehouse: masking policy %q applies to %s:%s and %s; the session is refused", name, s.target, s.role, why)}
	}
	if p.cfg.Masker == nil {
		return refuse("the bastion has no masking key", nil)
	}
	// The catalog is read as the session sees it, same role and database,
	// over the connection its sessions share (opened in the background by
	// the first, beside pgwire's own). Names are never resolved on its own
	// search_path: lookups name their schemas, from the session's path
	// (sessionPath).
	cfg := up.Config.Copy()
	m := &sessionMasking{
		name: name, policy: p.cfg.Policy.Masking[name], masker: p.cfg.Masker, cache: &p.catalogs,
		key: s.target + "\x00" + st.Database + "\x00" + name, now: p.cfg.Clock, log: s.log,
		classify: p.classifier.Classify,
	}
	m.path.changed() // read from the session before the first statement that needs it
	m.path.userCode = m.runsUserCode
	shared := p.lineages.acquire(ctx, s.target+"\x00"+st.Database+"\x00"+cfg.User, cfg)
	m.lineage = &pgLineageCatalog{shared: shared}
	if err := m.refresh(ctx); err != nil {
		p.lineages.release(shared)
		return refuse("gatehouse could not read the database's catalog", err)
	}
	s.masking = m
	up.Results = m.results
	return nil
}

// runsUserCode says whether st may run code of the database's own that
// may set the search_path out of gatehouse's sight (set_config in its
// body): a function that allow_functions lets through (any other outside
// pg_catalog is refused), or a write, which may fire triggers.
func (m *sessionMasking) runsUserCode(st sqlclass.Statement) bool {
	for _, k := range st.Kinds {
		switch k {
		case "insert", "update", "delete", "merge", "copy_from", "truncate":
			return true
		}
	}
	for _, f := range st.Functions {
		name := f[strings.LastIndex(f, ".")+1:]
		for _, allowed := range m.policy.AllowFunctions {
			if strings.EqualFold(allowed[strings.LastIndex(allowed, ".")+1:], name) {
				return true
			}
		}
	}
	return false
}

// currentDetail is what Inspect found of a result's statement, when it
// was judged under the search_path in force (gen); nil otherwise, or when
// there is nothing: then every computed column counts as reading masked
// data.
func currentDetail(detail any, gen uint64) *maskingDetail {
	d, ok := detail.(*statementDetail)
	if !ok {
		return nil
	}
	if md := d.masking.Load(); md != nil && md.gen == gen {
		return md
	}
	return nil
}

// traced returns outputs when they match the result column for column;
// otherwise (a spread, another count) nil: the statement counts as
// untraced.
func traced(outputs []lineage.Output, fields int) []lineage.Output {
	if len(outputs) != fields {
		return nil
	}
	for _, o := range outputs {
		if o.Spread {
			return nil
		}
	}
	return outputs
}

// outputRule is the mask of a computed column (no table OID) from its
// lineage: a masked base column's own function when it is exactly that
// column (RETURNING email), the fallback for values computed from masked
// columns and for what could not be traced, none when no masked column
// feeds it.
func (m *sessionMasking) outputRule(o lineage.Output) (fn, why string) {
	fallback := string(masking.FuncRedact)
	if m.policy.OnDerived == policy.DerivedDeny {
		fallback = string(masking.FuncNull)
	}
	switch o.Kind {
	case lineage.Clean:
		return "", ""
	case lineage.Direct:
		if rule, ok := m.policy.Columns[o.Column.String()]; ok {
			return rule, o.Column.String()
		}
		if len(o.Sources) > 0 {
			return fallback, "inherits masking of " + columnList(o.Sources)
		}
		return "", ""
	case lineage.Derived:
		return fallback, "computed from " + columnList(o.Sources)
	}
	return fallback, "origin not traced"
}

// copyResult masks the rows of a COPY TO: by its plan (a fresh copy per
// run, for the header), or, when Inspect made none yet the statement may
// read masked data, with every column NULL.
func (m *sessionMasking) copyResult(r pgwire.Result) *pgwire.RowRewrite {
	if md := currentDetail(r.Detail, m.path.gen.Load()); md != nil {
		if plan := md.copies[r.Statement]; plan != nil {
			run := *plan
			run.rows = 0
			notes := []string{}
			for i, fn := range run.masks {
				if fn != "" {
					notes = append(notes, fmt.Sprintf("COPY column %d: %s", i+1, fn))
				}
			}
			return &pgwire.RowRewrite{CopyRow: run.row, Notes: notes}
		}
		if !md.readsMasked {
			return nil
		}
	}
	blank := &copyPlan{masks: make([]masking.Func, r.Columns), masker: m.masker}
	return &pgwire.RowRewrite{CopyRow: func(dst, _ []byte) []byte { return blank.nullRow(dst) },
		Notes: []string{"COPY: every column NULL (not traced)"}}
}

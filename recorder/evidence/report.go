package evidence

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
)

// ReportFile is the per-identity access report.
const ReportFile = "report.html"

// noIdentity names, in the report, sessions and refusals in which no
// identity was established (a failed authentication, a refused request
// without a credential).
const noIdentity = "(no identity established)"

//go:embed report.html.tmpl
var reportSource string

// reportTemplate renders report.html: self-contained (inline CSS, no
// script, nothing fetched; its Content-Security-Policy forbids both),
// every recorded text escaped by html/template and its controls shown as
// escapes (recorder.Printable).
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"text": recorder.Printable}).Parse(reportSource))

// reportHead is what the report shows before the identities.
type reportHead struct {
	From, To, Scope string
	Exceptions      int
}

// The parts of an identity's section, in order: its exceptions, its
// certificates (who and how authenticated), its sessions (scope, record
// and verification), the masked columns it read and its statements a
// masking rule refused (exposure).
const (
	partExceptions = iota
	partCertificates
	partSessions
	partMasked
	partRefused
	reportParts
)

// reportIdentity answers the four questions for one human or agent: who
// and how they authenticated, their scope (each session's access:
// standing, or just in time with its approval), where each session's
// record is and whether they could change it, and what masked data they
// touched. Its rows are reportLines on disk; it holds their counts.
type reportIdentity struct {
	Name, Kind, VouchedBy string
	counts                [reportParts]int
}

// reportLine is one row of an identity's section; Part says which of
// its fields is set (pointers: a sorter holds thousands of lines, each
// one row). Lines sort by identity, part, then Key and Num.
type reportLine struct {
	Name        string
	Part        int
	Key         string
	Num         uint64
	Exception   *exceptionRow
	Certificate *issuanceRow
	Session     *reportSession
	Exposure    *audit.ExposureRow
}

func (a reportLine) compare(b reportLine) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Part, b.Part), strings.Compare(a.Key, b.Key), cmp.Compare(a.Num, b.Num))
}

// row is what the line's part's row template shows.
func (l reportLine) row() any {
	switch l.Part {
	case partExceptions:
		return l.Exception
	case partCertificates:
		return l.Certificate
	case partSessions:
		return l.Session
	}
	return l.Exposure
}

type reportSession struct {
	ID, Start, End, Targets, Access string
	Statements, Denied              int
	Result, Error                   string
	ObjectLock, RetainUntil, Locked string
}

// reportLines are the identities of the bundle's sessions and
// certificates, and their sections' rows, sorted on disk.
type reportLines struct {
	lines  *sorter[reportLine]
	people map[string]*reportIdentity
}

func newReportLines(dir string, spools *[]*spool) *reportLines {
	return &reportLines{lines: newSorter(dir, "report", reportLine.compare, spools), people: map[string]*reportIdentity{}}
}

// get is the identity named (an agent's, with the human who vouched for
// it), made as needed.
func (r *reportLines) get(name, agent, vouchedBy string) *reportIdentity {
	if name == "" {
		name = noIdentity
	}
	id := r.people[name]
	if id == nil {
		id = &reportIdentity{Name: name, Kind: "human"}
		r.people[name] = id
	}
	if human, _, ok := strings.Cut(name, " via agent:"); ok || agent != "" {
		id.Kind = "agent"
		id.VouchedBy = cmp.Or(vouchedBy, id.VouchedBy, human)
	}
	return id
}

func (r *reportLines) add(id *reportIdentity, l reportLine) error {
	l.Name = id.Name
	id.counts[l.Part]++
	return r.lines.add(l)
}

func (r *reportLines) session(s recorder.Listed, rs reportSession) error {
	return r.add(r.get(s.Identity, s.Agent, ""), reportLine{Part: partSessions, Key: s.ID, Session: &rs})
}

func (r *reportLines) certificate(i int, c issuanceRow) error {
	return r.add(r.get(c.Identity, c.Agent, c.VouchedBy), reportLine{Part: partCertificates, Num: uint64(i), Certificate: &c})
}

func (r *reportLines) refused(s recorder.Summary, x audit.ExposureRow) error {
	return r.add(r.get(s.Identity, "", ""), reportLine{Part: partRefused, Key: s.ID, Num: x.Seq, Exposure: &x})
}

// masked adds each identity's masked columns.
func (r *reportLines) masked(byIdentity map[string]*audit.Exposure) error {
	for name, x := range byIdentity {
		for i, row := range x.Rows() {
			if err := r.add(r.get(name, "", ""), reportLine{Part: partMasked, Num: uint64(i), Exposure: &row}); err != nil {
				return err
			}
		}
	}
	return nil
}

// exception adds the rank-th exception of the period (in
// exceptions.csv's order) to its session's identity: an identity's are
// listed by session, then in that order.
func (r *reportLines) exception(rank int, ex heldException) error {
	if ex.Who == "" {
		return nil
	}
	return r.add(r.get(ex.Who, "", ""), reportLine{Part: partExceptions, Key: ex.Row.Session, Num: uint64(rank), Exception: &ex.Row})
}

// reportFile renders the report: the period's exceptions, then each
// identity's section, those with exceptions first, each group by name.
// It is written to a spool as it is rendered, one row at a time.
func (p *populations) reportFile(scope Scope) (dataFile, error) {
	sp, err := newSpool(p.dir, ReportFile)
	if err != nil {
		return dataFile{}, err
	}
	*p.spools = append(*p.spools, sp)
	w := &reportWriter{w: sp}
	w.exec("head", reportHead{From: utc(scope.From), To: utc(scope.To), Scope: scopeText(scope), Exceptions: p.exceptions.n})
	if p.exceptions.n == 0 {
		w.exec("exceptions.none", nil)
	} else {
		w.exec("exceptions.open", nil)
		w.err = cmp.Or(w.err, p.exceptions.each(func(ex heldException) error { w.exec("exceptions.row", ex.Row); return w.err }))
		w.exec("table.end", nil)
	}
	w.exec("exceptions.end", nil)
	for _, withExceptions := range []bool{true, false} {
		w.err = cmp.Or(w.err, p.report.render(w, withExceptions))
	}
	w.exec("tail", nil)
	if w.err != nil {
		return dataFile{}, fmt.Errorf("evidence: rendering %s: %w", ReportFile, w.err)
	}
	return dataFile{name: ReportFile, spool: sp, rows: w.lines}, nil
}

// render writes the sections of the identities with exceptions, or of
// those without.
func (r *reportLines) render(w *reportWriter, withExceptions bool) error {
	var cur *reportIdentity // the identity being written; nil while skipping one
	part := 0
	err := r.lines.each(func(l reportLine) error {
		if cur == nil || l.Name != cur.Name {
			w.endIdentity(cur, part)
			cur, part = r.people[l.Name], -1
			if cur == nil || (cur.counts[partExceptions] > 0) != withExceptions {
				cur = nil
				return w.err
			}
			w.exec("identity", cur)
		}
		w.advance(cur, &part, l.Part)
		w.exec(fmt.Sprintf("part%d.row", l.Part), l.row())
		return w.err
	})
	w.endIdentity(cur, part)
	return cmp.Or(err, w.err)
}

// reportWriter executes the report's templates one after another,
// keeping the first error and counting lines.
type reportWriter struct {
	w     io.Writer
	lines int
	err   error
}

func (w *reportWriter) Write(b []byte) (int, error) {
	w.lines += bytes.Count(b, []byte{'\n'})
	return w.w.Write(b)
}

// exec executes the template named, if there is one.
func (w *reportWriter) exec(name string, data any) {
	if t := reportTemplate.Lookup(name); t != nil && w.err == nil {
		w.err = t.Execute(w, data)
	}
}

// advance ends the identity's part, and begins each part up to to: a
// table when it has rows, or the line saying it has none.
func (w *reportWriter) advance(id *reportIdentity, part *int, to int) {
	for *part < to {
		if *part >= 0 && id.counts[*part] > 0 {
			w.exec("table.end", nil)
		}
		if *part++; *part == reportParts {
			return
		}
		w.exec(fmt.Sprintf("part%d.title", *part), nil)
		if id.counts[*part] > 0 {
			w.exec(fmt.Sprintf("part%d.open", *part), nil)
		} else {
			w.exec(fmt.Sprintf("part%d.none", *part), nil)
		}
	}
}

func (w *reportWriter) endIdentity(id *reportIdentity, part int) {
	if id != nil {
		w.advance(id, &part, reportParts)
		w.exec("identity.end", nil)
	}
}

func scopeText(sc Scope) string {
	if len(sc.Identities) == 0 && len(sc.Targets) == 0 {
		return "every identity and target"
	}
	return "identities: " + orAll(sc.Identities) + "; targets: " + orAll(sc.Targets)
}

func orAll(names []string) string {
	if len(names) == 0 {
		return "all"
	}
	return strings.Join(names, ", ")
}

// reportSession is one session as the report shows it, with the access
// it ran under: standing grants, or just in time under requests.
func (p *populations) reportSession(s sessionRow, v verificationRow) reportSession {
	access := "standing grants"
	if log := p.requests.log; log != nil {
		var under []string
		for _, id := range log.Under(s.Serial) {
			if rq := log.ByID[id]; rq != nil {
				under = append(under, fmt.Sprintf("%s (%s, decided by %s at %s: %q)", id, rq.State, rq.DecidedBy, utc(rq.DecidedAt), rq.Reason))
			} else {
				under = append(under, id+" (not recorded before the period's end)")
			}
		}
		if len(under) > 0 {
			access = "just in time under request " + strings.Join(under, ", ")
		}
	}
	end := s.End
	if s.OpenAtEnd {
		end = "open at the period's end"
	}
	return reportSession{ID: s.Session, Start: s.Start, End: end, Targets: strings.Join(s.Targets, " "), Access: access,
		Statements: s.Statements, Denied: s.Denied, Result: v.Result, Error: v.Error, ObjectLock: v.ObjectLock,
		RetainUntil: v.RetainUntil, Locked: v.LockedObjects}
}

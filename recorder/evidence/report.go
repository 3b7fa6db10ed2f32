package evidence

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"slices"
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

// report is what report.html shows.
type report struct {
	From, To   string
	Scope      string
	Exceptions []exceptionRow
	People     []*reportIdentity
}

// reportIdentity answers the four questions for one human or agent: who
// and how they authenticated (Certificates), their scope (each session's
// Access: standing, or just in time with its approval), where each
// session's record is and whether they could change it (Result,
// ObjectLock), and what masked data they touched (Masked, Refused).
type reportIdentity struct {
	Name, Kind, VouchedBy string
	Exceptions            []exceptionRow
	Certificates          []issuanceRow
	Sessions              []reportSession
	Masked, Refused       []audit.ExposureRow
}

type reportSession struct {
	ID, Start, End, Targets, Access string
	Statements, Denied              int
	Result, Error                   string
	ObjectLock, RetainUntil, Locked string
}

// reportFile renders the report of the populations.
func reportFile(p *populations, scope Scope) (dataFile, error) {
	r := report{From: utc(scope.From), To: utc(scope.To), Exceptions: p.exceptions, Scope: scopeText(scope)}
	r.People = p.people()
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, r); err != nil {
		return dataFile{}, fmt.Errorf("evidence: rendering %s: %w", ReportFile, err)
	}
	return dataFile{name: ReportFile, data: b.Bytes(), rows: countLines(b.Bytes())}, nil
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

// people are the identities of the bundle's sessions and certificates,
// those with exceptions first, each group by name.
func (p *populations) people() []*reportIdentity {
	byName := map[string]*reportIdentity{}
	get := func(name, agent, vouchedBy string) *reportIdentity {
		if name == "" {
			name = noIdentity
		}
		id := byName[name]
		if id == nil {
			id = &reportIdentity{Name: name, Kind: "human"}
			byName[name] = id
		}
		if human, _, ok := strings.Cut(name, " via agent:"); ok || agent != "" {
			id.Kind = "agent"
			id.VouchedBy = cmp.Or(vouchedBy, id.VouchedBy, human)
		}
		return id
	}
	for _, c := range p.issuances {
		id := get(c.Identity, c.Agent, c.VouchedBy)
		id.Certificates = append(id.Certificates, c)
	}
	verification := map[string]verificationRow{}
	for _, v := range p.verification {
		verification[v.Session] = v
	}
	for _, s := range p.sessions {
		if s.Unreadable != "" {
			continue // no identity to file it under: it is an exception
		}
		id := get(s.Identity, s.Agent, "")
		id.Sessions = append(id.Sessions, p.reportSession(s, verification[s.Session]))
		for _, ex := range p.exceptions {
			if ex.Session == s.Session {
				id.Exceptions = append(id.Exceptions, ex)
			}
		}
	}
	for name, x := range p.byIdentity {
		for _, row := range x.Rows() {
			id := get(name, "", "")
			if row.Kind == audit.ExposureMasked {
				id.Masked = append(id.Masked, row)
			} else {
				id.Refused = append(id.Refused, row)
			}
		}
	}
	out := slices.Collect(maps.Values(byName))
	slices.SortFunc(out, func(a, b *reportIdentity) int {
		return cmp.Or(cmp.Compare(min(len(b.Exceptions), 1), min(len(a.Exceptions), 1)), strings.Compare(a.Name, b.Name))
	})
	return out
}

// reportSession is one session as the report shows it, with the access
// it ran under: standing grants, or just in time under requests.
func (p *populations) reportSession(s sessionRow, v verificationRow) reportSession {
	access := "standing grants"
	if p.requestLog != nil {
		var under []string
		for _, id := range p.requestLog.Under(s.Serial) {
			if rq := p.requestLog.ByID[id]; rq != nil {
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

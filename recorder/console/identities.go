package console

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// identityFilterNames are the filters /identities takes, in the order
// exports name them.
var identityFilterNames = []string{"human", "agent", "denials", "since", "until"}

// identityFilter selects identities; an empty field selects all. Human
// and agent match a substring, case-insensitively (agent selects agents
// only); denials is yes or no.
type identityFilter struct {
	human, agent, denials string
}

func (f identityFilter) matches(r identityRow) bool {
	switch {
	case f.human != "" && !containsFold(r.Human, f.human),
		f.agent != "" && (r.Agent == "" || !containsFold(r.Agent, f.agent)),
		f.denials == "yes" && r.Denials == 0,
		f.denials == "no" && r.Denials > 0:
		return false
	}
	return true
}

func identityFilterOf(in url.Values, _ *query) (identityFilter, error) {
	f := identityFilter{human: in.Get("human"), agent: in.Get("agent"), denials: in.Get("denials")}
	if f.denials != "" && f.denials != "yes" && f.denials != "no" {
		return f, errors.New("denials is yes or no")
	}
	return f, nil
}

// identityRef is an identity's name as its URL carries it: unpadded
// base64url, so that nothing an agent put in a name (a slash, "..", a
// percent sign, markup) reaches a path or a page unescaped.
func identityRef(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

// listIdentities is /identities: every human, each followed by the
// agents they vouched for, with what they did in the period, as a page,
// CSV or JSON Lines.
func (c *Console) listIdentities(w http.ResponseWriter, r *http.Request, v viewer) {
	q, f, err := parseFiltered(r, "/identities", identityFilterNames, c.parseTime, identityFilterOf)
	if !c.listAllowed(w, r, v, err, "") {
		return
	}
	read := func() ([]identityRow, error) {
		ids, err := c.readIdentities(v, q.filter, "")
		return ids.rows(), err
	}
	serveMatching(c, w, q, v, "identities", read, f, identitiesTable, "identities.html")
}

// identityPage is /identities/ID: one identity's certificates, refused
// certificate requests, sessions and denials in the period, and for a
// human the agents they vouched for.
func (c *Console) identityPage(w http.ResponseWriter, r *http.Request, v viewer) {
	raw, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil || len(raw) == 0 {
		c.fail(w, http.StatusNotFound, "no such identity")
		return
	}
	q, err := parseList(r, "/identities/"+r.PathValue("id"), []string{"since", "until"}, c.parseTime)
	if err != nil {
		c.fail(w, http.StatusBadRequest, "bad filter: "+err.Error())
		return
	}
	ids, err := c.readIdentities(v, q.filter, string(raw))
	if err != nil {
		c.unreadable(w, "identities", err)
		return
	}
	id := ids.byName[string(raw)]
	if id == nil {
		c.fail(w, http.StatusNotFound, "no such identity in the period you may see")
		return
	}
	data := identityPageData{Viewer: v, identity: *id, Applied: filterText(q)}
	for _, name := range id.agents {
		data.Agents = append(data.Agents, ids.byName[name].identityRow)
	}
	view := event.ConsoleView{Auditor: v.Auditor, Path: q.path, Filters: q.recordedFilters(false), Rows: 1, Total: 1}
	if !c.record(w, event.TypeConsoleView, view) {
		return
	}
	c.render(w, http.StatusOK, "identity.html", data)
}

type identityPageData struct {
	Viewer  viewer
	Applied string
	Agents  []identityRow
	identity
}

// identityRow is one identity as every list format shows it; text is as
// recorded.
type identityRow struct {
	Ref          string `json:"ref"` // the identity's part of its URL
	Name         string `json:"identity"`
	Kind         string `json:"kind"`  // human or agent
	Human        string `json:"human"` // the human, or the human who vouched for the agent
	Agent        string `json:"agent"`
	Certificates int    `json:"certificates"`
	Refused      int    `json:"refused"` // certificate requests the CA refused
	Sessions     int    `json:"sessions"`
	Denials      int    `json:"denials"`
	Grants       string `json:"grants"` // of its certificates, space-separated
	LastSeen     string `json:"last_seen"`

	lastSeen time.Time
}

// identity is everything the console shows of one identity.
type identity struct {
	identityRow
	Certs       []certRow
	Refusals    []certRefusal
	SessionRows []row
	DenialRows  []denialRow
	agents      []string // names of the agents a human vouched for
}

type certRow struct {
	Serial, Source, Grants, Issued, TTL, KeyFingerprint, Request, VouchedBySerial string
}

type certRefusal struct {
	Time, Source, Code, Reason, Grants, TTL string
}

// denialRow is one refusal in a session: a denied statement, a refused
// channel or a failed authentication.
type denialRow struct {
	Session, Seq, Time, Type, What, Rule string
}

// identityIndex is every identity of the recordings in a period, by name.
type identityIndex struct {
	byName map[string]*identity
}

// ordered is the humans sorted by name, each followed by its agents,
// then agents whose human never appears.
func (x identityIndex) ordered() []*identity {
	var humans []string
	for name, id := range x.byName {
		if id.Kind == "human" || x.byName[id.Human] == nil {
			humans = append(humans, name)
		}
	}
	slices.Sort(humans)
	var out []*identity
	for _, name := range humans {
		id := x.byName[name]
		out = append(out, id)
		if id.Kind == "human" {
			for _, a := range id.agents {
				out = append(out, x.byName[a])
			}
		}
	}
	return out
}

// rows is ordered's rows.
func (x identityIndex) rows() []identityRow {
	var out []identityRow
	for _, id := range x.ordered() {
		out = append(out, id.identityRow)
	}
	return out
}

// get is the identity named by a certificate's identity (key id as
// given, else derived as the CA derives it), created as needed.
func (x identityIndex) get(name string, id event.Identity) *identity {
	if name == "" {
		name = audit.IdentityName(id)
	}
	if got := x.byName[name]; got != nil {
		return got
	}
	row := identityRow{Ref: identityRef(name), Name: name, Kind: "human", Human: name}
	if id.Agent != "" {
		human, _, _ := strings.Cut(name, " via agent:")
		row.Kind, row.Human, row.Agent = "agent", human, id.Agent
	}
	got := &identity{identityRow: row}
	x.byName[name] = got
	return got
}

// readIdentities reads the CA's streams and the sessions sf selects
// that v may see: certificates issued and refused within the period
// (and, for a link, for one of its targets), sessions, denials. From the
// index, only the identity named detail gets its sessions' and denials'
// rows (the others their counts); from the store, every identity does.
func (c *Console) readIdentities(v viewer, sf recorder.Filter, detail string) (identityIndex, error) {
	x := identityIndex{byName: map[string]*identity{}}
	err := c.caEvents(func(ev recorder.Event) {
		if inPeriod(ev.Time, sf) {
			x.addCA(ev, v)
		}
	})
	if err == nil && c.cfg.Index != nil {
		err = c.addIndexed(x, v, sf, detail)
	} else if err == nil {
		err = c.addStored(x, v, sf)
	}
	if err != nil {
		return x, err
	}
	x.link()
	return x, nil
}

// addStored reads every session sf selects that v may see from the store.
func (c *Console) addStored(x identityIndex, v viewer, sf recorder.Filter) error {
	list, err := c.listed(sf, true)
	if err != nil {
		return err
	}
	for _, s := range list {
		if s.Unreadable != nil || s.Identity == "" || !v.allows(s.Summary) {
			continue
		}
		lines, err := c.cfg.Sessions.Lines(recorder.KindSession, s.ID)
		if err != nil {
			continue // gone since it was listed
		}
		x.addSession(s, lines)
	}
	return nil
}

// addIndexed takes the sessions sf selects that v may see from the
// index: counted by identity in SQL, and the rows of detail's only. A
// link's scope is selected by SQL and each group and row checked again.
func (c *Console) addIndexed(x identityIndex, v viewer, sf recorder.Filter, detail string) error {
	if err := c.cfg.Index.Current(context.Background()); err != nil {
		return err
	}
	groups, err := c.cfg.Index.IdentityGroups(sf, c.cfg.Lag, indexScope(v))
	if err != nil {
		return err
	}
	for _, g := range groups { // first sessions first: the first names an identity's kind, as addSession's order does
		if err := checkGroupScope(v, g); err != nil {
			return err
		}
		id := x.get(g.Identity, event.Identity{Agent: g.Agent})
		id.Sessions += g.Sessions
		id.Denials += g.Denials
		id.seen(g.LastStart)
	}
	id := x.byName[detail]
	if id == nil || id.Sessions == 0 {
		return nil
	}
	list, denials, err := c.cfg.Index.IdentitySessions(detail, sf, c.cfg.Lag, indexScope(v))
	if err == nil {
		err = checkScope(v, list)
	}
	if err != nil {
		return err
	}
	for _, s := range list {
		id.SessionRows = append(id.SessionRows, rowOf(s))
	}
	for _, d := range denials {
		if row, ok := denialOf(d.Event); ok {
			row.Session = d.Session
			id.DenialRows = append(id.DenialRows, row)
		}
	}
	return nil
}

// checkGroupScope fails when the index grouped sessions outside v's
// scope: its first or last start outside the period, a session without a
// start or (when the link names targets) without a target, or a target
// outside the link's.
func checkGroupScope(v viewer, g consoleindex.IdentityGroup) error {
	if v.Scope == nil {
		return nil
	}
	first, last := recorder.Summary{Start: g.FirstStart, Targets: g.Targets}, recorder.Summary{Start: g.LastStart, Targets: g.Targets}
	if g.NoStart > 0 || (len(v.Scope.Targets) > 0 && g.Untargeted > 0) || !v.allows(first) || !v.allows(last) {
		return fmt.Errorf("console: the index gave sessions of %q outside the link's scope", g.Identity)
	}
	return nil
}

func inPeriod(t time.Time, f recorder.Filter) bool {
	return (f.Since.IsZero() || !t.Before(f.Since)) && (f.Until.IsZero() || t.Before(f.Until))
}

// addCA takes a certificate issued or refused, when v may see it.
func (x identityIndex) addCA(ev recorder.Event, v viewer) {
	switch ev.Type {
	case event.TypeCertIssued:
		var ci event.CertIssued
		if ev.DecodeData(&ci) != nil || !v.allowsCA(ev.Time, ci.Principals) {
			return
		}
		id := x.get(ci.KeyID, ci.Identity)
		id.Certs = append(id.Certs, certRow{Serial: serial(ci.Serial), Source: ci.Source, Grants: strings.Join(ci.Principals, " "),
			Issued: utc(ev.Time), TTL: ci.ValidBefore.Sub(ci.ValidAfter).Round(time.Second).String(), KeyFingerprint: ci.KeyFingerprint,
			Request: ci.Identity.RequestID, VouchedBySerial: serial(ci.Identity.DelegatedBySerial)})
		id.Certificates++
		id.seen(ev.Time, ci.Principals...)
	case event.TypeCertRefused:
		var cr event.CertRefused
		if ev.DecodeData(&cr) != nil || cr.Identity == nil || !v.allowsCA(ev.Time, cr.Grants) {
			return // a refusal before anyone was identified belongs to no identity
		}
		id := x.get("", *cr.Identity)
		id.Refusals = append(id.Refusals, certRefusal{Time: utc(ev.Time), Source: cr.Source, Code: cr.Code, Reason: cr.Reason,
			Grants: strings.Join(cr.Grants, " "), TTL: cr.TTL})
		id.Refused++
		id.seen(ev.Time)
	}
}

// allowsCA says whether the viewer may see a CA event at t for grants
// (TARGET:ROLE): within a link's period, naming one of its targets.
func (v viewer) allowsCA(t time.Time, grants []string) bool {
	if v.Scope == nil {
		return true
	}
	l := v.Scope
	if (!l.From.IsZero() && t.Before(l.From)) || (!l.To.IsZero() && !t.Before(l.To)) {
		return false
	}
	return len(l.Targets) == 0 || slices.ContainsFunc(grants, func(g string) bool {
		target, _, _ := strings.Cut(g, ":")
		return slices.Contains(l.Targets, target)
	})
}

// seen keeps the latest time the identity did something, and its grants.
func (id *identity) seen(t time.Time, grants ...string) {
	if t.After(id.lastSeen) {
		id.lastSeen, id.LastSeen = t, utc(t)
	}
	for _, g := range grants {
		if !slices.Contains(strings.Fields(id.Grants), g) {
			id.Grants = strings.TrimSpace(id.Grants + " " + g)
		}
	}
}

// addSession takes a session and the denials its lines record.
func (x identityIndex) addSession(s recorder.Listed, lines [][]byte) {
	var agentID event.Identity
	for _, line := range lines {
		if ev, err := recorder.Decode(line); err == nil && ev.Type == event.TypeAuthSuccess {
			var a event.AuthSuccess
			if ev.DecodeData(&a) == nil {
				agentID = a.Identity
			}
			break
		}
	}
	id := x.get(s.Identity, agentID)
	id.Sessions++
	id.SessionRows = append(id.SessionRows, rowOf(s))
	id.seen(s.Start)
	for _, line := range lines {
		if ev, err := recorder.Decode(line); err == nil {
			if d, ok := denialOf(ev); ok {
				d.Session = s.ID
				id.DenialRows = append(id.DenialRows, d)
				id.Denials++
			}
		}
	}
}

// denialOf is ev as a denial, when it is one.
func denialOf(ev recorder.Event) (denialRow, bool) {
	d := denialRow{Seq: strconv.FormatUint(ev.Seq, 10), Time: utc(ev.Time), Type: string(ev.Type)}
	switch ev.Type {
	case event.TypeDBStatement:
		var st event.DBStatement
		if ev.DecodeData(&st) != nil || st.Decision.Allowed() {
			return d, false
		}
		d.What, d.Rule = st.Text, st.Rule
		if len(d.What) > maxShownText {
			d.What = cutText(d.What, maxShownText)
		}
	case event.TypeChannelRefused:
		var cr event.ChannelRefused
		if ev.DecodeData(&cr) != nil {
			return d, false
		}
		d.What = cr.Type + " " + cr.Host + ": " + cr.Reason
	case event.TypeAuthFailure:
		var af event.AuthFailure
		if ev.DecodeData(&af) != nil {
			return d, false
		}
		d.What = af.Method + ": " + af.Reason
	default:
		return d, false
	}
	return d, true
}

// link files each agent under the human who vouched for it, listing
// that human even when only their agents were seen.
func (x identityIndex) link() {
	for name, id := range x.byName {
		if id.Kind != "agent" {
			continue
		}
		h := x.get(id.Human, event.Identity{})
		h.agents = append(h.agents, name)
	}
	for _, id := range x.byName {
		slices.Sort(id.agents)
	}
}

// identitiesCSVHeader names the columns of an identities CSV export.
var identitiesCSVHeader = []string{"identity", "kind", "human", "agent", "certificates", "refused", "sessions", "denials", "grants", "last_seen"}

// identitiesTable is the identities as the exports write them.
var identitiesTable = table[identityRow]{noun: "identities", header: identitiesCSVHeader, json: func(r identityRow) any { return r },
	csv: func(r identityRow) []string {
		return []string{cell(r.Name), r.Kind, cell(r.Human), cell(r.Agent), strconv.Itoa(r.Certificates),
			strconv.Itoa(r.Refused), strconv.Itoa(r.Sessions), strconv.Itoa(r.Denials), cell(r.Grants), r.LastSeen}
	}}

package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// defaultOverviewPeriod is the overview's period when since is not given.
const defaultOverviewPeriod = 7 * 24 * time.Hour

// probeBurst is how many refusals from one source address within the
// period make a refused-probe burst worth an auditor's look.
const probeBurst = 5

// overview is what / shows for a period: exceptions first, then counts.
type overview struct {
	Viewer       viewer
	Since, Until string // the period, UTC; Until empty: up to now
	Exceptions   []exception
	consoleindex.Counts
}

// overviewCount is one number the overview shows: ID names its cell.
type overviewCount struct {
	ID, Label string
	N         int
}

// ActivityCounts are the period's activity, in the order shown.
func (o overview) ActivityCounts() []overviewCount {
	return []overviewCount{{"sessions", "Sessions", o.Sessions}, {"humans", "Humans", o.Humans}, {"agents", "Agents", o.Agents},
		{"statements", "Statements", o.Statements}, {"denials", "Denials", o.Denials},
		{"jit", "Just-in-time sessions (under an access request)", o.JustInTime}, {"standing", "Standing-access sessions", o.Standing}}
}

// VerificationCounts are the period's verification results.
func (o overview) VerificationCounts() []overviewCount {
	return []overviewCount{{"verified", "Verified", o.Verified}, {"failed", "Failed", o.Failed}, {"incomplete", "Incomplete", o.Incomplete},
		{"unverified", "Not verified (no keys)", o.Unverified}}
}

// exception is one thing an auditor should look at, and where.
type exception struct {
	Kind   string // verification failed, incomplete, after revocation, dev login, probe burst
	Detail string // recorded text: shown through text
	Link   string
}

// The exceptions' kinds, in the order the overview lists them.
const (
	exFailed     = "verification failed"
	exMissing    = "missing from the store"
	exUploading  = "not uploaded yet"
	exIncomplete = "verification incomplete"
	exRevoked    = "activity after revocation"
	exDevLogin   = "dev login"
	exProbes     = "refused-probe burst"
)

// caFacts is what the overview takes from the CA's streams.
type caFacts struct {
	devIssued   map[uint64]event.CertIssued // certificates a dev login got
	revocations audit.Revocations
}

func (f *caFacts) add(ev recorder.Event) {
	switch ev.Type {
	case event.TypeCertIssued:
		var ci event.CertIssued
		if ev.DecodeData(&ci) == nil && ci.Source == "dev" {
			f.devIssued[ci.Serial] = ci
		}
	case event.TypeCertRevoked:
		f.revocations.Add(ev)
	}
}

// showOverview is /: the period's exceptions and counts, recorded as a
// view.
func (c *Console) showOverview(w http.ResponseWriter, r *http.Request, v viewer) {
	q, err := parseList(r, "/", []string{"since", "until"}, c.parseTime)
	if err == nil && q.format != "html" {
		err = errors.New("the overview has no export; export a list instead")
	}
	if err != nil {
		c.fail(w, http.StatusBadRequest, "bad filter: "+err.Error())
		return
	}
	if q.filter.Since.IsZero() {
		q.filter.Since = c.cfg.Clock().Add(-defaultOverviewPeriod)
	}
	o, err := c.overviewOf(q.filter, v)
	if err != nil {
		c.cfg.Logger.Error("console: building the overview failed", "error", err)
		c.fail(w, http.StatusBadGateway, "the recordings could not be read; see the console's log")
		return
	}
	filters := map[string]string{"since": utc(q.filter.Since)}
	if !q.filter.Until.IsZero() {
		filters["until"] = utc(q.filter.Until)
	}
	if !c.record(w, event.TypeConsoleView, event.ConsoleView{Auditor: v.Auditor, Path: "/", Filters: filters, Rows: len(o.Exceptions), Total: o.Sessions}) {
		return
	}
	c.render(w, http.StatusOK, "overview.html", o)
}

// overviewOf reads the sessions of the period that v may see, and the
// CA's streams, into an overview.
func (c *Console) overviewOf(f recorder.Filter, v viewer) (overview, error) {
	o := overview{Viewer: v, Since: utc(f.Since), Until: utc(f.Until)}
	requests := audit.NewRequests()
	ca := caFacts{devIssued: map[uint64]event.CertIssued{}}
	if err := c.caEvents(func(ev recorder.Event) { requests.Add(ev); ca.add(ev) }); err != nil {
		return o, err
	}
	var sessions []recorder.Listed
	if c.cfg.Index != nil {
		var err error
		if o.Counts, sessions, err = c.indexedOverview(f, v, requests, &ca); err != nil {
			return o, err
		}
	} else {
		list, err := c.listed(f, true)
		if err != nil {
			return o, fmt.Errorf("console: list sessions: %w", err)
		}
		for _, s := range list {
			if v.Scope == nil || (s.Unreadable == nil && v.allows(s.Summary)) {
				sessions = append(sessions, s)
			}
		}
	}
	cut, err := c.failCut(sessions)
	if err != nil {
		return o, err
	}
	if c.cfg.Index != nil {
		o.Incomplete, o.Failed = o.Incomplete-cut, o.Failed+cut
	} else {
		o.count(sessions, requests)
	}
	o.Exceptions = exceptionsOf(sessions, &ca)
	if v.Scope == nil {
		// A missing session's targets are unknown, so no link's scope
		// can be said to include it: only unscoped auditors see these.
		missing, err := c.missingSessions(f)
		if err != nil {
			return o, err
		}
		o.Exceptions = slices.Insert(o.Exceptions, missingAt(o.Exceptions), missing...)
		unindexed, err := c.indexExceptions(f)
		if err != nil {
			return o, err
		}
		o.Exceptions = slices.Insert(o.Exceptions, missingAt(o.Exceptions)+len(missing), unindexed...)
	}
	return o, nil
}

// indexedOverview is the counts of the sessions f selects, and those
// exceptionsOf may name, from the index: SQL counts, so that the
// overview of a busy period does not read every session's summary; a
// link's scope is selected by SQL too, and each session listed checked.
func (c *Console) indexedOverview(f recorder.Filter, v viewer, requests *audit.Requests, ca *caFacts) (consoleindex.Counts, []recorder.Listed, error) {
	if err := c.cfg.Index.Current(context.Background()); err != nil {
		return consoleindex.Counts{}, nil, err
	}
	var n consoleindex.Notable
	for serial := range ca.devIssued {
		n.Serials = append(n.Serials, serial)
	}
	for _, r := range ca.revocations {
		if r.Revocation.Key != "" {
			n.Keys = append(n.Keys, r.Revocation.Key)
		}
		n.Serials = append(n.Serials, r.Revocation.Serial)
		for _, m := range r.Matched {
			n.Serials = append(n.Serials, m.Serial)
		}
	}
	counts, sessions, err := c.cfg.Index.Overview(f, c.cfg.Lag, indexScope(v), requests.Serials(), n)
	if err == nil {
		err = checkScope(v, sessions)
	}
	if err != nil {
		return counts, nil, fmt.Errorf("console: count sessions: %w", err)
	}
	return counts, sessions, nil
}

// missingAt is where missing sessions go among the exceptions: right
// after the failed verifications.
func missingAt(ex []exception) int {
	n := 0
	for n < len(ex) && ex[n].Kind == exFailed {
		n++
	}
	return n
}

// missingSessions are the session streams the ledgers register as opened
// within the period that the store does not list: deleted, or never
// uploaded. Each names the ledger line that registers it. One opened less
// than UploadGrace ago is only not uploaded yet (a bucket receives a
// session some seconds after it opens), with its age; missing ones come
// first.
func (c *Console) missingSessions(f recorder.Filter) ([]exception, error) {
	ledgers, err := recorder.ReadLedgers(c.cfg.Sessions)
	if err != nil {
		return nil, fmt.Errorf("console: read the ledgers: %w", err)
	}
	ids, err := c.cfg.Sessions.List(recorder.KindSession)
	if err != nil {
		return nil, fmt.Errorf("console: list sessions: %w", err)
	}
	stored := make(map[string]bool, len(ids))
	for _, id := range ids {
		stored[id] = true
	}
	now := c.cfg.Clock()
	var missing, uploading []exception
	for _, op := range ledgers.Opened(recorder.KindSession) {
		if op.Time.Before(f.Since) || (!f.Until.IsZero() && !op.Time.Before(f.Until)) || stored[op.Stream] {
			continue
		}
		link := "/sessions/" + url.PathEscape(op.Stream)
		if age := now.Sub(op.Time); age < c.cfg.UploadGrace {
			uploading = append(uploading, exception{exUploading, fmt.Sprintf("%s: opened %s (%s ago) as ledger %s records at seq %d; "+
				"the store does not hold it yet, and counts it missing once it is %s old (recording.upload_grace)",
				op.Stream, utc(op.Time), age.Round(time.Second), op.Ledger, op.Seq, c.cfg.UploadGrace), link})
			continue
		}
		missing = append(missing, exception{exMissing, fmt.Sprintf("%s: opened %s as ledger %s records at seq %d, but the store does not hold it",
			op.Stream, utc(op.Time), op.Ledger, op.Seq), link})
	}
	return append(missing, uploading...), nil
}

// count fills the overview's counts from the sessions.
func (o *overview) count(sessions []recorder.Listed, requests *audit.Requests) {
	humans, agents := map[string]bool{}, map[string]bool{}
	for _, s := range sessions {
		o.Sessions++
		switch {
		case s.Unreadable != nil || s.ChainError != nil:
			o.Failed++
		case !s.Verified:
			o.Unverified++
		case s.Verification == nil:
			o.Verified++
		case errors.Is(s.Verification, recorder.ErrIncomplete):
			o.Incomplete++
		default:
			o.Failed++
		}
		if s.Unreadable != nil {
			continue
		}
		if s.Agent != "" {
			agents[s.Agent] = true
		} else if s.Identity != "" {
			humans[s.Identity] = true
		}
		o.Statements += s.Statements
		o.Denials += s.Denied
		if s.Serial != 0 && len(requests.Under(s.Serial)) > 0 {
			o.JustInTime++
		} else if s.Identity != "" {
			o.Standing++
		}
	}
	o.Humans, o.Agents = len(humans), len(agents)
}

// exceptionsOf lists what an auditor should look at first, by kind, each
// kind in session order.
func exceptionsOf(sessions []recorder.Listed, ca *caFacts) []exception {
	var failed, incomplete, revoked, dev, probes []exception
	refusals := map[string]int{}     // by source address
	firstFrom := map[string]string{} // the first session of each source
	for _, s := range sessions {
		link := "/sessions/" + url.PathEscape(s.ID)
		switch {
		case s.Unreadable != nil:
			failed = append(failed, exception{exFailed, s.ID + ": unreadable: " + s.Unreadable.Error(), link})
			continue
		case s.ChainError != nil:
			failed = append(failed, exception{exFailed, s.ID + ": chain broken: " + s.ChainError.Error(), link})
		case s.Verified && errors.Is(s.Verification, recorder.ErrIncomplete):
			incomplete = append(incomplete, exception{exIncomplete, s.ID + ": " + s.Verification.Error(), link})
		case s.Verified && s.Verification != nil:
			failed = append(failed, exception{exFailed, s.ID + ": " + s.Verification.Error(), link})
		}
		if r, ok := ca.revocations.Before(s.Summary); ok {
			revoked = append(revoked, exception{exRevoked, fmt.Sprintf("%s: %s (serial %d) started %s, after a revocation at %s (%s); %d channels, %d statements, ended: %s",
				s.ID, s.Identity, s.Serial, utc(s.Start), utc(r.Revocation.RevokedAt), r.What(), s.Channels, s.Statements, orOpen(s.EndReason)), link})
		}
		if ci, ok := ca.devIssued[s.Serial]; ok && s.Serial != 0 {
			dev = append(dev, exception{exDevLogin, fmt.Sprintf("%s: %s with certificate serial %d from a dev login (%s)",
				s.ID, s.Identity, s.Serial, ci.KeyID), link})
		}
		// Denied statements are the policy working, not probing: only
		// refused logins, channels and requests count.
		if n := s.Refusals - s.Denied; n > 0 && s.ClientAddr != "" {
			host := hostOf(s.ClientAddr)
			if refusals[host] == 0 {
				firstFrom[host] = s.ID
			}
			refusals[host] += n
		}
	}
	for _, s := range sessions {
		host := hostOf(s.ClientAddr)
		if n := refusals[host]; n >= probeBurst && firstFrom[host] == s.ID {
			probes = append(probes, exception{exProbes, strconv.Itoa(n) + " refusals from " + host + " in the period, first in " + s.ID,
				"/sessions/" + url.PathEscape(s.ID)})
		}
	}
	return slices.Concat(failed, incomplete, revoked, dev, probes)
}

func orOpen(reason string) string {
	if reason == "" {
		return "not (open or cut short)"
	}
	return reason
}

// hostOf is an address without its port.
func hostOf(addr string) string {
	u := url.URL{Host: addr}
	if h := u.Hostname(); h != "" {
		return h
	}
	return addr
}

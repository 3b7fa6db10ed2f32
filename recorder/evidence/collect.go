package evidence

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Source is where the bundle's recordings are read: the file store or
// the S3 bucket, as for `gatehouse sessions`.
type Source = recorder.SummarySource

// Scope is what a bundle covers: sessions begun in [From, To), of the
// identities (a session's identity or agent, exactly) and targets given
// (any of them; none given: all).
type Scope struct {
	From, To   time.Time
	Identities []string
	Targets    []string
	// Within narrows the bundle further to what one console viewer may
	// see (an external auditor's link); nil: no further limit.
	Within *Within
}

// Within is a console viewer's own limit on a bundle: a link shows only
// the sessions it allows and the viewer's own activity, and its bundle
// must hold no more than its pages show.
type Within struct {
	// Text says in the manifest what the limit is.
	Text string
	// Session says whether a session is visible to the viewer.
	Session func(recorder.Summary) bool
	// Auditor is the viewer, whose activity alone the bundle holds.
	Auditor event.Auditor
}

// populations are the bundle's rows, each in its file's order. Those
// that grow with the sessions and statements of the period are written
// as they are made (tables) or put in order on disk (sorters); what is
// held grows only with the certificates, requests, revocations and
// console events of the period and with its identities and targets.
type populations struct {
	dir          string // where they are spooled
	spools       *[]*spool
	sessions     *table[sessionRow]   // in id order, as read
	statements   *table[statementRow] // in id order, then seq
	verification *table[verificationRow]
	denials      *sorter[denialRow]
	exceptions   *sorter[heldException]
	refused      *sorter[audit.ExposureRow] // statements a masking rule refused, in the order read
	issuances    []issuanceRow
	requests     *requestRows
	revocations  *revocationRows
	activity     []activityRow
	completeness []completenessRow
	tally        tally
	keySessions  map[string]int // sessions each recorder key verified, by fingerprint

	exposure audit.Exposure             // the masked columns
	masked   map[string]*audit.Exposure // each identity's masked columns, for the report
	report   *reportLines
}

// heldException is an exception, and the identity of the bundle's
// session it is about, under which the report lists it ("" for none).
type heldException struct {
	Row exceptionRow
	Who string
}

// collect reads the sessions of opts.Scope from src, verifying each with
// opts.keyring() and the ledgers, and the CA streams' events before the
// period's end.
func collect(src Source, opts Options, p *populations) error {
	scope := opts.Scope
	ca, err := readStreams(src, recorder.KindCA, scope)
	if err != nil {
		return err
	}
	console, err := readStreams(src, recorder.KindConsole, scope)
	if err != nil {
		return err
	}
	ledgers, err := opts.keyring().ReadLedgers(src)
	if err != nil {
		return fmt.Errorf("reading the ledgers: %w", err)
	}
	c, err := takeCensus(src, ledgers)
	if err != nil {
		return err
	}
	p.requests = newRequestRows(ca, scope, settleAt(scope, opts.Now))
	p.revocations = newRevocationRows(ca, scope)
	filter := recorder.Filter{Since: scope.From, Until: scope.To}
	for _, id := range c.stored {
		if filter.MayMatch(id, opts.Lag) {
			if err := p.listSession(src, id, filter, opts, c); err != nil {
				return err
			}
		}
	}
	if err := p.addIssuances(ca, scope); err != nil {
		return err
	}
	p.revocations.finish(scope)
	if err := p.reconcile(c, scope); err != nil {
		return err
	}
	p.addActivity(console, scope)
	return nil
}

// listSession reads one session of the store that may have begun in the
// period, as recorder.Summaries would list it, and when it did (or it
// cannot be read) counts it, and adds it to the populations when it is
// in scope. An unreadable session is kept whatever the scope says: it
// cannot be told apart, and must not hide.
func (p *populations) listSession(src Source, id string, filter recorder.Filter, opts Options, c census) error {
	s := recorder.Listed{Summary: recorder.Summary{ID: id}}
	lines, err := src.Lines(recorder.KindSession, id)
	if err != nil {
		s.Unreadable = err
	} else {
		s.Summary = recorder.Summarize(id, lines)
	}
	manifest, merr := src.Manifest(recorder.KindSession, id)
	if s.Unreadable == nil {
		if merr == nil {
			s.AddManifest(manifest) // a session a crash cut short: recovered_after_crash
		}
		if !filter.Match(s.Summary) {
			return nil
		}
	}
	p.tally.listed++
	if merr == nil {
		p.tally.manifests++
	}
	inBundle := s.Unreadable != nil || opts.Scope.matches(s.Summary)
	if c.haveLedger && c.ledgers.Registered(recorder.KindSession, id) == "" {
		ex := exceptionRow{Kind: exUnregistered, Session: id, Time: utc(s.Start), Detail: "the store holds it; no ledger registers it opened"}
		if err := p.addException(ex, s, inBundle); err != nil {
			return err
		}
	}
	if !inBundle {
		return nil
	}
	return p.addSession(src, s, lines, merr == nil, opts, c.ledgers)
}

// addSession adds one listed session to the populations: its row, its
// verification (against the ledgers, as `gatehouse verify` does, so that
// a closed session cut short and its manifest deleted fails rather than
// passing for one still open) with its Object Lock, its exceptions, and
// its statements and refusals.
func (p *populations) addSession(src Source, s recorder.Listed, lines [][]byte, hasManifest bool, opts Options, ledgers *recorder.Ledgers) error {
	row := newSessionRow(s, opts.Scope.To)
	if err := p.sessions.add(row); err != nil {
		return err
	}
	p.tally.addSession(row)
	if s.Unreadable != nil {
		return p.addVerification(s, newVerificationRow(s, nil))
	}
	if !s.End.IsZero() && !hasManifest {
		if err := p.addException(noManifest(s), s, true); err != nil {
			return err
		}
	}
	rep, err := opts.keyring().VerifyStoredWith(src, ledgers, recorder.KindSession, s.ID)
	v := newVerificationRow(s, err)
	v.Keys = strings.Join(rep.Keys, " ")
	sl := readStreamLock(opts.Lock, s.ID)
	v.ObjectLock, v.RetainUntil, v.LockedObjects = sl.mode, sl.until, sl.locked
	if ex, ok := lockException(s, sl); ok {
		if err := p.addException(ex, s, true); err != nil {
			return err
		}
	}
	if err := p.addVerification(s, v); err != nil {
		return err
	}
	if err := p.report.session(s, p.reportSession(row, v)); err != nil {
		return err
	}
	p.requests.addSession(s.Summary)
	if ex, ok := p.revocations.addSession(s.Summary); ok {
		if err := p.addException(ex, s, true); err != nil {
			return err
		}
	}
	return p.addSessionEvents(s.Summary, lines)
}

// addVerification adds a session's verification, and when it failed its
// exception.
func (p *populations) addVerification(s recorder.Listed, v verificationRow) error {
	if err := p.verification.add(v); err != nil {
		return err
	}
	for _, fp := range strings.Fields(v.Keys) {
		p.keySessions[fp]++
	}
	if v.Result == "failed" {
		return p.addException(exceptionRow{Kind: exFailed, Session: s.ID, Time: utc(s.Start), Detail: v.Error}, s, true)
	}
	return nil
}

// addException adds an exception about session s; the report lists it
// under the session's identity when s is one of the bundle's, and
// readable.
func (p *populations) addException(ex exceptionRow, s recorder.Listed, inBundle bool) error {
	who := ""
	if inBundle && s.Unreadable == nil {
		who = cmp.Or(s.Identity, noIdentity)
	}
	return p.exceptions.add(heldException{Row: ex, Who: who})
}

// inRecordOrder orders two recorded events by time, then stream and seq.
func inRecordOrder(t1, stream1 string, seq1 uint64, t2, stream2 string, seq2 uint64) int {
	return cmp.Or(byTime(t1, t2), cmp.Compare(stream1, stream2), cmp.Compare(seq1, seq2))
}

func (sc Scope) matches(s recorder.Summary) bool {
	if len(sc.Identities) > 0 && !slices.Contains(sc.Identities, s.Identity) && (s.Agent == "" || !slices.Contains(sc.Identities, s.Agent)) {
		return false
	}
	if sc.Within != nil && !sc.Within.Session(s) {
		return false
	}
	return len(sc.Targets) == 0 || slices.ContainsFunc(s.Targets, func(t string) bool { return slices.Contains(sc.Targets, t) })
}

// addSessionEvents adds the statements and refusals of one session, as
// far as its hash chain holds (the verification population says where
// it breaks).
func (p *populations) addSessionEvents(s recorder.Summary, lines [][]byte) error {
	events, _ := recorder.VerifyChain(lines)
	stream := recorder.KindSession + "/" + s.ID
	targets := map[int]string{} // channel number → target
	for _, ev := range events {
		d := denialRow{Stream: stream, Seq: ev.Seq, Time: utc(ev.Time), Type: string(ev.Type), Identity: s.Identity}
		switch ev.Type {
		case event.TypeChannelOpen:
			var c event.ChannelOpen
			_ = ev.DecodeData(&c)
			targets[c.Channel] = c.Target
			continue
		case event.TypeDBStatement:
			var st event.DBStatement
			_ = ev.DecodeData(&st)
			if err := p.addStatement(s, ev, st, targets[st.Channel]); err != nil {
				return err
			}
			if st.Decision.Allowed() {
				continue
			}
			d.Reason, d.Detail = st.Rule, st.Text
		case event.TypeChannelRefused:
			var c event.ChannelRefused
			_ = ev.DecodeData(&c)
			d.Reason, d.Detail = c.Reason, fmt.Sprintf("%s %s:%d", c.Type, c.Host, c.Port)
		case event.TypeAuthFailure:
			var a event.AuthFailure
			_ = ev.DecodeData(&a)
			d.Reason, d.Detail = a.Reason, "method="+a.Method+" user="+a.User
		case event.TypeSessionRevoked:
			var r event.SessionRevoked
			_ = ev.DecodeData(&r)
			p.revocations.ended(revokedEnd{session: s.ID, at: ev.Time, reason: r.Reason, serial: r.Serial, key: r.KeyFingerprint})
			continue
		default:
			continue
		}
		if err := p.denials.add(d); err != nil {
			return err
		}
	}
	return nil
}

// addStatement adds one db.statement: its row, and its exposure.
func (p *populations) addStatement(s recorder.Summary, ev recorder.Event, st event.DBStatement, target string) error {
	err := p.statements.add(statementRow{Session: s.ID, Seq: ev.Seq, Time: utc(ev.Time), Identity: s.Identity,
		Target: target, Channel: st.Channel, Text: st.Text, Kinds: orEmpty(st.Kinds), Decision: string(st.Decision),
		Rule: st.Rule, Outcome: st.Outcome, Rows: st.Rows, Error: st.Error, Masked: orEmpty(st.Masked)})
	if err != nil {
		return err
	}
	es := audit.ExposureStatement{Session: s.ID, Seq: ev.Seq, Time: utc(ev.Time), Identity: s.Identity,
		Target: target, Masked: st.Masked, Rows: st.Rows}
	p.exposure.Add(es)
	p.maskedOf(s.Identity).Add(es)
	if st.Decision.Allowed() {
		return nil
	}
	es.Masked, es.Decision, es.Rule, es.Text = nil, string(st.Decision), st.Rule, st.Text
	for _, r := range refusedBy(es) {
		if err := errors.Join(p.refused.add(r), p.report.refused(s, r)); err != nil {
			return err
		}
	}
	return nil
}

func (sc Scope) inPeriod(t time.Time) bool {
	return (sc.From.IsZero() || !t.Before(sc.From)) && (sc.To.IsZero() || t.Before(sc.To))
}

// matchesRefusal says whether a refused certificate is in scope: of a
// named identity (its email, subject or agent), and asking for a grant on
// a named target. A refusal that established no identity is in scope
// only without --identity.
func (sc Scope) matchesRefusal(c event.CertRefused) bool {
	if len(sc.Identities) > 0 {
		id := c.Identity
		if id == nil || !slices.ContainsFunc([]string{id.Email, id.Subject, id.Agent}, func(n string) bool {
			return n != "" && slices.Contains(sc.Identities, n)
		}) {
			return false
		}
	}
	return len(sc.Targets) == 0 || slices.ContainsFunc(c.Grants, func(g string) bool {
		target, _, _ := strings.Cut(g, ":")
		return slices.Contains(sc.Targets, target)
	})
}

// refusedName is who asked for a refused certificate, as far as the CA
// established it.
func refusedName(id *event.Identity) string {
	switch {
	case id == nil:
		return ""
	case id.Agent != "":
		return id.Agent
	case id.Email != "":
		return id.Email
	}
	return id.Subject
}

// orEmpty makes a nil list an empty one, so JSON shows [] rather than
// null whichever way the event was written.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maskedOf is identity's masked columns, made as needed.
func (p *populations) maskedOf(identity string) *audit.Exposure {
	if p.masked == nil {
		p.masked = map[string]*audit.Exposure{}
	}
	x := p.masked[identity]
	if x == nil {
		x = &audit.Exposure{}
		p.masked[identity] = x
	}
	return x
}

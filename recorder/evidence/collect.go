package evidence

import (
	"cmp"
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

// populations are the bundle's rows, each in its file's order.
type populations struct {
	sessions     []sessionRow
	statements   *table[statementRow] // written as the sessions are read
	denials      []denialRow
	verification []verificationRow
	issuances    []issuanceRow
	requests     []requestRow
	revocations  []revocationRow
	exceptions   []exceptionRow
	activity     []activityRow
	completeness []completenessRow

	exposure    audit.Exposure
	byIdentity  map[string]*audit.Exposure // each identity's exposure, for the report
	requestLog  *audit.Requests            // every request before the period's end, settled
	inBundle    []recorder.Summary         // the readable sessions listed, in id order
	revokedEnds []revokedEnd               // the bundle's sessions the bastion ended on a revocation
}

// collect reads the sessions of opts.Scope from src, verifying each with
// opts.Keys and the ledgers, and the CA streams' events before the
// period's end.
func collect(src Source, opts Options, statements *table[statementRow]) (*populations, error) {
	scope, lag, keys := opts.Scope, opts.Lag, opts.keyring()
	ca, err := readStreams(src, recorder.KindCA, scope)
	if err != nil {
		return nil, err
	}
	console, err := readStreams(src, recorder.KindConsole, scope)
	if err != nil {
		return nil, err
	}
	listed, err := recorder.Summaries(src, recorder.Filter{Since: scope.From, Until: scope.To}, lag)
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	ledgers, err := keys.ReadLedgers(src)
	if err != nil {
		return nil, fmt.Errorf("reading the ledgers: %w", err)
	}
	slices.SortFunc(listed, func(a, b recorder.Listed) int { return cmp.Compare(a.ID, b.ID) })
	c, err := takeCensus(src, listed, ledgers)
	if err != nil {
		return nil, err
	}
	p := &populations{statements: statements}
	for _, s := range listed {
		// An unreadable session is kept whatever the scope says: it
		// cannot be told apart, and must not hide.
		if s.Unreadable != nil || scope.matches(s.Summary) {
			if err := p.addSession(src, s, opts, ledgers, c); err != nil {
				return nil, err
			}
		}
	}
	p.addIssuances(ca, scope)
	p.addRequests(ca, scope, settleAt(scope, opts.Now))
	p.addRevocations(ca, scope)
	p.reconcile(c, scope)
	sortExceptions(p.exceptions)
	p.addActivity(console, scope)
	slices.SortFunc(p.issuances, func(a, b issuanceRow) int { return inRecordOrder(a.Time, a.Stream, a.Seq, b.Time, b.Stream, b.Seq) })
	slices.SortFunc(p.denials, func(a, b denialRow) int { return inRecordOrder(a.Time, a.Stream, a.Seq, b.Time, b.Stream, b.Seq) })
	return p, nil
}

// addSession adds one listed session to the populations: its row, its
// verification (against the ledgers, as `gatehouse verify` does, so that
// a closed session cut short and its manifest deleted fails rather than
// passing for one still open) with its Object Lock, its exceptions, and
// its statements and refusals.
func (p *populations) addSession(src Source, s recorder.Listed, opts Options, ledgers *recorder.Ledgers, c census) error {
	p.sessions = append(p.sessions, newSessionRow(s, opts.Scope.To))
	if s.Unreadable != nil {
		p.addVerification(s, newVerificationRow(s, nil))
		return nil
	}
	p.inBundle = append(p.inBundle, s.Summary)
	if !s.End.IsZero() && !c.hasManifest[s.ID] {
		p.exceptions = append(p.exceptions, noManifest(s))
	}
	rep, err := opts.keyring().VerifyStoredWith(src, ledgers, recorder.KindSession, s.ID)
	v := newVerificationRow(s, err)
	v.Keys = strings.Join(rep.Keys, " ")
	sl := readStreamLock(opts.Lock, s.ID)
	v.ObjectLock, v.RetainUntil, v.LockedObjects = sl.mode, sl.until, sl.locked
	if ex, ok := lockException(s, sl); ok {
		p.exceptions = append(p.exceptions, ex)
	}
	p.addVerification(s, v)
	return p.addSessionEvents(src, s.Summary)
}

// addVerification adds a session's verification, and when it failed its
// exception.
func (p *populations) addVerification(s recorder.Listed, v verificationRow) {
	p.verification = append(p.verification, v)
	if v.Result == "failed" {
		p.exceptions = append(p.exceptions, exceptionRow{Kind: exFailed, Session: s.ID, Time: utc(s.Start), Detail: v.Error})
	}
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
func (p *populations) addSessionEvents(src Source, s recorder.Summary) error {
	lines, err := src.Lines(recorder.KindSession, s.ID)
	if err != nil {
		return fmt.Errorf("reading session %s: %w", s.ID, err)
	}
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
		case event.TypeDBStatement:
			var st event.DBStatement
			_ = ev.DecodeData(&st)
			err := p.statements.add(statementRow{Session: s.ID, Seq: ev.Seq, Time: utc(ev.Time), Identity: s.Identity,
				Target: targets[st.Channel], Channel: st.Channel, Text: st.Text, Kinds: orEmpty(st.Kinds), Decision: string(st.Decision),
				Rule: st.Rule, Outcome: st.Outcome, Rows: st.Rows, Error: st.Error, Masked: orEmpty(st.Masked)})
			if err != nil {
				return err
			}
			es := audit.ExposureStatement{Session: s.ID, Seq: ev.Seq, Time: utc(ev.Time), Identity: s.Identity,
				Target: targets[st.Channel], Masked: st.Masked, Rows: st.Rows, Decision: string(st.Decision), Rule: st.Rule, Text: st.Text}
			p.exposure.Add(es)
			p.exposureOf(s.Identity).Add(es)
			if !st.Decision.Allowed() {
				d.Reason, d.Detail = st.Rule, st.Text
				p.denials = append(p.denials, d)
			}
		case event.TypeChannelRefused:
			var c event.ChannelRefused
			_ = ev.DecodeData(&c)
			d.Reason, d.Detail = c.Reason, fmt.Sprintf("%s %s:%d", c.Type, c.Host, c.Port)
			p.denials = append(p.denials, d)
		case event.TypeAuthFailure:
			var a event.AuthFailure
			_ = ev.DecodeData(&a)
			d.Reason, d.Detail = a.Reason, "method="+a.Method+" user="+a.User
			p.denials = append(p.denials, d)
		case event.TypeSessionRevoked:
			var r event.SessionRevoked
			_ = ev.DecodeData(&r)
			p.revokedEnds = append(p.revokedEnds, revokedEnd{session: s.ID, at: ev.Time, reason: r.Reason, serial: r.Serial, key: r.KeyFingerprint})
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

// exposureOf is identity's exposure, made as needed.
func (p *populations) exposureOf(identity string) *audit.Exposure {
	if p.byIdentity == nil {
		p.byIdentity = map[string]*audit.Exposure{}
	}
	x := p.byIdentity[identity]
	if x == nil {
		x = &audit.Exposure{}
		p.byIdentity[identity] = x
	}
	return x
}

package recorder

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Summary is one session as `gatehouse sessions` lists it.
type Summary struct {
	ID             string
	Start          time.Time // session.start, or the time in the id when it is missing
	End            time.Time // zero while the session is open (or was cut short)
	Identity       string    // the certificate's KeyId, once authenticated
	Agent          string    // the agent of an agent certificate
	Serial         uint64    // the certificate's serial
	KeyFingerprint string    // of the key the certificate certifies
	ClientAddr     string
	Channels       int // channels opened
	Statements     int // db.statement events
	Denied         int // db.statement events whose decision is not allow
	// Refusals counts auth failures, refused channels and requests, and
	// denied statements.
	Refusals   int
	EndReason  string
	Targets    []string // targets of opened channels
	ChainError error    // nil when the hash chain is intact
	// Human is who vouches for the session: the human who delegated an
	// agent's certificate, or the certified human's email.
	Human string
	// Roles are the database sessions' "target:role", once each, in
	// recorded order.
	Roles  []string
	Masked int // db.statement events with masked columns
}

// Listed is a session as Summaries lists it.
type Listed struct {
	Summary
	// Unreadable is why the stream could not be read (a chunk missing
	// from the bucket, a file that cannot be read); only ID is set then.
	Unreadable error
	// Verified says whether Verification was done (Summaries with keys);
	// Verification is then VerifyStored's result: nil, an ErrIncomplete
	// for a stream without a manifest, or the first problem found.
	Verified     bool
	Verification error
}

// SummarySource is where Summaries reads sessions: the file store, or
// the S3 bucket.
type SummarySource interface {
	VerifySource
	List(kind string) ([]string, error)
}

// Summaries lists the sessions of src that f selects, in src.List's
// order (oldest first), as `gatehouse sessions` and the auditor console
// show them; lag is as for Filter.MayMatch. A session that cannot be read
// is listed, with Unreadable set, whatever f says: one damaged recording
// must not hide among the others. With keys, each listed session is also
// verified (VerifyStored; the ledgers are not consulted).
func Summaries(src SummarySource, f Filter, lag time.Duration, keys ...ed25519.PublicKey) ([]Listed, error) {
	return Trust(keys...).Summaries(src, f, lag)
}

// Summaries is the package's Summaries, each session verified with the
// ring's keys (an empty ring: not verified).
func (r *Keyring) Summaries(src SummarySource, f Filter, lag time.Duration) ([]Listed, error) {
	ids, err := src.List(KindSession)
	if err != nil {
		return nil, err
	}
	var out []Listed
	for _, id := range ids {
		if !f.MayMatch(id, lag) {
			continue // began outside Since/Until: not read
		}
		lines, err := src.Lines(KindSession, id)
		if err != nil {
			out = append(out, Listed{Summary: Summary{ID: id}, Unreadable: err})
			continue
		}
		s := Listed{Summary: Summarize(id, lines)}
		if manifest, err := src.Manifest(KindSession, id); err == nil {
			s.AddManifest(manifest) // a session a crash cut short: recovered_after_crash
		}
		if !f.Match(s.Summary) {
			continue
		}
		if r.Len() > 0 {
			_, s.Verification = r.VerifyStored(src, KindSession, id)
			s.Verified = true
		}
		if f.MatchListed(s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// AddManifest completes the summary of a session that recorded no end
// (its process died) from its manifest, as the manifest says, without
// checking its signature (Verify does): Recover's manifest gives the end
// reason EndRecovered and the time of the last event.
func (s *Summary) AddManifest(data []byte) {
	var sm struct {
		Manifest struct {
			EndReason string    `json:"end_reason"`
			End       time.Time `json:"end"`
		} `json:"manifest"`
	}
	if !s.Open() || json.Unmarshal(data, &sm) != nil || sm.Manifest.EndReason == "" {
		return
	}
	s.End, s.EndReason = sm.Manifest.End, sm.Manifest.EndReason
}

// Open says whether the session has not recorded its end: it is still
// running, or it was cut short.
func (s Summary) Open() bool { return s.End.IsZero() }

// Summarize condenses a session stream's lines.
func Summarize(id string, lines [][]byte) Summary {
	s := Summary{ID: id}
	events, err := VerifyChain(lines)
	s.ChainError = err
	for _, ev := range events {
		s.add(ev)
	}
	if s.Start.IsZero() {
		s.Start, _ = IDTime(id)
	}
	return s
}

// add counts one event in. A payload without the fields a summary reads
// (or with some of the wrong type) leaves them empty, so its decoding
// errors are ignored.
func (s *Summary) add(ev Event) {
	switch ev.Type {
	case event.TypeSessionStart:
		var p event.SessionStart
		_ = ev.DecodeData(&p)
		s.Start, s.ClientAddr = ev.Time, p.ClientAddr
	case event.TypeAuthSuccess:
		var p event.AuthSuccess
		_ = ev.DecodeData(&p)
		s.Identity, s.Agent, s.Serial, s.KeyFingerprint = p.KeyID, p.Identity.Agent, p.Serial, p.KeyFingerprint
		s.Human = p.Identity.DelegatedBy
		if s.Human == "" {
			s.Human = p.Identity.Email
		}
	case event.TypeDBSessionStart:
		var p event.DBSessionStart
		if ev.DecodeData(&p) == nil && !slices.Contains(s.Roles, p.Target+":"+p.Role) {
			s.Roles = append(s.Roles, p.Target+":"+p.Role)
		}
	case event.TypeChannelOpen:
		var p event.ChannelOpen
		_ = ev.DecodeData(&p)
		s.Channels++
		if !slices.Contains(s.Targets, p.Target) {
			s.Targets = append(s.Targets, p.Target)
		}
	case event.TypeDBStatement:
		var p event.DBStatement
		_ = ev.DecodeData(&p)
		s.Statements++
		if len(p.Masked) > 0 {
			s.Masked++
		}
		if !p.Decision.Allowed() {
			s.Denied++
			s.Refusals++
		}
	case event.TypeAuthThrottled:
		var p event.AuthThrottled
		_ = ev.DecodeData(&p)
		// Connections refused before authentication, counted together.
		s.Refusals += max(1, p.OverRate+p.OverConcurrency)
	case event.TypeSessionEnd:
		var p event.SessionEnd
		_ = ev.DecodeData(&p)
		s.End, s.EndReason = ev.Time, p.Reason
	default:
		if ev.Type == event.TypeAuthFailure || strings.HasSuffix(string(ev.Type), ".refused") {
			s.Refusals++
		}
	}
}

// Outcomes a Filter selects on. They overlap: an open session may already
// have refusals.
const (
	OutcomeRefused = "refused" // at least one refusal or denied statement
	OutcomeClean   = "clean"   // ended, no refusals, chain intact
	OutcomeOpen    = "open"    // no session.end: still running, or cut short
)

// Values of a Filter's Denials and Masked.
const (
	Yes = "yes"
	No  = "no"
)

// Verifications a Filter selects on, as the lists show them.
const (
	VerificationVerified   = "verified"   // verified with the keys: signed and complete
	VerificationFailed     = "failed"     // verified, and a problem was found
	VerificationIncomplete = "incomplete" // verified, and the stream has no manifest (yet)
)

// Filter selects sessions. Its zero value selects all.
type Filter struct {
	Identity string    // a substring of the identity (the certificate's KeyId)
	Agent    string    // the agent, exactly
	Target   string    // a target the session opened a channel to
	Since    time.Time // sessions that started at or after Since
	Until    time.Time // sessions that started before Until
	Outcome  string    // OutcomeRefused, OutcomeClean, OutcomeOpen or ""
	// Human is the vouching human (Summary.Human), exactly: a human's
	// own sessions and those of the agents they vouched for.
	Human string
	// Role is a database role the session used on any target, exactly.
	Role string
	// Decision is event.Allow or event.Deny: at least one statement so
	// decided (anything but allow counts as deny, as Denied counts).
	Decision string
	// Denials is Yes or No: whether the session has any refusal (denied
	// statement, failed authentication, refused channel or request,
	// throttled connection), as Refusals counts them.
	Denials string
	Masked  string // Yes or No: whether any statement had masked columns
	// Verification is VerificationVerified, VerificationFailed or
	// VerificationIncomplete; a session not verified (no keys) has none.
	// Match leaves it to MatchListed.
	Verification string
}

// MayMatch says whether the session id can match f's time range, judged
// by the time in the id, so that a listing need not read sessions that
// began outside it (in a bucket, every chunk is a request). A session's
// Start (its session.start) comes at most lag after the time in its id:
// the id is taken when the connection is accepted, to the second, and
// session.start once authentication begins, within the bastion's
// handshake timeout. An id without a time may match.
func (f Filter) MayMatch(id string, lag time.Duration) bool {
	t, ok := IDTime(id)
	if !ok {
		return true
	}
	return (f.Since.IsZero() || !t.Before(f.Since.Add(-lag-time.Second))) && (f.Until.IsZero() || t.Before(f.Until))
}

// Match says whether s passes every condition of f but Verification,
// which a Summary does not hold (MatchListed).
func (f Filter) Match(s Summary) bool {
	switch {
	case f.Identity != "" && !strings.Contains(s.Identity, f.Identity),
		f.Agent != "" && s.Agent != f.Agent,
		f.Target != "" && !slices.Contains(s.Targets, f.Target),
		!f.Since.IsZero() && s.Start.Before(f.Since),
		!f.Until.IsZero() && !s.Start.Before(f.Until),
		f.Human != "" && s.Human != f.Human,
		f.Role != "" && !s.usedRole(f.Role),
		f.Decision == string(event.Allow) && s.Statements-s.Denied == 0,
		f.Decision == string(event.Deny) && s.Denied == 0,
		!yesNo(f.Denials, s.Refusals > 0),
		!yesNo(f.Masked, s.Masked > 0):
		return false
	}
	switch f.Outcome {
	case OutcomeRefused:
		return s.Refusals > 0
	case OutcomeClean:
		return !s.Open() && s.Refusals == 0 && s.ChainError == nil
	case OutcomeOpen:
		return s.Open()
	}
	return true
}

// BadChoice names the first of f's fields that take one of a few values
// whose value is none of them, by the name the console's parameter and
// the `gatehouse sessions` flag give it, with the values it takes; ""
// when all are good.
func (f Filter) BadChoice() (name string, allowed []string) {
	yesNo := []string{Yes, No}
	for _, c := range []struct {
		name, value string
		allowed     []string
	}{
		{"outcome", f.Outcome, []string{OutcomeRefused, OutcomeClean, OutcomeOpen}},
		{"decision", f.Decision, []string{string(event.Allow), string(event.Deny)}},
		{"denials", f.Denials, yesNo},
		{"masked", f.Masked, yesNo},
		{"verification", f.Verification, []string{VerificationVerified, VerificationFailed, VerificationIncomplete}},
	} {
		if c.value != "" && !slices.Contains(c.allowed, c.value) {
			return c.name, c.allowed
		}
	}
	return "", nil
}

// MatchListed says whether l passes every condition of f, Verification
// included.
func (f Filter) MatchListed(l Listed) bool {
	return f.Match(l.Summary) && (f.Verification == "" || f.Verification == l.VerificationStatus())
}

// VerificationStatus is a Verification value for l's verification, or ""
// when it was not verified.
func (l Listed) VerificationStatus() string {
	switch {
	case !l.Verified:
		return ""
	case l.Verification == nil:
		return VerificationVerified
	case errors.Is(l.Verification, ErrIncomplete):
		return VerificationIncomplete
	}
	return VerificationFailed
}

// usedRole says whether a database session of s used role (Roles hold
// "target:role"; a target name holds no colon).
func (s Summary) usedRole(role string) bool {
	return slices.ContainsFunc(s.Roles, func(r string) bool {
		_, name, _ := strings.Cut(r, ":")
		return name == role
	})
}

// yesNo says whether has passes want: Yes, No, or "" for either.
func yesNo(want string, has bool) bool {
	return want == "" || (want == Yes) == has
}

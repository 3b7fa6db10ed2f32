package console

import (
	"bytes"
	"crypto/ed25519"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// overviewSession is a session of the overview fixture.
type overviewSession struct {
	identity, agent, target, addr, key string
	serial                             uint64
	start                              time.Time
	statements, denied, failures       int
	open                               bool // no session.end, no manifest: incomplete
	tamper                             bool // a byte of the closed stream changed: failed
	unauthenticated                    bool // refused before auth.success
}

// recordOverviewSession writes s as the bastion would, and tampers with
// it when s says so.
func (f *fixture) recordOverviewSession(key ed25519.PrivateKey, s overviewSession) string {
	f.t.Helper()
	st, emit := f.open(key, s.start)
	emit(event.TypeSessionStart, event.SessionStart{ClientAddr: s.addr, ServerAddr: "127.0.0.1:2222"})
	for range s.failures {
		emit(event.TypeAuthFailure, event.AuthFailure{Method: "publickey"})
	}
	if !s.unauthenticated {
		emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: s.identity,
			KeyFacts: event.KeyFacts{KeyID: s.identity, Serial: s.serial, KeyFingerprint: s.key},
			Identity: event.Identity{Subject: "s", Issuer: "i", Agent: s.agent}})
		emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: s.target})
		for i := range s.statements {
			d := event.Allow
			if i < s.denied {
				d = event.Deny
			}
			emit(event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "SELECT " + strconv.Itoa(i), Decision: d})
		}
	}
	if s.open {
		return st.ID
	}
	emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
	if err := st.Close(); err != nil {
		f.t.Fatal(err)
	}
	if s.tamper {
		path := filepath.Join(f.store.Dir, recorder.KindSession, st.ID+".jsonl")
		data, err := os.ReadFile(path)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(path, bytes.Replace(data, []byte("client disconnected"), []byte("client disconnectee"), 1), 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	return st.ID
}

// overviewFixture writes a CA stream (an approved request's certificate,
// a dev login's, revocations by serial, by key and by identity) and the
// sessions, one of them before the default period. It returns the
// sessions' ids in order.
func (f *fixture) overviewFixture(key ed25519.PrivateKey, now time.Time, sessions []overviewSession) []string {
	f.t.Helper()
	ca, emit := f.openKind(recorder.KindCA, key, now.Add(-3*time.Hour))
	emit(event.TypeRequestFiled, event.RequestStep{Request: event.AccessRequest{ID: "req-1", State: "pending", Grant: "orders:ro", FiledAt: now.Add(-3 * time.Hour)}})
	emit(event.TypeRequestApproved, event.RequestStep{Request: event.AccessRequest{ID: "req-1", State: "approved", Grant: "orders:ro", FiledAt: now.Add(-3 * time.Hour)}})
	emit(event.TypeCertIssued, event.CertIssued{Source: "oidc", Serial: 10, Identity: event.Identity{RequestID: "req-1", Serial: 10}})
	emit(event.TypeCertIssued, event.CertIssued{Source: "dev", Serial: 20, KeyID: "dev@example.com"})
	revoked := now.Add(-2 * time.Hour)
	emit(event.TypeCertRevoked, event.CertRevoked{Revocation: event.Revocation{Serial: 30, RevokedAt: revoked}})
	emit(event.TypeCertRevoked, event.CertRevoked{Revocation: event.Revocation{Key: "SHA256:stolen", RevokedAt: revoked}})
	emit(event.TypeCertRevoked, event.CertRevoked{Revocation: event.Revocation{Identity: "mallory@example.com", RevokedAt: revoked},
		Matched: []event.RevokedCertificate{{Serial: 40}}})
	if err := ca.Close(); err != nil {
		f.t.Fatal(err)
	}
	var ids []string
	for _, s := range sessions {
		ids = append(ids, f.recordOverviewSession(key, s))
	}
	return ids
}

// TestOverviewCountsAndExceptions: each exception kind comes from its
// fixture session, and every count equals a straightforward reference
// over the fixture's sessions of the period.
func TestOverviewCountsAndExceptions(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	now := time.Now().UTC()
	h := func(n float64) time.Time { return now.Add(time.Duration(-n * float64(time.Hour))) }
	sessions := []overviewSession{
		{identity: "alice@example.com", target: "orders", addr: "10.0.0.1:1", serial: 10, start: h(2.9), statements: 3},                                        // 0 just in time
		{identity: "alice@example.com via agent:bot", agent: "bot", target: "orders", addr: "10.0.0.1:2", serial: 11, start: h(2.8), statements: 4, denied: 2}, // 1
		{identity: "dev@example.com", target: "orders", addr: "10.0.0.2:1", serial: 20, start: h(2.7), statements: 1},                                          // 2 dev login
		{identity: "bob@example.com", target: "billing", addr: "10.0.0.3:1", serial: 30, start: h(1), statements: 1},                                           // 3 after serial revocation
		{identity: "carol@example.com", target: "billing", addr: "10.0.0.3:2", serial: 31, key: "SHA256:stolen", start: h(0.9)},                                // 4 after key revocation
		{identity: "mallory@example.com", target: "orders", addr: "10.0.0.4:1", serial: 40, start: h(0.5), statements: 2, denied: 1},                           // 5 after identity revocation
		{identity: "mallory@example.com", target: "orders", addr: "10.0.0.4:2", serial: 41, start: h(0.4)},                                                     // 6 issued after it: no exception
		{identity: "bob@example.com", target: "billing", addr: "10.0.0.3:3", serial: 32, start: h(2.5), tamper: true, statements: 1},                           // 7 failed
		{identity: "bob@example.com", target: "billing", addr: "10.0.0.3:4", serial: 33, start: h(0.3), open: true},                                            // 8 incomplete
		{addr: "192.0.2.9:1", start: h(0.2), failures: 3, unauthenticated: true},                                                                               // 9 probes
		{addr: "192.0.2.9:2", start: h(0.1), failures: 3, unauthenticated: true},                                                                               // 10 probes
		{identity: "old@example.com", target: "orders", addr: "10.0.0.9:1", serial: 50, start: now.Add(-10 * 24 * time.Hour), statements: 9},                   // 11 outside the period
	}
	// Session 5's certificate was issued before the revocation; session 6's after (not in Matched).
	ids := f.overviewFixture(key, now, sessions)
	c := f.loggedIn(auditorClaims)
	resp := f.get(c, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	text := html.UnescapeString(resp.body)

	// The reference: plain loops over the fixture's sessions of the period.
	want := map[string]int{}
	humans, agents := map[string]bool{}, map[string]bool{}
	for _, s := range sessions[:11] {
		want["sessions"]++
		want["statements"] += s.statements
		want["denials"] += s.denied
		switch {
		case s.agent != "":
			agents[s.agent] = true
		case s.identity != "":
			humans[s.identity] = true
		}
		switch {
		case s.serial == 10:
			want["jit"]++
		case !s.unauthenticated:
			want["standing"]++
		}
		switch {
		case s.tamper:
			want["failed"]++
		case s.open:
			want["incomplete"]++
		default:
			want["verified"]++
		}
	}
	want["humans"], want["agents"], want["unverified"] = len(humans), len(agents), 0
	for id, n := range want {
		if got := countCell(t, resp.body, id); got != n {
			t.Errorf("%s: shown %d, want %d", id, got, n)
		}
	}

	exceptions := exceptionRows(resp.body)
	wantExceptions := []string{
		exFailed + " " + ids[7], exIncomplete + " " + ids[8],
		exRevoked + " " + ids[3], exRevoked + " " + ids[4], exRevoked + " " + ids[5],
		exDevLogin + " " + ids[2], exProbes + " " + ids[9],
	}
	if !equal(exceptions, wantExceptions) {
		t.Errorf("exceptions\n%v\nwant\n%v", exceptions, wantExceptions)
	}
	if !strings.Contains(text, "2 statements, ended: client disconnected") {
		t.Errorf("activity after revocation does not say what the session did and how it ended:\n%s", text)
	}
	if !strings.Contains(text, "6 refusals from 192.0.2.9") {
		t.Errorf("the probe burst does not say how many refusals from where:\n%s", text)
	}
	views := f.activity.of(event.TypeConsoleView)
	if v := views[len(views)-1].(event.ConsoleView); v.Path != "/" || v.Total != 11 || v.Rows != len(wantExceptions) || v.Filters["since"] == "" {
		t.Errorf("the overview is recorded as %+v", v)
	}
}

var countCellRe = regexp.MustCompile(`<td id="([a-z]+)">(\d+)</td>`)

// countCell is the number the overview shows in the cell with id.
func countCell(t *testing.T, body, id string) int {
	t.Helper()
	for _, m := range countCellRe.FindAllStringSubmatch(body, -1) {
		if m[1] == id {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	t.Fatalf("no count %q on the overview", id)
	return 0
}

var exceptionRowRe = regexp.MustCompile(`<tr><td>([^<]+)</td><td>[^<]*</td><td><a href="/sessions/([^"]+)">`)

// exceptionRows are the overview's exceptions as "KIND SESSION".
func exceptionRows(body string) []string {
	var out []string
	for _, m := range exceptionRowRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// TestOverviewPeriodAndScope: since and until choose the sessions
// counted; an external auditor's link counts only its targets and
// period, and is refused a period outside them only by seeing nothing.
func TestOverviewPeriodAndScope(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	now := time.Now().UTC()
	ids := f.overviewFixture(key, now, []overviewSession{
		{identity: "a@example.com", target: "orders", addr: "10.0.0.1:1", serial: 1, start: now.Add(-3 * time.Hour), statements: 1},
		{identity: "b@example.com", target: "billing", addr: "10.0.0.1:2", serial: 30, start: now.Add(-time.Hour), statements: 2},
		{identity: "c@example.com", target: "orders", addr: "10.0.0.1:3", serial: 3, start: now.Add(-10 * 24 * time.Hour), statements: 4},
	})
	c := f.loggedIn(auditorClaims)
	for _, tc := range []struct {
		query            string
		sessions, states int
	}{
		{"", 2, 3},
		{"since=" + now.Add(-2*time.Hour).Format(time.RFC3339), 1, 2},
		{"since=" + now.Add(-30*24*time.Hour).Format(time.RFC3339), 3, 7},
		{"since=" + now.Add(-30*24*time.Hour).Format(time.RFC3339) + "&until=" + now.Add(-2*time.Hour).Format(time.RFC3339), 2, 5},
	} {
		body := f.get(c, "/?"+tc.query).body
		if got := countCell(t, body, "sessions"); got != tc.sessions {
			t.Errorf("%q: %d sessions, want %d", tc.query, got, tc.sessions)
		}
		if got := countCell(t, body, "statements"); got != tc.states {
			t.Errorf("%q: %d statements, want %d", tc.query, got, tc.states)
		}
	}
	if resp := f.get(c, "/?since=yesterday"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad since answers %d", resp.StatusCode)
	}

	// A link for orders only: billing's session, and its exception (a
	// session after its serial's revocation), are not shown.
	link := &Link{Identity: "ext@example.com", Targets: []string{"orders"}, Expires: now.Add(time.Hour)}
	v := viewer{Auditor: event.Auditor{Subject: "ext@example.com"}, Scope: link}
	o, err := f.console.overviewOf(recorder.Filter{Since: now.Add(-7 * 24 * time.Hour)}, v)
	if err != nil {
		t.Fatal(err)
	}
	if o.Sessions != 1 || o.Statements != 1 || len(o.Exceptions) != 0 {
		t.Errorf("scoped overview %+v", o)
	}
	o, err = f.console.overviewOf(recorder.Filter{Since: now.Add(-7 * 24 * time.Hour)}, viewer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Exceptions) != 1 || !strings.Contains(o.Exceptions[0].Detail, ids[1]) {
		t.Errorf("unscoped exceptions %+v", o.Exceptions)
	}
}

// TestOverviewEscapesRecordedText: identities from the attack corpus in
// an exception's text are shown as text, controls escaped.
func TestOverviewEscapesRecordedText(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	now := time.Now().UTC()
	var sessions []overviewSession
	for i, attack := range attacks {
		sessions = append(sessions, overviewSession{identity: attack, target: "orders", addr: "10.0.0.1:1", serial: 20,
			start: now.Add(-time.Hour + time.Duration(i)*time.Second)})
	}
	f.overviewFixture(key, now, sessions)
	body := f.get(f.loggedIn(auditorClaims), "/").body
	checkShownAsText(t, body)
	text := html.UnescapeString(body)
	for _, attack := range attacks {
		if !strings.Contains(text, recorder.Printable(attack)+" with certificate serial 20 from a dev login") {
			t.Errorf("the dev-login exception does not show %q as text", attack)
		}
	}
}

// TestOverviewMissingSessions: a session stream a ledger registers as
// opened in the period, whose recording and manifest were deleted from
// the store, is an exception naming it and the ledger line; one opened
// before the period, and the sessions still stored, are not; an external
// auditor's link never shows it (its targets are unknown).
func TestOverviewMissingSessions(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	now := time.Now().UTC()
	clock := now.Add(-20 * 24 * time.Hour)
	rec := &recorder.Recorder{Store: f.store, Signer: key, Clock: func() time.Time { clock = clock.Add(time.Millisecond); return clock }}
	if err := rec.OpenLedger(); err != nil {
		t.Fatal(err)
	}
	session := func(start time.Time) string {
		clock = start
		return recordShortSession(t, rec)
	}
	old, kept, gone := session(now.Add(-10*24*time.Hour)), session(now.Add(-2*time.Hour)), session(now.Add(-time.Hour))
	if err := rec.CloseLedger(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{old, gone} {
		for _, ext := range []string{".jsonl", ".manifest.json"} {
			if err := os.Remove(filepath.Join(f.store.Dir, recorder.KindSession, id+ext)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ledgers, err := f.store.List(recorder.KindLedger)
	if err != nil || len(ledgers) != 1 {
		t.Fatalf("ledgers %v, %v", ledgers, err)
	}

	c := f.loggedIn(auditorClaims)
	text := html.UnescapeString(f.get(c, "/").body)
	want := gone + ": opened "
	if !strings.Contains(text, want) || !strings.Contains(text, "ledger "+ledgers[0]+" records at seq ") {
		t.Errorf("the overview does not list %s as missing from the store, with its ledger line:\n%s", gone, text)
	}
	if !strings.Contains(text, exMissing) {
		t.Errorf("no %q exception", exMissing)
	}
	for _, id := range []string{old, kept} {
		if strings.Contains(text, id+": opened") {
			t.Errorf("%s listed as missing", id)
		}
	}

	link := &Link{Identity: "ext@example.com", Expires: now.Add(time.Hour)}
	o, err := f.console.overviewOf(recorder.Filter{Since: now.Add(-7 * 24 * time.Hour)}, viewer{Scope: link})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range o.Exceptions {
		if e.Kind == exMissing {
			t.Errorf("a link's viewer sees %+v", e)
		}
	}
	o, err = f.console.overviewOf(recorder.Filter{Since: now.Add(-7 * 24 * time.Hour)}, viewer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Exceptions) != 1 || o.Exceptions[0].Kind != exMissing || !strings.HasPrefix(o.Exceptions[0].Detail, gone+": ") {
		t.Errorf("unscoped exceptions %+v", o.Exceptions)
	}
}

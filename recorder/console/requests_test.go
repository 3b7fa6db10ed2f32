package console

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// filedRequest is an access request of the requests fixture and what
// happened to it.
type filedRequest struct {
	id, requester, grant, reason string
	state                        string        // the CA's: pending, approved or denied
	filed                        time.Time     // also when its certificate is issued and its session opens
	expires                      time.Time     // of an approval
	serial                       uint64        // a certificate issued under it; 0: none
	session                      bool          // a session opened with that certificate
	sessionAfter                 time.Duration // after filing; 0: 2 minutes
	revoked                      bool          // the certificate revoked
}

// recordRequests writes one CA stream with every step of rs, and a
// session stream for each request with a session; it returns the
// session ids by request id.
func (f *fixture) recordRequests(key ed25519.PrivateKey, rs []filedRequest) map[string]string {
	f.t.Helper()
	st, emit := f.openKind(recorder.KindCA, key, rs[0].filed)
	for _, r := range rs {
		ar := event.AccessRequest{ID: r.id, State: "pending", Requester: event.Identity{Email: r.requester, Subject: r.requester},
			Grant: r.grant, Reason: r.reason, TTL: "15m", FiledAt: r.filed}
		emit(event.TypeRequestFiled, event.RequestStep{Request: ar})
		if r.state != "pending" {
			ar.State, ar.DecidedBy, ar.DecidedAt, ar.ExpiresAt = r.state, "carol@example.com", r.filed.Add(time.Minute), r.expires
			typ := event.TypeRequestApproved
			if r.state == "denied" {
				typ, ar.DecisionReason = event.TypeRequestDenied, "not now"
			}
			emit(typ, event.RequestStep{Request: ar, By: event.Identity{Email: "carol@example.com"}})
		}
		if r.serial != 0 {
			emit(event.TypeCertIssued, event.CertIssued{Source: "oidc", Serial: r.serial, Identity: event.Identity{Email: r.requester, RequestID: r.id, Serial: r.serial}})
		}
		if r.revoked {
			emit(event.TypeCertRevoked, event.CertRevoked{Revocation: event.Revocation{Serial: r.serial}, Matched: []event.RevokedCertificate{{Serial: r.serial}}})
		}
	}
	if err := st.Close(); err != nil {
		f.t.Fatal(err)
	}
	sessions := map[string]string{}
	for _, r := range rs {
		if !r.session {
			continue
		}
		target, _, _ := strings.Cut(r.grant, ":")
		after := r.sessionAfter
		if after == 0 {
			after = 2 * time.Minute
		}
		s, emit := f.open(key, r.filed.Add(after))
		emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000"})
		emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: r.requester, KeyFacts: event.KeyFacts{KeyID: r.requester, Serial: r.serial},
			Identity: event.Identity{Email: r.requester, RequestID: r.id, Serial: r.serial}})
		emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: target})
		emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
		if err := s.Close(); err != nil {
			f.t.Fatal(err)
		}
		sessions[r.id] = s.ID
	}
	return sessions
}

// requestsFixture: filed three to two hours ago, on orders and billing.
func requestsFixture(now time.Time) []filedRequest {
	t0 := now.Add(-3 * time.Hour)
	later := now.Add(time.Hour)
	return []filedRequest{
		{id: "req-used", requester: "alice@example.com", grant: "orders:admin", reason: "INC-1", state: "approved", filed: t0, expires: later, serial: 101, session: true},
		{id: "req-unused", requester: "bob@example.com", grant: "orders:admin", reason: "INC-2", state: "approved", filed: t0.Add(time.Minute), expires: later},
		{id: "req-denied", requester: "carol@example.com", grant: "billing:admin", reason: "INC-3", state: "denied", filed: t0.Add(2 * time.Minute)},
		{id: "req-pending", requester: "dave@example.com", grant: "orders:admin", reason: "INC-4", state: "pending", filed: t0.Add(3 * time.Minute)},
		{id: "req-expired", requester: "erin@example.com", grant: "billing:admin", reason: "INC-5", state: "approved", filed: t0.Add(4 * time.Minute), expires: now.Add(-time.Hour), serial: 105, session: true},
		{id: "req-revoked", requester: "frank@example.com", grant: "orders:admin", reason: "INC-6", state: "approved", filed: t0.Add(5 * time.Minute), expires: later, serial: 106, session: true, revoked: true},
		{id: "req-certonly", requester: "gina@example.com", grant: "orders:admin", reason: "INC-7", state: "approved", filed: t0.Add(6 * time.Minute), expires: later, serial: 107},
	}
}

// TestRequestsMatchReference: every filter gives, in every format and
// over every page, the requests a plain reading of the fixture gives,
// each with its state, whether it was used and the sessions opened under
// it.
func TestRequestsMatchReference(t *testing.T) {
	f := newFixture(t, 2)
	now := time.Now().UTC().Truncate(time.Second)
	fixture := requestsFixture(now)
	sessions := f.recordRequests(newKey(t), fixture)
	c := f.loggedIn(auditorClaims)
	state := map[string]string{"req-used": "approved", "req-unused": "approved", "req-denied": "denied", "req-pending": "pending",
		"req-expired": "expired", "req-revoked": "revoked", "req-certonly": "approved"}
	all := []string{"req-used", "req-unused", "req-denied", "req-pending", "req-expired", "req-revoked", "req-certonly"}
	for query, want := range map[string][]string{
		"":                           all,
		"used=yes":                   {"req-used", "req-expired", "req-revoked"},
		"used=no":                    {"req-unused", "req-denied", "req-pending", "req-certonly"},
		"state=expired":              {"req-expired"},
		"state=revoked":              {"req-revoked"},
		"state=approved":             {"req-used", "req-unused", "req-certonly"},
		"state=pending":              {"req-pending"},
		"state=denied":               {"req-denied"},
		"requester=ALICE":            {"req-used"},
		"grant=billing:admin":        {"req-denied", "req-expired"},
		"id=req-unused":              {"req-unused"},
		"grant=orders:admin&used=no": {"req-unused", "req-pending", "req-certonly"},
		"since=" + url.QueryEscape(now.Add(-3*time.Hour+3*time.Minute).Format(time.RFC3339)): {"req-pending", "req-expired", "req-revoked", "req-certonly"},
	} {
		t.Run(query, func(t *testing.T) {
			header, rows := jsonlRows[requestRow](t, f.get(c, "/requests?format=jsonl&"+query).body)
			var got []string
			for _, r := range rows {
				got = append(got, r.ID)
				wantSessions := ""
				if id := sessions[r.ID]; id != "" {
					wantSessions = id
				}
				if r.State != state[r.ID] || strings.Join(r.Sessions, " ") != wantSessions {
					t.Errorf("%s: state %s, sessions %v; want %s, %q", r.ID, r.State, r.Sessions, state[r.ID], wantSessions)
				}
			}
			if !equal(got, want) || int(header["total"].(float64)) != len(want) {
				t.Errorf("jsonl %v (header %v), want %v", got, header, want)
			}
			if paged := f.pages(t, c, "/requests?"+query, len(want), pageIDs); !equal(paged, want) {
				t.Errorf("pages %v, want %v", paged, want)
			}
			if got := csvColumn(t, f.get(c, "/requests?format=csv&"+query).body, "requests", 0); !equal(got, want) {
				t.Errorf("csv %v, want %v", got, want)
			}
		})
	}
	for _, bad := range []string{"state=gone", "used=maybe"} {
		if resp := f.get(c, "/requests?"+bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
}

// TestRequestAndSessionLinkBothWays: a used request links to its
// session, whose page links back to the request; an unused one says so.
func TestRequestAndSessionLinkBothWays(t *testing.T) {
	f := newFixture(t, 0)
	sessions := f.recordRequests(newKey(t), requestsFixture(time.Now().UTC()))
	c := f.loggedIn(auditorClaims)
	used := f.get(c, "/requests?id=req-used").body
	if !strings.Contains(used, `href="/sessions/`+sessions["req-used"]+`"`) || !strings.Contains(used, ">used<") {
		t.Errorf("the used request does not link to its session:\n%s", used)
	}
	if unused := f.get(c, "/requests?id=req-unused").body; !strings.Contains(unused, "never used") || strings.Contains(unused, `href="/sessions/`) {
		t.Errorf("the unused request is not shown as never used:\n%s", unused)
	}
	page := f.get(c, "/sessions/"+sessions["req-used"]).body
	if !strings.Contains(page, `href="/requests?id=req-used"`) {
		t.Errorf("the session page does not link to its request:\n%s", page)
	}
}

// TestRequestsWithinLinkScope: a link limited to a target and a period
// sees only the requests filed then for that target, and only sessions
// inside its scope; asking for another target's grant is refused and
// recorded.
func TestRequestsWithinLinkScope(t *testing.T) {
	f := newLinkFixture(t) // orders, from 4 to 2 hours ago
	c := f.browser()
	if resp := f.get(c, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	rs := requestsFixture(time.Now().UTC())
	rs = append(rs, filedRequest{id: "req-too-early", requester: "zed@example.com", grant: "orders:admin", reason: "old", state: "pending",
		filed: time.Now().UTC().Add(-5 * time.Hour)})
	// Filed in the period, used only after it.
	rs = append(rs, filedRequest{id: "req-used-later", requester: "yan@example.com", grant: "orders:admin", reason: "later", state: "approved",
		filed: time.Now().UTC().Add(-2*time.Hour - 5*time.Minute), expires: time.Now().Add(time.Hour), serial: 108, session: true, sessionAfter: 10 * time.Minute})
	sessions := f.recordRequests(newKey(t), rs)
	for _, path := range []string{"/requests", "/requests?format=csv", "/requests?format=jsonl", "/requests?grant=orders:admin"} {
		body := f.get(c, path).body
		for _, id := range []string{"req-used", "req-unused", "req-pending", "req-revoked"} {
			if !strings.Contains(body, id) {
				t.Errorf("%s does not show %s", path, id)
			}
		}
		if !strings.Contains(body, sessions["req-used"]) {
			t.Errorf("%s does not show the session in scope", path)
		}
		for _, id := range []string{"req-denied", "req-expired", "req-too-early", "erin@example.com", sessions["req-used-later"]} {
			if strings.Contains(body, id) {
				t.Errorf("%s shows %s, outside the link's scope", path, id)
			}
		}
	}
	checkRefusedOutsideScope(t, f.fixture, c, "/requests?grant=billing:admin", "req-denied")
}

// TestRequestsEscapeRecordedText: requesters and justifications from the
// attack corpus are shown as text only, and the CSV is formula-safe.
func TestRequestsEscapeRecordedText(t *testing.T) {
	f := newFixture(t, 1000)
	now := time.Now().UTC()
	var rs []filedRequest
	for i, a := range attacks {
		rs = append(rs, filedRequest{id: fmt.Sprintf("req-%d", i), requester: a, grant: "orders:admin", reason: a, state: "denied", filed: now.Add(-time.Hour)})
	}
	f.recordRequests(newKey(t), rs)
	c := f.loggedIn(auditorClaims)
	checkShownAsText(t, f.get(c, "/requests").body)
	checkNoFormulas(t, f.get(c, "/requests?format=csv").body)
	views := f.activity.of(event.TypeConsoleView)
	if v := views[len(views)-1].(event.ConsoleView); v.Path != "/requests" || v.Total != len(attacks) {
		t.Errorf("view recorded %+v", v)
	}
}

// unreadableCA is a store whose CA streams are listed but cannot be
// read, as a chunk missing from the bucket.
type unreadableCA struct{ recorder.FileStore }

func (s unreadableCA) Lines(kind, id string) ([][]byte, error) {
	if kind == recorder.KindCA {
		return nil, errors.New("chunk 2 of " + id + " is missing")
	}
	return s.FileStore.Lines(kind, id)
}

// TestUnreadableCARecordingFailsRequests: a CA recording that cannot be
// read fails /requests (502) rather than showing a history with a gap.
func TestUnreadableCARecordingFailsRequests(t *testing.T) {
	f := newFixture(t, 0)
	f.recordRequests(newKey(t), requestsFixture(time.Now().UTC()))
	c := f.loggedIn(auditorClaims)
	if body := f.get(c, "/requests").body; !strings.Contains(body, "req-used") {
		t.Fatal("the readable fixture shows no request")
	}
	f.console.cfg.Sessions = unreadableCA{f.store}
	for _, p := range []string{"/requests", "/requests?format=jsonl"} {
		if resp := f.get(c, p); resp.StatusCode != http.StatusBadGateway || strings.Contains(resp.body, "req-used") {
			t.Errorf("%s: %d, want 502 without requests", p, resp.StatusCode)
		}
	}
}

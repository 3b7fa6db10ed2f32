package console

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// issued is a certificate of the identities fixture, and the session
// opened with it (when target is set).
type issued struct {
	email, agent, grant string
	serial              uint64
	at                  time.Time
	target              string // a session on it; "": none
	deny                string // a statement the session was refused; "": none
	refusedChannel      bool   // the session was refused a channel
	refusedCert         bool   // a cert.refused instead of a certificate
}

// recordIdentities writes one CA stream with every certificate (or
// refusal) of is, and a session for each with a target.
func (f *fixture) recordIdentities(key ed25519.PrivateKey, is []issued) map[uint64]string {
	f.t.Helper()
	for _, c := range is { // a stream each, for its clock to say when
		st, emit := f.openKind(recorder.KindCA, key, c.at)
		id := identityOf(c)
		if c.refusedCert {
			emit(event.TypeCertRefused, event.CertRefused{Source: "oidc", Identity: &id, Reason: "grant not allowed", Code: "grant_not_allowed", Grants: []string{c.grant}})
		} else {
			emit(event.TypeCertIssued, event.CertIssued{Source: "oidc", Identity: id, KeyID: audit.IdentityName(id), Serial: c.serial,
				Principals: []string{c.grant}, KeyFingerprint: "SHA256:k", ValidAfter: c.at, ValidBefore: c.at.Add(15 * time.Minute)})
		}
		if err := st.Close(); err != nil {
			f.t.Fatal(err)
		}
	}
	sessions := map[uint64]string{}
	for _, c := range is {
		if c.target == "" || c.refusedCert {
			continue
		}
		id := identityOf(c)
		s, emit := f.open(key, c.at.Add(time.Minute))
		emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000"})
		emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: audit.IdentityName(id), Principals: []string{c.grant},
			KeyFacts: event.KeyFacts{KeyID: audit.IdentityName(id), Serial: c.serial}, Identity: id})
		emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: c.target})
		if c.deny != "" {
			emit(event.TypeDBStatement, event.DBStatement{Channel: 1, Text: c.deny, Decision: event.Deny, Rule: "no-ddl"})
		}
		emit(event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "SELECT 1", Decision: event.Allow, Outcome: "ok"})
		if c.refusedChannel {
			emit(event.TypeChannelRefused, event.ChannelRefused{Channel: 2, Type: "direct-tcpip", Host: "billing", Reason: `no grant for target "billing"`})
		}
		emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
		if err := s.Close(); err != nil {
			f.t.Fatal(err)
		}
		sessions[c.serial] = s.ID
	}
	return sessions
}

func identityOf(c issued) event.Identity {
	id := event.Identity{Subject: "sub-" + c.email, Email: c.email, Issuer: "https://idp", Serial: c.serial}
	if c.agent != "" {
		id.Agent, id.DelegatedBy = c.agent, c.email
	}
	return id
}

// identitiesFixture: alice and two agents she vouched for, bob (refused
// a certificate once), carol who never opened a session; from three to
// two hours ago.
func identitiesFixture(now time.Time) []issued {
	t0 := now.Add(-3 * time.Hour).Truncate(time.Second)
	return []issued{
		{email: "alice@example.com", grant: "orders:read", serial: 1, at: t0, target: "orders"},
		{email: "alice@example.com", agent: "bot", grant: "orders:read", serial: 2, at: t0.Add(10 * time.Minute), target: "orders", deny: "DROP TABLE orders"},
		{email: "alice@example.com", agent: "crawlbot", grant: "billing:read", serial: 3, at: t0.Add(20 * time.Minute), target: "billing"},
		{email: "bob@example.com", grant: "billing:admin", at: t0.Add(30 * time.Minute), refusedCert: true},
		{email: "bob@example.com", grant: "billing:read", serial: 4, at: t0.Add(40 * time.Minute), target: "billing", refusedChannel: true},
		{email: "carol@example.com", grant: "orders:read", serial: 5, at: t0.Add(90 * time.Minute)},
	}
}

// identityNames are the identities of a list page, in its order, read
// from their links.
func identityNames(t *testing.T) func(body string) []string {
	return func(body string) []string {
		var out []string
		for _, part := range strings.Split(body, `<a href="/identities/`)[1:] {
			name, err := base64.RawURLEncoding.DecodeString(part[:strings.Index(part, `"`)])
			if err != nil {
				t.Fatalf("identity link %q: %v", part[:strings.Index(part, `"`)], err)
			}
			out = append(out, string(name))
		}
		return out
	}
}

const (
	alice   = "alice@example.com"
	bot     = "alice@example.com via agent:bot"
	crawler = "alice@example.com via agent:crawlbot"
	bob     = "bob@example.com"
	carol   = "carol@example.com"
)

// TestIdentitiesMatchReference: every filter gives, in every format and
// over every page, the identities a plain reading of the fixture gives,
// each human followed by the agents they vouched for, with its counts.
func TestIdentitiesMatchReference(t *testing.T) {
	f := newFixture(t, 2)
	now := time.Now().UTC()
	fixture := identitiesFixture(now)
	f.recordIdentities(newKey(t), fixture)
	c := f.loggedIn(auditorClaims)
	// certificates, refused, sessions, denials, kind, human
	counts := map[string]string{alice: "1 0 1 0 human " + alice, bot: "1 0 1 1 agent " + alice, crawler: "1 0 1 0 agent " + alice,
		bob: "1 1 1 1 human " + bob, carol: "1 0 0 0 human " + carol}
	for query, want := range map[string][]string{
		"":                   {alice, bot, crawler, bob, carol},
		"human=ALICE":        {alice, bot, crawler},
		"agent=BOT":          {bot, crawler},
		"agent=crawl":        {crawler},
		"denials=yes":        {bot, bob},
		"denials=no":         {alice, crawler, carol},
		"human=bob&denials=": {bob},
		// Only what happened since: bob's second certificate and carol's.
		"since=" + url.QueryEscape(fixture[4].at.Format(time.RFC3339)): {bob, carol},
		"until=" + url.QueryEscape(fixture[1].at.Format(time.RFC3339)): {alice},
	} {
		t.Run(query, func(t *testing.T) {
			header, rows := jsonlRows[identityRow](t, f.get(c, "/identities?format=jsonl&"+query).body)
			var got []string
			for _, r := range rows {
				got = append(got, r.Name)
				if query != "" {
					continue
				}
				if have := fmt.Sprintf("%d %d %d %d %s %s", r.Certificates, r.Refused, r.Sessions, r.Denials, r.Kind, r.Human); have != counts[r.Name] {
					t.Errorf("%s: %s, want %s", r.Name, have, counts[r.Name])
				}
			}
			if !equal(got, want) || int(header["total"].(float64)) != len(want) {
				t.Errorf("jsonl %v (header %v), want %v", got, header, want)
			}
			if paged := f.pages(t, c, "/identities?"+query, len(want), identityNames(t)); !equal(paged, want) {
				t.Errorf("pages %v, want %v", paged, want)
			}
			if got := csvColumn(t, f.get(c, "/identities?format=csv&"+query).body, "identities", 0); !equal(got, want) {
				t.Errorf("csv %v, want %v", got, want)
			}
		})
	}
	if resp := f.get(c, "/identities?denials=maybe"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("denials=maybe: %d", resp.StatusCode)
	}
	exports := f.activity.of(event.TypeConsoleExport)
	if e := exports[len(exports)-1].(event.ConsoleExport); e.Path != "/identities" || e.Format != "csv" {
		t.Errorf("the export is recorded as %+v", e)
	}
}

// TestIdentityPage: a human's page lists the agents they vouched for,
// their certificates and sessions; an agent's page names the human and
// shows its denials linked to the statement; both views are recorded.
func TestIdentityPage(t *testing.T) {
	f := newFixture(t, 0)
	fixture := identitiesFixture(time.Now().UTC())
	sessions := f.recordIdentities(newKey(t), fixture)
	c := f.loggedIn(auditorClaims)
	page := f.get(c, "/identities/"+identityRef(alice))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", page.StatusCode, page.body)
	}
	for _, want := range []string{`href="/identities/` + identityRef(bot) + `"`, `href="/identities/` + identityRef(crawler) + `"`,
		`href="/sessions/` + sessions[1] + `"`, "orders:read", fixture[0].at.Format(time.RFC3339), "15m0s"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("alice's page lacks %q", want)
		}
	}
	if strings.Contains(page.body, sessions[2]) {
		t.Error("alice's page shows her agent's session as hers")
	}
	agent := html.UnescapeString(f.get(c, "/identities/"+identityRef(bot)).body)
	for _, want := range []string{"Vouched for by</dt><dd>" + alice, "DROP TABLE orders", "no-ddl", `href="/sessions/` + sessions[2] + `#seq-`} {
		if !strings.Contains(agent, want) {
			t.Errorf("the agent's page lacks %q", want)
		}
	}
	refused := html.UnescapeString(f.get(c, "/identities/"+identityRef(bob)).body)
	for _, want := range []string{"grant_not_allowed", "billing:admin", `no grant for target "billing"`, "channel.refused"} {
		if !strings.Contains(refused, want) {
			t.Errorf("bob's page lacks %q", want)
		}
	}
	views := f.activity.of(event.TypeConsoleView)
	if v := views[len(views)-1].(event.ConsoleView); v.Path != "/identities/"+identityRef(bob) {
		t.Errorf("the view is recorded as %+v", v)
	}
}

// TestIdentityNamesAreSafe: names an agent chose (markup, bidi, a slash,
// "..", a percent-encoded slash) are shown as text, their links lead to
// their own page, and a path that is not an encoded name is not found.
func TestIdentityNamesAreSafe(t *testing.T) {
	f := newFixture(t, 1000)
	now := time.Now().UTC().Add(-time.Hour)
	names := append([]string{"../../etc/passwd", "a/b", "%2F..%2F", "..", "?x=1#y"}, attacks...)
	var is []issued
	for i, n := range names {
		is = append(is, issued{email: n, agent: n, grant: "orders:read", serial: uint64(i + 1), at: now, target: "orders"})
	}
	f.recordIdentities(newKey(t), is)
	c := f.loggedIn(auditorClaims)
	list := f.get(c, "/identities")
	checkShownAsText(t, list.body)
	checkNoFormulas(t, f.get(c, "/identities?format=csv").body)
	got := identityNames(t)(list.body)
	if len(got) != 2*len(names) {
		t.Fatalf("%d identities listed, want %d", len(got), 2*len(names))
	}
	for _, name := range got {
		resp := f.get(c, "/identities/"+identityRef(name))
		if resp.StatusCode != http.StatusOK || !strings.Contains(html.UnescapeString(resp.body), recorder.Printable(name)) {
			t.Errorf("%q: %d, or its page does not show it", name, resp.StatusCode)
		}
		checkShownAsText(t, resp.body+list.body) // the corpus is complete on the list; the page must add no raw control
	}
	for _, path := range []string{"/identities/..%2F..%2Fetc%2Fpasswd", "/identities/%2F", "/identities/a%2Fb", "/identities/..", "/identities/!!"} {
		// Not found, or (for "..", which the mux cleans) sent elsewhere:
		// never an identity's page.
		if resp := f.get(c, path); strings.Contains(resp.body, "<h1>Identity ") {
			t.Errorf("%s: %d, an identity's page", path, resp.StatusCode)
		}
	}
}

// TestIdentitiesWithinLinkScope: a link sees an identity's sessions in
// its period and targets only, and certificates issued then for them.
func TestIdentitiesWithinLinkScope(t *testing.T) {
	f := newLinkFixture(t) // alice's sessions; orders, from 4 to 2 hours ago
	c := f.browser()
	if resp := f.get(c, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	now := time.Now().UTC()
	f.recordIdentities(newKey(t), []issued{
		{email: "in@example.com", grant: "orders:read", serial: 11, at: now.Add(-3 * time.Hour)},
		{email: "other-target@example.com", grant: "billing:read", serial: 12, at: now.Add(-3 * time.Hour)},
		{email: "too-late@example.com", grant: "orders:read", serial: 13, at: now.Add(-time.Hour)},
	})
	_, rows := jsonlRows[identityRow](t, f.get(c, "/identities?format=jsonl").body)
	got := map[string]identityRow{}
	for _, r := range rows {
		got[r.Name] = r
	}
	if len(got) != 2 || got["alice"].Sessions != 1 || got["in@example.com"].Certificates != 1 {
		t.Errorf("a link sees %+v; want alice with 1 session and in@example.com", rows)
	}
	page := f.get(c, "/identities/"+identityRef("alice")).body
	if !strings.Contains(page, f.in) || strings.Contains(page, f.before) || strings.Contains(page, f.otherTarget) || strings.Contains(page, f.after) {
		t.Error("alice's page shows sessions outside the link's scope")
	}
	if resp := f.get(c, "/identities/"+identityRef("too-late@example.com")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an identity seen only outside the scope: %d", resp.StatusCode)
	}
}

// scopeBlindIndex is an index whose identity queries ignore the link's
// scope, as SQL that disagreed with the link would.
type scopeBlindIndex struct{ *consoleindex.Index }

func (x scopeBlindIndex) IdentityGroups(f recorder.Filter, lag time.Duration, _ *consoleindex.Scope) ([]consoleindex.IdentityGroup, error) {
	return x.Index.IdentityGroups(f, lag, nil)
}

func (x scopeBlindIndex) IdentitySessions(id string, f recorder.Filter, lag time.Duration, _ *consoleindex.Scope) ([]recorder.Listed, []consoleindex.Denial, error) {
	return x.Index.IdentitySessions(id, f, lag, nil)
}

// TestIndexedIdentitiesWithinLinkScope: from the index, a link sees on
// /identities and /identities/ID what it sees from the store; and when
// the index's SQL gives sessions outside the link's scope, the console
// answers 502 and shows none of them.
func TestIndexedIdentitiesWithinLinkScope(t *testing.T) {
	f := newLinkFixture(t)
	c := f.browser()
	if resp := f.get(c, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	paths := []string{"/identities", "/identities?format=jsonl", "/identities/" + identityRef("alice")}
	want := map[string]string{}
	for _, p := range paths {
		want[p] = f.get(c, p).body
	}
	x := f.useIndex()
	for _, p := range paths {
		if got := f.get(c, p).body; got != want[p] {
			t.Errorf("%s from the index:\n%s\nwant\n%s", p, got, want[p])
		}
	}
	if !strings.Contains(want[paths[2]], f.in) || strings.Contains(want[paths[2]], f.before) {
		t.Fatalf("alice's page from the store does not show her one session in scope:\n%s", want[paths[2]])
	}
	f.console.cfg.Index = scopeBlindIndex{x}
	for _, p := range paths {
		resp := f.get(c, p)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s from an index blind to the scope: %d, want 502", p, resp.StatusCode)
		}
		for _, id := range []string{f.before, f.otherTarget, f.after, f.in} {
			if strings.Contains(resp.body, id) {
				t.Errorf("%s from an index blind to the scope shows %s", p, id)
			}
		}
	}
}

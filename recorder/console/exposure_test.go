package console

import (
	"crypto/ed25519"
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// maskedRun is a statement of the exposure fixture.
type maskedRun struct {
	text   string
	masked []string // db.statement's masked entries
	rows   int64
	rule   string // a refusal's rule; "": allowed
}

// recordMasked writes one closed session in which identity runs each of
// runs on target, and returns its id.
func (f *fixture) recordMasked(key ed25519.PrivateKey, identity, target string, runs ...maskedRun) string {
	f.t.Helper()
	earlier, _ := f.store.List(recorder.KindSession) // each a second later, for a stable order
	st, emit := f.open(key, time.Now().UTC().Add(-time.Hour+time.Duration(len(earlier))*time.Second))
	emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000"})
	emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: identity, KeyFacts: event.KeyFacts{KeyID: identity, Serial: 9}})
	emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: target})
	for _, r := range runs {
		s := event.DBStatement{Channel: 1, Text: r.text, Decision: event.Allow, Outcome: "ok", Rows: r.rows, Masked: r.masked}
		if r.rule != "" {
			s.Decision, s.Rule, s.Outcome = event.Deny, r.rule, "denied"
		}
		emit(event.TypeDBStatement, s)
	}
	emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
	if err := st.Close(); err != nil {
		f.t.Fatal(err)
	}
	return st.ID
}

const (
	maskEmail = "email: email (public.people.email)"
	maskSSN   = "ssn: redact (public.people.ssn)"
)

// TestExposureMatchReference: each masked column of each target with the
// statements and values (rows) masked, summed over sessions, then every
// statement a masking rule refused and no other refusal; every filter
// selects what a plain reading of the fixture does.
func TestExposureMatchReference(t *testing.T) {
	f := newFixture(t, 2)
	key := newKey(t)
	s1 := f.recordMasked(key, "alice", "orders",
		maskedRun{text: "SELECT email, ssn FROM people", masked: []string{maskEmail, maskSSN}, rows: 2},
		maskedRun{text: "SELECT id FROM people WHERE ssn LIKE '1%'", rule: "masking.pii_strict"},
		maskedRun{text: "DROP TABLE people", rule: "no-ddl"})
	f.recordMasked(key, "bob", "orders", maskedRun{text: "SELECT email FROM people", masked: []string{maskEmail}, rows: 3})
	s3 := f.recordMasked(key, "bob", "billing",
		maskedRun{text: "SELECT email FROM people", masked: []string{maskEmail}, rows: 5},
		maskedRun{text: "SELECT upper(email) FROM people", rule: "masking.pii_strict"})
	c := f.loggedIn(auditorClaims)
	ordersEmail := "masked orders public.people.email email 2 5 alice, bob"
	ordersSSN := "masked orders public.people.ssn redact 1 2 alice"
	billingEmail := "masked billing public.people.email email 1 5 bob"
	probe := "refused orders " + s1 + " alice masking.pii_strict SELECT id FROM people WHERE ssn LIKE '1%'"
	derived := "refused billing " + s3 + " bob masking.pii_strict SELECT upper(email) FROM people"
	for query, want := range map[string][]string{
		"":                          {billingEmail, ordersEmail, ordersSSN, probe, derived},
		"kind=masked":               {billingEmail, ordersEmail, ordersSSN},
		"kind=refused":              {probe, derived},
		"target=orders":             {ordersEmail, ordersSSN, probe},
		"column=SSN":                {ordersSSN, probe},
		"identity=bob":              {billingEmail, "masked orders public.people.email email 1 3 bob", derived},
		"identity=bob&kind=refused": {derived},
	} {
		t.Run(query, func(t *testing.T) {
			header, rows := jsonlRows[exposureRow](t, f.get(c, "/exposure?format=jsonl&"+query).body)
			var got []string
			for _, r := range rows {
				if r.Kind == audit.ExposureMasked {
					got = append(got, fmt.Sprintf("%s %s %s %s %d %d %s", r.Kind, r.Target, r.Column, r.Function, r.Statements, r.Values, r.Identities))
				} else {
					got = append(got, fmt.Sprintf("%s %s %s %s %s %s", r.Kind, r.Target, r.Session, r.Identity, r.Rule, r.Text))
				}
			}
			if !equal(got, want) || int(header["total"].(float64)) != len(want) {
				t.Errorf("jsonl\n got %q (header %v)\nwant %q", got, header, want)
			}
			if got := csvColumn(t, f.get(c, "/exposure?format=csv&"+query).body, "exposure", 0); len(got) != len(want) {
				t.Errorf("csv %d rows, want %d", len(got), len(want))
			}
			if paged := f.pages(t, c, "/exposure?"+query, len(want), exposureKinds); len(paged) != len(want) {
				t.Errorf("pages %d rows, want %d", len(paged), len(want))
			}
		})
	}
	if resp := f.get(c, "/exposure?kind=other"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("kind=other: %d", resp.StatusCode)
	}
	views := f.activity.of(event.TypeConsoleView)
	if v := views[len(views)-1].(event.ConsoleView); v.Path != "/exposure" {
		t.Errorf("the view is recorded as %+v", v)
	}
}

// exposureKinds are the kinds of an exposure page's rows, in order.
func exposureKinds(body string) []string {
	var out []string
	for _, part := range strings.Split(body, `<tr class="`)[1:] {
		out = append(out, part[:strings.Index(part, `"`)])
	}
	return out
}

// TestExposureEscapesRecordedText: column names, targets and statements
// from the attack corpus are shown as text only, the CSV formula-safe.
func TestExposureEscapesRecordedText(t *testing.T) {
	f := newFixture(t, 1000)
	key := newKey(t)
	for _, a := range attacks {
		f.recordMasked(key, a, a, maskedRun{text: a, masked: []string{a + ": hash (" + a + ")"}, rows: 1},
			maskedRun{text: a, rule: "masking." + a})
	}
	c := f.loggedIn(auditorClaims)
	body := f.get(c, "/exposure").body
	checkShownAsText(t, body)
	checkNoFormulas(t, f.get(c, "/exposure?format=csv").body)
	if n := strings.Count(body, `<tr class="refused">`); n != len(attacks) {
		t.Errorf("%d refusals shown, want %d", n, len(attacks))
	}
	if !strings.Contains(html.UnescapeString(body), recorder.Printable(attacks[3])) {
		t.Error("the bidi column is not shown escaped")
	}
}

// TestExposureWithinLinkScope: a link sees the masked columns of the
// sessions in its scope only, and a target outside it is refused.
func TestExposureWithinLinkScope(t *testing.T) {
	f := newLinkFixture(t) // orders, from 4 to 2 hours ago
	c := f.browser()
	if resp := f.get(c, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	f.recordMasked(newKey(t), "mallory", "orders", maskedRun{text: "SELECT email FROM people", masked: []string{maskEmail}, rows: 7})
	if body := f.get(c, "/exposure").body; strings.Contains(body, "mallory") || strings.Contains(body, `class="masked"`) {
		t.Error("a session outside the link's period shows on /exposure")
	}
	checkRefusedOutsideScope(t, f.fixture, c, "/exposure?target=billing", "billing</td>")
}

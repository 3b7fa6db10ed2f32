package console

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// ranStatement is one statement of the statements fixture, with what the
// reference filter reads.
type ranStatement struct {
	identity, target, text, rule string
	kinds, masked                []string
	decision                     event.Decision
	start                        time.Time // of its session
}

// recordRan writes one closed session per distinct (identity, target,
// start) of ss, in order, each statement on channel 1.
func (f *fixture) recordRan(key ed25519.PrivateKey, ss []ranStatement) {
	f.t.Helper()
	for i := 0; i < len(ss); {
		s := ss[i]
		st, emit := f.open(key, s.start)
		emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000"})
		emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: s.identity, KeyFacts: event.KeyFacts{KeyID: s.identity}})
		emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: s.target})
		for ; i < len(ss) && ss[i].start.Equal(s.start); i++ {
			r := ss[i]
			emit(event.TypeDBStatement, event.DBStatement{Channel: 1, Text: r.text, Kinds: r.kinds, Decision: r.decision, Rule: r.rule, Masked: r.masked, Outcome: "ok"})
		}
		emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
		if err := st.Close(); err != nil {
			f.t.Fatal(err)
		}
	}
}

func statementsFixture(t0 time.Time) []ranStatement {
	s1, s2, s3 := t0, t0.Add(time.Hour), t0.Add(2*time.Hour)
	return []ranStatement{
		{identity: "alice", target: "orders", text: "SELECT * FROM orders", kinds: []string{"select"}, decision: event.Allow, rule: "read", masked: []string{"email: hash (pii)"}, start: s1},
		{identity: "alice", target: "orders", text: "DROP TABLE orders", kinds: []string{"drop"}, decision: event.Deny, rule: "no-ddl", start: s1},
		{identity: "alice", target: "orders", text: "select email from customers", kinds: []string{"select"}, decision: "allowed", rule: "read", masked: []string{"Email: redact (pii)"}, start: s1},
		{identity: "bob", target: "billing", text: "UPDATE invoices SET paid = true", kinds: []string{"update"}, decision: event.Deny, rule: "read-only", start: s2},
		{identity: "bob", target: "billing", text: "SELECT 1", kinds: []string{"select"}, decision: "something new", rule: "read", start: s2},
		{identity: "carol via agent:bot", target: "orders", text: "delete FROM Orders WHERE id = 1", kinds: []string{"delete"}, decision: event.Deny, rule: "no-ddl", start: s3},
		{identity: "carol via agent:bot", target: "orders", text: "SELECT phone FROM customers", kinds: []string{"SELECT"}, decision: event.Allow, rule: "read", masked: []string{"phone: partial (pii)"}, start: s3},
	}
}

// referenceFilter is the statements filter written the plain way, to
// compare the console's against.
func referenceFilter(ss []ranStatement, in url.Values) []string {
	has := func(list []string, want string, same func(a, b string) bool) bool {
		for _, x := range list {
			if same(x, want) {
				return true
			}
		}
		return false
	}
	lower := strings.ToLower
	var out []string
	for _, s := range ss {
		allowed := s.decision == "allow" || s.decision == "allowed"
		if v := in.Get("text"); v != "" && !strings.Contains(lower(s.text), lower(v)) ||
			in.Get("kind") != "" && !has(s.kinds, in.Get("kind"), strings.EqualFold) ||
			in.Get("decision") == "allow" && !allowed || in.Get("decision") == "deny" && allowed ||
			in.Get("rule") != "" && s.rule != in.Get("rule") ||
			in.Get("masked") != "" && !has(s.masked, lower(in.Get("masked")), func(a, b string) bool { return strings.Contains(lower(a), b) }) ||
			in.Get("target") != "" && s.target != in.Get("target") ||
			in.Get("identity") != "" && !strings.Contains(s.identity, in.Get("identity")) ||
			in.Get("since") != "" && s.start.Before(mustTime(in.Get("since"))) {
			continue
		}
		out = append(out, s.text)
	}
	return out
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// anchors are the session page links of a statements page, in order.
var anchors = regexp.MustCompile(`href="/sessions/([^"#]+)#seq-(\d+)"`)

// TestStatementsMatchReferenceFilter: every filter, alone and combined,
// gives in every format and over every page exactly the statements the
// reference filter gives, in recorded order, each linking to its anchor
// on its session's page.
func TestStatementsMatchReferenceFilter(t *testing.T) {
	f := newFixture(t, 2)
	t0 := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	fixture := statementsFixture(t0)
	f.recordRan(newKey(t), fixture)
	c := f.loggedIn(auditorClaims)
	for _, query := range []string{"", "text=select", "text=ORDERS", "kind=select", "kind=drop", "decision=deny", "decision=allow",
		"rule=read", "rule=rea", "masked=email", "masked=PII", "target=billing", "identity=bot", "identity=alice&decision=allow",
		"text=from&decision=deny&target=orders", "since=" + url.QueryEscape(t0.Add(30*time.Minute).Format(time.RFC3339)), "text=nothing-like-this"} {
		t.Run(query, func(t *testing.T) {
			in, _ := url.ParseQuery(query)
			want := referenceFilter(fixture, in)
			if query == "" && len(want) != len(fixture) {
				t.Fatalf("reference gives %d of %d", len(want), len(fixture))
			}
			header, rows := jsonlRows[statementJSON](t, f.get(c, "/statements?format=jsonl&"+query).body)
			var got []string
			for _, r := range rows {
				got = append(got, r.Text)
			}
			if !equal(got, want) || int(header["total"].(float64)) != len(want) {
				t.Errorf("jsonl %v (header %v), want %v", got, header, want)
			}
			paged := f.pages(t, c, "/statements?"+query, len(want), func(body string) []string {
				var found []string
				for _, m := range anchors.FindAllStringSubmatch(body, -1) {
					found = append(found, m[1]+"#"+m[2])
				}
				return found
			})
			var wantAnchors []string
			for _, r := range rows {
				wantAnchors = append(wantAnchors, fmt.Sprintf("%s#%d", r.Session, r.Seq))
			}
			if !equal(paged, wantAnchors) {
				t.Errorf("pages link %v, want %v", paged, wantAnchors)
			}
			if got := csvColumn(t, f.get(c, "/statements?format=csv&"+query).body, "statements", 7); !equal(got, want) {
				t.Errorf("csv texts %v, want %v", got, want)
			}
		})
	}
	if resp := f.get(c, "/statements?decision=maybe"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("decision=maybe: %d", resp.StatusCode)
	}
	v := f.activity.of(event.TypeConsoleView)
	last := v[len(v)-1].(event.ConsoleView)
	if last.Path != "/statements" || last.Filters["text"] != "nothing-like-this" || last.Filters["page"] != "4" {
		t.Errorf("last view recorded %+v", last)
	}
	e := f.activity.of(event.TypeConsoleExport)
	if first := e[0].(event.ConsoleExport); first.Path != "/statements" || first.Format != "jsonl" || first.Rows != len(fixture) {
		t.Errorf("first export recorded %+v", first)
	}
}

// TestStatementAnchorsOnSessionPage: the anchor a statement row links to
// is on its session's page, on that statement's row.
func TestStatementAnchorsOnSessionPage(t *testing.T) {
	f := newFixture(t, 0)
	f.recordRan(newKey(t), statementsFixture(time.Now().UTC().Add(-3*time.Hour)))
	c := f.loggedIn(auditorClaims)
	m := anchors.FindStringSubmatch(f.get(c, "/statements?text=drop").body)
	if m == nil {
		t.Fatal("no link to a session")
	}
	page := f.get(c, "/sessions/"+m[1]).body
	row := regexp.MustCompile(`<tr id="seq-` + m[2] + `">.*`).FindString(page)
	if !strings.Contains(row, "DROP TABLE orders") {
		t.Errorf("anchor seq-%s is on %q", m[2], row)
	}
}

// TestStatementsWithinLinkScope: a link limited to one target and period
// finds only the statements of its sessions, in every format, and a
// search on another target is refused and recorded.
func TestStatementsWithinLinkScope(t *testing.T) {
	f := newLinkFixture(t)
	c := f.browser()
	if resp := f.get(c, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	// Inside the link's period (the last 4 to 2 hours), on its target and
	// on another; and before it, on its target.
	mid := time.Now().UTC().Add(-3 * time.Hour)
	f.recordRan(newKey(t), []ranStatement{
		{identity: "x", target: "orders", text: "SELECT 'inside'", decision: event.Allow, start: mid},
		{identity: "x", target: "billing", text: "SELECT 'other target'", decision: event.Allow, start: mid.Add(time.Minute)},
		{identity: "x", target: "orders", text: "SELECT 'before the period'", decision: event.Allow, start: mid.Add(-2 * time.Hour)},
	})
	for _, path := range []string{"/statements", "/statements?format=csv", "/statements?format=jsonl", "/statements?text=select", "/statements?target=orders"} {
		resp := f.get(c, path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "inside") {
			t.Errorf("%s: %d, in-scope statement not found", path, resp.StatusCode)
		}
		if strings.Contains(resp.body, "other target") || strings.Contains(resp.body, "before the period") {
			t.Errorf("%s shows a statement outside the link's scope", path)
		}
	}
	checkRefusedOutsideScope(t, f.fixture, c, "/statements?target=billing", "other target")
}

// checkRefusedOutsideScope fails unless path is refused (403) without
// showing hidden, and the refusal recorded.
func checkRefusedOutsideScope(t *testing.T, f *fixture, c *http.Client, path, hidden string) {
	t.Helper()
	before := len(f.activity.of(event.TypeConsoleRefused))
	if resp := f.get(c, path); resp.StatusCode != http.StatusForbidden || strings.Contains(resp.body, hidden) {
		t.Errorf("%s: %d, want 403 without %q", path, resp.StatusCode, hidden)
	}
	if len(f.activity.of(event.TypeConsoleRefused)) != before+1 {
		t.Errorf("%s: the refusal is not recorded", path)
	}
}

// TestStatementsEscapeRecordedText: statement texts, identities and
// targets from the attack corpus appear on /statements only as text,
// controls escaped; a long text is cut with its length shown; the CSV
// neutralises formulas and the JSON Lines keep the text exact.
func TestStatementsEscapeRecordedText(t *testing.T) {
	f := newFixture(t, 1000)
	key := newKey(t)
	long := "SELECT '" + strings.Repeat("y", 10<<10) + "'"
	for _, a := range attacks {
		f.recordStatements(key, a, a, a)
	}
	f.recordStatements(key, "long", "orders", long)
	c := f.loggedIn(auditorClaims)
	body := f.get(c, "/statements").body
	checkShownAsText(t, body)
	if strings.Contains(body, long) || !strings.Contains(body, fmt.Sprintf("cut: %d bytes in all", len(long))) {
		t.Error("the long statement is not cut with its length shown")
	}
	checkNoFormulas(t, f.get(c, "/statements?format=csv").body)
	_, rows := jsonlRows[statementJSON](t, f.get(c, "/statements?format=jsonl").body)
	var exact int
	for _, r := range rows {
		for _, a := range append(attacks, long) {
			if r.Text == a {
				exact++
			}
		}
	}
	if exact != len(attacks)+1 {
		t.Errorf("%d of %d texts exact in JSON Lines", exact, len(attacks)+1)
	}
}

// TestFilterFormsKeepTheirChoice: a list's form shows the choice its
// filter made selected, and only that one.
func TestFilterFormsKeepTheirChoice(t *testing.T) {
	f := newFixture(t, 0)
	c := f.loggedIn(auditorClaims)
	for path, want := range map[string]string{
		"/sessions?outcome=clean":   `<option value="clean" selected>clean</option>`,
		"/statements?decision=deny": `<option value="deny" selected>deny</option>`,
		"/requests?used=no":         `<option value="no" selected>never used</option>`,
		"/requests?state=expired":   `<option value="expired" selected>expired</option>`,
		"/requests":                 `<option value="" selected>any</option>`,
	} {
		body := f.get(c, path).body
		if !strings.Contains(body, want) || strings.Count(body, " selected>") != strings.Count(body, "<select ") {
			t.Errorf("%s: want %s, one selected per select:\n%s", path, want, body)
		}
	}
}

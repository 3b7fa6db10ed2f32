package console

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// recorded is a session to write into the fixture's store.
type recorded struct {
	identity, agent, target string
	denied                  bool // one denied statement
	open                    bool // no session.end
	start                   time.Time
}

// open starts a session stream whose clock begins at start, and an emit
// that fails the test when it cannot write.
func (f *fixture) open(key ed25519.PrivateKey, start time.Time) (*recorder.Stream, func(event.Type, any)) {
	return f.openKind(recorder.KindSession, key, start)
}

// openKind is open for a stream of any kind.
func (f *fixture) openKind(kind string, key ed25519.PrivateKey, start time.Time) (*recorder.Stream, func(event.Type, any)) {
	f.t.Helper()
	now := start
	rec := &recorder.Recorder{Store: f.store, Signer: key, Clock: func() time.Time { now = now.Add(time.Millisecond); return now }}
	st, err := rec.Open(kind)
	if err != nil {
		f.t.Fatal(err)
	}
	return st, func(typ event.Type, data any) {
		if err := st.Emit(typ, data); err != nil {
			f.t.Fatal(err)
		}
	}
}

// record writes sessions as the bastion would (signed, chained, closed).
func (f *fixture) record(key ed25519.PrivateKey, sessions ...recorded) []string {
	f.t.Helper()
	var ids []string
	for _, s := range sessions {
		st, emit := f.open(key, s.start)
		emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000", ServerAddr: "127.0.0.1:2222"})
		emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: s.identity, KeyFacts: event.KeyFacts{KeyID: s.identity, Serial: 7},
			Identity: event.Identity{Subject: "s", Issuer: "i", Agent: s.agent}})
		emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: s.target})
		if s.denied {
			emit(event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "DROP TABLE x", Decision: event.Deny})
		}
		if !s.open {
			emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
		}
		if !s.open {
			if err := st.Close(); err != nil {
				f.t.Fatal(err)
			}
		}
		ids = append(ids, st.ID)
	}
	return ids
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// jsonlRows reads a JSON Lines export: its header, then its rows.
func jsonlRows[R any](t *testing.T, body string) (header map[string]any, rows []R) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		if i == 0 {
			if err := json.Unmarshal(sc.Bytes(), &header); err != nil {
				t.Fatalf("header %q: %v", sc.Text(), err)
			}
			continue
		}
		var r R
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("row %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return header, rows
}

// TestSessionsMatchRecorder: every filter and every page gives exactly
// the sessions recorder.Summaries gives with the same Filter, in the same
// order, and the JSON Lines and CSV exports hold all of them.
func TestSessionsMatchRecorder(t *testing.T) {
	f := newFixture(t, 2)
	t0 := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	f.record(newKey(t),
		recorded{identity: "alice@example.com", target: "orders", start: t0},
		recorded{identity: "alice@example.com via agent:bot", agent: "bot", target: "orders", denied: true, start: t0.Add(time.Minute)},
		recorded{identity: "bob@example.com", target: "billing", start: t0.Add(time.Hour)},
		recorded{identity: "carol@example.com", target: "orders", open: true, start: t0.Add(2 * time.Hour)},
		recorded{identity: "bob@example.com", target: "orders", denied: true, start: t0.Add(150 * time.Minute)},
	)
	c := f.loggedIn(auditorClaims)
	// As cmd wires it: --since's forms, durations included.
	f.console.cfg.ParseTime = func(s string, now time.Time) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
		d, err := time.ParseDuration(s)
		return now.Add(-d), err
	}
	for _, tc := range []struct {
		query  string
		filter recorder.Filter
	}{
		{"since=90m", recorder.Filter{Since: time.Now().Add(-90 * time.Minute)}},
		{"", recorder.Filter{}},
		{"identity=alice", recorder.Filter{Identity: "alice"}},
		{"agent=bot", recorder.Filter{Agent: "bot"}},
		{"target=billing", recorder.Filter{Target: "billing"}},
		{"outcome=refused", recorder.Filter{Outcome: recorder.OutcomeRefused}},
		{"outcome=clean", recorder.Filter{Outcome: recorder.OutcomeClean}},
		{"outcome=open", recorder.Filter{Outcome: recorder.OutcomeOpen}},
		{"since=" + url.QueryEscape(t0.Add(time.Hour).Format(time.RFC3339)), recorder.Filter{Since: t0.Add(time.Hour)}},
		{"until=" + url.QueryEscape(t0.Add(time.Hour).Format(time.RFC3339)) + "&target=orders", recorder.Filter{Until: t0.Add(time.Hour), Target: "orders"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			want, err := recorder.Summaries(f.store, tc.filter, 0)
			if err != nil {
				t.Fatal(err)
			}
			var wantIDs []string
			for _, s := range want {
				wantIDs = append(wantIDs, s.ID)
			}
			if tc.query == "" && len(wantIDs) != 5 {
				t.Fatalf("the fixture lists %d sessions", len(wantIDs))
			}
			header, rows := jsonlRows[row](t, f.get(c, "/sessions?format=jsonl&"+tc.query).body)
			if got := idsOf(rows); !equal(got, wantIDs) {
				t.Errorf("jsonl rows %v, want %v", got, wantIDs)
			}
			if int(header["total"].(float64)) != len(wantIDs) {
				t.Errorf("jsonl header %v", header)
			}
			if paged := f.pages(t, c, "/sessions?"+tc.query, len(wantIDs), pageIDs); !equal(paged, wantIDs) {
				t.Errorf("pages list %v, want %v", paged, wantIDs)
			}
			if got := csvColumn(t, f.get(c, "/sessions?format=csv&"+tc.query).body, "sessions", 0); !equal(got, wantIDs) {
				t.Errorf("csv ids %v, want %v", got, wantIDs)
			}
		})
	}
	views := f.activity.of(event.TypeConsoleView)
	exports := f.activity.of(event.TypeConsoleExport)
	if len(views) != 10*4 || len(exports) != 10*2 {
		t.Fatalf("%d views and %d exports recorded, want 40 and 20", len(views), len(exports))
	}
	v := views[len(views)-1].(event.ConsoleView)
	if v.Auditor.Subject != "aud-1" || v.Path != "/sessions" || v.Filters["target"] != "orders" || v.Filters["page"] != "4" || v.Rows != 0 {
		t.Errorf("last view %+v", v)
	}
	e := exports[2].(event.ConsoleExport) // the jsonl of the unfiltered case
	if e.Format != "jsonl" || e.Rows != 5 {
		t.Errorf("unfiltered export %+v", e)
	}
}

// readCSV reads an export: the filters line has one field, the rest 14.
func readCSV(body string) ([][]string, error) {
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	return r.ReadAll()
}

// csvColumn is column col of a CSV export's rows, after checking that
// its first line names the filters of a list of noun.
func csvColumn(t *testing.T, body, noun string, col int) []string {
	t.Helper()
	records, err := readCSV(body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(records[0][0], "# gatehouse "+noun+"; filters: ") {
		t.Errorf("csv header line %q", records[0])
	}
	var out []string
	for _, r := range records[2:] {
		out = append(out, r[col])
	}
	return out
}

func idsOf(rows []row) []string { return fieldOf(rows, func(r row) string { return r.Session }) }

// fieldOf is one field of each row, in order.
func fieldOf[R any](rows []R, field func(R) string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, field(r))
	}
	return out
}

func equal(a, b []string) bool { return strings.Join(a, "|") == strings.Join(b, "|") }

// pages reads pages 1 to 4 of list (a path with its query), checks that
// each gives the total, and returns what rowsOf finds on them, in order.
func (f *fixture) pages(t *testing.T, c *http.Client, list string, total int, rowsOf func(body string) []string) []string {
	t.Helper()
	noun := strings.TrimPrefix(list[:strings.Index(list+"?", "?")], "/")
	var rows []string
	for page := 1; page <= 4; page++ {
		body := f.get(c, fmt.Sprintf("%s&page=%d", list, page)).body
		if !strings.Contains(body, fmt.Sprintf("%d %s", total, noun)) {
			t.Errorf("%s page %d does not give the total %d", list, page, total)
		}
		rows = append(rows, rowsOf(body)...)
	}
	return rows
}

// pageIDs are the session ids of a sessions page, in its order.
func pageIDs(body string) []string {
	var ids []string
	for _, part := range strings.Split(body, `<td class="id">`)[1:] {
		ids = append(ids, html.UnescapeString(part[:strings.Index(part, "<")]))
	}
	return ids
}

// attack is text an agent chooses: markup, script, bidi overrides,
// invisible characters, terminal escapes, formula starters.
var attacks = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`javascript:alert(1)`,
	"admin\u202egnp.exe",
	"zero\u200bwidth\ufeffbom",
	"\x1b[2J\x1b[31mALLOW\x1b[0m",
	"line\nbreak\rreturn\ttab",
	"=HYPERLINK(\"http://evil\",\"x\")",
	"@SUM(1+1)",
	"+1-2",
	"-cmd",
	"\u3164hangul filler",
}

// TestPagesEscapeRecordedText: identities, agents and targets from the
// attack corpus appear in the page only as text, with every control and
// invisible character shown as an escape; the CSV neutralises formulas.
func TestPagesEscapeRecordedText(t *testing.T) {
	f := newFixture(t, 0)
	t0 := time.Now().UTC().Add(-time.Hour)
	var sessions []recorded
	for i, a := range attacks {
		sessions = append(sessions, recorded{identity: a, agent: a, target: a, start: t0.Add(time.Duration(i) * time.Second)})
	}
	f.record(newKey(t), sessions...)
	c := f.loggedIn(map[string]any{"sub": "<b>sub</b>\u202e", "email": "<script>x</script>@example.com", "groups": []string{"auditors"}})
	body := f.get(c, "/sessions").body
	checkShownAsText(t, body)
	if strings.Contains(body, "<b>") {
		t.Error("the page holds the auditor's subject raw")
	}
	if !strings.Contains(body, `\u202e`) || !strings.Contains(body, `\x1b[2J`) {
		t.Error("escapes are not visible")
	}
	checkNoFormulas(t, f.get(c, "/sessions?format=csv").body)
}

// checkShownAsText fails unless every text of the attack corpus is in
// body escaped and as recorder.Printable shows it, and nothing raw is.
func checkShownAsText(t *testing.T, body string) {
	t.Helper()
	for _, bad := range []string{"<script", "<img", "\u202e", "\u200b", "\ufeff", "\x1b", "\u3164"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page holds %q raw", bad)
		}
	}
	text := html.UnescapeString(body)
	for _, a := range attacks {
		if shown := recorder.Printable(a); !strings.Contains(text, shown) {
			t.Errorf("the page does not show %q as %q", a, shown)
		}
	}
}

// checkNoFormulas fails if a cell of a CSV export starts a formula.
func checkNoFormulas(t *testing.T, body string) {
	t.Helper()
	records, err := readCSV(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records[2:] {
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("csv cell %q starts a formula", cell)
			}
		}
	}
}

// TestUnrecordedViewIsNotShown: when the activity stream cannot take the
// view, neither the page nor an export is served.
func TestUnrecordedViewIsNotShown(t *testing.T) {
	f := newFixture(t, 0)
	f.record(newKey(t), recorded{identity: "secret-identity@example.com", target: "orders", start: time.Now().Add(-time.Minute)})
	c := f.loggedIn(auditorClaims)
	f.activity.fail = errors.New("disk full")
	for _, path := range []string{"/sessions", "/sessions?format=csv", "/sessions?format=jsonl"} {
		resp := f.get(c, path)
		if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(resp.body, "secret-identity") {
			t.Errorf("%s = %d %q", path, resp.StatusCode, resp.body)
		}
	}
}

// TestSessionExpiresAndLogout: a session ends at its TTL, and at a
// logout from the console's own origin, not from another.
func TestSessionExpiresAndLogout(t *testing.T) {
	f := newFixture(t, 0)
	now := time.Now()
	f.console.cfg.Clock = func() time.Time { return now }
	f.console.sessions.clock = f.console.cfg.Clock
	c := f.loggedIn(auditorClaims)
	anonStop := noRedirects(c.Jar)
	if resp := f.get(anonStop, "/sessions"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/sessions = %d", resp.StatusCode)
	}
	if resp := f.do(anonStop, "POST", "/logout", http.Header{"Origin": {"https://evil.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin logout = %d", resp.StatusCode)
	}
	if resp := f.do(anonStop, "POST", "/logout", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without Origin = %d", resp.StatusCode)
	}
	if resp := f.get(anonStop, "/sessions"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a refused logout ended the session: %d", resp.StatusCode)
	}
	now = now.Add(8*time.Hour + time.Second)
	if resp := f.get(anonStop, "/sessions"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("/sessions after 8h = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	now = time.Now()
	c = f.loggedIn(auditorClaims)
	stop := noRedirects(c.Jar)
	if resp := f.do(stop, "POST", "/logout", http.Header{"Origin": {f.srv.URL}}); resp.StatusCode != http.StatusOK {
		t.Errorf("logout = %d", resp.StatusCode)
	}
	if resp := f.get(stop, "/sessions"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("/sessions after logout = %d", resp.StatusCode)
	}
	if n := len(f.activity.of(event.TypeConsoleLogout)); n != 1 {
		t.Errorf("%d console.logout events", n)
	}
	_ = context.Background
}

// TestReflectedTextIsEscaped: what the URL carries (filters, a bad
// filter's error, the IdP's error description) comes back only as text.
func TestReflectedTextIsEscaped(t *testing.T) {
	f := newFixture(t, 0)
	c := f.loggedIn(auditorClaims)
	payload := url.QueryEscape("\"><script>alert(1)</script>\u202e")
	for _, path := range []string{"/sessions?identity=" + payload, "/sessions?since=" + payload, "/sessions?outcome=" + payload} {
		body := f.get(c, path).body
		if strings.Contains(body, "<script>") || strings.Contains(body, `"><script`) {
			t.Errorf("%s reflects the payload raw:\n%s", path, body)
		}
		// The form keeps the filter as typed (to submit it again); every
		// text shown outside form fields has the override escaped.
		outside := regexp.MustCompile(`(?s)<form method="get".*?</form>`).ReplaceAllString(body, "")
		shown := strings.Contains(outside, `\u202e`) || !strings.Contains(path, "identity")
		if strings.Contains(outside, "\u202e") || !shown {
			t.Errorf("%s shows the bidi override raw, or not at all:\n%s", path, outside)
		}
	}
	jar := c.Jar
	callback := f.callbackPath(noRedirects(jar))
	resp := f.get(noRedirects(jar), "/callback?error=x&error_description="+payload+"&state="+stateOf(callback))
	if resp.StatusCode != http.StatusForbidden || strings.Contains(resp.body, "<script>") || strings.Contains(resp.body, "\u202e") {
		t.Errorf("the IdP's error description comes back raw: %d\n%s", resp.StatusCode, resp.body)
	}
}

// TestSessionFilterValuesAreChecked: a filter that takes one of a few
// values answers 400 for any other, naming the filter and its values;
// human and role take any text, and the form shows every filter.
func TestSessionFilterValuesAreChecked(t *testing.T) {
	f := newFixture(t, 1)
	c := f.loggedIn(auditorClaims)
	for _, tc := range []struct{ query, want string }{
		{"outcome=closed", "outcome is refused, clean, open"},
		{"decision=allowed", "decision is allow, deny"},
		{"denials=true", "denials is yes, no"},
		{"masked=1", "masked is yes, no"},
		{"verification=ok", "verification is verified, failed, incomplete"},
		{"verification=Verified", "verification is verified, failed, incomplete"},
	} {
		for _, format := range []string{"", "&format=csv"} {
			r := f.get(c, "/sessions?"+tc.query+format)
			if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, tc.want) {
				t.Errorf("%s%s: %d\n%s", tc.query, format, r.StatusCode, r.body)
			}
		}
	}
	r := f.get(c, "/sessions?human=x&role=y&decision=allow&denials=no&masked=yes&verification=failed")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("every filter at once: %d\n%s", r.StatusCode, r.body)
	}
	for _, name := range []string{"human", "role", "decision", "denials", "masked", "verification"} {
		if !strings.Contains(r.body, `name="`+name+`"`) {
			t.Errorf("the form has no %s", name)
		}
	}
}

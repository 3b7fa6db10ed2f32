package console

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
)

// unreadableSession is the fixture's store with one session that cannot
// be read (as a chunk missing from a bucket).
type unreadableSession struct {
	recorder.FileStore
	id string
}

// useIndex opens an index over the fixture's store, with the console's
// keys, and has the console read its lists from it.
func (f *fixture) useIndex() *consoleindex.Index {
	f.t.Helper()
	x, err := consoleindex.Open(f.t.TempDir(), f.store, "fixture", f.console.cfg.Keys...)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { x.Close() })
	f.console.cfg.Index = x
	return x
}

func (s unreadableSession) Lines(kind, id string) ([][]byte, error) {
	if kind == recorder.KindSession && id == s.id {
		return nil, errors.New("chunk 000002 is missing")
	}
	return s.FileStore.Lines(kind, id)
}

// indexFixture is a console over a store holding every sort of session
// the lists tell apart: agents and humans, several targets, denials,
// masked and refused statements, hostile texts, one tampered, one open,
// one unreadable and one outside the overview's period.
func indexFixture(t *testing.T) *fixture {
	f := newFixture(t, 3)
	key := f.withKey()
	now := time.Now().UTC().Truncate(time.Second)
	h := func(n float64) time.Time { return now.Add(time.Duration(-n * float64(time.Hour))) }
	f.overviewFixture(key, now, []overviewSession{
		{identity: "alice@example.com", target: "orders", addr: "10.0.0.1:1", serial: 10, start: h(2.9), statements: 3},
		{identity: "alice@example.com via agent:bot", agent: "bot", target: "orders", addr: "10.0.0.1:2", serial: 11, start: h(2.8), statements: 4, denied: 2},
		{identity: "bob@example.com", target: "billing", addr: "10.0.0.3:1", serial: 30, start: h(1), statements: 1},
		{identity: "bob@example.com", target: "billing", addr: "10.0.0.3:3", serial: 32, start: h(2.5), tamper: true, statements: 2},
		{identity: "bob@example.com", target: "billing", addr: "10.0.0.3:4", serial: 33, start: h(0.3), open: true, statements: 1},
		{addr: "192.0.2.9:1", start: h(0.2), failures: 3, unauthenticated: true},
		// The overview's exceptions the index picks out for Go to judge:
		// a dev login, revocations by key and by identity (and a
		// certificate issued after it), a probe burst across sessions.
		{identity: "dev@example.com", target: "orders", addr: "10.0.0.2:1", serial: 20, start: h(2.7), statements: 1},
		{identity: "carol@example.com", target: "billing", addr: "10.0.0.3:2", serial: 31, key: "SHA256:stolen", start: h(0.9)},
		{identity: "mallory@example.com", target: "orders", addr: "10.0.0.4:1", serial: 40, start: h(0.5), statements: 2, denied: 1},
		{identity: "mallory@example.com", target: "orders", addr: "10.0.0.4:2", serial: 41, start: h(0.4)},
		{addr: "192.0.2.9:2", start: h(0.1), failures: 3, unauthenticated: true},
		{identity: "old@example.com", target: "orders", addr: "10.0.0.9:1", serial: 50, start: now.Add(-10 * 24 * time.Hour), statements: 9},
		// Failed authentications before it got in: denials of its identity.
		{identity: "grace@example.com", target: "orders", addr: "10.0.0.5:1", serial: 60, start: h(1.2), statements: 1, failures: 2},
	})
	// Certificates issued and refused, agents vouched for, a refused channel.
	f.recordIdentities(key, identitiesFixture(now))
	f.record(key, recorded{identity: "carol@example.com via agent:crawler", agent: "crawler", target: "orders", denied: true, start: h(1.5)})
	masked := f.recordMasked(key, "dave", "orders",
		maskedRun{text: "SELECT email, ssn FROM people", masked: []string{maskEmail, maskSSN}, rows: 2},
		maskedRun{text: "SELECT id FROM people WHERE ssn LIKE '1%'", rule: "masking.pii_strict"},
		maskedRun{text: "DROP TABLE people", rule: "no-ddl"})
	f.recordStatements(key, "eve\u202e", "billing", "SELECT '<script>alert(1)</script>'", "SELECT 'ΣΊΣΥΦΟΣ' /* \x1b[2J */",
		strings.Repeat("SELECT 'long' ", 600))
	// A database role on orders, so that role filters split the sessions.
	f.recordStatements(key, "reader", "orders", "SELECT 1")
	path := filepath.Join(f.store.Dir, recorder.KindSession, masked+".jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte("DROP TABLE people"), []byte("DROP TABLE peoplf"), 1), 0o600); err != nil {
		t.Fatal(err) // a line in the middle: the chain breaks
	}
	unreadable := f.record(key, recorded{identity: "frank@example.com", target: "orders", start: h(0.7)})[0]
	// The open session's stream would write an idle checkpoint 10s on,
	// between the two readings of a slow run (-race): both read a copy.
	frozen := t.TempDir()
	if err := os.CopyFS(frozen, os.DirFS(f.store.Dir)); err != nil {
		t.Fatal(err)
	}
	f.store = recorder.FileStore{Dir: frozen}
	f.console.cfg.Sessions = unreadableSession{f.store, unreadable}
	f.console.cfg.Clock = func() time.Time { return now }
	f.console.cfg.ParseTime = func(s string, now time.Time) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
		d, err := time.ParseDuration(s)
		return now.Add(-d), err
	}
	return f
}

// TestIndexListsAsTheStoreDoes: with an index built from the store, every
// list (its pages, filters and exports) answers byte for byte what the
// console answers reading the store, and the overview names sessions
// the index does not hold yet and those the store no longer lists.
func TestIndexListsAsTheStoreDoes(t *testing.T) {
	f := indexFixture(t)
	c := f.loggedIn(auditorClaims)
	since := url.QueryEscape(time.Now().UTC().Add(-2 * time.Hour).Format(time.RFC3339))
	paths := []string{"/", "/?since=720h", "/exposure", "/exposure?kind=refused", "/requests"}
	for _, q := range []string{"", "page=2", "page=9", "human=ALICE", "agent=bot", "denials=yes", "denials=no", "since=90m", "since=720h",
		"until=" + since, "since=150m&until=" + since, "human=grace&denials=yes"} {
		paths = append(paths, "/identities?"+q, "/identities?format=csv&"+q, "/identities?format=jsonl&"+q)
	}
	for _, name := range []string{"alice@example.com", "alice@example.com via agent:bot", "alice@example.com via agent:crawlbot", "bob@example.com",
		"carol@example.com", "grace@example.com", "mallory@example.com", "carol@example.com via agent:crawler", "eve\u202e"} {
		for _, q := range []string{"", "?since=90m", "?until=" + since} {
			paths = append(paths, "/identities/"+identityRef(name)+q)
		}
	}
	for _, q := range []string{"", "page=2", "page=3", "identity=alice", "identity=ALICE", "agent=bot", "target=billing", "target=orders&outcome=refused",
		"outcome=clean", "outcome=open", "outcome=refused", "since=" + since, "until=" + since + "&identity=bob", "since=90m", "since=720h",
		// The index pages and counts in SQL: the same bytes, the same
		// bounds, the same pages (one far past the end).
		"identity=%00", "identity=%FF", "identity=b&page=2", "until=9999-01-01T00:00:00Z", "since=1500-01-01T00:00:00Z&page=2",
		"page=4611686018427387904",
		// The filters the index applies on its own columns: each value, and
		// some together.
		"human=alice@example.com", "human=ALICE@example.com", "human=reader", "human=nobody", "role=reader", "role=eve%E2%80%AE",
		"role=orders", "decision=allow", "decision=deny", "denials=yes", "denials=no", "masked=yes", "masked=no",
		"verification=verified", "verification=failed", "verification=incomplete", "human=alice@example.com&decision=deny",
		"denials=no&masked=no&verification=verified", "masked=yes&verification=failed", "role=reader&decision=allow&denials=no",
		"decision=allow&decision=deny", "target=billing&verification=incomplete&outcome=open", "denials=no&page=2"} {
		paths = append(paths, "/sessions?"+q, "/sessions?format=csv&"+q, "/sessions?format=jsonl&"+q)
	}
	for _, q := range []string{"", "page=2", "text=select", "text=SELECT+1", "text=%CF%83%CE%AF", "text=ss", "text=%3Cscript", "text=long&format=jsonl",
		"decision=deny", "decision=allow&target=orders", "kind=select", "rule=no-ddl", "rule=masking.pii_strict&text=ssn", "masked=EMAIL",
		"identity=bob", "identity=bob&text=select+0", "since=90m&decision=deny", "target=billing&text=%27"} {
		paths = append(paths, "/statements?"+q, "/statements?format=csv&"+q, "/statements?format=jsonl&"+q)
	}
	// A link's auditor sees its scope: selected by the index's SQL too.
	f.console.cfg.Links = &LinkStore{Dir: t.TempDir(), Clock: time.Now}
	now := time.Now().UTC()
	var linked []*http.Client
	for _, l := range []Link{{From: now.Add(-3 * time.Hour), To: now.Add(-15 * time.Minute), Targets: []string{"orders"}}, {Targets: []string{"billing", "orders"}}, {From: now.Add(-2 * time.Hour)}} {
		l.Identity, l.Expires = "ext", now.Add(time.Hour)
		token, err := f.console.cfg.Links.Mint(l, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := f.browser()
		if r := f.get(b, "/link/"+token); r.StatusCode != http.StatusOK {
			t.Fatalf("link: %s", r.Status)
		}
		linked = append(linked, b)
	}
	scoped := []string{"/", "/?since=720h", "/sessions", "/sessions?page=2", "/sessions?identity=alice", "/sessions?outcome=refused",
		"/identities", "/identities?format=jsonl", "/identities?format=csv&denials=yes",
		// Exports read from a cursor of the index, within the link's scope.
		"/sessions?format=csv", "/sessions?format=jsonl&outcome=refused", "/statements?format=jsonl", "/statements?format=csv&decision=deny"}
	// An identity's page is not found when the link sees nothing of it:
	// the status is compared too.
	for _, name := range []string{"alice@example.com", "alice@example.com via agent:bot", "bob@example.com", "grace@example.com", "mallory@example.com"} {
		scoped = append(scoped, "/identities/"+identityRef(name))
	}
	wantScoped := map[string]string{}
	found := 0
	for i, b := range linked {
		for _, p := range scoped {
			r := f.get(b, p)
			if r.StatusCode != http.StatusOK && !strings.HasPrefix(p, "/identities/") {
				t.Errorf("%s by link %d from the store: %s", p, i, r.Status)
			}
			if strings.HasPrefix(p, "/identities/") && r.StatusCode == http.StatusOK {
				found++
			}
			wantScoped[strconv.Itoa(i)+p] = r.Status + "\n" + r.body
		}
	}
	if found < 5 {
		t.Errorf("links see %d identity pages: the fixture does not exercise their scope", found)
	}
	splitsSessions(t, f, c, "human=alice@example.com", "human=reader", "role=reader", "decision=allow", "decision=deny", "denials=yes",
		"denials=no", "masked=yes", "masked=no", "verification=verified", "verification=failed", "verification=incomplete")
	want := map[string]string{}
	for _, p := range paths {
		r := f.get(c, p)
		if r.StatusCode != http.StatusOK && (!strings.HasPrefix(p, "/identities/") || r.StatusCode != http.StatusNotFound) {
			t.Errorf("%s from the store: %s", p, r.Status)
		}
		want[p] = r.Status + "\n" + r.body
	}
	x, err := consoleindex.Open(t.TempDir(), f.console.cfg.Sessions, "fixture", f.console.cfg.Keys...)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.console.cfg.Index = x
	for _, p := range paths {
		if r := f.get(c, p); r.Status+"\n"+r.body != want[p] {
			got := r.Status + "\n" + r.body
			t.Errorf("%s from the index differs from the store's:\n%s\nwant\n%s", p, got, want[p])
		}
	}
	for i, b := range linked {
		for _, p := range scoped {
			if r := f.get(b, p); r.Status+"\n"+r.body != wantScoped[strconv.Itoa(i)+p] {
				got := r.Status + "\n" + r.body
				t.Errorf("%s by link %d from the index differs from the store's:\n%s\nwant\n%s", p, i, got, wantScoped[strconv.Itoa(i)+p])
			}
		}
	}
	// The fixture exercises what the lists tell apart.
	for p, marks := range map[string][]string{
		"/sessions?format=jsonl&":                                       {"UNREADABLE", "BROKEN", "FAILED", "INCOMPLETE", "verified", `"agent":"crawler"`},
		"/statements?format=jsonl&":                                     {"DROP TABLE", "eve\u202e", "ΣΊΣΥΦΟΣ", `"text_bytes":8400`},
		"/?since=720h":                                                  {exFailed, exIncomplete, exRevoked, exDevLogin, exProbes, `id="jit">1<`},
		"/identities?format=jsonl&":                                     {`"denials":2`, `"refused":1`, `"kind":"agent"`},
		"/identities/" + identityRef("grace@example.com"):               {"auth.failure"},
		"/identities/" + identityRef("bob@example.com"):                 {"channel.refused", "grant_not_allowed"},
		"/identities/" + identityRef("alice@example.com via agent:bot"): {"DROP TABLE orders", "Vouched for by"},
	} {
		for _, m := range marks {
			if !strings.Contains(want[p], m) {
				t.Errorf("%s lacks %q: the fixture does not exercise it", p, m)
			}
		}
	}
	for _, p := range []string{"/", "/?since=720h"} {
		if body := f.get(c, p).body; strings.Contains(body, exNotIndexed) || strings.Contains(body, exGone) {
			t.Errorf("%s names index exceptions while the index is current:\n%s", p, body)
		}
	}
}

// TestIndexIsCurrentAndReconciled: a list sees a session recorded a
// moment before it was asked for; with MaxAge, one the index has not read
// yet is named on the overview as not yet indexed, and one deleted from
// the store as gone, never dropped silently.
func TestIndexIsCurrentAndReconciled(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	now := time.Now().UTC()
	first := f.record(key, recorded{identity: "alice@example.com", target: "orders", start: now.Add(-time.Hour)})[0]
	x := f.useIndex()
	c := f.loggedIn(auditorClaims)
	second := f.record(key, recorded{identity: "bob@example.com", target: "orders", start: now.Add(-time.Minute)})[0]
	if body := f.get(c, "/sessions?format=csv").body; !strings.Contains(body, first) || !strings.Contains(body, second) {
		t.Fatalf("/sessions from the index lacks a session just recorded:\n%s", body)
	}
	x.MaxAge = time.Hour
	third := f.record(key, recorded{identity: "carol@example.com", target: "orders", start: now.Add(-30 * time.Second)})[0]
	if err := os.Remove(filepath.Join(f.store.Dir, recorder.KindSession, first+".jsonl")); err != nil {
		t.Fatal(err)
	}
	body := f.get(c, "/").body
	for _, want := range []string{exNotIndexed, third + ": in the store, not yet in the console", exGone, first + ": in the console&#39;s index, but the store no longer lists it"} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %q:\n%s", want, body)
		}
	}
	if body := f.get(c, "/sessions?format=csv").body; strings.Contains(body, third) || !strings.Contains(body, first) {
		t.Errorf("with MaxAge, /sessions is the index's as it was:\n%s", body)
	}
	x.MaxAge = 0
	body = f.get(c, "/").body
	if strings.Contains(body, exNotIndexed) || !strings.Contains(body, exGone) {
		t.Errorf("once synced, the overview still names %q, or no longer %q:\n%s", exNotIndexed, exGone, body)
	}
	if body := f.get(c, "/sessions?format=csv").body; !strings.Contains(body, third) || strings.Contains(body, first) {
		t.Errorf("once synced, /sessions lists what the store lists:\n%s", body)
	}
}

// splitsSessions fails unless each filter selects some of the store's
// sessions and leaves out others: a comparison of two empty lists, or of
// two unfiltered ones, would prove nothing.
func splitsSessions(t *testing.T, f *fixture, c *http.Client, filters ...string) {
	t.Helper()
	readable := func(q string) int {
		_, rows := jsonlRows[row](t, f.get(c, "/sessions?format=jsonl&"+q).body)
		n := 0
		for _, r := range rows {
			if !strings.HasPrefix(r.Chain, "UNREADABLE") { // listed whatever the filter
				n++
			}
		}
		return n
	}
	all := readable("")
	for _, q := range filters {
		if n := readable(q); n == 0 || n >= all {
			t.Errorf("%s selects %d of %d readable sessions: the fixture does not split them", q, n, all)
		}
	}
}

package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// recordActivityTo makes the console record into a real console stream
// of f's store, as `gatehouse console` does, and returns it.
func (f *fixture) recordActivityTo() *recorder.Stream {
	f.t.Helper()
	st, _ := f.openKind(recorder.KindConsole, newKey(f.t), time.Now().UTC())
	f.console.cfg.Activity = st
	return st
}

// consoleEvents is the console.* events of a stream, as a reference for
// /activity: their types, in order.
func consoleEvents(t *testing.T, src StreamSource, id string) []string {
	t.Helper()
	lines, err := src.Lines(recorder.KindConsole, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range lines {
		ev, err := recorder.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		if kind, ok := strings.CutPrefix(string(ev.Type), "console."); ok {
			out = append(out, kind)
		}
	}
	return out
}

func kindsOf(rows []activityRow) []string {
	return fieldOf(rows, func(r activityRow) string { return r.Kind })
}

// TestActivityShowsTheStream: /activity lists every console event of the
// stream in order, as the stream holds them (the auditor's login, views
// and exports), filters by kind, auditor and time, pages, and is itself
// recorded.
func TestActivityShowsTheStream(t *testing.T) {
	f := newFixture(t, 3)
	st := f.recordActivityTo()
	c := f.loggedIn(auditorClaims)
	f.get(c, "/sessions")
	f.get(c, "/sessions?identity=zed&format=csv")
	f.get(c, "/statements?text=x")
	if resp := f.get(c, "/activity?kind=nope"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad kind answers %d", resp.StatusCode)
	}

	want := consoleEvents(t, f.store, st.ID)
	if strings.Join(want, " ") != "login view export view" {
		t.Fatalf("the stream holds %v", want)
	}
	header, rows := jsonlRows[activityRow](t, f.get(c, "/activity?format=jsonl").body)
	if got := kindsOf(rows); !equal(got, want) || int(header["total"].(float64)) != len(want) {
		t.Errorf("activity %v (header %v), want %v", got, header, want)
	}
	if !strings.Contains(rows[2].What, `csv of /sessions identity="zed"; 0 rows`) || !strings.Contains(rows[2].Auditor, "ann@example.com (aud-1 at ") {
		t.Errorf("the export reads %+v", rows[2])
	}
	// Each query against the stream as it stands before it (an export is
	// recorded before its rows are written, but after they are read).
	soon := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, tc := range []struct {
		query string
		keep  func(kind string) bool
	}{
		{"kind=view", func(k string) bool { return k == "view" }},
		{"kind=export", func(k string) bool { return k == "export" }},
		{"kind=login", func(k string) bool { return k == "login" }},
		{"auditor=ANN@example", func(string) bool { return true }},
		{"auditor=bob", func(string) bool { return false }},
		{"since=" + soon, func(string) bool { return false }},
		{"until=" + soon, func(string) bool { return true }},
	} {
		var want []string
		for _, k := range consoleEvents(t, f.store, st.ID) {
			if tc.keep(k) {
				want = append(want, k)
			}
		}
		_, rows := jsonlRows[activityRow](t, f.get(c, "/activity?format=jsonl&"+tc.query).body)
		if got := kindsOf(rows); !equal(got, want) {
			t.Errorf("%s: %v, want %v", tc.query, got, want)
		}
	}
	// Pages of 3 hold the exports the stream holds (page views are not
	// exports, so the list does not grow while it is paged).
	var exports []string
	for _, k := range consoleEvents(t, f.store, st.ID) {
		if k == "export" {
			exports = append(exports, k)
		}
	}
	paged := f.pages(t, c, "/activity?kind=export", len(exports), func(body string) []string {
		var kinds []string
		for _, part := range strings.Split(body, `<td class="kind">`)[1:] {
			kinds = append(kinds, part[:strings.Index(part, "<")])
		}
		return kinds
	})
	if len(exports) != 9 || !equal(paged, exports) {
		t.Errorf("pages %v, want %v", paged, exports)
	}
	last := consoleEvents(t, f.store, st.ID)
	if last[len(last)-1] != "view" {
		t.Errorf("the last page view is not recorded: %v", last)
	}
}

// TestActivityOfALinkIsItsOwn: an external auditor's link session sees
// only its own events on /activity, never an IdP auditor's.
func TestActivityOfALinkIsItsOwn(t *testing.T) {
	f := newLinkFixture(t)
	f.recordActivityTo()
	f.get(f.loggedIn(auditorClaims), "/sessions?identity=secret-search")
	c := f.browser()
	if resp := f.get(c, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	f.get(c, "/sessions")
	_, rows := jsonlRows[activityRow](t, f.get(c, "/activity?format=jsonl").body)
	if len(rows) != 2 || rows[0].Kind != "link_used" || rows[1].Kind != "view" {
		t.Errorf("the link sees %+v", rows)
	}
	for _, r := range rows {
		if strings.Contains(r.Auditor, "ann@") || strings.Contains(r.What, "secret-search") {
			t.Errorf("the link sees another auditor's event %+v", r)
		}
	}
	if body := f.get(c, "/activity").body; !strings.Contains(body, "only your own activity") {
		t.Error("the page does not tell the external auditor what they see")
	}
	_, all := jsonlRows[activityRow](t, f.get(f.loggedIn(auditorClaims), "/activity?format=jsonl").body)
	if len(all) <= len(rows)+2 {
		t.Errorf("an IdP auditor sees only %d events", len(all))
	}
}

// TestActivityReadsTheSpool: a console stream only in the spool (this
// console's own, with an S3 store) is listed, and one in both once.
func TestActivityReadsTheSpool(t *testing.T) {
	f := newFixture(t, 0)
	spool := recorder.FileStore{Dir: t.TempDir()}
	st, _ := (&fixture{t: t, store: spool}).openKind(recorder.KindConsole, newKey(t), time.Now().UTC())
	f.console.cfg.Activity = st
	c := f.loggedIn(auditorClaims)
	f.get(c, "/sessions")
	if _, rows := jsonlRows[activityRow](t, f.get(c, "/activity?format=jsonl").body); len(rows) != 0 {
		t.Fatalf("without a spool the store's %d rows", len(rows))
	}
	f.console.cfg.Spool = spool
	if _, rows := jsonlRows[activityRow](t, f.get(c, "/activity?format=jsonl").body); !equal(kindsOf(rows), []string{"login", "view", "export"}) {
		t.Errorf("with the spool %v", kindsOf(rows))
	}
	f.console.cfg.Sessions = spool
	if _, rows := jsonlRows[activityRow](t, f.get(c, "/activity?format=jsonl").body); !equal(kindsOf(rows), []string{"login", "view", "export", "export"}) {
		t.Errorf("a stream in the store and the spool is listed as %v", kindsOf(rows))
	}
}

// TestActivityEscapesRecordedText: what the activity shows from a
// recorded event (an IdP's subject and e-mail, a refusal's reason, the
// filters an auditor typed) is text, controls escaped, and the CSV has
// no formulas.
func TestActivityEscapesRecordedText(t *testing.T) {
	f := newFixture(t, 0)
	st := f.recordActivityTo()
	for _, a := range attacks {
		aud := event.Auditor{Issuer: "i", Subject: a, Email: a}
		for _, ev := range []struct {
			typ  event.Type
			data any
		}{
			{event.TypeConsoleView, event.ConsoleView{Auditor: aud, Path: "/sessions", Filters: map[string]string{"identity": a}}},
			{event.TypeConsoleRefused, event.ConsoleRefused{Path: "/callback", Reason: a, ClientAddr: a}},
		} {
			if err := st.Emit(ev.typ, ev.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := f.loggedIn(auditorClaims)
	checkShownAsText(t, f.get(c, "/activity").body)
	checkNoFormulas(t, f.get(c, "/activity?format=csv").body)
}

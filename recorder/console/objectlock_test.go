package console

import (
	"context"
	"errors"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// fakeLocks is a bucket's Object Lock: each object's retention, legal
// hold, and failures to read them.
type fakeLocks struct {
	objects  []string
	listErr  error
	mode     map[string]string
	until    map[string]time.Time
	hold     map[string]bool
	readErr  map[string]error
	holdErr  map[string]error
	askedFor []string // the stream ids Objects was asked for
}

func (l *fakeLocks) Objects(_ context.Context, kind, id string) ([]string, error) {
	l.askedFor = append(l.askedFor, kind+"/"+id)
	return l.objects, l.listErr
}

func (l *fakeLocks) Retention(_ context.Context, key string) (string, time.Time, error) {
	return l.mode[key], l.until[key], l.readErr[key]
}

func (l *fakeLocks) LegalHold(_ context.Context, key string) (bool, error) {
	return l.hold[key], l.holdErr[key]
}

// TestLockPanel: every object locked into the future is "locked", with
// each object's mode, retain-until (UTC Z) and legal hold; an object
// without retention, one whose retention ended (or ends now), and any
// failure to list or read are exceptions, and the panel never says
// locked then; without a bucket it says the directory store has none.
func TestLockPanel(t *testing.T) {
	now := time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC)
	later := now.Add(400 * 24 * time.Hour)
	chunk, manifest := "sessions/2026/12/05/ID/000000.jsonl", "sessions/2026/12/05/ID/manifest.json"
	locked := func() *fakeLocks {
		return &fakeLocks{objects: []string{chunk, manifest},
			mode:  map[string]string{chunk: "COMPLIANCE", manifest: "GOVERNANCE"},
			until: map[string]time.Time{chunk: later, manifest: later.In(time.FixedZone("X", 3600))},
			hold:  map[string]bool{}, readErr: map[string]error{}, holdErr: map[string]error{}}
	}
	boom := errors.New("AccessDenied")
	for _, tc := range []struct {
		name    string
		change  func(*fakeLocks)
		status  string
		problem string // in the only problem, if any
	}{
		{"all locked", func(*fakeLocks) {}, lockOK, ""},
		{"a legal hold", func(l *fakeLocks) { l.hold[manifest] = true }, lockOK, ""},
		{"no retention", func(l *fakeLocks) { delete(l.mode, chunk); delete(l.until, chunk) }, lockFailed, chunk + ": no retention"},
		{"retention ended", func(l *fakeLocks) { l.until[manifest] = now.Add(-time.Second) }, lockFailed, manifest + ": its retention ended at 2026-12-05T10:59:59Z"},
		{"retention ends now", func(l *fakeLocks) { l.until[manifest] = now }, lockFailed, manifest + ": its retention ended"},
		{"retention unreadable", func(l *fakeLocks) { l.readErr[chunk] = boom }, lockFailed, chunk + ": its retention could not be read: AccessDenied"},
		{"legal hold unreadable", func(l *fakeLocks) { l.holdErr[chunk] = boom }, lockFailed, chunk + ": its legal hold could not be read"},
		{"listing fails", func(l *fakeLocks) { l.objects, l.listErr = nil, boom }, lockFailed, "could not be listed: AccessDenied"},
		{"no objects", func(l *fakeLocks) { l.objects = nil }, lockFailed, "the bucket holds no object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := locked()
			tc.change(l)
			c := &Console{cfg: Config{Locks: l, Clock: func() time.Time { return now }}}
			p := c.lockPanel(context.Background(), "ID")
			if p.Status != tc.status || p.Read != "2026-12-05T11:00:00Z" {
				t.Errorf("status %q read %q, want %q", p.Status, p.Read, tc.status)
			}
			if tc.problem == "" && len(p.Problems) > 0 || tc.problem != "" && (len(p.Problems) != 1 || !strings.Contains(p.Problems[0], tc.problem)) {
				t.Errorf("problems %q, want one holding %q", p.Problems, tc.problem)
			}
			if tc.status == lockOK {
				want := []lockRow{{Key: chunk, Mode: "COMPLIANCE", Until: "2028-01-09T11:00:00Z"},
					{Key: manifest, Mode: "GOVERNANCE", Until: "2028-01-09T11:00:00Z", LegalHold: map[bool]string{true: "legal hold"}[l.hold[manifest]]}}
				if len(p.Objects) != 2 || p.Objects[0] != want[0] || p.Objects[1] != want[1] {
					t.Errorf("objects %+v, want %+v", p.Objects, want)
				}
			}
		})
	}
	c := &Console{cfg: Config{Clock: func() time.Time { return now }}}
	if p := c.lockPanel(context.Background(), "ID"); p.Status != lockNone || len(p.Objects) != 0 || p.Read != "" {
		t.Errorf("without a bucket: %+v", p)
	}
}

// TestSessionPageShowsObjectLock: the session page asks the bucket for
// the session's own objects and shows their lock and when it was read,
// or the exception.
func TestSessionPageShowsObjectLock(t *testing.T) {
	f := newFixture(t, 0)
	id := f.recordStatements(f.withKey(), "alice", "orders", "SELECT 1")
	c := f.loggedIn(auditorClaims)
	if text := pageText(f.get(c, "/sessions/"+id).body); !strings.Contains(text, "Object Lock: "+lockNone) {
		t.Errorf("the directory store's page does not say %q", lockNone)
	}
	until := time.Now().Add(time.Hour).UTC()
	l := &fakeLocks{objects: []string{"k/0", "k/manifest.json"}, mode: map[string]string{"k/0": "COMPLIANCE"},
		until: map[string]time.Time{"k/0": until}, hold: map[string]bool{"k/0": true}}
	f.console.cfg.Locks = l
	resp := f.get(c, "/sessions/"+id)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, resp.body)
	}
	text := pageText(resp.body)
	for _, want := range []string{"Object Lock: " + lockFailed, "Read from the bucket at ", "k/manifest.json: no retention",
		"COMPLIANCE", until.Format(time.RFC3339), "legal hold"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Object Lock: "+lockOK) {
		t.Error("the page says locked with an object unlocked")
	}
	if len(l.askedFor) != 1 || l.askedFor[0] != recorder.KindSession+"/"+id {
		t.Errorf("the bucket was asked for %v, want the session's objects", l.askedFor)
	}
}

// pageText is a page's text as a browser shows it: no tags, entities read.
func pageText(body string) string {
	return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
}

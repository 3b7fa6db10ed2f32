package console

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"github.com/gatehouse-dev/gatehouse/recorder/evidence"
)

// withEvidence gives f's console bundles signed with a console key of
// their own, built under a directory the test can look into.
func withEvidence(t *testing.T, f *fixture, recorderKey ed25519.PrivateKey) (consolePub ed25519.PublicKey, tempDir string) {
	t.Helper()
	consoleKey := newKey(t)
	tempDir = t.TempDir()
	f.console.cfg.Keys = []ed25519.PublicKey{recorderKey.Public().(ed25519.PublicKey)}
	f.console.cfg.Evidence = &Evidence{Signer: consoleKey, Store: evidence.StoreInfo{Store: "file", Dir: f.store.Dir}, TempDir: tempDir, Version: "test"}
	return consoleKey.Public().(ed25519.PublicKey), tempDir
}

// builtAll waits until no bundle is being built: a handler releases its
// slot and removes its directory after the client has read the body.
func builtAll(t *testing.T, e *Evidence) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.mu.Lock()
		running := e.running
		e.mu.Unlock()
		if running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bundles still being built", running)
		}
	}
}

func bundleQuery(from, to time.Time, more ...string) string {
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}}
	for i := 0; i+1 < len(more); i += 2 {
		q.Add(more[i], more[i+1])
	}
	return "/evidence/bundle.zip?" + q.Encode()
}

// TestEvidenceForm: the form renders under the CSP without any script,
// submits by GET to the bundle, and its view is recorded.
func TestEvidenceForm(t *testing.T) {
	f := newFixture(t, 0)
	withEvidence(t, f, newKey(t))
	resp := f.get(f.loggedIn(auditorClaims), "/evidence")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/evidence: %d %s", resp.StatusCode, resp.body)
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
		t.Errorf("CSP %q", got)
	}
	for _, want := range []string{`<form method="get" action="/evidence/bundle.zip"`, `name="from"`, `name="to"`, `name="identity"`, `name="target"`} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if strings.Contains(strings.ToLower(resp.body), "<script") || strings.Contains(resp.body, "onclick") {
		t.Error("the form page holds a script")
	}
	views := f.activity.of(event.TypeConsoleView)
	if len(views) != 1 || views[0].(event.ConsoleView).Path != "/evidence" {
		t.Errorf("views recorded: %+v", views)
	}
}

// TestEvidenceParameters: each bad request is a 400 naming what is
// wrong, and builds and records nothing.
func TestEvidenceParameters(t *testing.T) {
	f := newFixture(t, 0)
	_, tempDir := withEvidence(t, f, newKey(t))
	c := f.loggedIn(auditorClaims)
	now := time.Now().UTC()
	for _, tc := range []struct{ name, path, want string }{
		{"no from", "/evidence/bundle.zip?to=2026-01-01", "give from once"},
		{"no to", "/evidence/bundle.zip?from=2026-01-01", "give to once"},
		{"two froms", "/evidence/bundle.zip?from=2026-01-01&from=2026-01-02&to=2026-02-01", "give from once"},
		{"not a time", "/evidence/bundle.zip?from=yesterday&to=2026-02-01", "neither an RFC 3339 time"},
		{"reversed", bundleQuery(now, now.Add(-time.Hour)), "from must be before to"},
		{"empty period", "/evidence/bundle.zip?from=2026-01-02T00:00:00Z&to=2026-01-02T00:00:00Z", "from must be before to"},
		{"too long", "/evidence/bundle.zip?from=2025-01-01&to=2026-02-05", "longer than the 400 days"},
		{"unknown parameter", bundleQuery(now.Add(-time.Hour), now, "format", "csv"), `unknown parameter &#34;format&#34;`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.get(c, tc.path)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.body, tc.want) {
				t.Errorf("%d %s, want 400 saying %q", resp.StatusCode, resp.body, tc.want)
			}
		})
	}
	if resp := f.get(c, "/evidence/bundle.zip?from=2025-01-01&to=2026-02-04"); resp.StatusCode != http.StatusOK {
		t.Errorf("a period of exactly 400 days: %d %s", resp.StatusCode, resp.body)
	}
	if got := len(f.activity.of(event.TypeConsoleExport)); got != 1 {
		t.Errorf("%d exports recorded, want the one bundle made", got)
	}
	builtAll(t, f.console.cfg.Evidence)
	if left, _ := os.ReadDir(tempDir); len(left) != 0 {
		t.Errorf("the build left %d entries in its directory", len(left))
	}
}

// TestEvidenceBundleVerifies: an auditor's bundle downloads as a zip
// attachment that verifies with the console key (and not with the
// recorder key alone), says the console signed it and who produced it,
// holds the period's sessions, and its export is recorded with the
// manifest's SHA-256; the build directory is removed.
func TestEvidenceBundleVerifies(t *testing.T) {
	f := newFixture(t, 0)
	recKey := newKey(t)
	consolePub, tempDir := withEvidence(t, f, recKey)
	t0 := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	ids := f.record(recKey, recorded{identity: "alice", target: "orders", start: t0}, recorded{identity: "bob", target: "billing", start: t0.Add(time.Hour)})
	resp := f.get(f.loggedIn(auditorClaims), bundleQuery(t0.Add(-time.Minute), t0.Add(2*time.Hour)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bundle: %d %s", resp.StatusCode, resp.body)
	}
	wantName := `attachment; filename="gatehouse-evidence-` + t0.Add(-time.Minute).Format("20060102T150405Z") + "-" + t0.Add(2*time.Hour).Format("20060102T150405Z") + `.zip"`
	for h, want := range map[string]string{"Content-Type": "application/zip", "Content-Disposition": wantName, "Cache-Control": "no-store"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	body := []byte(resp.body)
	res, err := evidence.VerifyBundle(bytes.NewReader(body), int64(len(body)), []ed25519.PublicKey{consolePub})
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("verify with the console key: %v %v", err, res)
	}
	m := res.Manifest
	if res.SignedBy != recorder.Fingerprint(consolePub) || m.SigningKey != evidence.SigningKeyConsole || !strings.Contains(m.Producer, "aud-1") {
		t.Errorf("signed by %s (%q), producer %q", res.SignedBy, m.SigningKey, m.Producer)
	}
	if m.Parameters.Within != "" {
		t.Errorf("an IdP auditor's bundle is narrowed: %q", m.Parameters.Within)
	}
	if rows := sessionRows(m); rows != 2 {
		t.Errorf("%d sessions in the bundle, want 2", rows)
	}
	sessions := zipEntry(t, body, "sessions.csv")
	for _, id := range ids {
		if !strings.Contains(sessions, id) {
			t.Errorf("sessions.csv lacks %s", id)
		}
	}
	if res, _ := evidence.VerifyBundle(bytes.NewReader(body), int64(len(body)), f.console.cfg.Keys); len(res.Problems) == 0 {
		t.Error("the bundle verifies with the recorder key: it was not signed by the console's")
	}
	exports := f.activity.of(event.TypeConsoleExport)
	sum := sha256.Sum256([]byte(zipEntry(t, body, evidence.ManifestFile)))
	if len(exports) != 1 {
		t.Fatalf("exports recorded: %+v", exports)
	}
	if e := exports[0].(event.ConsoleExport); e.SHA256 != hex.EncodeToString(sum[:]) || e.Format != "zip" || e.Rows != 2 ||
		e.Filters["from"] != t0.Add(-time.Minute).Format(time.RFC3339) || e.Auditor.Subject != "aud-1" {
		t.Errorf("export recorded %+v, manifest sha256 %x", e, sum)
	}
	builtAll(t, f.console.cfg.Evidence)
	if left, _ := os.ReadDir(tempDir); len(left) != 0 {
		t.Errorf("the build left %d entries in its directory", len(left))
	}
}

func zipEntry(t *testing.T, data []byte, name string) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// TestEvidenceWithinLinkScope: a link's session gets a bundle only for a
// period within its link's and for the link's targets; anything else is
// refused (403) and the refusal recorded.
func TestEvidenceWithinLinkScope(t *testing.T) {
	f := newLinkFixture(t)
	recKey := newKey(t)
	consolePub, _ := withEvidence(t, f.fixture, recKey)
	c := f.browser()
	if resp := f.get(c, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	from, to := f.t0.Add(time.Hour), f.t0.Add(3*time.Hour)
	for _, tc := range []struct{ name, path, want string }{
		{"another target", bundleQuery(from, to, "target", "billing"), "target billing is outside"},
		{"one target of two outside", bundleQuery(from, to, "target", "orders,billing"), "target billing is outside"},
		{"no target", bundleQuery(from, to), "name them"},
		{"earlier", bundleQuery(from.Add(-time.Second), to, "target", "orders"), "period is outside"},
		{"later", bundleQuery(from, to.Add(time.Second), "target", "orders"), "period is outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.activity.of(event.TypeConsoleRefused))
			resp := f.get(c, tc.path)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.body, tc.want) {
				t.Errorf("%d %s, want 403 saying %q", resp.StatusCode, resp.body, tc.want)
			}
			if len(f.activity.of(event.TypeConsoleRefused)) != before+1 {
				t.Error("the refusal is not recorded")
			}
		})
	}
	if n := len(f.activity.of(event.TypeConsoleExport)); n != 0 {
		t.Fatalf("%d bundles made outside the link's scope", n)
	}
	resp := f.get(c, bundleQuery(from, to, "target", "orders"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("within scope: %d %s", resp.StatusCode, resp.body)
	}
	body := []byte(resp.body)
	res, err := evidence.VerifyBundle(bytes.NewReader(body), int64(len(body)), []ed25519.PublicKey{consolePub})
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("verify: %v %+v", err, res)
	}
	if !strings.Contains(res.Manifest.Producer, "ext-auditor") || !strings.Contains(res.Manifest.Parameters.Within, "external auditor's link") {
		t.Errorf("producer %q, within %q: the manifest does not name the link and its limit", res.Manifest.Producer, res.Manifest.Parameters.Within)
	}
	sessions := zipEntry(t, body, "sessions.csv")
	if !strings.Contains(sessions, f.in) || strings.Contains(sessions, f.otherTarget) || strings.Contains(sessions, f.before) || strings.Contains(sessions, f.after) {
		t.Errorf("sessions.csv of the link's bundle:\n%s", sessions)
	}
}

// TestEvidenceBuildsAreBounded: an auditor already building a bundle,
// or a console building as many as it may, answers 429 with Retry-After.
func TestEvidenceBuildsAreBounded(t *testing.T) {
	f := newFixture(t, 0)
	withEvidence(t, f, newKey(t))
	e := f.console.cfg.Evidence
	c := f.loggedIn(auditorClaims)
	now := time.Now().UTC()
	ann := event.Auditor{Issuer: f.idp.srv.URL, Subject: "aud-1", Email: "ann@example.com"}
	other1, other2 := event.Auditor{Issuer: "i", Subject: "1"}, event.Auditor{Issuer: "i", Subject: "2"}
	for _, tc := range []struct {
		name string
		busy []event.Auditor
		want int
	}{
		{"free", nil, http.StatusOK},
		{"ann builds one", []event.Auditor{ann}, http.StatusTooManyRequests},
		{"another builds one", []event.Auditor{other1}, http.StatusOK},
		{"the console builds two", []event.Auditor{other1, other2}, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			builtAll(t, e)
			for _, a := range tc.busy {
				if !e.acquire(a) {
					t.Fatalf("acquire %v", a)
				}
			}
			resp := f.get(c, bundleQuery(now.Add(-time.Hour), now))
			for _, a := range tc.busy {
				e.release(a)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, resp.body, tc.want)
			}
			if tc.want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
	builtAll(t, e)
	if e.running != 0 || len(e.busy) != 0 {
		t.Errorf("slots left taken: %d %v", e.running, e.busy)
	}
}

// TestEvidenceOfALinkHoldsOnlyWhatItSees: a link's bundle holds neither a
// session that reached one of its targets and another (which its pages
// hide) nor another auditor's activity (which its /activity hides); an
// IdP auditor's bundle of the same parameters holds both.
func TestEvidenceOfALinkHoldsOnlyWhatItSees(t *testing.T) {
	f := newLinkFixture(t)
	recKey := newKey(t)
	withEvidence(t, f.fixture, recKey)
	f.console.cfg.Keys = append(f.console.cfg.Keys, recKey.Public().(ed25519.PublicKey))
	t0 := f.t0
	from, to := t0.Add(time.Hour), t0.Add(3*time.Hour)
	st, emit := f.open(recKey, t0.Add(90*time.Minute))
	emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000"})
	emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: "alice", KeyFacts: event.KeyFacts{KeyID: "alice", Serial: 8}})
	emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: "orders"})
	emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 2, Target: "billing"})
	emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 2})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	both := st.ID
	cs, emitConsole := f.openKind(recorder.KindConsole, recKey, t0.Add(100*time.Minute))
	emitConsole(event.TypeConsoleView, event.ConsoleView{Auditor: event.Auditor{Issuer: "https://idp", Subject: "someone-else"}, Path: "/sessions"})
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	link := f.browser()
	if resp := f.get(link, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	query := bundleQuery(from, to, "target", "orders")
	for _, tc := range []struct {
		name   string
		client *http.Client
		holds  bool
	}{
		{"link", link, false},
		{"IdP auditor", f.loggedIn(auditorClaims), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			builtAll(t, f.console.cfg.Evidence)
			resp := f.get(tc.client, query)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, resp.body)
			}
			body := []byte(resp.body)
			sessions, activity := zipEntry(t, body, "sessions.csv"), zipEntry(t, body, "activity.csv")
			if !strings.Contains(sessions, f.in) {
				t.Fatalf("sessions.csv lacks the in-scope session %s:\n%s", f.in, sessions)
			}
			if got := strings.Contains(sessions, both); got != tc.holds {
				t.Errorf("sessions.csv holds the session on orders and billing: %v, want %v\n%s", got, tc.holds, sessions)
			}
			if got := strings.Contains(activity, "someone-else"); got != tc.holds {
				t.Errorf("activity.csv holds another auditor's view: %v, want %v\n%s", got, tc.holds, activity)
			}
		})
	}
}

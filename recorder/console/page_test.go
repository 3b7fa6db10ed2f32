package console

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// recordStatements writes one closed session in which identity runs each
// text on target, and returns its id.
func (f *fixture) recordStatements(key ed25519.PrivateKey, identity, target string, texts ...string) string {
	f.t.Helper()
	st, emit := f.open(key, time.Now().UTC().Add(-time.Hour))
	emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000"})
	emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: identity, Principals: []string{target + ":" + identity},
		KeyFacts: event.KeyFacts{KeyID: identity, Serial: 4242, KeyFingerprint: "SHA256:" + identity},
		Identity: event.Identity{Subject: identity, Issuer: identity, Agent: identity, DelegatedBy: identity}})
	emit(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: target})
	emit(event.TypeDBSessionStart, event.DBSessionStart{Channel: 1, Target: target, Role: identity, Database: identity})
	for _, text := range texts {
		s := event.DBStatement{Channel: 1, Text: text, Decision: event.Deny, DurationMS: 1.5}
		if len(text) < 100 { // the other fields are never long
			s.Kinds, s.Rule, s.Error, s.Masked = []string{text}, text, text, []string{text}
		}
		emit(event.TypeDBStatement, s)
	}
	emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1})
	if err := st.Close(); err != nil {
		f.t.Fatal(err)
	}
	return st.ID
}

func (f *fixture) withKey() ed25519.PrivateKey {
	key := newKey(f.t)
	f.console.cfg.Keys = []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	return key
}

// TestSessionPageEscapesRecordedText: statements, identities, targets and
// errors from the attack corpus appear on the session page only as text,
// controls escaped; a long statement is cut with its length shown.
func TestSessionPageEscapesRecordedText(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	long := "SELECT '" + strings.Repeat("x", 10<<10) + "'"
	for _, attack := range attacks {
		t.Run(recorder.Printable(attack), func(t *testing.T) {
			id := f.recordStatements(key, attack, attack, attack, long)
			c := f.loggedIn(auditorClaims)
			resp := f.get(c, "/sessions/"+id)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, resp.body)
			}
			for _, bad := range []string{"<script", "<img", "\u202e", "\u200b", "\ufeff", "\x1b", "\u3164", "\r"} {
				if strings.Contains(resp.body, bad) {
					t.Errorf("the page holds %q raw", bad)
				}
			}
			text := html.UnescapeString(resp.body)
			if shown := recorder.Printable(attack); strings.Count(text, shown) < 8 {
				t.Errorf("the page shows %q as %q fewer than 8 times (identity, agent, issuer, subject, target, role, statement, rule, error, masked)", attack, shown)
			}
			if strings.Contains(text, long[:maxShownText+1]) || !strings.Contains(text, fmt.Sprintf("cut: %d bytes in all", len(long))) {
				t.Error("the long statement is not cut with its length shown")
			}
			if !strings.Contains(text, "Verification: verified") || !strings.Contains(text, "4242") {
				t.Errorf("verification or serial missing:\n%s", text)
			}
		})
	}
	views := f.activity.of(event.TypeConsoleView)
	if last := views[len(views)-1].(event.ConsoleView); !strings.HasPrefix(last.Path, "/sessions/") || last.Rows != 2 {
		t.Errorf("the session view is recorded as %+v", last)
	}
}

// TestSessionPageShowsTampering: each alteration verify detects shows as
// FAILED (or INCOMPLETE) with what is wrong and the first failing
// sequence number that verify names.
func TestSessionPageShowsTampering(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	c := f.loggedIn(auditorClaims)
	for _, tc := range []struct {
		name   string
		tamper func(lines [][]byte, manifest string) [][]byte
		status string
	}{
		{"a statement altered", func(lines [][]byte, _ string) [][]byte {
			lines[5] = bytes.Replace(lines[5], []byte("DROP"), []byte("DRIP"), 1)
			return lines
		}, "FAILED"},
		{"a line removed", func(lines [][]byte, _ string) [][]byte { return append(lines[:3], lines[4:]...) }, "FAILED"},
		{"manifest removed", func(lines [][]byte, manifest string) [][]byte { os.Remove(manifest); return lines }, "INCOMPLETE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := f.recordStatements(key, "alice", "orders", "SELECT 1", "DROP TABLE t")
			path := filepath.Join(f.store.Dir, recorder.KindSession, id+".jsonl")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := tc.tamper(recorder.SplitLines(data), filepath.Join(f.store.Dir, recorder.KindSession, id+".manifest.json"))
			if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
			_, verr := recorder.VerifyStored(f.store, recorder.KindSession, id, f.console.cfg.Keys...)
			if verr == nil {
				t.Fatal("verify does not detect the tampering")
			}
			text := html.UnescapeString(f.get(c, "/sessions/"+id).body)
			if !strings.Contains(text, "Verification: "+tc.status) || !strings.Contains(text, verr.Error()) {
				t.Errorf("the page does not show %s with %q:\n%s", tc.status, verr, text)
			}
			var ve *recorder.VerifyError
			if errors.As(verr, &ve) && ve.Line > 0 && !ve.Incomplete &&
				!strings.Contains(text, fmt.Sprintf("First failing sequence number: %d (line %d)", ve.Seq, ve.Line)) {
				t.Errorf("the page does not name seq %d:\n%s", ve.Seq, text)
			}
		})
	}
}

// TestRawRecording: /sessions/ID/raw is the stored bytes, as a download,
// and is recorded; ids that could leave the store's directory are not
// read.
func TestRawRecording(t *testing.T) {
	f := newFixture(t, 0)
	id := f.recordStatements(f.withKey(), "alice", "orders", "SELECT 1")
	c := f.loggedIn(auditorClaims)
	resp := f.get(c, "/sessions/"+id+"/raw")
	want, _ := os.ReadFile(filepath.Join(f.store.Dir, recorder.KindSession, id+".jsonl"))
	if resp.StatusCode != http.StatusOK || resp.body != string(want) {
		t.Fatalf("raw: %d, body equal: %v", resp.StatusCode, resp.body == string(want))
	}
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/x-ndjson" || !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Type %q, Content-Disposition %q", ct, cd)
	}
	exports := f.activity.of(event.TypeConsoleExport)
	if len(exports) != 1 || exports[0].(event.ConsoleExport).Format != "raw" {
		t.Errorf("console.export: %+v", exports)
	}
	for _, bad := range []string{"..%2Fsession%2F" + id, "..", "%2e%2e", "x%00"} {
		if resp := f.get(c, "/sessions/"+bad+"/raw"); resp.StatusCode == http.StatusOK {
			t.Errorf("/sessions/%s/raw: 200", bad)
		}
	}
}

// TestSessionPageShowsGrants: the session page says under which grants
// (the certificate's principals at auth.success) the session ran, next to
// its access request's link, each grant as text with controls escaped.
func TestSessionPageShowsGrants(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	c := f.loggedIn(auditorClaims)
	for _, tc := range []struct {
		name       string
		principals []string
		request    string
		want       string // the grants paragraph, unescaped
	}{
		{"one grant", []string{"orders:readonly"}, "", "Under the grant of its certificate, as recorded at login: orders:readonly."},
		{"two grants under a request", []string{"orders:readonly", "billing:admin"}, "req-7",
			"Under the grants of its certificate, as recorded at login: orders:readonly, billing:admin."},
		{"none", nil, "", "Under the grants of its certificate, as recorded at login: none."},
		{"attack", []string{"<script>alert(1)</script>:\u202eevil\x1b[2J"}, "", "Under the grant of its certificate, as recorded at login: " +
			recorder.Printable("<script>alert(1)</script>:\u202eevil\x1b[2J") + "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, emit := f.open(key, time.Now().UTC().Add(-time.Hour))
			emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:5000"})
			emit(event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: "alice", Principals: tc.principals,
				KeyFacts: event.KeyFacts{KeyID: "alice", Serial: 7}, Identity: event.Identity{Subject: "s", Issuer: "i", RequestID: tc.request}})
			emit(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected"})
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			resp := f.get(c, "/sessions/"+st.ID)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, resp.body)
			}
			for _, bad := range []string{"<script", "\u202e", "\x1b"} {
				if strings.Contains(resp.body, bad) {
					t.Errorf("the page holds %q raw", bad)
				}
			}
			_, p, _ := strings.Cut(resp.body, `<p class="grants">`)
			p, _, _ = strings.Cut(p, "</p>")
			if got := html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(p, "")); got != tc.want {
				t.Errorf("grants %q, want %q", got, tc.want)
			}
			if tc.request != "" && !strings.Contains(resp.body, `<a href="/requests?id=`+tc.request+`">`) {
				t.Error("the request's link is gone")
			}
		})
	}
}

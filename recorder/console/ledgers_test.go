package console

import (
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestCutSessionFailsAsVerifySays: a closed session whose manifest was
// deleted looks, to the recorder's key alone, like one still open; its
// ledger saw it closed, so `gatehouse verify` fails it, and so must the
// session page and the overview (with the index and without), while a
// session really still open stays incomplete.
func TestCutSessionFailsAsVerifySays(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		t.Run(map[bool]string{false: "store", true: "index"}[indexed], func(t *testing.T) {
			f := newFixture(t, 0)
			key := f.withKey()
			rec := &recorder.Recorder{Store: f.store, Signer: key, Clock: func() time.Time { return time.Now().UTC() }}
			if err := rec.OpenLedger(); err != nil {
				t.Fatal(err)
			}
			cut := recordShortSession(t, rec)
			open, err := rec.Open(recorder.KindSession)
			if err != nil {
				t.Fatal(err)
			}
			if err := open.Emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "10.0.0.2:1"}); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(f.store.Dir, recorder.KindSession, cut+".manifest.json")); err != nil {
				t.Fatal(err)
			}
			if indexed {
				f.useIndex()
			}
			c := f.loggedIn(auditorClaims)

			page := html.UnescapeString(f.get(c, "/sessions/"+cut).body)
			for _, want := range []string{"Verification: FAILED", "records the stream closed with", "it was cut and its manifest removed"} {
				if !strings.Contains(page, want) {
					t.Errorf("the cut session's page lacks %q:\n%s", want, page)
				}
			}
			if page := f.get(c, "/sessions/"+open.ID).body; !strings.Contains(page, "Verification: INCOMPLETE") {
				t.Errorf("the open session's page is not INCOMPLETE:\n%s", page)
			}

			body := f.get(c, "/").body
			rows := strings.Join(exceptionRows(body), "\n")
			if !strings.Contains(rows, exFailed+" "+cut) || !strings.Contains(html.UnescapeString(body), "it was cut and its manifest removed") {
				t.Errorf("the overview does not fail the cut session:\n%s", rows)
			}
			if !strings.Contains(rows, exIncomplete+" "+open.ID) {
				t.Errorf("the overview does not list the open session as incomplete:\n%s", rows)
			}
			if failed, incomplete := countCell(t, body, "failed"), countCell(t, body, "incomplete"); failed != 1 || incomplete != 1 {
				t.Errorf("the overview counts %d failed, %d incomplete; want 1, 1", failed, incomplete)
			}
		})
	}
}

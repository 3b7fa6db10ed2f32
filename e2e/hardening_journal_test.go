//go:build servers

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// testHardeningJournal: gatehouse is killed (-9) under load from many
// sessions, and then the open streams' own files lose what a crash of the
// machine loses of files nobody synced (here: everything after their
// first line). Their lines were made durable by the journal's group
// commit, not by fsyncs of their own, so after the restart every
// statement a client was answered, and every statement PostgreSQL's own
// log shows it ran, has its decision in the recordings, and every stream
// verifies.
func testHardeningJournal(t *testing.T, w *world, alice profile) {
	pw := newPGS3World(t, testenv.StartMinIO(t), w.pg, "journal", "")
	const sessions = 8
	acked := make([]int, sessions) // statements answered, per session
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range sessions {
		conn, closeTunnel := pw.tunnel(t)
		defer closeTunnel()
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := conn.Exec(context.Background(), journalStatement(i, j)); err != nil {
					return // the kill
				}
				acked[i] = j + 1
			}
		})
	}
	time.Sleep(3 * time.Second)
	if err := pw.proc.Kill(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	cut := pw.loseUnsyncedTails(t)
	if len(cut) < sessions {
		t.Fatalf("cut %d open streams, want at least the %d sessions'", len(cut), sessions)
	}

	pw.waitReady(pw.serve())
	ids := pw.waitAllUploaded(t, 2*time.Minute)
	pw.verifyAll(t, ids)
	mustContain(t, "server log after the restart", pw.serverLog(), "recording completed from the journal")
	decided := map[string]bool{}
	for _, ev := range pw.events(t, ids, "db.decision") {
		decided[ev.Text] = decided[ev.Text] || ev.Decision == "allow"
	}
	total := 0
	for i, n := range acked {
		total += n
		for j := range n {
			if !decided[journalStatement(i, j)] {
				t.Fatalf("session %d: %q was answered, but its decision is not in the recordings after the crash", i, journalStatement(i, j))
			}
		}
		// The statement in flight at the kill: if the database ran it,
		// its decision was durable first.
		if inFlight := journalStatement(i, n); w.databaseSaw(t, inFlight) && !decided[inFlight] {
			t.Errorf("session %d: PostgreSQL ran %q, but its decision is not in the recordings", i, inFlight)
		}
	}
	if total < sessions {
		t.Fatalf("only %d statements answered before the kill; the load did not run", total)
	}
	t.Logf("%d statements of %d sessions answered before the kill; %d streams cut back", total, sessions, len(cut))
}

func journalStatement(session, n int) string {
	return fmt.Sprintf("SELECT 'journal-%d-%d'", session, n)
}

// loseUnsyncedTails cuts every stream the killed gatehouse left open
// (no manifest) back to its first line, as a crash of the machine can
// cut a file whose lines were never synced; it returns their paths.
func (w *pgS3World) loseUnsyncedTails(t *testing.T) []string {
	t.Helper()
	var cut []string
	for _, kind := range []string{recorder.KindSession, recorder.KindCA, recorder.KindLedger} {
		streams, _ := filepath.Glob(filepath.Join(w.dataDir, "recordings", kind, "*.jsonl"))
		for _, path := range streams {
			if _, err := os.Stat(strings.TrimSuffix(path, ".jsonl") + ".manifest.json"); err == nil {
				continue // closed: synced before its manifest was written
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			if err := os.Truncate(path, int64(len(first)+1)); err != nil {
				t.Fatal(err)
			}
			cut = append(cut, path)
		}
	}
	return cut
}

//go:build servers

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// testPipelineFloods: a client that pipelines without Sync after an error
// can make gatehouse neither remember without bound nor record an event
// for every few bytes it sends (issue 12, items 20 and 21).
func testPipelineFloods(t *testing.T, w *world, p profile) {
	t.Run("skipped Executes are recorded once, with a count", func(t *testing.T) {
		before := w.sessionIDs(t)
		port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
		defer stop()
		s := newRawSession(t, port, "readonly")
		msgs := []pgproto3.FrontendMessage{execute("no_such_portal")}
		for range 500 {
			msgs = append(msgs, execute(""))
		}
		r := s.round(append(msgs, syncMsg)...)
		if len(r.errors) != 1 || !strings.HasPrefix(r.errors[0], "34000") {
			t.Fatalf("want one 34000 error for the missing portal: %s", r)
		}
		s.conn.Close(context.Background())
		stop() // the SSH connection is the recorded session
		skipped := 0
		for _, ev := range w.newSessionEvents(t, before) {
			if ev.Type == "db.statement" && strings.Contains(string(ev.Data), `"outcome":"skipped"`) {
				skipped++
				mustContain(t, "the skipped record", string(ev.Data), `"skipped_also":499`)
			}
		}
		if skipped != 1 {
			t.Fatalf("%d skipped records for one run of 500 skipped Executes, want 1", skipped)
		}
	})
	t.Run("messages awaiting answers are bounded", func(t *testing.T) {
		port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
		defer stop()
		s := newRawSession(t, port, "readonly")
		s.fe.Send(execute("no_such_portal"))
		for range 300_000 { // ≈ 2 MB of Close messages, and no Sync
			s.fe.Send(&pgproto3.Close{ObjectType: 'S', Name: "x"})
		}
		go s.fe.Flush() // may never finish: gatehouse stops reading
		s.conn.Conn().SetReadDeadline(time.Now().Add(60 * time.Second))
		var got []string
		for {
			msg, err := s.fe.Receive()
			if err != nil {
				break
			}
			if e, ok := msg.(*pgproto3.ErrorResponse); ok {
				got = append(got, fmt.Sprintf("%s %s %s", e.Severity, e.Code, e.Message))
			}
		}
		want := "FATAL 54000 gatehouse: more than 262144 messages are waiting for the database's answers"
		if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], want) {
			t.Fatalf("errors %q; want the last to start %q", got, want)
		}
		// The bastion still serves.
		out, err := psqlAs(t, port, "readonly", "", "-c", "SELECT 1")
		if err != nil || out != "1" {
			t.Fatalf("after the flood: %q, %v", out, err)
		}
	})
}

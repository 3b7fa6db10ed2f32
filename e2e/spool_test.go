//go:build servers

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

// TestRecordingsLoseNothing: recordings to S3 survive the store going away
// and gatehouse being killed, and a spool that cannot take more refuses
// new sessions and statements instead of dropping events. The subtests
// share one MinIO and one PostgreSQL; each has its own gatehouse and
// bucket.
func TestRecordingsLoseNothing(t *testing.T) {
	requireTools(t, "ssh", "ssh-keygen")
	m := testenv.StartMinIO(t)
	pg := testenv.StartPostgres(t)
	pg.Exec(t, fmt.Sprintf("CREATE ROLE app_owner LOGIN PASSWORD '%s'", appOwnerPassword))
	pg.Exec(t, "CREATE DATABASE orders OWNER app_owner")
	t.Run("spool full with the store down", func(t *testing.T) { testSpoolFull(t, m, pg) })
	t.Run("gatehouse killed mid-session", func(t *testing.T) { testKilledMidSession(t, m, pg) })
	t.Run("store down for 60s under 20 sessions", func(t *testing.T) { testStoreOutage(t, m, pg) })
}

// pgS3World is an s3World with a PostgreSQL target, orders:readonly.
type pgS3World struct {
	*s3World
	m      *testenv.MinIO
	pg     *testenv.Postgres
	bucket string
	id     sshClient // certified for orders:readonly
}

func newPGS3World(t *testing.T, m *testenv.MinIO, pg *testenv.Postgres, bucket, recording string) *pgS3World {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "app_owner_password")
	if err := os.WriteFile(pwFile, []byte(appOwnerPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// 20 sessions of one certificate at once (the spool's load test):
	// over the default limit per certificate, which has its own test.
	targets := fmt.Sprintf(`  orders:
    protocol: postgres
    address: %s
    max_sessions_per_certificate: 25
    roles:
      readonly:
        credentials: {user: app_owner, password_file: %s}
        statements: readonly`, pg.Addr(), pwFile)
	top := "statements:\n  readonly:\n    allow: [select, show, set, transaction]\n"
	w := &pgS3World{m: m, pg: pg, bucket: bucket}
	w.s3World = newS3WorldWith(t, m, bucket, s3Extra{targets: targets, recording: recording, s3: "    chunk_interval: 1s", top: top})
	w.waitReady(w.serve())
	w.id = w.client("orders:readonly")
	return w
}

// tunnel opens `ssh -N -L` to orders and connects pgx through it; close
// ends both, and with ssh the session.
func (w *pgS3World) tunnel(t *testing.T) (conn *pgx.Conn, close func()) {
	t.Helper()
	// startTunnelVia needs only the world's PostgreSQL.
	local, stop := (&world{t: t, pg: w.pg}).startTunnelVia(t, w.id.config, "gatehouse", "orders")
	conn = pgxThrough(t, local, pgx.QueryExecModeSimpleProtocol)
	return conn, func() { conn.Close(context.Background()); stop() }
}

// health is GET /healthz: the status code and the body.
func (w *pgS3World) health(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(w.apiURL + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitHealth waits until /healthz answers code.
func (w *pgS3World) waitHealth(t *testing.T, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, body := w.health(t)
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d %s after %s, want %d\nserver log:\n%s", got, body, within, code, w.serverLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitAllUploaded waits until every session stream in the spool is closed
// and marked uploaded, and returns their ids.
func (w *pgS3World) waitAllUploaded(t *testing.T, within time.Duration) []string {
	t.Helper()
	spool := filepath.Join(w.dataDir, "recordings", recorder.KindSession)
	deadline := time.Now().Add(within)
	for {
		streams, _ := filepath.Glob(filepath.Join(spool, "*.jsonl"))
		var ids, waiting []string
		for _, s := range streams {
			id := strings.TrimSuffix(filepath.Base(s), ".jsonl")
			ids = append(ids, id)
			if _, err := os.Stat(filepath.Join(spool, id+s3store.UploadedSuffix)); err != nil {
				waiting = append(waiting, id)
			}
		}
		// Closed ledgers too: verify holds a recovered session to its.
		ledgers, _ := filepath.Glob(filepath.Join(w.dataDir, "recordings", recorder.KindLedger, "*.manifest.json"))
		for _, l := range ledgers {
			if _, err := os.Stat(strings.TrimSuffix(l, ".manifest.json") + s3store.UploadedSuffix); err != nil {
				waiting = append(waiting, "ledger "+filepath.Base(l))
			}
		}
		if len(waiting) == 0 && len(ids) > 0 {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("not uploaded after %s: %v\nserver log:\n%s", within, waiting, w.serverLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// statements reads the bucket's copy of every session and returns the
// texts of its db.statement events with their decision and rule.
func (w *pgS3World) statements(t *testing.T, ids []string) []dbStatementRecord {
	t.Helper()
	return w.events(t, ids, "db.statement")
}

// events reads the bucket's copy of every session and returns its events
// of type typ.
func (w *pgS3World) events(t *testing.T, ids []string, typ event.Type) []dbStatementRecord {
	t.Helper()
	c, err := s3store.Dial(s3store.Config{Endpoint: w.m.Endpoint, Bucket: w.bucket, AccessKey: w.m.AccessKey, SecretKey: w.m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	var all []dbStatementRecord
	for _, id := range ids {
		lines, err := c.Lines(recorder.KindSession, id)
		if err != nil {
			t.Fatalf("read %s from S3: %v", id, err)
		}
		for _, line := range lines {
			ev, err := recorder.Decode(line)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			var st dbStatementRecord
			if ev.Type == typ && ev.DecodeData(&st) == nil {
				all = append(all, st)
			}
		}
	}
	return all
}

type dbStatementRecord struct {
	Text     string `json:"text"`
	Decision string `json:"decision"`
	Rule     string `json:"rule"`
}

// verifyAll runs `gatehouse verify --since 1h` against the bucket and
// wants every session verified, those of ids among them.
func (w *pgS3World) verifyAll(t *testing.T, ids []string) {
	t.Helper()
	out, err := w.command("verify", "--config", w.cfgPath, "--since", "1h").CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse verify --since 1h: %v\n%s", err, out)
	}
	mustContain(t, "verify --since", string(out), " verified, 0 incomplete, 0 failed")
	for _, id := range ids {
		mustContain(t, "verify --since", string(out), "OK          "+id)
	}
}

// testSpoolFull: with the store down and a small spool_max_bytes, a
// session's statements are accepted until the spool is full, then refused
// with the documented message, as are new sessions; /healthz says why.
// When the store returns, everything drains and every accepted and
// refused statement is in the bucket.
func testSpoolFull(t *testing.T, m *testenv.MinIO, pg *testenv.Postgres) {
	w := newPGS3World(t, m, pg, "spool-full", "  spool_max_bytes: 16384")
	ctx := context.Background()
	conn, closeSession := w.tunnel(t)
	if _, err := conn.Exec(ctx, "SELECT 'full-0'"); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	storeUp := false
	defer func() {
		if !storeUp {
			m.Restart(t)
		}
	}()
	accepted := 1
	for ; ; accepted++ {
		_, err := conn.Exec(ctx, fmt.Sprintf("SELECT 'full-%d', repeat('x', 400)", accepted))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			if pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "gatehouse: statement refused: "+recorder.SummarySpoolFull) {
				t.Fatalf("refusal = %s %q, want 42501 and the documented message", pgErr.Code, pgErr.Message)
			}
			break
		}
		if err != nil {
			t.Fatalf("statement %d: %v", accepted, err)
		}
		if accepted > 1000 {
			t.Fatalf("1000 statements accepted past a spool_max_bytes of 16384 with the store down")
		}
	}
	code, body := w.health(t)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz with the spool full = %d %s, want 503", code, body)
	}
	var h struct{ Status, Summary, Reason string }
	if err := json.Unmarshal([]byte(body), &h); err != nil || h.Summary != recorder.SummarySpoolFull ||
		!strings.Contains(h.Reason, "spool_max_bytes (16384)") {
		t.Errorf("/healthz body %s: %v", body, err)
	}

	// A new session is refused with the documented message.
	out, err := runWithTimeout(w.ssh(w.id, "-W", fmt.Sprintf("orders:%d", pg.Port)), time.Minute)
	if err == nil {
		t.Errorf("ssh -W with the spool full succeeded:\n%s", out)
	}
	mustContain(t, "ssh -W with the spool full", out, "open failed", "gatehouse: session refused: "+recorder.SummarySpoolFull)

	m.Restart(t)
	storeUp = true
	w.waitHealth(t, http.StatusOK, time.Minute)
	if _, err := conn.Exec(ctx, "SELECT 'full-after'"); err != nil {
		t.Fatalf("statement after the store returned: %v", err)
	}
	closeSession()
	ids := w.waitAllUploaded(t, time.Minute)
	w.verifyAll(t, ids)
	got := map[string]string{}
	for _, st := range w.statements(t, ids) {
		got[st.Text] = st.Decision + " " + st.Rule
	}
	for i := range accepted {
		text := fmt.Sprintf("SELECT 'full-%d'", i)
		if i > 0 {
			text += ", repeat('x', 400)"
		}
		if !strings.HasPrefix(got[text], "allow") {
			t.Errorf("accepted statement %q recorded as %q", text, got[text])
		}
	}
	refused := fmt.Sprintf("SELECT 'full-%d', repeat('x', 400)", accepted)
	if got[refused] != "deny recording" || !strings.HasPrefix(got["SELECT 'full-after'"], "allow") {
		t.Errorf("refused statement recorded as %q, the one after as %q", got[refused], got["SELECT 'full-after'"])
	}
}

// testKilledMidSession: gatehouse is SIGKILLed while a session runs, after
// a chunk of it is in the bucket; started again, it closes the stream
// with a manifest that says so, uploads the rest, and verify passes and
// reports the abnormal end.
func testKilledMidSession(t *testing.T, m *testenv.MinIO, pg *testenv.Postgres) {
	w := newPGS3World(t, m, pg, "killed", "")
	ctx := context.Background()
	conn, _ := w.tunnel(t)
	const n = 5
	for i := range n {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT 'killed-%d'", i)); err != nil {
			t.Fatal(err)
		}
	}
	id := w.streamWith(t, "killed-0")
	progress := filepath.Join(w.dataDir, "recordings", recorder.KindSession, id+s3store.ProgressSuffix)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(progress); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no chunk of the open session uploaded after 30s\n%s", w.serverLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := w.proc.Kill(); err != nil {
		t.Fatal(err)
	}
	w.waitReady(w.serve())
	ids := w.waitAllUploaded(t, time.Minute)
	out := w.run("verify", "--config", w.cfgPath, id)
	mustContain(t, "verify of the killed session", out, "OK          "+id, "ended: "+recorder.EndRecovered, "ABNORMAL END")
	mustContain(t, "server log after the restart", w.serverLog(), "recording recovered", id)
	w.verifyAll(t, ids)
	count := 0
	for _, st := range w.statements(t, []string{id}) {
		if strings.HasPrefix(st.Text, "SELECT 'killed-") {
			count++
		}
	}
	if count != n {
		t.Errorf("%d statements of the killed session in the bucket, want %d", count, n)
	}
	// Each went ahead with a durable decision to allow it (db.decision).
	decided := map[string]bool{}
	for _, ev := range w.events(t, []string{id}, "db.decision") {
		decided[ev.Text] = ev.Decision == "allow"
	}
	for i := range n {
		if text := fmt.Sprintf("SELECT 'killed-%d'", i); !decided[text] {
			t.Errorf("no db.decision allowing %q", text)
		}
	}
}

// streamWith finds the session stream in the spool that holds text.
func (w *pgS3World) streamWith(t *testing.T, text string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		streams, _ := filepath.Glob(filepath.Join(w.dataDir, "recordings", recorder.KindSession, "*.jsonl"))
		for _, s := range streams {
			if data, _ := os.ReadFile(s); strings.Contains(string(data), text) {
				return strings.TrimSuffix(filepath.Base(s), ".jsonl")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session stream holds %q", text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testStoreOutage: MinIO is stopped for 60 seconds while 20 sessions run
// queries, then started again: the spool absorbs it all (/healthz stays
// 200), nothing is lost, and every session verifies from the bucket.
func testStoreOutage(t *testing.T, m *testenv.MinIO, pg *testenv.Postgres) {
	w := newPGS3World(t, m, pg, "outage", "")
	ctx := context.Background()
	const sessions = 20
	conns := make([]*pgx.Conn, sessions)
	closers := make([]func(), sessions)
	ran := make([]int, sessions)
	for i := range conns {
		conns[i], closers[i] = w.tunnel(t)
	}
	round := func() {
		var wg sync.WaitGroup
		for i, conn := range conns {
			wg.Go(func() {
				if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT 'outage-%d-%d'", i, ran[i])); err != nil {
					t.Errorf("session %d, query %d: %v", i, ran[i], err)
					return
				}
				ran[i]++
			})
		}
		wg.Wait()
	}
	round()
	m.Stop()
	restarted := false
	defer func() {
		if !restarted {
			m.Restart(t)
		}
	}()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		round()
	}
	if code, body := w.health(t); code != http.StatusOK {
		t.Errorf("/healthz during the outage = %d %s; the spool should absorb it", code, body)
	}
	m.Restart(t)
	restarted = true
	round()
	for _, close := range closers {
		close()
	}
	ids := w.waitAllUploaded(t, 2*time.Minute)
	w.verifyAll(t, ids)
	got := map[string]bool{}
	for _, st := range w.statements(t, ids) {
		got[st.Text] = st.Decision == "allow"
	}
	lost := 0
	for i := range sessions {
		for q := range ran[i] {
			if !got[fmt.Sprintf("SELECT 'outage-%d-%d'", i, q)] {
				lost++
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of the statements run are not in the bucket", lost)
	}
	t.Logf("%d sessions ran %d statements in all; all are in the bucket", sessions, sum(ran))
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

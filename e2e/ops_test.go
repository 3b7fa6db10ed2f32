//go:build servers

package e2e

import (
	"bufio"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/syncbuf"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

// opsDrainTimeout is ssh.drain_timeout in TestOps: short, so that the
// drain's end comes within the test.
const opsDrainTimeout = 3 * time.Second

// opsConfig is a world with one target and its own operations endpoint.
const opsConfig = `
data_dir: %s
ssh:
  listen: %s
  drain_timeout: 3s
ca:
  listen: %s
identity:
  oidc:
    issuer: %s
    client_id: %s
ops:
  listen: %s
targets:
  orders:
    protocol: postgres
    address: %s
    roles:
      readonly:
        credentials: {user: app_owner, password_file: %s}
        statements: readonly
grants:
  - groups: [engineering]
    allow: [orders:readonly]
statements:
  readonly:
    allow: [select]
`

// TestOps: the operations endpoint of `gatehouse serve` answers the
// Prometheus text format and its counters follow what the test does; on
// SIGTERM the server drains: /readyz fails at once, new SSH connections
// are refused, a live psql session goes on until ssh.drain_timeout and is
// then ended, the process exits 0, and the recording verifies and says
// why the session ended.
func TestOps(t *testing.T) {
	requireTools(t, "ssh", "ssh-keygen", "psql")
	w, opsURL := newOpsWorld(t)

	if code, body := getStatus(t, opsURL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz of a server that is up = %d %s", code, body)
	}
	if code, body := getStatus(t, w.apiURL+"/healthz"); code != http.StatusOK {
		t.Fatalf("the certificate API's /healthz = %d %s", code, body)
	}
	before := scrape(t, opsURL)
	alice := testLoginAuthCode(t, w)
	port, _ := w.startTunnel(t, w.sshConfig(alice), "orders")

	after := waitMetric(t, opsURL, "gatehouse_sessions_active", nil, 1)
	if got, want := value(after, "gatehouse_certificates_issued_total", nil), value(before, "gatehouse_certificates_issued_total", nil)+1; got != want {
		t.Errorf("certificates issued: %v after a login, want %v", got, want)
	}
	// A request with a token the IdP never issued is refused, and counted.
	refused := map[string]string{"code": "invalid_token"}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"public_key":%q}`, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub))))
	req, err := http.NewRequest(http.MethodPost, w.apiURL+"/v1/certificates", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer not-a-token")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode < 400 {
		t.Fatalf("a made-up token got a certificate: %s", resp.Status)
	}
	waitMetric(t, opsURL, "gatehouse_certificates_refused_total", refused, value(before, "gatehouse_certificates_refused_total", refused)+1)

	deny := map[string]string{"decision": "deny"}
	allow := map[string]string{"decision": "allow"}
	if _, err := psql(t, port, "DELETE FROM customers"); err == nil {
		t.Fatal("DELETE under a select-only role went through")
	}
	if got, err := psql(t, port, "SELECT count(*) FROM customers"); err != nil || got != "1" {
		t.Fatalf("SELECT through the tunnel: %q, %v", got, err)
	}
	now := waitMetric(t, opsURL, "gatehouse_statements_total", deny, value(after, "gatehouse_statements_total", deny)+1)
	if got, want := value(now, "gatehouse_statements_total", allow), value(after, "gatehouse_statements_total", allow)+1; got < want {
		t.Errorf("statements allowed: %v, want at least %v", got, want)
	}
	if got := value(now, "gatehouse_channels_opened_total", nil); got < 2 {
		t.Errorf("channels opened: %v after two psql runs", got)
	}
	for _, name := range []string{"gatehouse_statement_duration_seconds", "gatehouse_recorder_commit_duration_seconds", "gatehouse_recorder_commit_records"} {
		if h := now[name]; h == nil || len(h.Metric) != 1 || h.Metric[0].GetHistogram().GetSampleCount() == 0 {
			t.Errorf("histogram %s has no samples: %v", name, h)
		}
	}
	for _, name := range []string{"gatehouse_spool_backlog_bytes", "gatehouse_upload_lag_seconds", "gatehouse_access_requests_pending", "gatehouse_revocations", "go_goroutines", "process_open_fds"} {
		if now[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	testDrain(t, w, opsURL, port)
}

// testDrain sends SIGTERM with a live psql session through the tunnel.
func testDrain(t *testing.T, w *world, opsURL string, port int) {
	live := startPsql(t, port)
	live.query(t, "SELECT 1", "1")

	sent := time.Now()
	if err := w.server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "/readyz to fail after SIGTERM", func() bool {
		code, _ := getStatus(t, opsURL+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	within(t, time.Second, "new SSH connections to be refused", func() bool { return !tcpUp(w.sshAddr) })
	if code, _ := getStatus(t, opsURL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining = %d, want 200: the process is alive", code)
	}
	// The live session goes on during the drain.
	live.query(t, "SELECT 2", "2")
	if time.Since(sent) >= opsDrainTimeout {
		t.Fatalf("the checks took longer than the drain timeout %v: the test proves nothing", opsDrainTimeout)
	}

	select {
	case <-w.serverDone:
	case <-time.After(opsDrainTimeout + 30*time.Second):
		t.Fatalf("gatehouse serve still running %v after SIGTERM\n%s", time.Since(sent), w.serverLog())
	}
	if took := time.Since(sent); took < opsDrainTimeout {
		t.Errorf("serve exited %v after SIGTERM, before the drain timeout %v ended the live session", took, opsDrainTimeout)
	}
	if w.serverErr != nil {
		t.Fatalf("gatehouse serve exited with %v after a drain, want 0\n%s", w.serverErr, w.serverLog())
	}
	if out := live.finish(t, "SELECT 3"); !strings.Contains(out, "server draining") {
		t.Errorf("psql after the drain said %q; want the drain named", out)
	}

	id := drainedSession(t, w)
	out := w.gatehouse("verify", "--config", w.cfgPath, id)
	mustContain(t, "verify", out, id)
}

// drainedSession is the tunnel's session, ended by the drain; it checks
// that no other session ended so.
func drainedSession(t *testing.T, w *world) string {
	t.Helper()
	var found []string
	for id := range w.sessionIDs(t) {
		evs := w.sessionEvents(t, id)
		if len(evs) == 0 {
			t.Fatalf("session %s recorded nothing", id)
		}
		last := evs[len(evs)-1]
		if last.Type != event.TypeSessionEnd {
			t.Fatalf("session %s ends with %s", id, last.Type)
		}
		if strings.Contains(string(last.Data), `"reason":"gatehouse: session ended: server draining"`) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d sessions ended by the drain (%v), want the tunnel's", len(found), found)
	}
	return found[0]
}

// newOpsWorld starts PostgreSQL, the IdP (alice, and carol who approves
// access requests in TestReplicas) and `gatehouse serve` with opsConfig,
// and returns the world with the operations endpoint's URL.
func newOpsWorld(t *testing.T) (*world, string) {
	w := &world{t: t, bin: gatehouseBinary(t), dataDir: t.TempDir()}
	w.pg = testenv.StartPostgres(t)
	w.pg.Exec(t, fmt.Sprintf("CREATE ROLE app_owner LOGIN PASSWORD '%s'", appOwnerPassword))
	w.pg.Exec(t, "CREATE DATABASE orders OWNER app_owner")
	w.execIn("orders", `SET ROLE app_owner;
		CREATE TABLE customers (id int PRIMARY KEY, email text);
		INSERT INTO customers VALUES (1, 'ada@example.com');`)
	ownerPW := filepath.Join(w.dataDir, "app_owner_password")
	if err := os.WriteFile(ownerPW, []byte(appOwnerPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w.serve([]testenv.IdPUser{alice, carol}, func(apiAddr string) string {
		return fmt.Sprintf(opsConfig, w.dataDir, w.sshAddr, apiAddr, w.idp.Issuer, w.idp.ClientID, opsAddr, w.pg.Addr(), ownerPW)
	})
	return w, "http://" + opsAddr
}

// scrape reads /metrics with the Prometheus text parser.
func scrape(t *testing.T, opsURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse as the Prometheus text format: %v", err)
	}
	return families
}

// value is the value of the counter or gauge of a family whose labels
// include labels; 0 when there is none (a vector not yet touched).
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := families[name]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		if hasLabels(m, labels) {
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// waitMetric scrapes until a metric reaches want (metrics move a moment
// after what they count is recorded) and returns that scrape.
func waitMetric(t *testing.T, opsURL, name string, labels map[string]string, want float64) map[string]*dto.MetricFamily {
	t.Helper()
	var families map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		families = scrape(t, opsURL)
		got := value(families, name, labels)
		if got == want {
			return families
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// within polls cond until it holds, for at most d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// livePsql is one psql process, one database session, fed statements on
// its standard input.
type livePsql struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  <-chan string
	stderr *syncbuf.Buffer
	done   chan error
}

func startPsql(t *testing.T, port int) *livePsql {
	t.Helper()
	conn := fmt.Sprintf("host=127.0.0.1 port=%d user=readonly dbname=orders sslmode=disable connect_timeout=10", port)
	p := &livePsql{cmd: exec.Command("psql", conn, "-X", "-A", "-t", "-q"), stderr: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	p.lines = lines
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
		}
	})
	return p
}

// query runs sql in the session and wants its one line of output.
func (p *livePsql) query(t *testing.T, sql, want string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, sql+";\n"); err != nil {
		t.Fatalf("psql: %v\n%s", err, p.stderr)
	}
	select {
	case got, ok := <-p.lines:
		if !ok || got != want {
			t.Fatalf("psql %q: got %q (open %v), want %q\n%s", sql, got, ok, want, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("psql %q: no answer in 10s\n%s", sql, p.stderr)
	}
}

// finish sends sql to a session that should be over, and returns what
// psql said on its standard error once it exited.
func (p *livePsql) finish(t *testing.T, sql string) string {
	t.Helper()
	io.WriteString(p.stdin, sql+";\n")
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("psql still running after its session ended\n%s", p.stderr)
	}
	return p.stderr.String()
}

// TestOpsDrainUploads: with recordings going to S3, a session that ends
// by itself during a drain lets serve exit 0 at once, without waiting
// for ssh.drain_timeout, and by then every stream of the spool (the
// session's, and the CA's, which closes last) is in the bucket and
// verifies from it.
func TestOpsDrainUploads(t *testing.T) {
	requireTools(t, "ssh", "ssh-keygen")
	m := testenv.StartMinIO(t)
	opsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w := newS3WorldWith(t, m, "drained", s3Extra{top: "ops:\n  listen: " + opsAddr})
	opsURL := "http://" + opsAddr
	exited := w.serve()
	w.waitReady(exited)
	mustContain(t, "ssh -W output", w.sshEcho(), "echo: hello through s3-recorded gatehouse")

	// A session with no channel stays open until its client leaves.
	idle := w.ssh(w.client("echo:direct"), "-N")
	if err := idle.Start(); err != nil {
		t.Fatal(err)
	}
	idleDone := make(chan error, 1)
	go func() { idleDone <- idle.Wait() }()
	t.Cleanup(func() { idle.Process.Kill(); <-idleDone })
	waitMetric(t, opsURL, "gatehouse_sessions_active", nil, 1)

	sent := time.Now()
	if err := w.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "/readyz to fail after SIGTERM", func() bool {
		code, _ := getStatus(t, opsURL+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	idle.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("gatehouse serve exited with %v after a drain, want 0\n%s", err, w.serverLog())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("gatehouse serve still running %v after SIGTERM, its only session gone\n%s", time.Since(sent), w.serverLog())
	}

	spool := filepath.Join(w.dataDir, "recordings")
	for _, kind := range []string{recorder.KindSession, recorder.KindCA} {
		manifests, _ := filepath.Glob(filepath.Join(spool, kind, "*.manifest.json"))
		if len(manifests) == 0 {
			t.Fatalf("no closed %s stream in the spool", kind)
		}
		for _, mf := range manifests {
			if _, err := os.Stat(strings.TrimSuffix(mf, ".manifest.json") + s3store.UploadedSuffix); err != nil {
				t.Errorf("%s: closed but not uploaded when serve exited", mf)
			}
		}
	}
	// verify reads the bucket: the spool is moved out of the way to prove it.
	if err := os.Rename(spool, spool+".moved"); err != nil {
		t.Fatal(err)
	}
	got := w.run("verify", "--config", w.cfgPath, "--since", "1h")
	mustContain(t, "verify --since from S3", got, " verified, 0 incomplete, 0 failed")
}

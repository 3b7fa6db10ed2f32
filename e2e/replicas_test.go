//go:build servers

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/ca/login"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

// balancerConfig is HAProxy in TCP mode in front of two replicas' SSH
// listeners, each checked on its operations endpoint's /readyz (so that a
// draining replica, or one that lost its state database, is taken out),
// with a stats page the test reads the servers' states from. Its
// arguments: the SSH frontend, the stats address, then each replica's
// SSH address and ops port.
const balancerConfig = `
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend ssh
  bind %s
  default_backend replicas
frontend stats
  mode http
  bind %s
  stats enable
  stats uri /stats
backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 300ms fall 1 rise 2
  server a %s check port %s
  server b %s check port %s
`

// balanced is two replicas behind HAProxy.
type balanced struct {
	a, b              *replica
	sshAddr, statsURL string
	// owner is the test the replicas run for: one restarted in a subtest
	// must outlive it.
	owner *testing.T
}

// startBalancer starts HAProxy in front of a and b and waits until it
// sees both up.
func startBalancer(t *testing.T, a, b *replica) *balanced {
	t.Helper()
	lb := &balanced{a: a, b: b, sshAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), owner: t}
	stats := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	lb.statsURL = "http://" + stats + "/stats;csv"
	port := func(u string) string { return u[strings.LastIndex(u, ":")+1:] }
	testenv.StartHAProxy(t, fmt.Sprintf(balancerConfig, lb.sshAddr, stats, a.sshAddr, port(a.opsURL), b.sshAddr, port(b.opsURL)), lb.sshAddr)
	for _, name := range []string{"a", "b"} {
		lb.await(t, name, "UP")
	}
	return lb
}

// state is the check state HAProxy gives server name ("UP", "DOWN", ...).
func (lb *balanced) state(t *testing.T, name string) string {
	t.Helper()
	_, body := getStatus(t, lb.statsURL)
	for line := range strings.Lines(body) {
		f := strings.Split(line, ",")
		if len(f) > 17 && f[0] == "replicas" && f[1] == name {
			return f[17]
		}
	}
	t.Fatalf("HAProxy's stats name no server %s:\n%s", name, body)
	return ""
}

// await waits until HAProxy's state of server name begins with want.
func (lb *balanced) await(t *testing.T, name, want string) {
	t.Helper()
	within(t, 15*time.Second, "HAProxy to see server "+name+" "+want, func() bool {
		return strings.HasPrefix(lb.state(t, name), want)
	})
}

// active is how many sessions each replica has open, read from /metrics.
func (lb *balanced) active(t *testing.T) (a, b float64) {
	t.Helper()
	return value(scrape(t, lb.a.opsURL), "gatehouse_sessions_active", nil), value(scrape(t, lb.b.opsURL), "gatehouse_sessions_active", nil)
}

// TestReplicas: two `gatehouse serve` replicas sharing one state database
// and one bucket behind a real HAProxy in TCP mode, which checks each
// one's /readyz. A certificate from A's API opens tunnels through the
// balancer on both; an access request filed through A and approved
// through B gives a certificate that works on both, and two approvals of
// one request at once give one decision; a revocation made against A
// ends the sessions on both within 5 s and both refuse the certificate
// after; with the state
// database down for 20 s issuance is refused, tunnels and the
// revocations made before hold, /readyz fails (HAProxy takes both out)
// and all recovers without a restart; SIGTERM to one makes HAProxy take
// it out while its live session runs until ssh.drain_timeout and ends
// for the drain, and new connections reach the other; kill -9 of one
// leaves the other serving, and the killed one recovers and uploads its
// recordings when restarted. Each replica's /metrics parses and moves.
// Every recording in the bucket verifies, stream ids never collide, and
// `gatehouse sessions` lists both replicas' sessions.
func TestReplicas(t *testing.T) {
	requireTools(t, "ssh", "ssh-keygen", "psql")
	w, _ := newOpsWorld(t)
	alice := testLoginAuthCode(t, w)
	w.pg.Exec(t, "CREATE DATABASE "+stateDB)
	// Every command below, the replicas included, inherits them.
	t.Setenv("GATEHOUSE_STATE_DSN", w.pg.DSN(stateDB, "", ""))
	m := testenv.StartMinIO(t)
	t.Setenv(s3AccessEnv, m.AccessKey)
	t.Setenv(s3SecretEnv, m.SecretKey)
	bucket := fmt.Sprintf(replicasRecording, m.Endpoint)
	a, b := w.writeReplicaConfig(t, "postgres", bucket), w.writeReplicaConfig(t, "postgres", bucket)
	w.startReplica(t, a)
	w.startReplica(t, b)
	lb := startBalancer(t, a, b)

	t.Run("a certificate from A's API opens tunnels through the balancer to both", func(t *testing.T) {
		testReplicasShareCertificates(t, w, alice, lb)
	})
	t.Run("an access request filed through A and approved through B works on both; two approvals at once give one decision", func(t *testing.T) {
		testReplicasAccessRequest(t, w, alice, lb)
	})
	t.Run("a revocation against A ends sessions on both and both refuse after", func(t *testing.T) {
		testReplicasRevoke(t, w, alice, lb)
	})
	t.Run("the state database down for 20 s: issuance refused, tunnels and revocations kept, /readyz fails and recovers", func(t *testing.T) {
		testReplicasStateOutage(t, w, alice, lb)
	})
	t.Run("SIGTERM: HAProxy takes the replica out, its session drains, new ones reach the other", func(t *testing.T) {
		testReplicasDrain(t, w, alice, lb)
	})
	t.Run("kill -9 of one: new connections reach the other; restarted, it recovers and uploads", func(t *testing.T) {
		testReplicasKill(t, w, alice, lb)
	})
	t.Run("every recording in the bucket verifies and sessions lists both replicas'", func(t *testing.T) {
		testReplicasBucket(t, w, lb)
	})
}

// replicasRecording is the replicas' one bucket, each uploading from its
// own spool.
const replicasRecording = `recording:
  store: s3
  s3:
    endpoint: %s
    bucket: replicas
    access_key_env: ` + s3AccessEnv + `
    secret_key_env: ` + s3SecretEnv + `
    retention: 1h
    mode: compliance
    create_bucket: true
    chunk_interval: 1s
`

func testReplicasShareCertificates(t *testing.T, w *world, alice profile, lb *balanced) {
	before := scrape(t, lb.a.opsURL)
	ag := w.mustAgentCert(t, profileOn(t, alice, lb.a.apiURL, lb.sshAddr), "balanced", "--grant", "orders:readonly")
	waitMetric(t, lb.a.opsURL, "gatehouse_certificates_issued_total", nil, value(before, "gatehouse_certificates_issued_total", nil)+1)
	opened := func(r *replica) float64 { return value(scrape(t, r.opsURL), "gatehouse_channels_opened_total", nil) }
	a0, b0 := opened(lb.a), opened(lb.b)
	// Round robin: of four connections, two reach each replica.
	for i := range 4 {
		port, stop := w.startTunnelVia(t, ag.sshConfig(t), ag.host(), "orders")
		if got, err := psql(t, port, "SELECT count(*) FROM customers"); err != nil || got != "1" {
			t.Fatalf("psql through the balancer, connection %d: %q, %v", i, got, err)
		}
		stop()
	}
	if da, db := opened(lb.a)-a0, opened(lb.b)-b0; da < 1 || db < 1 {
		t.Fatalf("channels opened through the balancer: %v on A, %v on B; want some on each", da, db)
	}
}

// loginVia logs p in as user (at the world's IdP) through replica r's
// certificate API.
func (w *world) loginVia(t *testing.T, p profile, user testenv.IdPUser, r *replica) {
	t.Helper()
	via := &world{t: t, bin: w.bin, apiURL: r.apiURL, idp: w.idp}
	if res := via.authCodeLogin(p, user); res.err != nil {
		t.Fatalf("%s's login through %s: %v\n%s", user.Username, r.apiURL, res.err, res.out)
	}
}

// caEvents counts the events of type typ whose line contains text in the
// CA recordings of r's spool.
func (r *replica) caEvents(t *testing.T, typ event.Type, text string) int {
	t.Helper()
	store := recorder.FileStore{Dir: filepath.Join(r.dataDir, "recordings")}
	ids, err := store.List(recorder.KindCA)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		lines, err := store.Lines(recorder.KindCA, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if ev, err := recorder.Decode(l); err == nil && ev.Type == typ && strings.Contains(string(l), text) {
				n++
			}
		}
	}
	return n
}

// approvalsOf is how many request.approved events for request id each
// replica's CA recordings hold.
func (lb *balanced) approvalsOf(t *testing.T, id string) (a, b int) {
	t.Helper()
	return lb.a.caEvents(t, event.TypeRequestApproved, id), lb.b.caEvents(t, event.TypeRequestApproved, id)
}

// testReplicasAccessRequest: alice files a request for orders:admin
// through A; carol (dba-leads) approves it through B; alice's next
// certificate, from A's API, carries it and opens orders as admin through
// each replica. A second request approved by carol through A and through
// B at once is decided once: one approval succeeds, the other is refused
// as decided, and one request.approved is recorded between the replicas.
func testReplicasAccessRequest(t *testing.T, w *world, alicep profile, lb *balanced) {
	a := profileOn(t, alicep, lb.a.apiURL, lb.sshAddr)
	c := w.newProfile("carol-replicas")
	w.loginVia(t, c, carol, lb.b)
	if cert := readCert(t, a.cert()); slices.Contains(cert.ValidPrincipals, "orders:admin") {
		t.Fatalf("orders:admin before any approval: %v", cert.ValidPrincipals)
	}
	id := w.fileRequest(t, a, "--grant", "orders:admin", "--reason", "INC-18: replicas", "--ttl", "15m")
	mustContain(t, "carol's pending requests through B", w.gatehouseAs(c, "requests", "--profile", c.name), id, "alice@example.com")
	mustContain(t, "approve through B", w.gatehouseAs(c, "approve", id, "--profile", c.name), "Approved "+id)
	if na, nb := lb.approvalsOf(t, id); na != 0 || nb != 1 {
		t.Errorf("request.approved events for %s: %d in A's CA recordings, %d in B's; want 0 and 1", id, na, nb)
	}

	w.loginVia(t, a, alice, lb.a)
	cert := readCert(t, a.cert())
	ident, err := policy.DecodeIdentity(cert.Extensions[policy.IdentityExtension])
	if !slices.Contains(cert.ValidPrincipals, "orders:admin") || err != nil || ident.RequestID != id {
		t.Fatalf("alice's certificate from A after B's approval: principals %v, identity %+v (%v); want orders:admin for %s",
			cert.ValidPrincipals, ident, err, id)
	}
	for _, r := range []*replica{lb.a, lb.b} {
		port, stop := w.startTunnel(t, w.sshConfigVia(t, a, a.key(), r), "orders")
		out, err := psqlAs(t, port, "admin", "", "-c", "CREATE TEMP TABLE jit (x int)", "-c", "INSERT INTO jit VALUES (1)", "-c", "SELECT count(*) FROM jit")
		stop()
		if err != nil || !strings.HasSuffix(out, "1") {
			t.Fatalf("psql as admin through %s: %v\n%s\n%s", r.sshAddr, err, out, r.log())
		}
	}

	twice := w.fileRequest(t, a, "--grant", "orders:admin", "--reason", "INC-19: approved twice")
	approvers := map[*replica]profile{lb.a: profileOn(t, c, lb.a.apiURL, lb.sshAddr), lb.b: profileOn(t, c, lb.b.apiURL, lb.sshAddr)}
	start, errs := make(chan struct{}), make(chan error, len(approvers))
	for _, p := range approvers {
		go func() {
			<-start
			_, err := login.DecideRequest(context.Background(), login.RequestOptions{Profile: p.name, Home: p.home}, twice, true, "")
			errs <- err
		}()
	}
	close(start)
	var refused []*login.ServerError
	for range approvers {
		err := <-errs
		var se *login.ServerError
		switch {
		case err == nil:
		case errors.As(err, &se):
			refused = append(refused, se)
		default:
			t.Fatalf("an approval of %s failed otherwise than by the CA's refusal: %v", twice, err)
		}
	}
	if len(refused) != 1 {
		t.Fatalf("of two approvals of %s at once, %d refused (%v); want exactly one", twice, len(refused), refused)
	}
	decided := regexp.MustCompile(`^` + twice + ` (was decided meanwhile|is already approved)$`)
	if se := refused[0]; se.StatusCode != http.StatusBadRequest || se.Code != "invalid_request" || !decided.MatchString(se.Message) {
		t.Errorf("the second approval was refused with %d %s %q; want 400 invalid_request saying %s was decided", se.StatusCode, se.Code, se.Message, twice)
	}
	t.Logf("the second approval was told: %d %s", refused[0].StatusCode, refused[0].Message)
	if na, nb := lb.approvalsOf(t, twice); na+nb != 1 {
		t.Errorf("request.approved events for %s: %d in A's CA recordings, %d in B's; want one between them", twice, na, nb)
	}
}

// sessionVia holds a PostgreSQL session through the balancer with key's
// certificate.
func (lb *balanced) sessionVia(t *testing.T, w *world, alice profile, key string) *pgx.Conn {
	t.Helper()
	return w.openSessionVia(t, alice, key, &replica{sshAddr: lb.sshAddr})
}

// sessionOnEach holds two sessions through the balancer, two connections
// in a row that round robin puts one on each replica, and checks that it
// did.
func (lb *balanced) sessionOnEach(t *testing.T, w *world, alice profile, key string) []*pgx.Conn {
	t.Helper()
	conns := []*pgx.Conn{lb.sessionVia(t, w, alice, key), lb.sessionVia(t, w, alice, key)}
	within(t, 10*time.Second, "a session on each replica", func() bool {
		a, b := lb.active(t)
		return a >= 1 && b >= 1
	})
	return conns
}

func testReplicasRevoke(t *testing.T, w *world, alice profile, lb *balanced) {
	key := w.signVia(t, lb.a, "balanced-revoked@example.com")
	conns := lb.sessionOnEach(t, w, alice, key)
	out := w.mustRunState(t, "revoke", "--config", lb.a.cfgPath, "--identity", "balanced-revoked@example.com", "--reason", "e2e: balanced")
	revokedAt := time.Now()
	mustContain(t, "revoke", out, "shared state database")
	logs := func() string { return lb.a.log() + "\n" + lb.b.log() }
	for _, c := range conns {
		awaitRevokedSession(t, c, revokedAt, logs)
	}
	for i := range 2 {
		cmd := exec.Command("ssh", sshArgs(w.sshConfigVia(t, alice, key, &replica{sshAddr: lb.sshAddr}), "-N", "gatehouse")...)
		if out, err := runWithTimeout(cmd, 30*time.Second); err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("the revoked certificate through the balancer, attempt %d: %v\n%s", i, err, out)
		}
	}
	for _, r := range []*replica{lb.a, lb.b} {
		families := scrape(t, r.opsURL)
		if got := value(families, "gatehouse_revocations", nil); got < 1 {
			t.Errorf("%s: gatehouse_revocations = %v after a revocation", r.sshAddr, got)
		}
		if got := value(families, "gatehouse_state_revocations_listening", nil); got != 1 {
			t.Errorf("%s: gatehouse_state_revocations_listening = %v, want 1", r.sshAddr, got)
		}
	}
}

func testReplicasDrain(t *testing.T, w *world, alice profile, lb *balanced) {
	key := w.signVia(t, lb.a, "balanced-drain@example.com")
	port, _ := w.startTunnel(t, w.sshConfigVia(t, alice, key, &replica{sshAddr: lb.sshAddr}), "orders")
	live := startPsql(t, port)
	live.query(t, "SELECT 1", "1")
	var drained, other *replica
	within(t, 10*time.Second, "the live session to show on one replica", func() bool {
		a, b := lb.active(t)
		switch {
		case a == 1 && b == 0:
			drained, other = lb.a, lb.b
		case b == 1 && a == 0:
			drained, other = lb.b, lb.a
		}
		return drained != nil
	})
	name := map[*replica]string{lb.a: "a", lb.b: "b"}[drained]

	sent := time.Now()
	if err := drained.srv.server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "/readyz to fail after SIGTERM", func() bool {
		code, _ := getStatus(t, drained.opsURL+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	lb.await(t, name, "DOWN")
	live.query(t, "SELECT 2", "2")
	if took := time.Since(sent); took >= replicaDrainTimeout {
		t.Fatalf("the checks took %v, longer than the drain timeout %v: the test proves nothing", took, replicaDrainTimeout)
	}
	before := value(scrape(t, other.opsURL), "gatehouse_channels_opened_total", nil)
	fresh := w.signVia(t, lb.a, "balanced-after-drain@example.com")
	port2, _ := w.startTunnel(t, w.sshConfigVia(t, alice, fresh, &replica{sshAddr: lb.sshAddr}), "orders")
	if got, err := psql(t, port2, "SELECT count(*) FROM customers"); err != nil || got != "1" {
		t.Fatalf("a new connection through the balancer during the drain: %q, %v", got, err)
	}
	if got := value(scrape(t, other.opsURL), "gatehouse_channels_opened_total", nil); got <= before {
		t.Errorf("the new connection did not reach the other replica (its channels opened: %v, before %v)", got, before)
	}

	select {
	case <-drained.srv.serverDone:
	case <-time.After(replicaDrainTimeout + 30*time.Second):
		t.Fatalf("the drained replica still runs %v after SIGTERM\n%s", time.Since(sent), drained.log())
	}
	if took := time.Since(sent); took < replicaDrainTimeout {
		t.Errorf("the replica exited %v after SIGTERM, before its drain timeout %v", took, replicaDrainTimeout)
	}
	if err := drained.srv.serverErr; err != nil {
		t.Fatalf("the drained replica exited with %v, want 0\n%s", err, drained.log())
	}
	if out := live.finish(t, "SELECT 3"); !strings.Contains(out, "server draining") {
		t.Errorf("psql after the drain said %q; want the drain named", out)
	}
	id := drainedSession(t, drained.srv)
	mustContain(t, "verify", w.gatehouse("verify", "--config", drained.cfgPath, id), id)
	// As after an upgrade: the drained replica starts again and rejoins.
	w.startReplica(lb.owner, drained)
	lb.await(t, name, "UP")
}

// testReplicasStateOutage stops the state database for 20 s (no new
// connections to it, its sessions terminated), as hardening_state_test.go
// does for one replica.
func testReplicasStateOutage(t *testing.T, w *world, alice profile, lb *balanced) {
	revoked := w.signVia(t, lb.a, "balanced-outage-revoked@example.com")
	w.mustRunState(t, "revoke", "--config", lb.a.cfgPath, "--identity", "balanced-outage-revoked@example.com", "--reason", "e2e: before the outage")
	within(t, 5*time.Second, "both replicas to hold the revocation", func() bool {
		return value(scrape(t, lb.a.opsURL), "gatehouse_revocations", nil) == value(scrape(t, lb.b.opsURL), "gatehouse_revocations", nil)
	})
	live := lb.sessionVia(t, w, alice, w.signVia(t, lb.a, "balanced-outage@example.com"))
	pings := map[string]string{"op": "ping"}

	restore := w.stopStateDB(t)
	down := time.Now()
	defer restore()

	for _, r := range []*replica{lb.a, lb.b} {
		within(t, 10*time.Second, r.sshAddr+"'s /readyz to fail naming the state database", func() bool {
			code, body := getStatus(t, r.opsURL+"/readyz")
			return code == http.StatusServiceUnavailable && strings.Contains(body, `"state":`)
		})
		within(t, 10*time.Second, r.sshAddr+"'s revocation watcher to poll", func() bool {
			return value(scrape(t, r.opsURL), "gatehouse_state_revocations_listening", nil) == 0
		})
		if got := value(scrape(t, r.opsURL), "gatehouse_state_store_errors_total", pings); got < 1 {
			t.Errorf("%s: gatehouse_state_store_errors_total{op=ping} = %v during the outage", r.sshAddr, got)
		}
	}
	lb.await(t, "a", "DOWN")
	lb.await(t, "b", "DOWN")

	ag, err := w.agentCert(profileOn(t, alice, lb.a.apiURL, lb.sshAddr), "outage", "--grant", "orders:readonly")
	if err == nil {
		t.Fatalf("agent-cert through A with the state database down succeeded:\n%s", ag.out)
	}
	mustContain(t, "agent-cert through A while the state database is down", ag.out, "shared state database", "state.dsn_env", "recovers on its own")
	// The balancer has taken both out: ask each replica itself.
	for _, r := range []*replica{lb.a, lb.b} {
		cmd := exec.Command("ssh", sshArgs(w.sshConfigVia(t, alice, revoked, r), "-N", "gatehouse")...)
		if out, err := runWithTimeout(cmd, 30*time.Second); err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("a certificate revoked before the outage, at %s during it: %v\n%s", r.sshAddr, err, out)
		}
	}
	for time.Since(down) < 20*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := live.Exec(ctx, "SELECT 1")
		cancel()
		if err != nil {
			t.Fatalf("a live tunnel through the balancer %v into the outage: %v", time.Since(down).Round(time.Second), err)
		}
		time.Sleep(time.Second)
	}

	restore()
	for _, r := range []*replica{lb.a, lb.b} {
		within(t, 30*time.Second, r.sshAddr+"'s /readyz to recover", func() bool {
			code, _ := getStatus(t, r.opsURL+"/readyz")
			return code == http.StatusOK
		})
		within(t, 30*time.Second, r.sshAddr+"'s revocation watcher to listen again", func() bool {
			return value(scrape(t, r.opsURL), "gatehouse_state_revocations_listening", nil) == 1
		})
	}
	lb.await(t, "a", "UP")
	lb.await(t, "b", "UP")
	after := w.mustAgentCert(t, profileOn(t, alice, lb.a.apiURL, lb.sshAddr), "after-outage", "--grant", "orders:readonly")
	port, _ := w.startTunnelVia(t, after.sshConfig(t), after.host(), "orders")
	if got, err := psql(t, port, "SELECT count(*) FROM customers"); err != nil || got != "1" {
		t.Fatalf("psql through the balancer after the outage: %q, %v", got, err)
	}
}

func testReplicasKill(t *testing.T, w *world, alice profile, lb *balanced) {
	key := w.signVia(t, lb.a, "balanced-kill@example.com")
	conns := lb.sessionOnEach(t, w, alice, key)
	if err := lb.a.srv.server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-lb.a.srv.serverDone
	lb.await(t, "a", "DOWN")
	alive := 0
	for _, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
			alive++
		}
		cancel()
	}
	if alive != 1 {
		t.Fatalf("%d of the two sessions live after A was killed, want B's one", alive)
	}
	for i := range 2 {
		port, stop := w.startTunnel(t, w.sshConfigVia(t, alice, key, &replica{sshAddr: lb.sshAddr}), "orders")
		if got, err := psql(t, port, "SELECT count(*) FROM customers"); err != nil || got != "1" {
			t.Fatalf("connection %d through the balancer with A killed: %q, %v", i, got, err)
		}
		stop()
	}
	for _, c := range conns {
		c.Close(context.Background())
	}

	w.startReplica(lb.owner, lb.a)
	lb.await(t, "a", "UP")
	// The killed session's stream is closed at the restart and uploaded:
	// every closed stream of A's spool gets its marker.
	within(t, 30*time.Second, "A's spool to be uploaded after its restart", func() bool {
		return len(notUploaded(t, lb.a)) == 0
	})
}

// notUploaded lists the closed streams of r's spool that are not in the
// bucket yet.
func notUploaded(t *testing.T, r *replica) []string {
	t.Helper()
	var out []string
	manifests, _ := filepath.Glob(filepath.Join(r.dataDir, "recordings", "*", "*.manifest.json"))
	if len(manifests) == 0 {
		t.Fatalf("no closed stream in %s's spool", r.sshAddr)
	}
	for _, mf := range manifests {
		if _, err := os.Stat(strings.TrimSuffix(mf, ".manifest.json") + s3store.UploadedSuffix); err != nil {
			out = append(out, mf)
		}
	}
	return out
}

// spoolSessions are the ids of the session streams in r's spool.
func spoolSessions(t *testing.T, r *replica) []string {
	t.Helper()
	ids, err := recorder.FileStore{Dir: filepath.Join(r.dataDir, "recordings")}.List(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// testReplicasBucket stops the replica still running (a drain with no
// session left), moves both spools away, and reads the bucket alone.
func testReplicasBucket(t *testing.T, w *world, lb *balanced) {
	for _, r := range []*replica{lb.a, lb.b} {
		select {
		case <-r.srv.serverDone:
			continue
		default:
		}
		if err := r.srv.server.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-r.srv.serverDone:
		case <-time.After(replicaDrainTimeout + 30*time.Second):
			t.Fatalf("%s still runs after SIGTERM\n%s", r.sshAddr, r.log())
		}
		if r.srv.serverErr != nil {
			t.Fatalf("%s exited with %v after SIGTERM\n%s", r.sshAddr, r.srv.serverErr, r.log())
		}
	}
	fromA, fromB := spoolSessions(t, lb.a), spoolSessions(t, lb.b)
	if len(fromA) == 0 || len(fromB) == 0 {
		t.Fatalf("sessions in the spools: %d of A, %d of B; want some of each", len(fromA), len(fromB))
	}
	for _, id := range fromA {
		if slices.Contains(fromB, id) {
			t.Errorf("stream id %s recorded by both replicas", id)
		}
	}
	for _, r := range []*replica{lb.a, lb.b} {
		if left := notUploaded(t, r); len(left) != 0 {
			t.Fatalf("%s exited with streams not uploaded: %v", r.sshAddr, left)
		}
		spool := filepath.Join(r.dataDir, "recordings")
		if err := os.Rename(spool, spool+".moved"); err != nil {
			t.Fatal(err)
		}
	}
	out := w.gatehouse("verify", "--config", lb.a.cfgPath, "--since", "1h")
	mustContain(t, "verify --since from the bucket", out, " verified, 0 incomplete, 0 failed", "ABNORMAL END")
	listed := w.gatehouse("sessions", "--config", lb.b.cfgPath, "--since", "1h")
	for _, id := range slices.Concat(fromA, fromB) {
		mustContain(t, "sessions from the bucket", listed, id)
	}
}

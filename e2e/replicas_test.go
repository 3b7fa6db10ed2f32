//go:build servers

package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
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
}

// startBalancer starts HAProxy in front of a and b and waits until it
// sees both up.
func startBalancer(t *testing.T, a, b *replica) *balanced {
	t.Helper()
	lb := &balanced{a: a, b: b, sshAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
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
// behind a real HAProxy in TCP mode, which checks each one's /readyz.
// A certificate from A's API opens tunnels through the balancer on both;
// a revocation made against A ends the sessions on both within 5 s and
// both refuse the certificate after; each replica's /metrics parses and
// moves; SIGTERM to one makes HAProxy take it out while its live session
// runs until ssh.drain_timeout and ends for the drain, and new
// connections reach the other.
func TestReplicas(t *testing.T) {
	requireTools(t, "ssh", "ssh-keygen", "psql")
	w, _ := newOpsWorld(t)
	alice := testLoginAuthCode(t, w)
	w.pg.Exec(t, "CREATE DATABASE "+stateDB)
	t.Setenv("GATEHOUSE_STATE_DSN", w.pg.DSN(stateDB, "", ""))
	a, b := w.writeReplicaConfig(t, "postgres"), w.writeReplicaConfig(t, "postgres")
	w.startReplica(t, a)
	w.startReplica(t, b)
	lb := startBalancer(t, a, b)

	t.Run("a certificate from A's API opens tunnels through the balancer to both", func(t *testing.T) {
		testReplicasShareCertificates(t, w, alice, lb)
	})
	t.Run("a revocation against A ends sessions on both and both refuse after", func(t *testing.T) {
		testReplicasRevoke(t, w, alice, lb)
	})
	t.Run("SIGTERM: HAProxy takes the replica out, its session drains, new ones reach the other", func(t *testing.T) {
		testReplicasDrain(t, w, alice, lb)
	})
}

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

// sessionVia holds a PostgreSQL session through the balancer with key's
// certificate.
func (lb *balanced) sessionVia(t *testing.T, w *world, alice profile, key string) *pgx.Conn {
	t.Helper()
	return w.openSessionVia(t, alice, key, &replica{sshAddr: lb.sshAddr})
}

func testReplicasRevoke(t *testing.T, w *world, alice profile, lb *balanced) {
	key := w.signVia(t, lb.a, "balanced-revoked@example.com")
	// Two connections in a row: round robin puts one on each replica.
	conns := []*pgx.Conn{lb.sessionVia(t, w, alice, key), lb.sessionVia(t, w, alice, key)}
	within(t, 10*time.Second, "a session on each replica", func() bool {
		a, b := lb.active(t)
		return a >= 1 && b >= 1
	})
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
}

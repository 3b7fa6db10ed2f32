//go:build servers

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// stateDB is the shared state database of the replicas below.
const stateDB = "gatehouse_state"

// replica is one `gatehouse serve` sharing the world's keys and a state
// database with the others.
type replica struct {
	cfgPath, dataDir, sshAddr, apiURL, opsURL, logPath string
	// srv is the running `gatehouse serve` (startReplica).
	srv *world
}

// replicaConfig shares the world's CA keys and host key (absolute paths),
// its identity provider, its orders database, and the state database of
// state.dsn_env. orders:admin is given on approval by dba-leads, as in
// the world's own configuration.
const replicaConfig = `
data_dir: %s
ssh:
  listen: %s
  host_key: %s
  drain_timeout: %s
ca:
  listen: %s
  max_ttl: 1h
  signer: {file: %s, host_file: %s}
identity:
  oidc:
    issuer: %s
    client_id: %s
targets:
  orders:
    protocol: postgres
    address: %s
    roles:
      readonly:
        credentials: &orders_owner {user: app_owner, password_file: %s}
        statements: readonly
      admin:
        credentials: *orders_owner
grants:
  - groups: [engineering]
    allow: [orders:readonly]
  - groups: [engineering]
    allow: [orders:admin]
    requires_approval: {approvers: [dba-leads], max_ttl: 20m}
statements:
  readonly:
    allow: [select, show, set, transaction]
state:
  store: %s
ops:
  listen: %s
`

// replicaDrainTimeout is the replicas' ssh.drain_timeout: short, so that
// a drain ends within the test, and long enough to watch it.
const replicaDrainTimeout = 6 * time.Second

// sharedKeys are the keys of the world's data_dir every replica gets a
// copy of in its own (docs/operations.md "Replicas"): recordings verify
// with one recorder key, and a hashed column hashes alike everywhere.
var sharedKeys = []string{"recorder_ed25519", "masking_hash_key"}

// writeReplicaConfig writes a replica's configuration into a fresh
// data_dir, with the world's shared keys and extra (top-level YAML
// sections) appended.
func (w *world) writeReplicaConfig(t *testing.T, store string, extra ...string) *replica {
	t.Helper()
	r := &replica{dataDir: t.TempDir()}
	for _, name := range sharedKeys {
		if b, err := os.ReadFile(filepath.Join(w.dataDir, name)); err == nil {
			writeFile(t, filepath.Join(r.dataDir, name), b)
		}
	}
	r.sshAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	apiAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	r.apiURL = "http://" + apiAddr
	opsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	r.opsURL = "http://" + opsAddr
	r.cfgPath = filepath.Join(r.dataDir, "gatehouse.yaml")
	in := func(name string) string { return filepath.Join(w.dataDir, name) }
	writeFile(t, r.cfgPath, append(fmt.Appendf(nil, replicaConfig, r.dataDir, r.sshAddr, in("host_ed25519"), replicaDrainTimeout, apiAddr,
		in("ca_ed25519"), in("host_ca_ed25519"), w.idp.Issuer, w.idp.ClientID, w.pg.Addr(), in("app_owner_password"), store, opsAddr), strings.Join(extra, "\n")...))
	return r
}

// startReplica runs `gatehouse serve` for r until the test ends, as the
// world's own server runs.
func (w *world) startReplica(t *testing.T, r *replica) {
	t.Helper()
	rw := &world{t: t, bin: w.bin, dataDir: r.dataDir, cfgPath: r.cfgPath, apiURL: r.apiURL, sshAddr: r.sshAddr, pg: w.pg}
	rw.startServer()
	r.logPath, r.srv = rw.logPath, rw
}

func (r *replica) log() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

// runState runs the binary (with the state database's environment,
// which testHardeningState sets).
func (w *world) runState(args ...string) (string, error) {
	return runWithTimeout(exec.Command(w.bin, args...), time.Minute)
}

func (w *world) mustRunState(t *testing.T, args ...string) string {
	t.Helper()
	out, err := w.runState(args...)
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// signVia mints a certificate for identity with `gatehouse ca sign` on
// replica r's configuration and returns its key.
func (w *world) signVia(t *testing.T, r *replica, identity string) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	w.mustRunState(t, "ca", "sign", "--config", r.cfgPath, "--key", key+".pub", "--identity", identity, "--grant", "orders:readonly")
	return key
}

// sshConfigVia is alice's ssh_config pointed at key and at replica r.
func (w *world) sshConfigVia(t *testing.T, alice profile, key string, r *replica) string {
	t.Helper()
	path := w.craftedConfigFor(t, alice, key)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(r.sshAddr, ":")
	block := regexp.MustCompile(`(?m)^  Port \d+$`).ReplaceAllString(string(b), "  Port "+port)
	writeFile(t, path, []byte(block))
	return path
}

// profileOn is a copy of p's profile that asks the certificate API at
// apiURL and connects to the bastion at sshAddr.
func profileOn(t *testing.T, p profile, apiURL, sshAddr string) profile {
	t.Helper()
	q := profile{home: t.TempDir(), name: p.name}
	if err := os.CopyFS(q.dir(), os.DirFS(p.dir())); err != nil {
		t.Fatal(err)
	}
	info := fmt.Sprintf(`{"server": %q, "ssh_address": %q, "ssh_host_alias": "gatehouse"}`, apiURL, sshAddr)
	writeFile(t, filepath.Join(q.dir(), "profile.json"), []byte(info))
	return q
}

// openSessionVia holds a PostgreSQL session through replica r with key's
// certificate, and checks it works.
func (w *world) openSessionVia(t *testing.T, alice profile, key string, r *replica) *pgx.Conn {
	t.Helper()
	port, _ := w.startTunnel(t, w.sshConfigVia(t, alice, key, r), "orders")
	conn := pgxThrough(t, port, pgx.QueryExecModeSimpleProtocol)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("a session through %s: %v", r.sshAddr, err)
	}
	return conn
}

// awaitRevokedSession fails unless conn is ended as revoked within 5
// seconds (and a little for the poll) of since.
func awaitRevokedSession(t *testing.T, conn *pgx.Conn, since time.Time, log func() string) {
	t.Helper()
	deadline := since.Add(5*time.Second + 750*time.Millisecond)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := conn.Exec(ctx, "SELECT 1")
		timedOut := ctx.Err() != nil
		cancel()
		if err != nil && !timedOut {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
				t.Errorf("the session ended with %v, want FATAL 57P01 (revoked)", err)
			}
			t.Logf("session ended %s after the revocation", time.Since(since).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session was still usable %s after its certificate was revoked on another replica\n%s",
				time.Since(since).Round(time.Millisecond), log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopStateDB makes the state database refuse connections and ends its
// sessions: an outage for the replicas. restore ends it (once; later
// calls do nothing).
func (w *world) stopStateDB(t *testing.T) (restore func()) {
	t.Helper()
	w.pg.Exec(t, "ALTER DATABASE "+stateDB+" ALLOW_CONNECTIONS false")
	w.pg.Exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+stateDB+"'")
	restored := false
	return func() {
		if !restored {
			w.pg.Exec(t, "ALTER DATABASE "+stateDB+" ALLOW_CONNECTIONS true")
			restored = true
		}
	}
}

// testHardeningState: two `gatehouse serve` replicas share one state
// database. A certificate minted on A works through B; a revocation made
// on A ends B's session within 5 seconds, and B's KRL names a
// certificate only A's record saw; losing the database keeps the list
// enforced and tunnels up, refuses issuance (B's API, `ca sign`), and
// recovers on its own.
// `gatehouse state import` moves a data_dir into the database, once.
func testHardeningState(t *testing.T, w *world, alice profile) {
	w.pg.Exec(t, "CREATE DATABASE "+stateDB)
	// Every command below, the replicas included, inherits it.
	t.Setenv("GATEHOUSE_STATE_DSN", w.pg.DSN(stateDB, "", ""))
	a, b := w.writeReplicaConfig(t, "postgres"), w.writeReplicaConfig(t, "postgres")
	mustContain(t, "state migrate", w.mustRunState(t, "state", "migrate", "--config", a.cfgPath), "applied migration 1")
	w.startReplica(t, a)
	w.startReplica(t, b)

	t.Run("state import is idempotent", func(t *testing.T) {
		src := w.writeReplicaConfig(t, "file")
		w.signVia(t, src, "import@example.com")
		w.mustRunState(t, "revoke", "--config", src.cfgPath, "--serial", "4242", "--reason", "e2e: import")
		// The same data_dir, now configured for the database.
		cfg, err := os.ReadFile(src.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, src.cfgPath, []byte(strings.Replace(string(cfg), "store: file", "store: postgres", 1)))
		first := w.mustRunState(t, "state", "import", "--config", src.cfgPath)
		mustContain(t, "first import", first, "revocations: imported 1 of 1", "issued certificates: imported 1 of 1", "access requests: imported 0 of 0")
		again := w.mustRunState(t, "state", "import", "--config", src.cfgPath)
		mustContain(t, "second import", again, "revocations: imported 0 of 1", "issued certificates: imported 0 of 1 ", "(1 already there)")
	})

	t.Run("an agent certificate minted through A's API works through B", func(t *testing.T) {
		ag := w.mustAgentCert(t, profileOn(t, alice, a.apiURL, b.sshAddr), "replica", "--grant", "orders:readonly")
		port, _ := w.startTunnelVia(t, ag.sshConfig(t), ag.host(), "orders")
		if got, err := psql(t, port, "SELECT count(*) FROM customers"); err != nil || got != "2" {
			t.Fatalf("psql through B with a certificate from A: %q, %v\n%s", got, err, b.log())
		}
	})

	key := w.signVia(t, a, "state-e2e@example.com")
	conn := w.openSessionVia(t, alice, key, b)
	other := w.signVia(t, a, "bystander@example.com")

	out := w.mustRunState(t, "revoke", "--config", a.cfgPath, "--identity", "state-e2e@example.com", "--reason", "e2e: replicas")
	revokedAt := time.Now()
	mustContain(t, "revoke", out, `revoked identity "state-e2e@example.com"`, "shared state database")
	awaitRevokedSession(t, conn, revokedAt, b.log)

	t.Run("the other replica's KRL names the certificate", func(t *testing.T) {
		krl := filepath.Join(t.TempDir(), "krl")
		writeFile(t, krl, httpGet(t, b.apiURL+"/v1/krl"))
		out, err := exec.Command("ssh-keygen", "-Q", "-f", krl, key+"-cert.pub").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "REVOKED") {
			t.Fatalf("ssh-keygen -Q against B's KRL: %v\n%s", err, out)
		}
	})

	t.Run("a lost state database keeps the list and the tunnels, refuses issuance, recovers", func(t *testing.T) {
		live := w.openSessionVia(t, alice, other, b)
		restore := w.stopStateDB(t)
		defer restore()

		out, err := w.runState("ca", "sign", "--config", a.cfgPath, "--key", other+".pub", "--identity", "x@example.com", "--grant", "orders:readonly", "--out", filepath.Join(t.TempDir(), "c"))
		if err == nil {
			t.Fatalf("ca sign with the state database down succeeded:\n%s", out)
		}
		mustContain(t, "ca sign while the state database is down", out, "GATEHOUSE_STATE_DSN", "unavailable")
		ag, err := w.agentCert(profileOn(t, alice, b.apiURL, b.sshAddr), "outage", "--grant", "orders:readonly")
		if err == nil {
			t.Fatalf("agent-cert through B with the state database down succeeded:\n%s", ag.out)
		}
		mustContain(t, "agent-cert through B while the state database is down", ag.out, "shared state database", "state.dsn_env", "recovers on its own")
		for _, r := range []*replica{a, b} {
			cmd := exec.Command("ssh", sshArgs(w.sshConfigVia(t, alice, key, r), "-N", "gatehouse")...)
			if out, err := runWithTimeout(cmd, 30*time.Second); err == nil || !strings.Contains(out, "Permission denied") {
				t.Errorf("the revoked certificate through %s during the outage: %v\n%s", r.sshAddr, err, out)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := live.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("a live tunnel during the outage: %v", err)
		}

		restore()
		// Recovery without a restart: a revocation made now reaches B.
		var err2 error
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			if out, err2 = w.runState("revoke", "--config", a.cfgPath, "--identity", "bystander@example.com", "--reason", "e2e: after the outage"); err2 == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("revoke after the database came back: %v\n%s", err2, out)
			}
		}
		awaitRevokedSession(t, live, time.Now(), b.log)
		mustContain(t, "B's log", b.log(), "listening for revocations failed", "listening for revocations again")
	})
}

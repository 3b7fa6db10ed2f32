//go:build servers

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// agentFiles is what `gatehouse agent-cert --agent NAME` wrote.
type agentFiles struct {
	name string
	dir  string // PROFILE/agents/NAME
	out  string // what the command printed
}

func (a agentFiles) cert() string { return filepath.Join(a.dir, "id_ed25519-cert.pub") }
func (a agentFiles) host() string { return "gatehouse-agent-" + a.name }

// sshConfig is the agent's ssh_config with the options tests need.
func (a agentFiles) sshConfig(t *testing.T) string {
	t.Helper()
	block, err := os.ReadFile(filepath.Join(a.dir, "ssh_config"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ssh_config")
	writeFile(t, path, append(block, "  BatchMode yes\n  ConnectTimeout 10\n"...))
	return path
}

func (a agentFiles) serial(t *testing.T) uint64 {
	t.Helper()
	return readCert(t, a.cert()).Serial
}

func readCert(t *testing.T, path string) *ssh.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := k.(*ssh.Certificate)
	if !ok {
		t.Fatalf("%s holds no certificate", path)
	}
	return c
}

// agentCert runs `gatehouse agent-cert` as the engineer of profile p.
func (w *world) agentCert(p profile, agent string, args ...string) (agentFiles, error) {
	cmd := exec.Command(w.bin, append([]string{"agent-cert", "--profile", p.name, "--agent", agent}, args...)...)
	cmd.Env = p.env()
	out, err := cmd.CombinedOutput()
	return agentFiles{name: agent, dir: filepath.Join(p.dir(), "agents", agent), out: string(out)}, err
}

func (w *world) mustAgentCert(t *testing.T, p profile, agent string, args ...string) agentFiles {
	t.Helper()
	a, err := w.agentCert(p, agent, args...)
	if err != nil {
		t.Fatalf("gatehouse agent-cert --agent %s %v: %v\n%s", agent, args, err, a.out)
	}
	return a
}

// startTunnelVia runs `ssh -N -L LOCAL:target:PGPORT host` (host is a Host
// of config: gatehouse, or an agent's gatehouse-agent-NAME) and waits for
// the local port. The tunnel ends when stop is called or the test ends.
func (w *world) startTunnelVia(t *testing.T, config, host, target string) (port int, stop func()) {
	t.Helper()
	local := testenv.FreePort(t)
	forward := fmt.Sprintf("%d:%s:%d", local, target, w.pg.Port)
	cmd := exec.Command("ssh", sshArgs(config, "-N", "-L", forward, host)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for !tcpUp(fmt.Sprintf("127.0.0.1:%d", local)) {
		select {
		case err := <-exited:
			t.Fatalf("ssh -N -L %s %s exited: %v\n%s", forward, host, err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh -N -L %s %s: local port not listening after 20s\n%s", forward, host, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return local, stop
}

// testAgentCert: an engineer mints an agent its own certificate, never
// wider or longer-lived than their own; the agent connects with it through
// its own ssh_config; its statements are judged by agent_statements; and
// the recording names both the engineer and the agent.
func testAgentCert(t *testing.T, w *world, engineer profile) {
	t.Run("a grant beyond the engineer's is refused", func(t *testing.T) {
		a, err := w.agentCert(engineer, "claude", "--grant", "billing:readonly")
		if err == nil {
			t.Fatalf("agent-cert with billing:readonly (alice has orders:readonly, orders:support, rawpg:direct) succeeded:\n%s", a.out)
		}
		mustContain(t, "agent-cert output", a.out, "grant_not_allowed", "billing:readonly is beyond your own grants (orders:readonly, orders:support, rawpg:direct)")
		mustContain(t, "cert.refused", w.findCAEvent(t, "cert.refused", "billing:readonly is beyond"), `"source":"agent"`, "alice@example.com")
		if _, err := os.Stat(a.dir); err == nil {
			t.Error("agent files were written for a refused request")
		}
	})
	t.Run("a lifetime over agent_max_ttl is refused", func(t *testing.T) {
		a, err := w.agentCert(engineer, "claude", "--ttl", "45m")
		if err == nil {
			t.Fatalf("agent-cert --ttl 45m succeeded:\n%s", a.out)
		}
		mustContain(t, "agent-cert output", a.out, "ttl_exceeded", "cap of 30m0s (ca.agent_max_ttl")
	})
	t.Run("a lifetime past the engineer's certificate is refused", func(t *testing.T) {
		short := w.newProfile("alice-short")
		res := w.login(short, []string{"--ttl", "5m"}, w.completeAuthCode(alice))
		if res.err != nil {
			t.Fatalf("login --ttl 5m: %v\n%s", res.err, res.out)
		}
		a, err := w.agentCert(short, "claude-short", "--ttl", "10m")
		if err == nil {
			t.Fatalf("agent-cert --ttl 10m from a 5m certificate succeeded:\n%s", a.out)
		}
		mustContain(t, "agent-cert output", a.out, "ttl_exceeded", "the remaining life of your own certificate")
		a = w.mustAgentCert(t, short, "claude-short") // the default: what is left of the engineer's
		eng, agent := readCert(t, short.cert()), readCert(t, a.cert())
		if agent.ValidBefore > eng.ValidBefore {
			t.Errorf("agent certificate valid until %d, past its engineer's %d", agent.ValidBefore, eng.ValidBefore)
		}
	})

	a := w.mustAgentCert(t, engineer, "claude", "--grant", "orders:readonly", "--ttl", "20m", "--run-id", "run-42", "--ticket", "OPS-7")
	t.Run("the certificate names both and is narrowed", func(t *testing.T) {
		checkCertificate(t, a.cert(), "alice@example.com via agent:claude", "orders:readonly", 20*time.Minute)
		mustContain(t, "agent-cert output", a.out, filepath.Join(a.dir, "ssh_config"), "gatehouse-agent-claude")
		ev := w.findCAEvent(t, "cert.issued", `"key_id":"alice@example.com via agent:claude"`)
		mustContain(t, "cert.issued", ev, `"source":"agent"`, `"delegated_by":"alice@example.com"`, `"run_id":"run-42"`, `"ticket_id":"OPS-7"`,
			fmt.Sprintf(`"delegated_by_serial":%d`, readCert(t, engineer.cert()).Serial))
	})
	t.Run("agent_statements apply to the agent and not to the engineer", func(t *testing.T) {
		before := w.sessionIDs(t)
		port, stop := w.startTunnelVia(t, a.sshConfig(t), a.host(), "orders")
		conn := pgxThrough(t, port, pgx.QueryExecModeSimpleProtocol)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 2 {
			t.Fatalf("agent's SELECT: %d, %v", n, err)
		}
		_, err := conn.Exec(ctx, "EXPLAIN SELECT * FROM customers")
		denied(t, err)
		conn.Close(ctx)
		stop()
		events := w.newSessionEvents(t, before)
		findEvent(t, events, "auth.success", `"agent":"claude"`, `"delegated_by":"alice@example.com"`, `"run_id":"run-42"`,
			`"name":"alice@example.com via agent:claude"`)
		findEvent(t, events, "db.session.start", `"identity":"alice@example.com via agent:claude"`, `"statements":"agentro"`)
		findEvent(t, events, "db.statement", "EXPLAIN", `"decision":"deny"`)

		// The engineer, on the same role, may EXPLAIN.
		before = w.sessionIDs(t)
		port, stop = w.startTunnel(t, w.sshConfig(engineer), "orders")
		conn = pgxThrough(t, port, pgx.QueryExecModeSimpleProtocol)
		if _, err := conn.Exec(ctx, "EXPLAIN SELECT * FROM customers"); err != nil {
			t.Fatalf("the engineer's EXPLAIN: %v", err)
		}
		conn.Close(ctx)
		stop()
		events = w.newSessionEvents(t, before)
		findEvent(t, events, "db.session.start", `"identity":"alice@example.com"`, `"statements":"readonly"`)
	})
}

// completeAuthCode is authCodeLogin's IdP side, for w.login with flags.
func (w *world) completeAuthCode(user testenv.IdPUser) func(lines <-chan string) error {
	return func(lines <-chan string) error {
		for l := range lines {
			if strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err := w.idp.CompleteAuthCodeLogin(ctx, l, user.Email, user.Password)
				drain(lines)
				return err
			}
		}
		return nil
	}
}

// testRevocation: revoking the certificate of a session with an open
// database connection ends it within 5 seconds, with a message to the
// client; the certificate can no longer log in; the KRL at GET /v1/krl
// revokes it in ssh-keygen's reading; all of it is recorded.
func testRevocation(t *testing.T, w *world, alice profile) {
	a := w.mustAgentCert(t, alice, "revokee", "--grant", "orders:readonly")
	serial := a.serial(t)
	config := a.sshConfig(t)
	before := w.sessionIDs(t)
	port, stop := w.startTunnelVia(t, config, a.host(), "orders")
	defer stop()
	conn := pgxThrough(t, port, pgx.QueryExecModeSimpleProtocol)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("before revocation: %v", err)
	}

	out := w.gatehouse("revoke", "--config", w.cfgPath, "--serial", fmt.Sprint(serial), "--reason", "e2e: agent misbehaved")
	revokedAt := time.Now()
	mustContain(t, "gatehouse revoke", out, fmt.Sprintf("revoked serial %d", serial), "alice@example.com via agent:revokee")

	// The contract is 5 seconds; poll until the connection fails.
	deadline := revokedAt.Add(5*time.Second + 750*time.Millisecond)
	var err error
	for {
		qctx, qcancel := context.WithTimeout(ctx, time.Second)
		_, err = conn.Exec(qctx, "SELECT 1")
		timedOut := qctx.Err() != nil
		qcancel()
		if err != nil && !timedOut {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session was still usable %s after its certificate was revoked (last error: %v)\nserver log:\n%s",
				time.Since(revokedAt).Round(time.Millisecond), err, w.serverLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("session ended %s after gatehouse revoke returned: %v", time.Since(revokedAt).Round(time.Millisecond), err)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57P01" || pgErr.Message != "gatehouse: session ended: certificate revoked" {
		t.Errorf("the client was told %v, want FATAL 57P01 gatehouse: session ended: certificate revoked", err)
	}
	stop()
	events := w.newSessionEvents(t, before)
	findEvent(t, events, "session.revoked", fmt.Sprintf(`"serial":%d`, serial))
	findEvent(t, events, "session.end", "certificate revoked")
	mustContain(t, "cert.revoked", w.findCAEvent(t, "cert.revoked", fmt.Sprintf(`"serial":%d`, serial)),
		"e2e: agent misbehaved", `"key_id":"alice@example.com via agent:revokee"`)

	t.Run("reconnecting is refused", func(t *testing.T) {
		before := w.sessionIDs(t)
		out, err := runWithTimeout(exec.Command("ssh", sshArgs(config, "-N", a.host())...), 30*time.Second)
		if err == nil {
			t.Fatalf("ssh with a revoked certificate succeeded:\n%s", out)
		}
		mustContain(t, "ssh output", out, "Permission denied (publickey)")
		findEvent(t, w.newSessionEvents(t, before), "auth.failure", "revoked", fmt.Sprintf(`"serial":%d`, serial))
	})
	t.Run("the KRL revokes it", func(t *testing.T) {
		krl := filepath.Join(t.TempDir(), "krl")
		writeFile(t, krl, httpGet(t, w.apiURL+"/v1/krl"))
		out, err := exec.Command("ssh-keygen", "-Q", "-f", krl, a.cert()).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "REVOKED") {
			t.Errorf("ssh-keygen -Q -f KRL %s: %v\n%s", a.cert(), err, out)
		}
		out, err = exec.Command("ssh-keygen", "-Q", "-f", krl, alice.cert()).CombinedOutput()
		if err != nil || strings.Contains(string(out), "REVOKED") {
			t.Errorf("the engineer's own certificate is in the KRL: %v\n%s", err, out)
		}
	})
	t.Run("the engineer's other sessions go on", func(t *testing.T) {
		port, stop := w.startTunnel(t, w.sshConfig(alice), "orders")
		defer stop()
		if got, err := psql(t, port, "SELECT count(*) FROM customers"); err != nil || got != "2" {
			t.Fatalf("alice after her agent's revocation: %q, %v", got, err)
		}
	})
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	return body
}

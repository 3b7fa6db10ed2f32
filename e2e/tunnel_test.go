//go:build servers

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// sshConfig writes `gatehouse ssh-config` for a profile to a file for ssh -F.
func (w *world) sshConfig(p profile) string {
	w.t.Helper()
	block := w.gatehouseAs(p, "ssh-config", "--profile", p.name)
	path := filepath.Join(p.dir(), "ssh_config")
	if err := os.WriteFile(path, []byte(block+"  BatchMode yes\n  ConnectTimeout 10\n"), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// sshArgs are the common arguments for the real OpenSSH client.
func sshArgs(config string, args ...string) []string {
	return append([]string{"-F", config}, args...)
}

// startTunnel runs `ssh -N -L` to the Host gatehouse and waits for the
// local port. The tunnel ends when stop is called or the test ends.
func (w *world) startTunnel(t *testing.T, config, target string) (port int, stop func()) {
	t.Helper()
	return w.startTunnelVia(t, config, "gatehouse", target)
}

// psql runs one -c through a tunnel as the role "readonly": gatehouse
// supplies the database credentials, so no password is given.
func psql(t *testing.T, port int, sql string) (string, error) {
	t.Helper()
	return psqlAs(t, port, "readonly", "", "-c", sql)
}

// psqlAs runs psql as user (a role name through the proxy, a database user
// through a raw tcp target with its password).
func psqlAs(t *testing.T, port int, user, password string, args ...string) (string, error) {
	t.Helper()
	conn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=orders sslmode=disable connect_timeout=10", port, user)
	cmd := exec.Command("psql", append([]string{conn, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	out, err := runWithTimeout(cmd, time.Minute)
	return strings.TrimSpace(out), err
}

func testTunnelPsql(t *testing.T, w *world, p profile) {
	config := w.sshConfig(p)
	before := w.sessionIDs(t)
	port, stop := w.startTunnel(t, config, "orders")
	out, err := psql(t, port, "SELECT string_agg(email, ',' ORDER BY id) FROM customers")
	if err != nil {
		t.Fatalf("psql through the tunnel: %v\n%s\nserver log:\n%s", err, out, w.serverLog())
	}
	if out != "ada@example.com,grace@example.com" {
		t.Fatalf("psql through the tunnel returned %q", out)
	}
	// Closing the tunnel ends the session; its record names the identity and target.
	stop()
	events := w.newSessionEvents(t, before)
	findEvent(t, events, "auth.success", "alice@example.com", "orders:readonly")
	findEvent(t, events, "channel.open", `"orders"`)
	findEvent(t, events, "db.session.start", `"role":"readonly"`, `"upstream_user":"app_owner"`, `"read_only":true`)
	findEvent(t, events, "db.statement", "string_agg", `"decision":"allow"`, `"rows":1`)
	findEvent(t, events, "channel.close")
}

// testRawTCP: a protocol tcp target is relayed byte for byte; the client
// authenticates to the database itself.
func testRawTCP(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "rawpg")
	defer stop()
	out, err := psqlAs(t, port, "app_ro", appROPassword, "-c", "SELECT current_user")
	if err != nil || out != "app_ro" {
		t.Fatalf("psql through a raw tcp target: %q, %v", out, err)
	}
}

// stdioConn is a net.Conn over an `ssh -W` process's stdin and stdout.
type stdioConn struct {
	io.Reader
	io.WriteCloser
	cmd *exec.Cmd
}

func (c *stdioConn) Close() error {
	c.WriteCloser.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "ssh-W", Net: "unix"} }
func (c *stdioConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "ssh-W", Net: "unix"} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

func testSSHW(t *testing.T, w *world, p profile) {
	config := w.sshConfig(p)
	cfg, err := pgx.ParseConfig("postgres://readonly@orders/orders?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	// The host is a target name for the bastion, not for DNS.
	cfg.LookupFunc = func(ctx context.Context, host string) ([]string, error) { return []string{host}, nil }
	var stderr strings.Builder
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		cmd := exec.Command("ssh", sshArgs(config, "-W", fmt.Sprintf("orders:%d", w.pg.Port), "gatehouse")...)
		cmd.Stderr = &stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		return &stdioConn{Reader: out, WriteCloser: in, cmd: cmd}, cmd.Start()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgx over ssh -W: %v\nssh: %s", err, stderr.String())
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
}

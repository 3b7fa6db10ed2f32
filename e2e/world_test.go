//go:build servers

// Package e2e drives the built gatehouse binary with the real OpenSSH
// client, psql and pgx, against a real PostgreSQL and a real OpenID Connect
// provider (Dex), all started on 127.0.0.1 by internal/testenv.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/jackc/pgx/v5"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// gatehouseBinary builds cmd/gatehouse once per test process.
func gatehouseBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		dir, err := os.MkdirTemp("", "gatehouse-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gatehouse")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/gatehouse")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/gatehouse: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Test users of the IdP. Their groups decide their grants (see worldConfig).
var (
	alice = testenv.IdPUser{Email: "alice@example.com", Username: "alice", Password: "alice-pw", Groups: []string{"engineering"}}
	bob   = testenv.IdPUser{Email: "bob@example.com", Username: "bob", Password: "bob-pw", Groups: []string{"sales"}}
	// carol approves access requests for orders:admin (dba-leads), and
	// is an engineer herself.
	carol = testenv.IdPUser{Email: "carol@example.com", Username: "carol", Password: "carol-pw", Groups: []string{"engineering", "dba-leads"}}
	// dave is an engineer whose short approval is watched expire.
	dave = testenv.IdPUser{Email: "dave@example.com", Username: "dave", Password: "dave-pw", Groups: []string{"engineering"}}
)

// The database users behind the roles. app_owner owns the tables and can
// write: only gatehouse's statement policy keeps the readonly role from
// writing, which is what the denial tests must show. app_ro is used by the
// raw tcp target, where the client authenticates itself.
const (
	appOwnerPassword = "owner-secret-for-tests"
	appROPassword    = "ro-secret-for-tests"
)

// world is one running gatehouse with its PostgreSQL and IdP.
type world struct {
	t        *testing.T
	bin      string
	dataDir  string
	cfgPath  string
	apiURL   string
	sshAddr  string
	pg       *testenv.Postgres
	idp      *testenv.IdP
	logPath  string
	logSyncs atomic.Int64 // sentinels written by databaseSaw
	// server is the running `gatehouse serve`; serverDone is closed when
	// it has exited, with serverErr its exit status.
	server     *exec.Cmd
	serverDone chan struct{}
	serverErr  error
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t)
}

// newWorldWith is newWorld with more users at the IdP.
func newWorldWith(t *testing.T, more ...testenv.IdPUser) *world {
	t.Helper()
	requireTools(t, "ssh", "ssh-keygen", "psql")
	w := &world{t: t, bin: gatehouseBinary(t), dataDir: t.TempDir()}
	// log_statement=all lets tests check that a denied statement never
	// reached the database.
	w.pg = testenv.StartPostgres(t, testenv.PostgresSetting("log_statement", "all"))
	w.pg.Exec(t, fmt.Sprintf("CREATE ROLE app_owner LOGIN PASSWORD '%s'", appOwnerPassword))
	w.pg.Exec(t, fmt.Sprintf("CREATE ROLE app_ro LOGIN PASSWORD '%s'", appROPassword))
	w.pg.Exec(t, "CREATE DATABASE orders OWNER app_owner")
	w.execIn("orders", `SET ROLE app_owner;
		CREATE TABLE customers (id int PRIMARY KEY, email text);
		INSERT INTO customers VALUES (1, 'ada@example.com'), (2, 'grace@example.com');
		GRANT SELECT ON customers TO app_ro;`)
	w.execIn("orders", "SET ROLE app_owner; "+maskingFixtures)
	ownerPW := filepath.Join(w.dataDir, "app_owner_password")
	if err := os.WriteFile(ownerPW, []byte(appOwnerPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.serve(append([]testenv.IdPUser{alice, bob, carol, dave}, more...), func(apiAddr string) string {
		return fmt.Sprintf(worldConfig, w.dataDir, w.sshAddr, apiAddr, w.idp.Issuer, w.idp.ClientID,
			w.pg.Addr(), ownerPW, w.pg.Addr(), ownerPW, w.pg.Addr())
	})
	return w
}

// serve starts the identity provider with users, writes the configuration
// config renders for the certificate API's address (w.idp and w.sshAddr
// are set by then), and starts gatehouse with it.
func (w *world) serve(users []testenv.IdPUser, config func(apiAddr string) string) {
	t := w.t
	w.idp = testenv.StartIdP(t, users)
	w.sshAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	apiAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w.apiURL = "http://" + apiAddr
	w.cfgPath = filepath.Join(w.dataDir, "gatehouse.yaml")
	if err := os.WriteFile(w.cfgPath, []byte(config(apiAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	w.gatehouse("ca", "init", "--config", w.cfgPath)
	w.startServer()
}

const worldConfig = `
data_dir: %s
ssh:
  listen: %s
ca:
  listen: %s
  max_ttl: 1h
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
        agent_statements: agentro
      # support sees people through the masking policy pii.
      support:
        credentials: *orders_owner
        statements: maskedro
        masking: pii
        agent_masking: pii_strict
      # editor writes people through the masking policy pii (RETURNING).
      editor:
        credentials: *orders_owner
        statements: editor
        masking: pii
      # admin is given only on approval (the grant below).
      admin:
        credentials: *orders_owner
  billing:
    protocol: postgres
    address: %s
    roles:
      readonly:
        credentials: {user: app_owner, password_file: %s}
        statements: readonly
  rawpg:
    protocol: tcp
    address: %s
    roles:
      direct: {}
grants:
  - groups: [engineering]
    allow: [orders:readonly, rawpg:direct, orders:support]
  - groups: [dba-leads]
    allow: [orders:editor]
  - groups: [finance]
    allow: [billing:readonly]
    max_ttl: 30m
  - groups: [engineering]
    allow: [orders:admin]
    max_ttl: 30m
    requires_approval: {approvers: [dba-leads], max_ttl: 20m}
statements:
  readonly:
    allow: [select, explain, show, set, transaction, copy_to]
    log_parameters: true
    deny_functions: [pg_read_file, pg_read_binary_file, pg_ls_dir, lo_export, lo_import, dblink]
  maskedro:
    allow: [select, explain, show, set, transaction, copy_to, prepare, execute]
  editor:
    allow: [select, insert, update, delete, transaction]
  # agentro is what agents get on orders:readonly: stricter than the
  # engineer's readonly (no explain, no copy_to).
  agentro:
    allow: [select, show, set, transaction]
    deny_functions: [pg_read_file, pg_read_binary_file, pg_ls_dir, lo_export, lo_import, dblink]
masking:
  pii:
    columns:
      public.people.email: email
      public.people.ssn: redact
      public.people.card: last4
      public.people.phone: hash
  # agents on orders:support: computed outputs and probing are refused.
  pii_strict:
    columns:
      public.people.email: email
      public.people.ssn: redact
      public.people.card: last4
      public.people.phone: hash
    on_derived: deny
    deny_probing: true
`

func (w *world) execIn(db, sql string) {
	w.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.pg.DSN(db, "", ""))
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
}

// startServer runs `gatehouse serve` until the test ends and waits until
// both its listeners answer.
func (w *world) startServer() {
	t := w.t
	w.logPath = filepath.Join(w.dataDir, "serve.log")
	logFile, err := os.Create(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(w.bin, "serve", "--config", w.cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	w.server, w.serverDone = cmd, done
	go func() { w.serverErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("gatehouse serve exited: %v\n%s", w.serverErr, w.serverLog())
		default:
		}
		if apiUp(w.apiURL) && tcpUp(w.sshAddr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse serve not ready after 30s\n%s", w.serverLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *world) serverLog() string {
	b, _ := os.ReadFile(w.logPath)
	return string(b)
}

func apiUp(base string) bool {
	resp, err := http.Get(base + "/v1/ca")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func tcpUp(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// gatehouse runs the binary to completion and fails the test on error.
func (w *world) gatehouse(args ...string) string {
	w.t.Helper()
	out, err := exec.Command(w.bin, args...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run `make test-deps` (apt-get install -y openssh-client postgresql)", tool)
		}
	}
}

// lineReader hands out a command's output lines as they come.
func lineReader(t *testing.T, r interface{ Read([]byte) (int, error) }) <-chan string {
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

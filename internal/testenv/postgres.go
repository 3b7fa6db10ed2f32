package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinDir is where the PostgreSQL 15 server binaries are looked for.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

const postgresInstallHint = "install PostgreSQL 15 with: apt-get install -y postgresql " +
	"(Debian 12; it puts initdb and postgres in " + PostgresBinDir + " and creates the postgres system user)"

// Postgres is a PostgreSQL 15 server started by StartPostgres. It listens on
// Host:Port over TCP, with scram-sha-256 password authentication, and on a
// unix socket in its temporary directory.
type Postgres struct {
	Host     string // 127.0.0.1
	Port     int
	User     string // postgres, the superuser
	Password string // the superuser's random password
	DataDir  string
	LogFile  string // the server's log (stderr), e.g. for log_statement=all checks
}

// PostgresOption changes how StartPostgres sets up the server.
type PostgresOption func(*postgresOptions)

type postgresOptions struct {
	settings        [][2]string
	tlsCert, tlsKey []byte
}

// PostgresSetting passes "-c name=value" to the postgres server.
func PostgresSetting(name, value string) PostgresOption {
	return func(o *postgresOptions) { o.settings = append(o.settings, [2]string{name, value}) }
}

// PostgresTLS turns on TLS (ssl=on) with the given PEM server certificate
// (chain) and private key. Password authentication over TCP stays allowed
// with and without TLS; DSN still says sslmode=disable, so a test that wants
// TLS sets sslmode (and sslrootcert) itself.
func PostgresTLS(certPEM, keyPEM []byte) PostgresOption {
	return func(o *postgresOptions) { o.tlsCert, o.tlsKey = certPEM, keyPEM }
}

// StartPostgres initialises a fresh PostgreSQL 15 cluster in a temporary
// directory and starts it on 127.0.0.1 on a free port. When the test runs as
// root, initdb and postgres run as the postgres system user (initdb refuses
// root). The server is stopped and its directory removed when the test ends.
func StartPostgres(t testing.TB, opts ...PostgresOption) *Postgres {
	t.Helper()
	var o postgresOptions
	for _, opt := range opts {
		opt(&o)
	}

	initdb := filepath.Join(PostgresBinDir, "initdb")
	postgres := filepath.Join(PostgresBinDir, "postgres")
	for _, bin := range []string{initdb, postgres} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("testenv: PostgreSQL 15 is missing (%v): %s", err, postgresInstallHint)
		}
	}

	// As root, initdb and postgres run as the postgres user.
	var cred *syscall.Credential
	owner := func(string) error { return nil }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: running as root, and initdb refuses root, but there is no postgres system user to run it as (%v): %s", err, postgresInstallHint)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		owner = func(path string) error { return os.Lchown(path, uid, gid) }
	}

	base, err := os.MkdirTemp(postgresTempParent(cred != nil), "gatehouse-pg-")
	if err != nil {
		t.Fatalf("testenv: postgres: making a temporary directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := owner(base); err != nil {
		t.Fatalf("testenv: postgres: giving %s to the postgres user: %v", base, err)
	}

	p := &Postgres{
		Host:     "127.0.0.1",
		User:     "postgres",
		Password: randomHex(t, 16),
		DataDir:  filepath.Join(base, "data"),
	}

	pwfile := filepath.Join(base, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		t.Fatalf("testenv: postgres: %v", err)
	}
	if err := owner(pwfile); err != nil {
		t.Fatalf("testenv: postgres: %v", err)
	}

	cmd := exec.Command(initdb, "-D", p.DataDir, "-U", p.User, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.Dir = base
	cmd.Env = filteredEnv("PG")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: postgres: initdb failed: %v\n%s\n(%s)", err, out, postgresInstallHint)
	}
	os.Remove(pwfile)

	args := []string{
		"-D", p.DataDir,
		"-k", base,
		"-c", "listen_addresses=127.0.0.1",
		// A throwaway cluster: durability does not matter, speed does.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
	}
	if o.tlsCert != nil || o.tlsKey != nil {
		certFile := filepath.Join(p.DataDir, "server.crt")
		keyFile := filepath.Join(p.DataDir, "server.key")
		for _, f := range []struct {
			path string
			data []byte
		}{{certFile, o.tlsCert}, {keyFile, o.tlsKey}} {
			if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
				t.Fatalf("testenv: postgres: writing %s: %v", f.path, err)
			}
			if err := owner(f.path); err != nil {
				t.Fatalf("testenv: postgres: %v", err)
			}
		}
		args = append(args, "-c", "ssl=on", "-c", "ssl_cert_file="+certFile, "-c", "ssl_key_file="+keyFile)
	}
	for _, s := range o.settings {
		args = append(args, "-c", s[0]+"="+s[1])
	}

	logPath := filepath.Join(base, "postgres.log")
	p.LogFile = logPath
	const attempts = 5
	for attempt := 1; ; attempt++ {
		p.Port = FreePort(t)
		srv, err := startPostgresProcess(postgres, append(args, "-p", strconv.Itoa(p.Port)), base, cred, logPath)
		if err == nil {
			t.Cleanup(func() {
				srv.stop()
				if t.Failed() {
					t.Logf("testenv: postgres log (%s), last lines:\n%s", logPath, srv.log.tail())
				}
			})
			return p
		}
		if srv != nil && srv.log.contains("already in use") && attempt < attempts {
			continue // the free port was taken in the meantime
		}
		tail := ""
		if srv != nil {
			tail = srv.log.tail()
		}
		t.Fatalf("testenv: postgres did not start: %v\nlog:\n%s", err, tail)
	}
}

// postgresTempParent picks a directory for the cluster. When postgres runs as
// another user every ancestor of its directory must be searchable by others;
// the unix socket path must also stay short (at most 107 bytes).
func postgresTempParent(otherUser bool) string {
	dir := os.TempDir()
	if len(dir) > 60 {
		return "/tmp"
	}
	if otherUser {
		for d := dir; ; d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			if err != nil || fi.Mode().Perm()&0o001 == 0 {
				return "/tmp"
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return dir
}

type postgresProcess struct {
	cmd    *exec.Cmd
	log    *logBuffer
	exited chan struct{}
	err    error // of cmd.Wait, set before exited closes
}

// startPostgresProcess runs postgres in the foreground (as a child of the test
// process, so it dies with it) and waits until it logs that it accepts
// connections, or exits.
func startPostgresProcess(bin string, args []string, dir string, cred *syscall.Credential, logPath string) (*postgresProcess, error) {
	lb, err := newLogBuffer(logPath)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		lb.close()
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = filteredEnv("PG")
	cmd.Stdout = pw
	cmd.Stderr = pw
	// SIGQUIT is postgres's immediate shutdown: it takes its backends along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		lb.close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	pw.Close()

	s := &postgresProcess{cmd: cmd, log: lb, exited: make(chan struct{})}
	ready := make(chan struct{})
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		defer pr.Close()
		seen := false
		scanLines(pr, func(line string) {
			lb.add(line)
			if !seen && strings.Contains(line, "database system is ready to accept connections") {
				seen = true
				close(ready)
			}
		})
	}()
	go func() {
		s.err = cmd.Wait()
		<-logDone // backends share the pipe; it ends when the last one exits
		lb.close()
		close(s.exited)
	}()

	select {
	case <-ready:
		return s, nil
	case <-s.exited:
		return s, fmt.Errorf("postgres exited before it was ready: %v", s.err)
	}
}

// stop asks for a fast shutdown and waits for the server to exit.
func (s *postgresProcess) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Addr returns "127.0.0.1:PORT".
func (p *Postgres) Addr() string {
	return net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
}

// DSN returns a postgres:// URL, usable by pgx and psql, for database db as
// user with password over TCP without TLS. An empty user means the superuser
// (with its password); an empty db means "postgres".
func (p *Postgres) DSN(db, user, password string) string {
	if user == "" {
		user, password = p.User, p.Password
	}
	if db == "" {
		db = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     p.Addr(),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec runs sql as the superuser in the postgres database, failing the test
// on any error. sql may hold several statements separated by semicolons
// (simple protocol); they run in one implicit transaction, so statements
// that refuse a transaction block (CREATE DATABASE, DROP DATABASE, VACUUM)
// need an Exec call of their own.
func (p *Postgres) Exec(t testing.TB, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DSN("postgres", p.User, p.Password))
	if err != nil {
		t.Fatalf("testenv: postgres: connecting to %s as %s: %v", p.Addr(), p.User, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("testenv: postgres: %v\nSQL: %s", err, sql)
	}
}

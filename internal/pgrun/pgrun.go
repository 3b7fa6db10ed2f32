// Package pgrun starts a throwaway PostgreSQL 15 cluster on 127.0.0.1 for
// `gatehouse dev`. It is not for production databases.
package pgrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// BinDir is where Debian installs the PostgreSQL 15 server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// ErrNotInstalled means PostgreSQL's server binaries are not on this machine.
var ErrNotInstalled = errors.New("pgrun: PostgreSQL 15 server binaries not found in " + BinDir + " (apt-get install -y postgresql)")

// Server is a running cluster.
type Server struct {
	Port     int
	Password string // of the superuser "postgres"
	dir      string
	cred     *syscall.Credential
}

// Start creates a fresh cluster in dir (which must not exist or be empty)
// and starts it on port (0: a free one). As root, initdb and postgres run
// as the postgres system user, because initdb refuses root.
func Start(ctx context.Context, dir string, port int) (*Server, error) {
	if _, err := os.Stat(filepath.Join(BinDir, "initdb")); err != nil {
		return nil, ErrNotInstalled
	}
	s := &Server{Port: port, Password: randomHex(16), dir: dir}
	chown := func(string) error { return nil }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgrun: running as root needs the postgres system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		chown = func(p string) error { return os.Chown(p, uid, gid) }
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgrun: %w", err)
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("pgrun: %w", err)
	}
	for _, p := range []string{dir, pwfile} {
		if err := chown(p); err != nil {
			return nil, fmt.Errorf("pgrun: give %s to postgres: %w", p, err)
		}
	}
	defer os.Remove(pwfile)
	if out, err := s.command(ctx, "initdb", "-D", s.dataDir(), "-U", "postgres", "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgrun: initdb: %w\n%s", err, out)
	}
	if s.Port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = p
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", s.Port, dir)
	if out, err := s.command(ctx, "pg_ctl", "-D", s.dataDir(), "-l", filepath.Join(dir, "postgres.log"),
		"-o", opts, "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgrun: start postgres on port %d: %w\n%s", s.Port, err, out)
	}
	return s, nil
}

// Stop shuts the cluster down and removes its directory.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.command(ctx, "pg_ctl", "-D", s.dataDir(), "-m", "fast", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgrun: stop: %w\n%s", err, out)
	}
	return os.RemoveAll(s.dir)
}

// PortFree reports whether port can be listened on at 127.0.0.1.
func PortFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir, name), args...)
	cmd.Dir = s.dir
	// Its own process group: a Ctrl-C in gatehouse dev's terminal must not
	// reach the postmaster, which Stop shuts down in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	return cmd
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgrun: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("pgrun: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

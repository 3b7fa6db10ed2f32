package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/ssh"
)

// sshEndpoint is an SSH server that agents reach the database through,
// each over its own connection, as `ssh -L` would: one direct-tcpip
// channel per PostgreSQL session.
type sshEndpoint struct {
	addr    string // 127.0.0.1:PORT
	user    string
	hostKey ssh.HostKeyCallback
	dest    string // the channel's destination: 127.0.0.1:PGPORT, or orders:PGPORT
	// signers are the agents' keys (and certificates), one per agent; the
	// first n are returned, made on first use.
	signers func(ctx context.Context, n int) ([]ssh.Signer, error)
}

// agentCipher is the one cipher both servers get offered: gatehouse
// accepts only AES-GCM, so OpenSSH is held to the same for a like
// comparison.
var agentCipher = []string{"aes128-gcm@openssh.com"}

// agentConn is one agent's SSH connection (nil when it goes straight to
// PostgreSQL) and its PostgreSQL session.
type agentConn struct {
	ssh *ssh.Client
	pg  *pgconn.PgConn
}

// login says who an agent is to PostgreSQL.
type login struct {
	user, password, database string
	port                     int // PostgreSQL's, for the direct path
}

// dialAgent opens an agent's SSH connection with signer (when e is not
// nil) and its PostgreSQL session through it.
func dialAgent(ctx context.Context, e *sshEndpoint, signer ssh.Signer, l login) (*agentConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", l.port, l.user, l.database))
	if err != nil {
		return nil, err
	}
	cfg.Password = l.password
	a := &agentConn{}
	if e != nil {
		if a.ssh, err = dialSSH(ctx, e, signer); err != nil {
			return nil, err
		}
		cfg.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return a.ssh.DialContext(ctx, "tcp", e.dest)
		}
	}
	if a.pg, err = pgconn.ConnectConfig(ctx, cfg); err != nil {
		a.close()
		return nil, fmt.Errorf("PostgreSQL start-up as %s: %w", l.user, err)
	}
	return a, nil
}

func dialSSH(ctx context.Context, e *sshEndpoint, signer ssh.Signer) (*ssh.Client, error) {
	cfg := &ssh.ClientConfig{
		User:            e.user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: e.hostKey,
		Config:          ssh.Config{Ciphers: agentCipher},
		Timeout:         10 * time.Second,
	}
	var d net.Dialer
	tcp, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", e.addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		tcp.SetDeadline(deadline)
	}
	c, chans, reqs, err := ssh.NewClientConn(tcp, e.addr, cfg)
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("SSH to %s: %w", e.addr, err)
	}
	tcp.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

func (a *agentConn) close() {
	if a.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a.pg.Close(ctx) // sends Terminate, so the session ends as a client's would
		cancel()
	}
	if a.ssh != nil {
		a.ssh.Close()
	}
}

// dialAgents opens n agents, at most parallel at a time (below sshd's
// MaxStartups and gatehouse's max_unauthenticated_connections); on an
// error it closes those it opened.
func dialAgents(ctx context.Context, e *sshEndpoint, n, parallel int, l login) ([]*agentConn, error) {
	var signers []ssh.Signer
	if e != nil {
		var err error
		if signers, err = e.signers(ctx, n); err != nil {
			return nil, err
		}
	}
	agents := make([]*agentConn, n)
	err := forEach(n, parallel, func(i int) error {
		var s ssh.Signer
		if signers != nil {
			s = signers[i]
		}
		a, err := dialAgent(ctx, e, s, l)
		if err != nil {
			return fmt.Errorf("agent %d: %w", i, err)
		}
		agents[i] = a
		return nil
	})
	if err != nil {
		closeAgents(agents)
		return nil, err
	}
	return agents, nil
}

func closeAgents(agents []*agentConn) {
	forEach(len(agents), 16, func(i int) error {
		if agents[i] != nil {
			agents[i].close()
		}
		return nil
	})
}

// forEach runs f(0..n-1), at most parallel at once, and returns the
// first error.
func forEach(n, parallel int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	slots := make(chan struct{}, max(parallel, 1))
	for i := 0; i < n; i++ {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// opensshEndpoint: the private sshd, every agent with the one key its
// authorized_keys holds (sshd checks a key, gatehouse a certificate).
func opensshEndpoint(s *sshdServer, dbPort int) (*sshEndpoint, error) {
	key, err := os.ReadFile(s.clientKey)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("the sshd's client key: %w", err)
	}
	hostPub, err := os.ReadFile(s.hostKey + ".pub")
	if err != nil {
		return nil, err
	}
	host, _, _, _, err := ssh.ParseAuthorizedKey(hostPub)
	if err != nil {
		return nil, fmt.Errorf("the sshd's host key: %w", err)
	}
	return &sshEndpoint{addr: s.addr, user: s.user, hostKey: ssh.FixedHostKey(host),
		dest: fmt.Sprintf("127.0.0.1:%d", dbPort),
		signers: func(_ context.Context, n int) ([]ssh.Signer, error) {
			out := make([]ssh.Signer, n)
			for i := range out {
				out[i] = signer
			}
			return out, nil
		}}, nil
}

// gatehouseEndpoint: gatehouse's SSH server, its host certificate checked
// against the host CA from GET /v1/ca, each agent with its own key and
// certificate from `gatehouse ca sign`.
func gatehouseEndpoint(gh *gatehouseServer, dbPort int) (*sshEndpoint, error) {
	// "@cert-authority PATTERNS KEYTYPE KEY"
	fields := strings.Fields(gh.hostCA)
	if len(fields) < 4 {
		return nil, fmt.Errorf("host CA line %q", gh.hostCA)
	}
	ca, _, _, _, err := ssh.ParseAuthorizedKey([]byte(fields[2] + " " + fields[3]))
	if err != nil {
		return nil, fmt.Errorf("the host CA: %w", err)
	}
	checker := &ssh.CertChecker{IsHostAuthority: func(auth ssh.PublicKey, _ string) bool {
		return string(auth.Marshal()) == string(ca.Marshal())
	}}
	return &sshEndpoint{addr: gh.sshAddr, user: "gatehouse", dest: fmt.Sprintf("orders:%d", dbPort),
		// The host certificate names "gatehouse", as the ssh_config's
		// HostKeyAlias does for OpenSSH.
		hostKey: func(_ string, remote net.Addr, key ssh.PublicKey) error {
			return checker.CheckHostKey("gatehouse:22", remote, key)
		},
		signers: gh.agentSigners}, nil
}

// agentSigners returns the first n agents' keys, each with its own
// certificate from `gatehouse ca sign` (an agent certificate, as
// `gatehouse agent-cert` makes); more are made as needed and kept.
func (gh *gatehouseServer) agentSigners(ctx context.Context, n int) ([]ssh.Signer, error) {
	gh.mu.Lock()
	defer gh.mu.Unlock()
	have := len(gh.agents)
	if have >= n {
		return gh.agents[:n], nil
	}
	dir := filepath.Join(gh.dir, "agents")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	start := time.Now()
	more := make([]ssh.Signer, n-have)
	// Two at a time: ca sign is a process start and a key load, on a
	// machine of two CPUs.
	err := forEach(len(more), 2, func(i int) error {
		s, err := gh.signAgent(ctx, filepath.Join(dir, fmt.Sprintf("agent-%d", have+i)), have+i)
		more[i] = s
		return err
	})
	if err != nil {
		return nil, err
	}
	say("  %d agent certificates from gatehouse ca sign in %.1f s", len(more), time.Since(start).Seconds())
	gh.agents = append(gh.agents, more...)
	return gh.agents, nil
}

func (gh *gatehouseServer) signAgent(ctx context.Context, base string, i int) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(base+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, gh.bin, "ca", "sign", "--config", gh.cfgPath, "--key", base+".pub",
		"--identity", "bench@example.com", "--agent", fmt.Sprintf("bench-agent-%d", i),
		"--grant", "orders:readonly", "--grant", "orders:masked", "--ttl", "30m")
	cmd.Env = gh.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gatehouse ca sign (agent %d): %v\n%s", i, err, out)
	}
	certText, err := os.ReadFile(base + "-cert.pub")
	if err != nil {
		return nil, err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(certText)
	if err != nil {
		return nil, fmt.Errorf("agent %d's certificate: %w", i, err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		return nil, errors.New("gatehouse ca sign wrote a key, not a certificate")
	}
	return ssh.NewCertSigner(cert, signer)
}

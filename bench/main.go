// Command bench is `make bench`: pgbench -S against a throwaway PostgreSQL
// 15, directly, through an OpenSSH `ssh -L` tunnel to a private sshd, and
// through gatehouse (PostgreSQL proxy with statement policy) recording to
// the file store, to S3 with Object Lock (a MinIO server), and to a store
// that discards (benchmark only), side by side with the ratios; then the connect latency
// (SSH handshake + PostgreSQL start-up + first query) through OpenSSH and
// through gatehouse. Everything runs on 127.0.0.1 in a temporary directory
// that is removed at the end, also after an error or Ctrl-C.
//
//	go run ./bench -gatehouse bin/gatehouse [-clients 4 -threads 2 -duration 10s -rounds 3]
//
// With -profile DIR, one more pgbench run per gatehouse path, after the
// measured rounds, is sampled with perf; the recordings and perf's reports
// go to DIR, and a breakdown of gatehouse's CPU time by category is printed. With -tmpfs-diagnostic (default on), one more
// gatehouse runs with its recordings directory on /dev/shm, where fsync
// costs nothing: the difference to the file-store run is what the
// recorder's fsync costs. It is a diagnostic, not a configuration to run:
// recordings on tmpfs are not durable. The file store's gatehouse also
// serves the database as a protocol: tcp target, a path through its SSH
// server and byte relay alone: the floor under the proxy.
//
// With -agents 1,4,16,64, that many agents at once, each its own SSH
// connection, certificate and PostgreSQL session, run pgbench -S's
// statement directly, through OpenSSH's sshd and through the gatehouses;
// with -idle-sessions N, N sessions are held open through a gatehouse of
// their own while its memory, threads and goroutines are read.
//
// See docs/benchmarks.md for figures and how to read them.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/pgrun"
	"github.com/gatehouse-dev/gatehouse/internal/syncbuf"
)

type options struct {
	gatehouse      string
	clients        int
	threads        int
	duration       time.Duration
	scale          int
	connects       int
	rounds         int
	profile        string
	tmpfsDiag      bool
	keep           bool
	mode           string
	bulkRows       int
	s3             bool
	decisionWindow time.Duration
	minio          string
	agents         []int // the many-agents mode's agent counts (none: not run)
	idleSessions   int   // the idle-scale run's sessions (0: not run)
	idleSettle     time.Duration
	idleHold       time.Duration
	idleProfile    string // where the idle run saves gatehouse's profiles ("": none)
}

func main() {
	var o options
	flag.StringVar(&o.gatehouse, "gatehouse", "", "the gatehouse binary (default: go build ./cmd/gatehouse into the temporary directory)")
	flag.IntVar(&o.clients, "clients", 4, "pgbench -c")
	flag.IntVar(&o.threads, "threads", 2, "pgbench -j")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "pgbench -T, per run")
	flag.IntVar(&o.scale, "scale", 10, "pgbench -i -s")
	flag.IntVar(&o.connects, "connects", 20, "connect-latency samples per path (0: none)")
	flag.IntVar(&o.rounds, "rounds", 3, "pgbench rounds; each round runs every path once, in turn; medians are reported (0: none, e.g. for the bulk read alone)")
	flag.StringVar(&o.profile, "profile", "", "directory for a perf CPU profile of gatehouse under the pgbench load, and under each -agents run through the file store (needs perf)")
	flag.BoolVar(&o.tmpfsDiag, "tmpfs-diagnostic", true, "also run gatehouse with recordings on /dev/shm (fsync is free there) to show what fsync costs")
	flag.StringVar(&o.mode, "mode", "simple", "pgbench -M: simple (as pgbench -S sends by default), extended or prepared")
	flag.IntVar(&o.bulkRows, "bulk-rows", 1_000_000, "rows of the masked bulk read (6 columns, 2 masked); 0 skips it")
	flag.DurationVar(&o.decisionWindow, "decision-window", 0, "also run gatehouse recording to S3 with recording.decision_sync_window set to this (statements do not wait for their decision's fsync); 0: not run")
	flag.BoolVar(&o.s3, "s3", true, "also run gatehouse recording to S3 with Object Lock, on a MinIO server (false: leave it out, e.g. without MinIO)")
	flag.StringVar(&o.minio, "minio", "", "the MinIO server binary (default: the one `make test-deps` caches in ~/.cache/gatehouse/bin, else minio on PATH)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, recordings) instead of removing it")
	flag.Func("agents", "many agents: comma-separated agent counts, e.g. 1,4,16,64; each agent its own SSH connection, certificate and PostgreSQL session, for -duration per path (empty: not run)", func(v string) (err error) {
		o.agents, err = parseCounts(v)
		return err
	})
	flag.IntVar(&o.idleSessions, "idle-sessions", 0, "idle scale: this many sessions (SSH connection + masked PostgreSQL session) held open at once through one gatehouse, its RSS and threads measured (0: not run)")
	flag.DurationVar(&o.idleSettle, "idle-settle", 15*time.Second, "idle scale: how long after the sessions close gatehouse's memory is measured again")
	flag.DurationVar(&o.idleHold, "idle-hold", 15*time.Second, "idle scale: how long the sessions stay open and idle, after each ran its statement, before gatehouse's memory is measured (an idle fleet is measured idle, not while the garbage of its handshakes is still there)")
	flag.StringVar(&o.idleProfile, "idle-profile", "", "idle scale: directory for gatehouse's heap profile, goroutine stacks, MemStats and /proc/PID/smaps before, while open and after (turns on ops.pprof; a gatehouse that has it)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted; everything it started is stopped and removed")
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// cleanups run in reverse order at the end, whatever happened.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }
func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

func run(ctx context.Context, o options) error {
	if runtime.GOOS != "linux" {
		return errors.New("the benchmark needs Linux (/proc, and PostgreSQL's Debian layout)")
	}
	tools, err := checkTools(o)
	if err != nil {
		return err
	}
	var minioBin string
	if o.s3 {
		if minioBin, err = minioBinary(o.minio); err != nil {
			return err
		}
	}
	var done cleanups
	defer func() { done.run() }() // the list as it is at the end

	tmp, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	// PostgreSQL runs as the postgres user when we are root: it must be
	// able to reach its directory inside this one.
	if err := os.Chmod(tmp, 0o711); err != nil {
		return err
	}
	done.add(func() {
		if o.keep {
			fmt.Println("kept", tmp)
			return
		}
		os.RemoveAll(tmp)
	})

	if o.gatehouse == "" {
		o.gatehouse = filepath.Join(tmp, "gatehouse-bin") // tmp/gatehouse is the first server's directory
		say("building gatehouse")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.gatehouse, "./cmd/gatehouse")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/gatehouse (run from the repository root): %v\n%s", err, out)
		}
	} else if o.gatehouse, err = filepath.Abs(o.gatehouse); err != nil {
		return err
	}
	if _, err := os.Stat(o.gatehouse); err != nil {
		return fmt.Errorf("gatehouse binary: %w (make build)", err)
	}

	idle := sampleBusy(2 * time.Second)
	load, _ := os.ReadFile("/proc/loadavg")
	say("machine before the runs: %.0f%% of %d CPUs busy over 2 s; load average %s", idle*100, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))

	// PostgreSQL, with the pgbench tables made directly as their owner.
	say("starting PostgreSQL 15 (initdb in %s)", tmp)
	pg, err := pgrun.Start(ctx, filepath.Join(tmp, "pg"), 0)
	if err != nil {
		return err
	}
	done.add(func() {
		if err := pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stop PostgreSQL:", err)
		}
	})
	db := &database{port: pg.Port, name: "orders", owner: "app_owner", ownerPassword: randomHex(12)}
	if err := db.setUp(ctx, pg.Password); err != nil {
		return err
	}
	if err := raiseMaxConnections(ctx, pg, filepath.Join(tmp, "pg"), connectionsNeeded(o)); err != nil {
		return err
	}
	say("pgbench -i -s %d (as %s, directly)", o.scale, db.owner)
	initCmd := exec.CommandContext(ctx, tools.pgbench, "-i", "-q", "-s", strconv.Itoa(o.scale),
		"-h", "127.0.0.1", "-p", strconv.Itoa(db.port), "-U", db.owner, db.name)
	initCmd.Env = append(os.Environ(), "PGPASSWORD="+db.ownerPassword)
	if out, err := initCmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}

	// OpenSSH: a private sshd and its tunnel.
	say("starting a private sshd")
	sshDir := filepath.Join(tmp, "ssh")
	sshd, err := startSSHD(ctx, tools, sshDir, &done)
	if err != nil {
		return err
	}
	sshPort, err := startTunnel(ctx, sshd.config, "bench-sshd", fmt.Sprintf("127.0.0.1:%d", db.port), &done)
	if err != nil {
		return err
	}

	// gatehouse: ca init, serve, a certificate from ca sign, the tunnel;
	// one per way of recording.
	say("starting gatehouse (recording to the file store)")
	ghDir := filepath.Join(tmp, "gatehouse")
	ghPath, gh, err := gatehousePath(ctx, o, ghDir, fileRecording(filepath.Join(ghDir, "recordings")), db, &done)
	if err != nil {
		return err
	}
	ghPath.name, ghPath.label = "gatehouse", "gatehouse (policy + file store)"
	ghPort := ghPath.port
	paths := []*path{
		{name: "direct", label: "direct to PostgreSQL", port: db.port, user: db.owner, password: db.ownerPassword},
		{name: "openssh", label: "OpenSSH ssh -L", port: sshPort, user: db.owner, password: db.ownerPassword,
			server: func() []int { return descendants(sshd.pid) }},
		ghPath,
	}
	more, err := recordingPaths(ctx, o, minioBin, tmp, db, &done)
	if err != nil {
		return err
	}
	paths = append(paths, more...)
	// The file store's gatehouse, as a TCP relay (no proxy).
	relayPort, err := startTunnel(ctx, gh.sshConfig, "gatehouse", fmt.Sprintf("relay:%d", db.port), &done)
	if err != nil {
		return err
	}
	paths = append(paths, &path{name: "gatehouse-relay", label: "gatehouse, TCP relay◊", port: relayPort, profiled: true,
		user: db.owner, password: db.ownerPassword, server: func() []int { return []int{gh.pid} }})

	b := &bencher{o: o, tools: tools, db: db}
	say("warm-up: pgbench -S for 3 s, directly (not reported)")
	if _, err := b.pgbench(ctx, paths[0], 3*time.Second, nil); err != nil {
		return err
	}
	for r := 1; r <= o.rounds; r++ {
		for _, p := range paths {
			say("round %d/%d: pgbench -S -n -M %s -c %d -j %d -T %d, %s", r, o.rounds, o.mode, o.clients, o.threads, int(o.duration.Seconds()), p.label)
			res, err := b.pgbench(ctx, p, o.duration, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", p.label, err)
			}
			p.runs = append(p.runs, res)
			say("  %.0f TPS, %.3f ms", res.tps, res.latencyMS)
		}
	}

	say("connect latency: %d connections each (ssh -W, start-up, SELECT 1), interleaved", o.connects)
	sshConnect := connectTarget{name: "OpenSSH", config: sshd.config, host: "bench-sshd", dest: fmt.Sprintf("127.0.0.1:%d", db.port),
		user: db.owner, password: db.ownerPassword, database: db.name}
	ghConnect := connectTarget{name: "gatehouse", config: gh.sshConfig, host: "gatehouse", dest: fmt.Sprintf("orders:%d", db.port),
		user: "readonly", database: db.name}
	var sshTimes, ghTimes []time.Duration
	for i := 0; i < o.connects; i++ {
		for _, c := range []struct {
			t   connectTarget
			out *[]time.Duration
		}{{sshConnect, &sshTimes}, {ghConnect, &ghTimes}} {
			d, err := c.t.connect(ctx)
			if err != nil {
				return fmt.Errorf("connect through %s: %w", c.t.name, err)
			}
			*c.out = append(*c.out, d)
		}
	}

	// Profiled runs come after the measured ones: perf's sampling costs
	// gatehouse a little, and the table must not carry that.
	if o.profile != "" {
		for _, p := range paths {
			if !p.profiled {
				continue
			}
			say("profiled run (not in the table): pgbench -S through %s under perf record", p.label)
			prof := &profiler{dir: o.profile, name: p.name, pid: p.server()[0]}
			res, err := b.pgbench(ctx, p, o.duration, prof)
			if err != nil {
				return fmt.Errorf("%s: %w", p.label, err)
			}
			prof.res = res
			p.profiles = append(p.profiles, prof)
			say("  %.0f TPS, %.3f ms (under perf)", res.tps, res.latencyMS)
		}
	}

	many, err := manyAgents(ctx, o, manyAgentsSetup{db: db, sshd: sshd, paths: paths, tmp: tmp, done: &done})
	if err != nil {
		return err
	}

	var bulk []bulkResult
	if o.bulkRows > 0 {
		if bulk, err = bulkReads(ctx, o, db, sshPort, ghPort); err != nil {
			return err
		}
	}

	load, _ = os.ReadFile("/proc/loadavg")
	report(o, paths, sshTimes, ghTimes, strings.Join(strings.Fields(string(load))[:3], " "))
	many.report(o)
	reportBulk(o, bulk)
	if o.profile != "" {
		return reportProfiles(ctx, tools, paths, o.profile)
	}
	return nil
}

func say(format string, args ...any) {
	fmt.Printf("· "+format+"\n", args...)
}

// tools are the programs the benchmark runs, found or installed.
type tools struct {
	pgbench, ssh, sshKeygen, sshd, perf string
}

func checkTools(o options) (tools, error) {
	var t tools
	var missing []string
	find := func(name, hint string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%s)", name, hint))
		}
		return p
	}
	t.pgbench = find("pgbench", "apt-get install -y postgresql-client")
	t.ssh = find("ssh", "apt-get install -y openssh-client")
	t.sshKeygen = find("ssh-keygen", "apt-get install -y openssh-client")
	if o.profile != "" {
		t.perf = find("perf", "apt-get install -y linux-perf")
	}
	if _, err := os.Stat(filepath.Join(pgrun.BinDir, "initdb")); err != nil {
		missing = append(missing, fmt.Sprintf("PostgreSQL 15 server binaries in %s (apt-get install -y postgresql)", pgrun.BinDir))
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("missing: %s", strings.Join(missing, "; "))
	}
	// The OpenSSH baseline needs a server; as root, install it.
	t.sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(t.sshd); err != nil {
		if os.Geteuid() != 0 {
			return t, errors.New("missing: /usr/sbin/sshd, for the OpenSSH baseline (apt-get install -y openssh-server)")
		}
		say("installing openssh-server for the OpenSSH baseline (apt-get install -y openssh-server)")
		cmd := exec.Command("apt-get", "install", "-y", "-q", "openssh-server")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return t, fmt.Errorf("apt-get install -y openssh-server: %v\n%s\n(try apt-get update first)", err, lastLines(out, 10))
		}
		if _, err := os.Stat(t.sshd); err != nil {
			return t, fmt.Errorf("openssh-server installed but %s is missing", t.sshd)
		}
	}
	return t, nil
}

// database is the benchmark's database and its owner.
type database struct {
	port          int
	name          string
	owner         string
	ownerPassword string
}

func (d *database) setUp(ctx context.Context, superPassword string) error {
	conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres password=%s dbname=postgres sslmode=disable", d.port, superPassword))
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL as postgres: %w", err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", d.owner, d.ownerPassword),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", d.name, d.owner),
	} {
		if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(sql, " PASSWORD", 2)[0], err)
		}
	}
	return nil
}

// process is a background child, stopped by the cleanups.
type process struct {
	cmd    *exec.Cmd
	exited chan error
}

func startProcess(cmd *exec.Cmd, done *cleanups) (*process, error) {
	// Children die with us even if we are killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	done.add(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p, nil
}

// waitFor polls ready until it is true, the process exits or time runs out.
func (p *process) waitFor(ctx context.Context, what string, ready func() bool, log func() string) error {
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("%s exited: %v\n%s", what, err, log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 30 s\n%s", what, log())
		}
	}
	return nil
}

type sshdServer struct {
	pid    int
	config string // the client's ssh_config, Host bench-sshd
	// For the many-agents mode's Go clients.
	addr, user         string
	clientKey, hostKey string // private key files; hostKey.pub is the public one
}

// startSSHD runs a private sshd on 127.0.0.1 (INFRA.md) that accepts one
// fresh key for the current user.
func startSSHD(ctx context.Context, t tools, dir string, done *cleanups) (*sshdServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	hostKey, clientKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "id_ed25519")
	for _, k := range []string{hostKey, clientKey} {
		if out, err := exec.CommandContext(ctx, t.sshKeygen, "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		return nil, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		return nil, err
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return nil, err
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte("bench-sshd "+string(hostPub)), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	sshdConfig := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(sshdConfig, []byte(fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
LogLevel ERROR
`, port, hostKey, filepath.Join(dir, "sshd.pid"), authorized)), 0o600); err != nil {
		return nil, err
	}
	me, err := user.Current()
	if err != nil {
		return nil, err
	}
	clientConfig := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(clientConfig, []byte(fmt.Sprintf(`Host bench-sshd
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  HostKeyAlias bench-sshd
  StrictHostKeyChecking yes
`+clientCommon, port, me.Username, clientKey, knownHosts)), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "sshd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	done.add(func() { logFile.Close() })
	cmd := exec.Command(t.sshd, "-D", "-e", "-f", sshdConfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := startProcess(cmd, done)
	if err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := p.waitFor(ctx, "sshd", func() bool { return tcpUp(addr) }, func() string { return readTail(logPath) }); err != nil {
		return nil, err
	}
	return &sshdServer{pid: cmd.Process.Pid, config: clientConfig,
		addr: addr, user: me.Username, clientKey: clientKey, hostKey: hostKey}, nil
}

// clientCommon ends every Host block the benchmark writes.
const clientCommon = `  BatchMode yes
  ExitOnForwardFailure yes
  ConnectTimeout 10
  ControlMaster no
  ControlPath none
  LogLevel ERROR
`

type gatehouseServer struct {
	pid       int
	sshConfig string // Host gatehouse
	// For the many-agents mode: how to reach it and mint certificates.
	bin, dir, cfgPath, logPath, sshAddr string
	opsURL                              string   // its ops endpoint, for its metrics ("": none)
	env                                 []string // of the gatehouse commands
	hostCA                              string   // the @cert-authority line
	mu                                  sync.Mutex
	agents                              []ssh.Signer // agent certificates made so far
}

// gatehouseConfig: one postgres target whose readonly role connects as the
// tables' owner; only gatehouse's statement policy keeps it to reading.
const gatehouseConfig = `data_dir: %s
ssh:
  listen: %s
ca:
  listen: %s
targets:
  orders:
    protocol: postgres
    address: 127.0.0.1:%d
    # -clients sessions of one certificate at once, -agents and
    # -idle-sessions sessions: the bench measures throughput and scale,
    # not the session limits.
    max_sessions: %[9]d
    max_sessions_per_certificate: %[9]d
    roles:
      readonly:
        credentials: &owner {user: %[5]s, password_file: %[6]s}
        statements: readonly
      # masked reads the bulk table through a masking policy (-bulk-rows).
      masked:
        credentials: *owner
        statements: readonly
        masking: bulk
  # relay is the same database as a plain TCP target: the SSH server and
  # byte relay alone, the floor under the PostgreSQL proxy.
  relay:
    protocol: tcp
    address: 127.0.0.1:%[7]d
    roles:
      direct: {}
statements:
  readonly:
    allow: [select, set, show, transaction]
masking:
  bulk:
    columns:
      public.bulk.email: email
      public.bulk.card: last4
%[8]s`

// startGatehouse runs `gatehouse ca init` and `serve` with data in dir,
// recording as rec says, and mints a certificate for orders:readonly with
// `ca sign`.
func startGatehouse(ctx context.Context, o options, dir string, rec recordingSetup, db *database, done *cleanups) (*gatehouseServer, error) {
	bin := o.gatehouse
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	env := append(os.Environ(), rec.env...)
	pwFile := filepath.Join(dir, "owner_password")
	if err := os.WriteFile(pwFile, []byte(db.ownerPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	sshPort, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	sshAddr, apiAddr := fmt.Sprintf("127.0.0.1:%d", sshPort), fmt.Sprintf("127.0.0.1:%d", apiPort)
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	cfg := fmt.Sprintf(gatehouseConfig, dir, sshAddr, apiAddr, db.port, db.owner, pwFile, db.port, rec.yaml, sessionLimit(o))
	opsURL := ""
	if !strings.Contains(rec.yaml, "ops:") { // -idle-profile sets its own
		opsPort, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg += fmt.Sprintf("ops:\n  listen: 127.0.0.1:%d\n", opsPort)
		opsURL = fmt.Sprintf("http://127.0.0.1:%d", opsPort)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	initCmd := exec.CommandContext(ctx, bin, "ca", "init", "--config", cfgPath)
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gatehouse ca init: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	done.add(func() { logFile.Close() })
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = append(env, rec.serveEnv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := startProcess(cmd, done)
	if err != nil {
		return nil, fmt.Errorf("start gatehouse serve: %w", err)
	}
	apiURL := "http://" + apiAddr
	var info struct {
		HostCAKnownHosts string `json:"host_ca_known_hosts"`
	}
	ready := func() bool {
		if !tcpUp(sshAddr) {
			return false
		}
		resp, err := http.Get(apiURL + "/v1/ca")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&info) == nil
	}
	if err := p.waitFor(ctx, "gatehouse serve", ready, func() string { return readTail(logPath) }); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(info.HostCAKnownHosts, "@cert-authority ") {
		return nil, fmt.Errorf("GET %s/v1/ca: host_ca_known_hosts is %q", apiURL, info.HostCAKnownHosts)
	}
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %v\n%s", err, out)
	}
	signCmd := exec.CommandContext(ctx, bin, "ca", "sign", "--config", cfgPath, "--key", key+".pub",
		"--identity", "bench@example.com", "--grant", "orders:readonly", "--grant", "orders:masked", "--grant", "relay:direct", "--ttl", "30m")
	signCmd.Env = env
	if out, err := signCmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gatehouse ca sign: %v\n%s", err, out)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(info.HostCAKnownHosts+"\n"), 0o600); err != nil {
		return nil, err
	}
	sshConfig := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(sshConfig, []byte(fmt.Sprintf(`Host gatehouse
  HostName 127.0.0.1
  Port %d
  User gatehouse
  IdentityFile %s
  CertificateFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  HostKeyAlias gatehouse
  StrictHostKeyChecking yes
`+clientCommon, sshPort, key, key+"-cert.pub", knownHosts)), 0o600); err != nil {
		return nil, err
	}
	return &gatehouseServer{pid: cmd.Process.Pid, sshConfig: sshConfig, bin: bin, dir: dir, cfgPath: cfgPath,
		logPath: logPath, sshAddr: sshAddr, env: env, hostCA: info.HostCAKnownHosts, opsURL: opsURL}, nil
}

// startTunnel runs `ssh -N -L PORT:dest host` and returns the local port.
func startTunnel(ctx context.Context, config, host, dest string, done *cleanups) (int, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	stderr := &syncbuf.Buffer{}
	cmd := exec.Command("ssh", "-F", config, "-N", "-L", fmt.Sprintf("127.0.0.1:%d:%s", port, dest), host)
	cmd.Stderr = stderr
	p, err := startProcess(cmd, done)
	if err != nil {
		return 0, fmt.Errorf("start ssh -L: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	what := fmt.Sprintf("ssh -N -L %d:%s %s", port, dest, host)
	if err := p.waitFor(ctx, what, func() bool { return tcpUp(addr) }, stderr.String); err != nil {
		return 0, err
	}
	return port, nil
}

// path is one way to the database that pgbench is run through.
type path struct {
	name, label    string
	port           int
	user, password string
	server         func() []int // the tunnel's server-side processes, for CPU accounting
	aux            []int        // more processes the path uses (MinIO), counted apart
	s3             *s3Counter   // counts the path's requests to MinIO (nil: none)
	profiled       bool
	gh             *gatehouseServer // the gatehouse behind the path, if one is
	runs           []result
	profiles       []*profiler
}

type result struct {
	tps        float64
	latencyMS  float64
	tx         int64
	busyCPU    time.Duration // the whole machine's busy CPU time during the run
	serverCPU  time.Duration // sshd's or gatehouse's
	auxCPU     time.Duration // the path's aux processes'
	elapsed    time.Duration
	failedTxns int64
}

type bencher struct {
	o     options
	tools tools
	db    *database
}

var (
	reTPS     = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	reLatency = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	reTx      = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
	reFailed  = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

func (b *bencher) pgbench(ctx context.Context, p *path, d time.Duration, prof *profiler) (result, error) {
	args := []string{"-S", "-n", "-M", b.o.mode, "-c", strconv.Itoa(b.o.clients), "-j", strconv.Itoa(b.o.threads),
		"-T", strconv.Itoa(int(d.Round(time.Second).Seconds())), "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", p.user, b.db.name}
	cmd := exec.CommandContext(ctx, b.tools.pgbench, args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.password, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	var pids []int
	if p.server != nil {
		pids = p.server()
	}
	serverBefore, auxBefore := cpuOf(pids), cpuOf(p.aux)
	busyBefore := readBusy()
	start := time.Now()
	if prof != nil {
		if err := prof.start(ctx, b.tools.perf, d); err != nil {
			return result{}, err
		}
	}
	err := cmd.Run()
	if prof != nil {
		if perr := prof.finish(ctx, b.tools.perf); perr != nil && err == nil {
			fmt.Fprintln(os.Stderr, "bench: perf:", perr)
		}
	}
	elapsed := time.Since(start)
	res := result{elapsed: elapsed, busyCPU: readBusy() - busyBefore, serverCPU: cpuOf(pids) - serverBefore, auxCPU: cpuOf(p.aux) - auxBefore}
	if err != nil {
		return res, fmt.Errorf("pgbench %s: %v\n%s", strings.Join(args, " "), err, lastLines(out.Bytes(), 20))
	}
	text := out.String()
	m1, m2, m3 := reTPS.FindStringSubmatch(text), reLatency.FindStringSubmatch(text), reTx.FindStringSubmatch(text)
	if m1 == nil || m2 == nil || m3 == nil {
		return res, fmt.Errorf("cannot read pgbench's output:\n%s", text)
	}
	res.tps, _ = strconv.ParseFloat(m1[1], 64)
	res.latencyMS, _ = strconv.ParseFloat(m2[1], 64)
	res.tx, _ = strconv.ParseInt(m3[1], 10, 64)
	if m := reFailed.FindStringSubmatch(text); m != nil {
		res.failedTxns, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if res.failedTxns > 0 || res.tx == 0 {
		return res, fmt.Errorf("pgbench: %d transactions, %d failed:\n%s", res.tx, res.failedTxns, text)
	}
	return res, nil
}

// profiler runs perf record on gatehouse for the length of one pgbench run.
type profiler struct {
	dir  string
	name string
	pid  int
	res  result // of the pgbench run it profiled
	cmd  *exec.Cmd
	out  bytes.Buffer
	data string
}

func (p *profiler) start(ctx context.Context, perf string, d time.Duration) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	p.data = filepath.Join(p.dir, fmt.Sprintf("perf-%s.data", p.name))
	// Software cpu-clock: works in VMs without hardware counters. Go keeps
	// frame pointers, so -g gives call chains (not through pg_query's C).
	p.cmd = exec.CommandContext(ctx, perf, "record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-p", strconv.Itoa(p.pid),
		"-o", p.data, "--", "sleep", strconv.Itoa(int(d.Seconds())))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	return p.cmd.Start()
}

func (p *profiler) finish(ctx context.Context, perf string) error {
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("perf record: %v\n%s", err, p.out.String())
	}
	return nil
}

// reportProfiles writes perf's own reports of each profiled run and prints
// where gatehouse's CPU time went, by category.
func reportProfiles(ctx context.Context, t tools, paths []*path, dir string) error {
	for _, p := range paths {
		for _, prof := range p.profiles {
			reportPath := strings.TrimSuffix(prof.data, ".data") + "-report.txt"
			f, err := os.Create(reportPath)
			if err != nil {
				return err
			}
			for _, view := range []struct {
				title string
				args  []string
			}{
				{"self time by shared object", []string{"--no-children", "--sort", "dso", "-g", "none"}},
				{"self time by function (top)", []string{"--no-children", "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.7"}},
				{"time including callees, by function", []string{"--children", "--sort", "symbol", "-g", "none", "--percent-limit", "3"}},
			} {
				fmt.Fprintf(f, "==== %s ====\n", view.title)
				cmd := exec.CommandContext(ctx, t.perf, append([]string{"report", "-i", prof.data, "--stdio"}, view.args...)...)
				cmd.Stdout = f
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					f.Close()
					return fmt.Errorf("perf report: %v\n%s", err, stderr.String())
				}
			}
			f.Close()
			r := prof.res
			perTx := float64(r.serverCPU.Microseconds()) / float64(r.tx)
			if err := printCategories(ctx, t.perf, prof.data, p.label, r.tps, perTx); err != nil {
				return err
			}
			fmt.Printf("perf's reports: %s\n", reportPath)
		}
	}
	return nil
}

// printCategories prints where gatehouse's CPU went in one perf
// recording, by category, with each category's share of perTx.
func printCategories(ctx context.Context, perf, data, label string, tps, perTx float64) error {
	cats, total, err := categorize(ctx, perf, data)
	if err != nil {
		return err
	}
	fmt.Printf("\n==== where gatehouse's CPU goes: %s (profiled run: %.0f TPS; perf, %d samples; %.0f µs CPU per transaction) ====\n",
		label, tps, total, perTx)
	fmt.Printf("%-58s %7s %8s\n", "category (first match, in this order)", "share", "µs/tx")
	for _, c := range categories {
		n := cats[c.name]
		share := float64(n) / float64(max(total, 1))
		fmt.Printf("%-58s %6.1f%% %8.0f\n", c.name, share*100, share*perTx)
	}
	return nil
}

// categories sort perf samples of gatehouse by what the call chain shows;
// the first match wins. Samples in pg_query's C code have no usable chain
// (it is built without frame pointers) and are recognised by their leaf.
var categories = []struct {
	name  string
	match func(frames []string) bool
}{
	{"recorder: fsync (kernel: ext4, block I/O)", anyFrame("syscall.Fsync", "do_fsync")},
	{"recorder: JSON, hash chain, file write", anyFrame("gatehouse/recorder.")},
	{"event log line to stderr (slog in connState.record)", anyFrame("log/slog.")},
	{"SQL classification: pg_query parse, fingerprint, walk", func(f []string) bool {
		return anyFrame("policy/sqlclass.", "pg_query_go", "_cgo_")(f) || cLeaf(f)
	}},
	{"socket I/O: read/write syscalls, TCP loopback", anyFrame("syscall.read", "syscall.write", "syscall.Syscall", "internal/poll.", "tcp_", "sock_")},
	{"SSH transport: encryption, MAC, framing (x/crypto/ssh)", anyFrame("golang.org/x/crypto/", "crypto/")},
	{"PostgreSQL protocol relay (pgwire, pgproto3)", anyFrame("bastion/pgwire.", "pgx/v5/pgproto3")},
	{"Go runtime: GC and allocation", anyFrame("runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.mallocgc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcAssist")},
	{"Go runtime: scheduler, idle, futex, netpoll", anyFrame("runtime.schedule", "runtime.findRunnable", "runtime.mcall", "runtime.park_m", "runtime.futex", "runtime.netpoll", "runtime.sysmon", "runtime.usleep", "runtime.notesleep", "runtime.goexit0", "runtime.mstart")},
	{"other", func([]string) bool { return true }},
}

func anyFrame(subs ...string) func([]string) bool {
	return func(frames []string) bool {
		for _, f := range frames {
			for _, s := range subs {
				if strings.Contains(f, s) {
					return true
				}
			}
		}
		return false
	}
}

// cLeaf: the sample's leaf is C code inside the gatehouse binary, which is
// pg_query's (the only C linked in besides cgo's own stubs).
func cLeaf(frames []string) bool {
	if len(frames) == 0 {
		return false
	}
	leaf := frames[0]
	return strings.HasSuffix(leaf, "(gatehouse)") && !strings.Contains(leaf, ".") && !strings.Contains(leaf, "runtime")
}

// categorize counts a perf recording's samples by category.
func categorize(ctx context.Context, perf, data string) (map[string]int, int, error) {
	cmd := exec.CommandContext(ctx, perf, "script", "-i", data, "-F", "ip,sym,dso")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("perf script: %v\n%s", err, stderr.String())
	}
	counts := map[string]int{}
	total := 0
	var frames []string
	flush := func() {
		if len(frames) == 0 {
			return
		}
		total++
		for _, c := range categories {
			if c.match(frames) {
				counts[c.name]++
				break
			}
		}
		frames = frames[:0]
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			flush()
			continue
		}
		// "ADDR SYMBOL+OFF (DSO)": keep the symbol and the dso's base name.
		_, rest, _ := strings.Cut(line, " ")
		sym, dso, _ := strings.Cut(rest, " (")
		if i := strings.LastIndex(sym, "+0x"); i > 0 {
			sym = sym[:i]
		}
		frames = append(frames, sym+" ("+filepath.Base(strings.TrimSuffix(dso, ")"))+")")
	}
	flush()
	return counts, total, nil
}

// connectTarget is one `ssh -W` path for the connect-latency measurement.
type connectTarget struct {
	name, config, host, dest string
	user, password, database string
}

// connect times one new SSH connection (ssh -W, so the SSH handshake is
// included), the PostgreSQL start-up over it and SELECT 1.
func (c connectTarget) connect(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=5432 user=%s dbname=%s sslmode=disable", "127.0.0.1", c.user, c.database))
	if err != nil {
		return 0, err
	}
	cfg.Password = c.password
	var stderr syncbuf.Buffer
	var sshProc *exec.Cmd
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		cmd := exec.Command("ssh", "-F", c.config, "-W", c.dest, c.host)
		cmd.Stderr = &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		sshProc = cmd
		return &pipeConn{r: out, w: in}, nil
	}
	start := time.Now()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	var elapsed time.Duration
	if err == nil {
		_, err = conn.Exec(ctx, "SELECT 1").ReadAll()
		elapsed = time.Since(start)
		conn.Close(ctx)
	}
	if sshProc != nil {
		// ssh -W ends when its stdin closes; make sure of it.
		waited := make(chan struct{})
		go func() { sshProc.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			sshProc.Process.Kill()
			<-waited
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%v\nssh: %s", err, stderr.String())
	}
	return elapsed, nil
}

// pipeConn is a net.Conn over an ssh -W process's stdout and stdin.
type pipeConn struct {
	r io.ReadCloser
	w io.WriteCloser
}

func (c *pipeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *pipeConn) Close() error {
	c.w.Close()
	return nil
}
func (c *pipeConn) LocalAddr() net.Addr                { return pipeAddr{} }
func (c *pipeConn) RemoteAddr() net.Addr               { return pipeAddr{} }
func (c *pipeConn) SetDeadline(t time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(t time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "ssh-W" }
func (pipeAddr) String() string  { return "ssh-W" }

// report prints the side-by-side tables of what was run: -rounds 0 and
// -connects 0 leave out theirs (for example to run the bulk read alone).
func report(o options, paths []*path, sshTimes, ghTimes []time.Duration, loadAfter string) {
	if o.rounds > 0 {
		reportPgbench(o, paths)
	}
	if len(sshTimes) > 0 && len(ghTimes) > 0 {
		reportConnects(sshTimes, ghTimes)
	}
	fmt.Printf("\nmachine: %d CPUs, %s; load average after: %s\n", runtime.NumCPU(), cpuModel(), loadAfter)
}

// reportPgbench prints the pgbench table, the issue-3 line and the
// recording stores' costs.
func reportPgbench(o options, paths []*path) {
	med := medianRun
	direct, openssh := med(findPath(paths, "direct")), med(findPath(paths, "openssh"))
	fmt.Printf("\n==== pgbench -S -n -M %s -c %d -j %d -T %d, scale %d; %d round(s), median by TPS ====\n",
		o.mode, o.clients, o.threads, int(o.duration.Seconds()), o.scale, o.rounds)
	fmt.Printf("%-34s %10s %11s %9s %10s %10s %13s %13s\n", "path", "TPS", "latency ms", "vs direct", "vs OpenSSH", "CPU busy", "CPU µs/tx", "server µs/tx")
	for _, p := range paths {
		r := med(p)
		server := "-"
		if p.server != nil {
			server = fmt.Sprintf("%.0f", float64(r.serverCPU.Microseconds())/float64(r.tx))
		}
		busy := float64(r.busyCPU) / float64(r.elapsed) / float64(runtime.NumCPU()) * 100
		fmt.Printf("%-34s %10.0f %11.3f %8.2f× %9.2f× %9.0f%% %13.0f %13s\n", p.label, r.tps, r.latencyMS,
			r.tps/direct.tps, r.tps/openssh.tps, busy, float64(r.busyCPU.Microseconds())/float64(r.tx), server)
		if o.rounds > 1 {
			var all []string
			for _, x := range p.runs {
				all = append(all, fmt.Sprintf("%.0f", x.tps))
			}
			fmt.Printf("%-34s %s\n", "", "rounds: "+strings.Join(all, ", ")+" TPS")
		}
	}
	fmt.Println("CPU busy: the whole machine (pgbench, ssh, the server, PostgreSQL, and anything else running),")
	fmt.Println("as a share of all CPUs; CPU µs/tx: that busy time per transaction; server µs/tx: sshd's or gatehouse's own.")
	if p := findPath(paths, "gatehouse-s3"); p != nil {
		r := med(p)
		fmt.Printf("† recording.store s3: spooled (fsync) in recording.dir, uploaded in chunks to MinIO on this machine; MinIO used %.0f µs/tx more.\n",
			float64(r.auxCPU.Microseconds())/float64(r.tx))
	}
	fmt.Println("‡ benchmark only: the recorder encodes, chains and signs events and keeps none (no write, no fsync).")
	if findPath(paths, "gatehouse-s3-window") != nil {
		fmt.Println("§ as † with recording.decision_sync_window: statements do not wait for their decision's fsync (not the default).")
	}
	if findPath(paths, "gatehouse-tmpfs") != nil {
		fmt.Println("* diagnostic only: the file store on /dev/shm, where fsync costs nothing; not durable.")
	}
	if findPath(paths, "gatehouse-relay") != nil {
		fmt.Println("◊ diagnostic only: the same database as a protocol: tcp target of the file store's gatehouse: its SSH")
		fmt.Println("  server and byte relay alone, no statement seen, decided or recorded; the floor under the proxy.")
	}
	gh := med(findPath(paths, "gatehouse"))
	verdict := "MET"
	if gh.tps < openssh.tps {
		verdict = "NOT MET"
	}
	fmt.Printf("Target (issue 3) gatehouse TPS ≥ 1.0× OpenSSH tunnel: %.2f× — %s\n", gh.tps/openssh.tps, verdict)
	reportRecordingCost(paths)
}

func reportConnects(sshTimes, ghTimes []time.Duration) {
	fmt.Printf("\n==== connect latency: ssh -W + PostgreSQL start-up + SELECT 1, %d each ====\n", len(sshTimes))
	fmt.Printf("%-34s %10s %10s %10s %10s\n", "path", "median ms", "min ms", "p90 ms", "max ms")
	for _, row := range []struct {
		name  string
		times []time.Duration
	}{{"OpenSSH (ssh -W to sshd)", sshTimes}, {"gatehouse (ssh -W orders:PORT)", ghTimes}} {
		ts := slices.Clone(row.times)
		slices.Sort(ts)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		fmt.Printf("%-34s %10.1f %10.1f %10.1f %10.1f\n", row.name, ms(median(ts)), ms(ts[0]), ms(ts[len(ts)*9/10]), ms(ts[len(ts)-1]))
	}
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// clockTick is USER_HZ, which is 100 on every Linux architecture Go
// supports in practice.
const clockTick = 10 * time.Millisecond

// readBusy is the machine's busy CPU time so far, from /proc/stat.
func readBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		// user nice system idle iowait irq softirq steal ...; guest is in user already.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += v
	}
	return time.Duration(busy) * clockTick
}

// sampleBusy is the share of all CPUs busy over d.
func sampleBusy(d time.Duration) float64 {
	before := readBusy()
	time.Sleep(d)
	return float64(readBusy()-before) / float64(d) / float64(runtime.NumCPU())
}

// cpuOf is the CPU time (user + system) the processes have used so far.
func cpuOf(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name may hold spaces: fields start after its ')'.
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		total += time.Duration(utime+stime) * clockTick
	}
	return total
}

// descendants lists pid and every process below it (sshd forks one or two
// processes per connection).
func descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{root}
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tcpUp(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func readTail(path string) string {
	data, _ := os.ReadFile(path)
	return lastLines(data, 30)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

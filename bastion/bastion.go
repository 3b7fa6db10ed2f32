// Package bastion is gatehouse's SSH front door. It authenticates
// connections by SSH user certificate only, opens direct-tcpip channels
// (ssh -L, ssh -W) to configured targets named by the client and granted
// by the certificate, refuses everything else, and records each connection
// as one session stream. A channel to a postgres target is handed to
// bastion/pgsession, which serves the database session on it and records
// through the connection (pgsession.Conn).
package bastion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/bastion/pgsession"
	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/masking"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Config is what a Server needs. Policy, UserCAKeys, HostSigner and
// Recorder are required; the rest have defaults.
type Config struct {
	// Policy names the targets. Policy.SSH supplies the handshake and idle
	// timeouts (zero gets policy's defaults, 30s and 30m) and the clock
	// skew allowed before a certificate's ValidAfter (nil: 1m; zero is
	// none). Policy.CA.MaxTTL bounds the lifetime of certificates
	// accepted (zero: no bound beyond their being finite).
	Policy *policy.Config
	// UserCAKeys are the authorities whose user certificates are accepted.
	UserCAKeys []gossh.PublicKey
	// HostSigner is the host key, normally wrapped with its host
	// certificate by gossh.NewCertSigner.
	HostSigner gossh.Signer
	// Recorder opens one stream of kind recorder.KindSession per
	// connection. A connection whose events cannot be recorded is closed.
	Recorder *recorder.Recorder
	// Dial connects to a target's address. If nil, a net.Dialer is used.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// IsRevoked reports whether a certificate has been revoked. It is
	// consulted at authentication, at every channel open, and for every
	// live session by EnforceRevocation. If nil, nothing is revoked.
	IsRevoked func(*gossh.Certificate) bool
	// Credentials leases the credentials of roles whose credentials.vault
	// names a path (pgsession.CredentialSource). If nil, such roles are
	// refused.
	Credentials pgsession.CredentialSource
	// Masker masks the columns of roles with a masking policy (its hash
	// mask is keyed). If nil, sessions of such roles are refused.
	Masker *masking.Masker
	// Statement is pgsession.Config.Statement: told of every database
	// statement's outcome (metrics). May be nil.
	Statement func(decision string, took time.Duration)
	// Clock is used for certificate validity and session durations. If
	// nil, time.Now is used.
	Clock func() time.Time
	// ReleaseMemory runs after the Go heap's free memory is returned once
	// the connections fall from a peak (memory.go), on the same quiet
	// second: cmd gives back the C heap's (pg_query's malloc arenas). If
	// nil, only the Go heap's is returned.
	ReleaseMemory func()
	// Logger receives structured logs. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Recorded, if set, is told of every event a session records, once
	// it is recorded: its type and payload (an event package type).
	// It runs on the goroutine that recorded it, often the relay's, and
	// must not block (metrics).
	Recorded func(typ event.Type, data any)

	// afterFunc runs f after d, like time.AfterFunc, and returns what
	// stops it; the ending of sessions at their certificate's expiry
	// goes through it. Tests replace it to fire the timer at will.
	afterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Defaults applied when Policy.SSH leaves a value at zero, the same as
// policy.Parse applies.
const (
	defaultHandshakeTimeout = 30 * time.Second
	defaultIdleTimeout      = 30 * time.Minute
	defaultClockSkew        = time.Minute
	// dialTimeout bounds how long a channel open waits for its target.
	dialTimeout = 15 * time.Second
)

// Server is the SSH bastion. Create it with New and run it with Serve.
type Server struct {
	cfg              Config
	log              *slog.Logger
	handshakeTimeout time.Duration
	idleTimeout      time.Duration
	certs            certChecker
	limiter          *sourcelimit.Limiter // unauthenticated connections, per source

	pg *pgsession.Proxy // the sessions of postgres targets

	// live is every connection whose recording is open, for
	// EnforceRevocation, which is called from outside any connection.
	live liveSet
	// channelHandlers and requestHandlers are shared by the gliderlabs
	// server of every connection (sshServer).
	channelHandlers map[string]gliderssh.ChannelHandler
	requestHandlers map[string]gliderssh.RequestHandler

	// draining is closed by Drain; drainTimeout is ssh.drain_timeout.
	draining     chan struct{}
	drainOnce    sync.Once
	drainTimeout time.Duration
}

// New checks cfg and prepares a Server.
func New(cfg Config) (*Server, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	timeouts := cfg.Policy.SSH
	s := &Server{
		cfg:              cfg,
		log:              cfg.Logger,
		handshakeTimeout: orDefault(timeouts.HandshakeTimeout.D(), defaultHandshakeTimeout),
		idleTimeout:      orDefault(timeouts.IdleTimeout.D(), defaultIdleTimeout),
		drainTimeout:     orDefault(timeouts.DrainTimeout.D(), policy.DefaultDrainTimeout),
		draining:         make(chan struct{}),
		certs: certChecker{
			authorities: cfg.UserCAKeys,
			skew:        clockSkew(timeouts),
			maxTTL:      cfg.Policy.CA.MaxTTL.D(),
			isRevoked:   cfg.IsRevoked,
		},
		limiter: sourcelimit.New(
			orDefaultInt(timeouts.MaxAuthAttemptsPerMinute, policy.DefaultMaxAuthAttemptsPerMinute),
			orDefaultInt(timeouts.MaxUnauthenticated, policy.DefaultMaxUnauthenticated),
			cfg.Clock),
	}
	pg, err := pgsession.New(pgsession.Config{
		Policy: cfg.Policy, Credentials: cfg.Credentials, Masker: cfg.Masker,
		HandshakeTimeout: s.handshakeTimeout, Clock: cfg.Clock, Statement: cfg.Statement,
	})
	if err != nil {
		return nil, fmt.Errorf("bastion: %w", err)
	}
	s.pg = pg
	s.channelHandlers = map[string]gliderssh.ChannelHandler{
		"direct-tcpip": s.channelHandler((*connState).forward),
		"session":      s.channelHandler((*connState).session),
		"default":      s.channelHandler((*connState).refuseChannelType),
	}
	s.requestHandlers = map[string]gliderssh.RequestHandler{"default": s.globalRequest}
	return s, nil
}

func checkConfig(cfg *Config) error {
	var errs []error
	if cfg.Policy == nil {
		errs = append(errs, errors.New("Policy is required"))
	}
	if len(cfg.UserCAKeys) == 0 {
		errs = append(errs, errors.New("UserCAKeys: at least one user CA key is required"))
	}
	if cfg.HostSigner == nil {
		errs = append(errs, errors.New("HostSigner is required"))
	}
	if cfg.Recorder == nil || cfg.Recorder.Store == nil {
		errs = append(errs, errors.New("Recorder with a Store is required"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("bastion: config: %w", errors.Join(errs...))
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	if cfg.IsRevoked == nil {
		cfg.IsRevoked = func(*gossh.Certificate) bool { return false }
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.afterFunc == nil {
		cfg.afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	return nil
}

// clockSkew is ssh.clock_skew, where zero means zero.
func clockSkew(c policy.SSHConfig) time.Duration {
	if c.ClockSkew == nil {
		return defaultClockSkew
	}
	return c.ClockSkew.D()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orDefaultInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// Serve accepts connections on ln until ctx is done, Drain is called or
// ln fails. Then it closes ln; after Drain it lets the connections it
// accepted run as Drain says, else it closes them at once. It waits until
// each has recorded its end, and returns: nil after ctx is done or a
// drain, otherwise the listener's error. Serve may be called for several
// listeners at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	// background is Serve's own goroutines: the throttle reporter, and
	// the one that closes ln when a drain begins.
	var background sync.WaitGroup
	reporting, stopReporting := context.WithCancel(ctx)
	background.Go(func() { s.reportThrottled(reporting) })
	background.Go(func() {
		select {
		case <-s.draining:
			ln.Close()
		case <-reporting.Done():
		}
	})
	conns := &connSet{}
	var sessions sync.WaitGroup
	memory := newMemoryReturn(s.cfg.ReleaseMemory)
	memory.watchQuiet(readHeap)
	err := s.accept(ctx, ln, conns, memory, &sessions)
	ln.Close()
	stopReporting()
	background.Wait()
	var idle <-chan struct{}
	if ctx.Err() == nil && s.isDraining() {
		idle = waitChan(&sessions)
		s.drainConns(conns, idle, ctx.Done())
	}
	closeAll(conns, errShutdown)
	sessions.Wait()
	if idle != nil {
		<-idle
	}
	memory.stop()
	s.pg.Wait()
	if ctx.Err() != nil || s.isDraining() {
		s.log.Info("bastion stopped", "listen", ln.Addr().String())
		return nil
	}
	return fmt.Errorf("bastion: accept: %w", err)
}

// waitChan is closed once wg's goroutines have ended; its own goroutine
// ends then too (Serve waits for the channel before returning).
func waitChan(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch
}

// accept runs the accept loop. Connections are started here, with
// gliderlabs' HandleConn, rather than by its Serve, because its Serve
// tracks a connection only once its handshake has succeeded: Serve here
// must wait for every connection's goroutine, including the recording of
// its end, failed handshakes too.
func (s *Server) accept(ctx context.Context, ln net.Listener, conns *connSet, memory *memoryReturn, wg *sync.WaitGroup) error {
	s.log.Info("bastion listening", "listen", ln.Addr().String())
	var backoff time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isDraining() {
				return nil
			}
			// Same policy as net/http: ride out temporary failures such
			// as running out of file descriptors.
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "error", err, "delay", backoff)
				if !sleepCtx(ctx, backoff) {
					return nil
				}
				continue
			}
			return err
		}
		backoff = 0
		source := sourcelimit.Source(raw.RemoteAddr().String())
		if why := s.limiter.Admit(source); why != "" {
			turnAway(raw, why)
			continue
		}
		tc := newTimedConn(raw, s.handshakeTimeout, s.limiter, source)
		conns.add(tc)
		memory.opened()
		wg.Go(func() {
			defer memory.closed() // after the connection's end is recorded
			defer conns.remove(tc)
			// Closed on every path, so that the limiter's count of
			// unauthenticated connections cannot leak.
			defer tc.Close()
			s.sshServer(tc).HandleConn(tc)
			// HandleConn returns once the SSH connection is over and its
			// context cancelled; ConnectionFailedCallback, if any, has run.
			if cs := tc.state(); cs != nil {
				cs.finish()
			}
		})
	}
}

// sleepCtx sleeps for d or until ctx is done, and reports whether it
// slept the whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// sshServer is the gliderlabs server of one connection. One per
// connection because ConnectionFailedCallback, the only way gliderlabs
// reports why a handshake failed, is handed neither the connection's
// Context nor the net.Conn given to HandleConn (only its own wrapper):
// its closure is what knows the connection. Everything else finds the
// connection's state in the Context (stateFrom).
func (s *Server) sshServer(tc *timedConn) *gliderssh.Server {
	return &gliderssh.Server{
		Version:              "gatehouse",
		HostSigners:          []gliderssh.Signer{s.cfg.HostSigner},
		IdleTimeout:          s.idleTimeout,
		ConnCallback:         s.connCallback,
		ServerConfigCallback: s.serverConfig,
		ConnectionFailedCallback: func(_ net.Conn, err error) {
			if cs := tc.state(); cs != nil {
				cs.handshakeFailed(err)
			}
		},
		ChannelHandlers:   s.channelHandlers,
		RequestHandlers:   s.requestHandlers,
		SubsystemHandlers: map[string]gliderssh.SubsystemHandler{},
	}
}

// connSet is the connections one Serve call accepted.
type connSet = lockedSet[*timedConn]

// closeAll closes every connection in the set, with cause.
func closeAll(conns *connSet, cause error) {
	for _, tc := range conns.all() {
		tc.closeWith(cause)
	}
}

// liveSet is the connections whose recording is open.
type liveSet = lockedSet[*connState]

// lockedSet is a set safe for concurrent use.
type lockedSet[T comparable] struct {
	mu sync.Mutex
	m  map[T]struct{}
}

func (l *lockedSet[T]) add(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[T]struct{}{}
	}
	l.m[v] = struct{}{}
}

func (l *lockedSet[T]) remove(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, v)
}

// all returns the members now.
func (l *lockedSet[T]) all() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]T, 0, len(l.m))
	for v := range l.m {
		out = append(out, v)
	}
	return out
}

// msgSessionUnrecordable refuses a new channel while the recorder cannot
// take it on (docs/recording-format.md, "Fail closed").
const msgSessionUnrecordable = "gatehouse: session refused: %s, so gatehouse accepts no new session; try again later (the operator sees why at /healthz)"

// recordingRefusal refuses a new channel while the recorder cannot take
// on more: the spool is full while the store is unreachable, or cannot be
// written (recorder.Ready; with fail_closed false it logs and says yes).
func (cs *connState) recordingRefusal() *refusal {
	err := cs.stream.Ready()
	if err == nil {
		return nil
	}
	return &refusal{reason: "recording unavailable: " + err.Error(), message: fmt.Sprintf(msgSessionUnrecordable, recorder.UnavailableSummary(err))}
}

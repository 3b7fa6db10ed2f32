package pgwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

const (
	// clientWriteGrace is how long a client that does not read may hold up
	// a message gatehouse must send it before its connection is closed.
	clientWriteGrace = 5 * time.Second
	// cancelTimeout bounds sending one CancelRequest upstream.
	cancelTimeout = 10 * time.Second
)

// Serve serves one client connection: the PostgreSQL start-up, then the
// relay to the upstream database that Authorize names, until the client
// terminates, either side goes away, or ctx ends. It owns client and closes
// it; it returns only after every goroutine it started has finished.
//
// client needs only Read, Write and Close (an ssh.Channel will do); Close
// must make a blocked Read or Write return.
//
// A CancelRequest on client is forwarded, through cfg.Cancels, to the
// upstream session whose key it names. Serve returns nil when the client
// terminated or disconnected, and otherwise an error saying why the session
// ended. When ctx is cancelled the client gets a FATAL error: the Message of
// an *Error cause (context.WithCancelCause), else "gatehouse: session ended".
func Serve(ctx context.Context, client io.ReadWriteCloser, cfg Config) error {
	if err := cfg.check(); err != nil {
		client.Close()
		return fmt.Errorf("pgwire: %w", err)
	}
	defer client.Close()
	in := &recordingReader{r: client}
	s := &session{
		cfg:        &cfg,
		log:        cfg.logger(),
		client:     client,
		clientIn:   in,
		fromClient: newClientReader(in, cfg.maxMessageSize()),
		toClient:   output{w: client},
	}
	return s.serve(ctx)
}

func (s *session) serve(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	pkt, err := s.readStartup(ctx)
	if err != nil {
		return s.refuse(err)
	}
	if pkt.cancel != nil {
		return s.forwardCancel(ctx, pkt.cancel)
	}
	startup, err := checkStartup(pkt, s.cfg.StartupParameters)
	if err != nil {
		return s.refuse(err)
	}
	s.log = s.log.With("user", startup.User, "database", startup.Database)
	if npv := negotiation(startup); npv != nil {
		s.toClient.send(npv) // before anything else, as PostgreSQL does
	}
	hc, in, err := s.connect(ctx, startup)
	if err != nil {
		return s.refuse(err)
	}
	s.upstream, s.fromDB, s.toDB = hc.Conn, in, output{w: hc.Conn}
	s.replies = newReplies(s.cfg.Observe, s.cfg.now, func(m string) { s.log.Warn("pgwire: replies out of step", "problem", m) })
	s.replies.results, s.replies.redactErrors = s.results, s.results != nil
	s.cancelUpstream = newUpstreamCancel(hc).cancel

	if s.cfg.OnStart != nil {
		if err := s.cfg.OnStart(sessionInfo(startup, hc)); err != nil {
			hc.Conn.Close()
			return s.refuse(clientError(err, codeInternalError, "gatehouse: the session cannot be started"))
		}
	}
	end, err := s.run(ctx, cancel, hc)
	if s.cfg.OnEnd != nil {
		s.cfg.OnEnd(end)
	}
	return err
}

// readStartup reads the client's start-up packets within the handshake
// timeout.
func (s *session) readStartup(ctx context.Context) (*startupPacket, error) {
	stop := closeOnExpiry(ctx, s.cfg.handshakeTimeout(), s.client)
	pkt, err := readStartup(s.client)
	if stop() {
		return nil, fmt.Errorf("pgwire: no startup message within %v (or the session ended): %w", s.cfg.handshakeTimeout(), err)
	}
	return pkt, err
}

// connect runs Authorize and connects upstream, within the handshake
// timeout.
func (s *session) connect(ctx context.Context, startup Startup) (*pgconn.HijackedConn, *upstreamReader, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.handshakeTimeout())
	defer cancel()
	up, err := s.cfg.Authorize(ctx, startup)
	if err != nil {
		return nil, nil, clientError(err, codeInvalidAuthorization, "gatehouse: access denied")
	}
	if up != nil {
		s.recordParameters, s.results = up.RecordParameters, up.Results
	}
	return connectUpstream(ctx, startup, up, s.cfg.maxUpstreamMessageSize())
}

// run completes the client's start-up and relays until the session ends.
func (s *session) run(ctx context.Context, cancel context.CancelCauseFunc, hc *pgconn.HijackedConn) (SessionEnd, error) {
	key := s.cancelKey(hc.PID)
	if s.cfg.Cancels != nil {
		var forget func()
		key, forget = s.cfg.Cancels.register(hc.PID, s.cancelUpstream, s.cfg.CancelTarget)
		defer forget()
	}
	// No password is asked of the client: its SSH certificate is its
	// authentication, and Authorize has accepted it (protocol §55.2.2).
	s.toClient.send(&pgproto3.AuthenticationOk{})
	for _, k := range slices.Sorted(maps.Keys(hc.ParameterStatuses)) {
		s.toClient.send(&pgproto3.ParameterStatus{Name: k, Value: hc.ParameterStatuses[k]})
	}
	s.toClient.send(key)
	s.toClient.send(&pgproto3.ReadyForQuery{TxStatus: hc.TxStatus})
	if err := s.flushClient(s.flushStartup); err != nil {
		hc.Conn.Close()
		end := SessionEnd{Reason: "client disconnected", Err: err}
		return end, nil
	}
	e := s.relay(ctx, cancel)
	s.log.Info("pgwire: session ended", "reason", e.reason, "err", e.err)
	return SessionEnd{Reason: e.reason, Err: e.err}, e.returned()
}

// cancelKey is the BackendKeyData shown to a client when there is no
// registry: the backend's process id, and a secret that is not the
// upstream's.
func (s *session) cancelKey(pid uint32) *pgproto3.BackendKeyData {
	var r CancelRegistry
	key, _ := r.register(pid, nil, nil)
	return key
}

// refuse ends a session before the relay: the client gets a FATAL
// ErrorResponse when err carries a message for it.
func (s *session) refuse(err error) error {
	var e *Error
	if errors.As(err, &e) {
		s.log.Info("pgwire: session refused", "message", e.Message, "err", e.Err)
		s.toClient.send(fatal(e))
		if ferr := s.flushClient(s.flushStartup); ferr != nil {
			s.log.Debug("pgwire: could not tell the client", "err", ferr)
		}
	}
	if err != nil && errors.Is(err, io.EOF) {
		return nil // the client went away before its startup message
	}
	return fmt.Errorf("pgwire: %w", err)
}

// forwardCancel sends a client's CancelRequest to the upstream session its
// key names, if any, once OnCancel has accepted it. PostgreSQL answers a
// CancelRequest with nothing but closing the connection, whether the key
// was known or not.
func (s *session) forwardCancel(ctx context.Context, m *pgproto3.CancelRequest) error {
	if s.cfg.Cancels == nil {
		s.log.Debug("pgwire: cancel request ignored: no registry")
		return s.onCancel(CancelAttempt{ProcessID: m.ProcessID})
	}
	e, ok := s.cfg.Cancels.lookup(m.ProcessID, m.SecretKey)
	if err := s.onCancel(CancelAttempt{ProcessID: m.ProcessID, Matched: ok, Target: e.target}); err != nil || !ok {
		if !ok {
			s.log.Info("pgwire: cancel request with an unknown key", "pid", m.ProcessID)
		}
		return err
	}
	ctx, stop := context.WithTimeout(ctx, cancelTimeout)
	defer stop()
	if err := e.cancel(ctx); err != nil {
		return fmt.Errorf("pgwire: forwarding a cancel request: %w", err)
	}
	s.log.Info("pgwire: cancel request forwarded", "pid", m.ProcessID)
	return nil
}

// onCancel tells OnCancel of a CancelRequest; its error keeps the request
// from being forwarded.
func (s *session) onCancel(a CancelAttempt) error {
	if s.cfg.OnCancel == nil {
		return nil
	}
	if err := s.cfg.OnCancel(a); err != nil {
		return fmt.Errorf("pgwire: cancel request not forwarded: %w", err)
	}
	return nil
}

// flushStartup writes what start-up has for the client.
func (s *session) flushStartup() error { return s.toClient.flush(true) }

// flushClient writes what is buffered for the client by flush; a client that does not
// read within clientWriteGrace has its connection closed.
func (s *session) flushClient(flush func() error) error {
	stop := closeOnExpiry(context.Background(), clientWriteGrace, s.client)
	err := flush()
	if stop() && err == nil {
		err = errors.New("pgwire: client write interrupted")
	}
	return err
}

// recordingReader remembers the last error of its reader, which tells an
// I/O failure apart from a malformed message when pgproto3 reports either.
// beforeRead, when set, runs before each read of the connection, which is
// when the client has sent nothing more yet (or not all of a message); its
// error is kept apart (beforeErr), since the client did nothing wrong.
type recordingReader struct {
	r          io.Reader
	err        error
	beforeRead func() error
	beforeErr  error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	if r.beforeRead != nil {
		if err := r.beforeRead(); err != nil {
			r.beforeErr = err
			return 0, err
		}
	}
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

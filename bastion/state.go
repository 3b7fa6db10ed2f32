package bastion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/clip"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// refusal is the bastion saying no. The reason is recorded and logged;
// the message is what the client is shown, and says what to do instead.
type refusal struct {
	reason  string
	message string
}

func (r *refusal) Error() string { return r.reason }

// stateKey and credentialKey are gliderlabs context keys.
type (
	stateKey      struct{}
	credentialKey struct{}
)

// connState is one SSH connection: its recording and what it has proved.
type connState struct {
	srv    *Server
	log    *slog.Logger
	stream *recorder.Stream
	conn   *timedConn
	gctx   gliderssh.Context
	begun  time.Time
	// ctx ends with the connection; its cause says why when the bastion
	// ended it (timeouts, shutdown, a recording failure).
	ctx    context.Context
	cancel context.CancelCauseFunc
	auth   authState // handshake goroutine only, then finish

	mu           sync.Mutex
	started      bool           // session.start recorded
	ended        bool           // no more handlers may begin
	terminated   bool           // terminate has run
	background   sync.WaitGroup // goroutines of the connection (inBackground)
	stopExpiry   func() bool    // stops watchExpiry's timer
	active       sync.WaitGroup // channel and request handlers in flight
	lastChannel  int
	forwards     int
	handshakeErr error
}

func stateFrom(ctx context.Context) *connState {
	cs, _ := ctx.Value(stateKey{}).(*connState)
	return cs
}

// connCallback is gliderlabs' ConnCallback: it opens the connection's
// recording before any SSH byte is exchanged. Without a recording there is
// no connection.
func (s *Server) connCallback(ctx gliderssh.Context, c net.Conn) net.Conn {
	tc, ok := c.(*timedConn)
	if !ok {
		s.log.Error("bastion: connection did not come from Serve; closing", "client", c.RemoteAddr().String())
		return nil
	}
	stream, err := s.cfg.Recorder.Open(recorder.KindSession)
	if err != nil {
		s.log.Error("cannot record session; refusing connection", "client", c.RemoteAddr().String(), "error", err)
		return nil
	}
	cs := &connState{
		srv:    s,
		log:    s.log.With("session", stream.ID, "client", c.RemoteAddr().String()),
		stream: stream,
		conn:   tc,
		gctx:   ctx,
		begun:  s.cfg.Clock(),
		auth:   authState{banners: map[string]bool{}},
	}
	cs.ctx, cs.cancel = context.WithCancelCause(ctx)
	ctx.SetValue(stateKey{}, cs)
	s.live.add(cs)
	tc.attach(cs)
	return tc
}

// start records session.start, once. It runs when the client's version is
// known (the start of authentication), or at the end for a connection that
// never got that far, so every recording begins with session.start.
func (cs *connState) start(clientVersion string) {
	cs.mu.Lock()
	already := cs.started
	cs.started = true
	cs.mu.Unlock()
	if already {
		return
	}
	_ = cs.record(event.TypeSessionStart, event.SessionStart{
		ClientAddr:    cs.conn.RemoteAddr().String(),
		ServerAddr:    cs.conn.LocalAddr().String(),
		ClientVersion: clip.Name(clientVersion),
	})
}

// record appends an event to the session. When that fails the connection
// is closed, because gatehouse lets nothing happen that it cannot record;
// callers refuse the action the event describes.
func (cs *connState) record(typ event.Type, data any) error {
	level := slog.LevelInfo
	if strings.HasSuffix(string(typ), ".refused") || strings.HasSuffix(string(typ), ".failure") {
		level = slog.LevelWarn
	}
	return cs.emit(cs.stream.Emit, typ, data, level)
}

// emit appends an event with emit (the stream's Emit, or EmitLazy for an
// outcome) and logs it at level; a failure closes the connection.
func (cs *connState) emit(emit func(typ event.Type, data any) error, typ event.Type, data any, level slog.Level) error {
	if err := emit(typ, data); err != nil {
		cs.log.Error("recording failed; closing connection", "event", typ, "error", err)
		cs.conn.closeWith(fmt.Errorf("recording failed: %w", err))
		return err
	}
	cs.log.LogAttrs(context.Background(), level, string(typ), slog.Any("event", loggedEvent{data}))
	if f := cs.srv.cfg.Recorded; f != nil {
		f(typ, data)
	}
	return nil
}

// begin registers a channel or request handler, so that session.end waits
// for it; false means the session is over and the handler must not run.
func (cs *connState) begin() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ended {
		return false
	}
	cs.active.Add(1)
	return true
}

func (cs *connState) done() { cs.active.Done() }

// inBackground runs f on a goroutine that belongs to the connection:
// finish waits for it, so it cannot outlive Serve. It reports false, and
// does not run f, once the session is over.
func (cs *connState) inBackground(f func()) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ended {
		return false
	}
	cs.background.Go(f)
	return true
}

// nextChannel numbers the channels the client opens, from 1.
func (cs *connState) nextChannel() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.lastChannel++
	return cs.lastChannel
}

func (cs *connState) countForward() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.forwards++
}

func (cs *connState) credential() *credential {
	c, _ := cs.gctx.Value(credentialKey{}).(*credential)
	return c
}

func (cs *connState) handshakeFailed(err error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.handshakeErr == nil {
		cs.handshakeErr = err
	}
}

// finish records session.end after every handler of the connection has
// returned, so it is always the last event, and closes the stream. It
// runs once HandleConn has returned, when the connection's context is
// already done.
func (cs *connState) finish() {
	cs.mu.Lock()
	cs.ended = true
	if cs.stopExpiry != nil {
		cs.stopExpiry()
	}
	cs.mu.Unlock()
	cs.background.Wait()
	cs.active.Wait()
	cs.cancel(nil) // already done through gliderlabs' context; releases ours
	cs.start("")
	cs.endAuth() // the handshake goroutine has returned: auth is ours now

	cs.mu.Lock()
	end := event.SessionEnd{
		Reason:     cs.endReason(),
		DurationMS: cs.srv.cfg.Clock().Sub(cs.begun).Milliseconds(),
		Channels:   cs.forwards,
	}
	cs.mu.Unlock()
	_ = cs.record(event.TypeSessionEnd, end)
	if err := cs.stream.Close(); err != nil {
		cs.log.Error("closing session recording", "error", err)
	}
	cs.srv.live.remove(cs)
}

// endReason says why the connection ended; cs.mu is held.
func (cs *connState) endReason() string {
	if cause := context.Cause(cs.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause.Error()
	}
	var authErr *gossh.ServerAuthError
	switch err := cs.handshakeErr; {
	case err == nil && cs.credential() != nil:
		return "client disconnected"
	case err == nil:
		// Every failed handshake reports its error through
		// ConnectionFailedCallback: say so if gliderlabs did not.
		cs.log.Error("the SSH handshake ended without a reported error; is gliderlabs/ssh still calling ConnectionFailedCallback?")
		return "closed before authentication"
	case errors.As(err, &authErr):
		return "authentication failed"
	case errors.Is(err, io.EOF):
		return "client disconnected during handshake"
	default:
		return "handshake failed: " + err.Error()
	}
}

// endedBecause describes, for a channel cut short by the end of its
// connection, why the connection ended.
func (cs *connState) endedBecause() string {
	if cause := context.Cause(cs.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return "connection ended: " + cause.Error()
	}
	return "connection ended"
}

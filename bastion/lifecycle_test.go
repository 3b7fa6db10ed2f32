package bastion

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func TestHandshakeTimeout(t *testing.T) {
	f := newFixture(t, func(_ *fixture, c *Config) {
		c.Policy.SSH.HandshakeTimeout = policy.Duration(300 * time.Millisecond)
	})
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Read the server's version line, then say nothing.
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "SSH-2.0-gatehouse") {
		t.Fatalf("server version %q, %v", line, err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("connection not closed by the bastion: %v", err)
	}
	evs := f.events()
	wantTypes(t, evs, event.TypeSessionStart, event.TypeSessionEnd)
	wantField(t, one(t, evs, event.TypeSessionEnd), "reason", "handshake timeout")
}

// TestHandshakeTimeoutStopsAtAuthentication: authentication stops the
// handshake timer, so an authenticated connection outlives the handshake
// timeout.
func TestHandshakeTimeoutStopsAtAuthentication(t *testing.T) {
	f := newFixture(t)
	client := f.login(f.goodCert())
	live := f.srv.live.all()
	if len(live) != 1 {
		t.Fatalf("%d live connections, want 1", len(live))
	}
	// Stop reports false for a timer already stopped (or fired, which
	// would have closed the connection, as the request below would see).
	if live[0].conn.handshake.Stop() {
		t.Fatal("the handshake timer still runs after authentication")
	}
	if _, _, err := client.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatalf("authenticated connection closed by the handshake timeout: %v", err)
	}
	client.Close()
	wantField(t, one(t, f.events(), event.TypeSessionEnd), "reason", "client disconnected")
}

func TestIdleTimeout(t *testing.T) {
	f := newFixture(t, func(_ *fixture, c *Config) {
		c.Policy.SSH.IdleTimeout = policy.Duration(300 * time.Millisecond)
	})
	client := f.login(f.goodCert())
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection not closed")
	}
	client.Close()
	wantField(t, one(t, f.events(), event.TypeSessionEnd), "reason", "idle timeout")
}

func TestShutdownEndsSessions(t *testing.T) {
	f := newFixture(t)
	client := f.login(f.goodCert())
	defer client.Close()
	ch := f.openEchoing(client, "orders")

	// A second connection still in its handshake must not hold Serve up.
	raw, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	stopped := time.Now()
	f.stop()
	if d := time.Since(stopped); d > 3*time.Second {
		t.Errorf("Serve took %v to return", d)
	}
	if _, err := io.ReadAll(ch); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("channel read after shutdown: %v", err)
	}

	ids, err := f.store.List(recorder.KindSession)
	if err != nil || len(ids) != 2 {
		t.Fatalf("sessions %v, %v; want 2", ids, err)
	}
	var sawChannel bool
	for _, id := range ids {
		lines, err := f.store.Lines(recorder.KindSession, id)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := recorder.VerifyChain(lines)
		if err != nil {
			t.Fatal(err)
		}
		if last := evs[len(evs)-1]; last.Type != event.TypeSessionEnd {
			t.Fatalf("session %s ends with %s", id, last.Type)
		}
		wantField(t, one(t, evs, event.TypeSessionEnd), "reason", "server shutdown")
		if cl := only(t, evs, event.TypeChannelClose); len(cl) == 1 {
			sawChannel = true
			wantField(t, cl[0], "error", "connection ended: server shutdown")
			wantField(t, cl[0], "bytes_to_target", 4)
		}
	}
	if !sawChannel {
		t.Error("no channel.close recorded for the open channel")
	}
}

// flakyStore fails Create, or every Append after the first okLines.
type flakyStore struct {
	recorder.FileStore
	createErr error
	okLines   int
}

func (s flakyStore) Create(kind, id string) (recorder.Appender, error) {
	if s.createErr != nil {
		return nil, s.createErr
	}
	a, err := s.FileStore.Create(kind, id)
	if err != nil {
		return nil, err
	}
	return &flakyAppender{Appender: a, left: s.okLines}, nil
}

type flakyAppender struct {
	recorder.Appender
	left int // Emit serialises Appends, so no lock
}

func (a *flakyAppender) Append(line []byte) error {
	if a.left == 0 {
		return errors.New("disk full")
	}
	a.left--
	return a.Appender.Append(line)
}

func TestRecorderUnavailableRefusesConnection(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		c.Recorder = &recorder.Recorder{Store: flakyStore{FileStore: f.store, createErr: errors.New("store down")}}
	})
	_, _, err := f.connect(func(cfg *gossh.ClientConfig) {
		cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(f.goodCert())}
	})
	if err == nil {
		t.Fatal("connected without a recording")
	}
	if ids, _ := f.store.List(recorder.KindSession); len(ids) != 0 {
		t.Fatalf("streams %v", ids)
	}
}

func TestRecordingFailureClosesConnection(t *testing.T) {
	f := newFixture(t, func(f *fixture, c *Config) {
		// session.start and auth.success are recorded; channel.open is not.
		c.Recorder = &recorder.Recorder{Store: flakyStore{FileStore: f.store, okLines: 2}}
	})
	client := f.login(f.goodCert())
	defer client.Close()
	if _, err := openDirect(client, "orders", f.port("orders")); err == nil {
		t.Fatal("channel opened although it could not be recorded")
	}
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection left open after a recording failure")
	}
	ids, _ := f.store.List(recorder.KindSession)
	lines, err := f.store.Lines(recorder.KindSession, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	evs, err := recorder.VerifyChain(lines)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthSuccess)
}

func TestNewChecksConfig(t *testing.T) {
	_, err := New(Config{})
	if err == nil {
		t.Fatal("New accepted an empty Config")
	}
	for _, field := range []string{"Policy", "UserCAKeys", "HostSigner", "Recorder"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

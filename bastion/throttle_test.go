package bastion

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func limitAttempts(n int) fixtureOption {
	return func(_ *fixture, c *Config) { c.Policy.SSH.MaxAuthAttemptsPerMinute = n }
}

// TestUnauthenticatedBurstIsThrottled: a burst of connections that never
// authenticate gets the limit's worth of sessions recorded; the rest are
// refused before any SSH byte and recorded as one auth.throttled, so the
// spool grows by a bounded amount however long the burst.
func TestUnauthenticatedBurstIsThrottled(t *testing.T) {
	f := newFixture(t, limitAttempts(3))
	refused := 0
	for range 20 {
		_, _, err := f.connect(func(cfg *gossh.ClientConfig) {
			cfg.User = strings.Repeat("u", 1000)
			cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(newSigner(t))}
		})
		if err == nil {
			t.Fatal("an unauthenticated client got in")
		}
		if !strings.Contains(err.Error(), "unable to authenticate") {
			refused++
		}
	}
	if refused != 17 {
		t.Errorf("%d connections refused before the handshake, want 17", refused)
	}
	f.stop() // records what is pending
	f.wantNoneUnauthenticated()
	sessions, throttled := f.streamsByKind()
	if sessions != 3 {
		t.Errorf("%d sessions recorded, want 3 (the limit)", sessions)
	}
	if len(throttled) != 1 {
		t.Fatalf("%d auth.throttled events, want 1: %v", len(throttled), throttled)
	}
	ev := throttled[0]
	if ev.Source != "127.0.0.1" || ev.OverRate != 17 || ev.PerMinute != 3 {
		t.Errorf("auth.throttled %+v, want 17 over rate from 127.0.0.1", ev)
	}
}

// TestAuthenticatedConnectionsAreNotThrottled: an attempt that
// authenticates is given back, so a client that gets in may connect as
// often as it likes.
func TestAuthenticatedConnectionsAreNotThrottled(t *testing.T) {
	f := newFixture(t, limitAttempts(2))
	cert := f.goodCert()
	for i := range 10 {
		c, _, err := f.connect(func(cfg *gossh.ClientConfig) { cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(cert)} })
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.Close()
	}
	f.stop()
	f.wantNoneUnauthenticated()
	if sessions, throttled := f.streamsByKind(); sessions != 10 || len(throttled) != 0 {
		t.Errorf("%d sessions and %d throttled, want 10 and 0", sessions, len(throttled))
	}
}

// wantNoneUnauthenticated checks that every connection, once closed,
// gave back its place among the unauthenticated.
func (f *fixture) wantNoneUnauthenticated() {
	f.t.Helper()
	if n := f.srv.limiter.Pending(); n != 0 {
		f.t.Errorf("%d connections still counted as unauthenticated after all closed", n)
	}
}

// streamsByKind counts the recorded sessions of clients and returns the
// auth.throttled events.
func (f *fixture) streamsByKind() (sessions int, throttled []event.AuthThrottled) {
	f.t.Helper()
	ids, err := f.store.List(recorder.KindSession)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, id := range ids {
		lines, err := f.store.Lines(recorder.KindSession, id)
		if err != nil {
			f.t.Fatal(err)
		}
		evs, err := recorder.VerifyChain(lines)
		if err != nil {
			f.t.Fatal(err)
		}
		got := only(f.t, evs, event.TypeAuthThrottled)
		if len(got) == 0 {
			sessions++
			continue
		}
		for _, e := range evs {
			if e.Type == event.TypeAuthThrottled {
				var a event.AuthThrottled
				if err := json.Unmarshal(e.Data, &a); err != nil {
					f.t.Fatal(err)
				}
				throttled = append(throttled, a)
			}
		}
	}
	return sessions, throttled
}

// TestThrottledAreReportedEveryInterval: refusals are recorded once per
// interval while the server runs, as one stream per source.
func TestThrottledAreReportedEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := recorder.FileStore{Dir: filepath.Join(t.TempDir(), "recordings")}
		pol, err := policy.Parse([]byte("data_dir: " + t.TempDir() + "\nssh: {max_auth_attempts_per_minute: 1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		signer := newSigner(t)
		srv, err := New(Config{Policy: pol, UserCAKeys: []gossh.PublicKey{signer.PublicKey()}, HostSigner: signer,
			Recorder: &recorder.Recorder{Store: store}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { srv.reportThrottled(ctx); close(done) }()
		streams := func() int {
			ids, err := store.List(recorder.KindSession)
			if err != nil {
				t.Fatal(err)
			}
			return len(ids)
		}
		a, b := sourcelimit.Source("192.0.2.1:1"), sourcelimit.Source("[2001:db8::1]:1")
		for range 5 {
			srv.limiter.Admit(a)
			srv.limiter.Admit(b)
		}
		time.Sleep(throttleReportInterval - time.Second)
		synctest.Wait()
		if n := streams(); n != 0 {
			t.Fatalf("%d streams before the interval, want 0", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := streams(); n != 2 {
			t.Fatalf("%d streams after the interval, want 2 (one per source)", n)
		}
		srv.limiter.Admit(a) // the attempt earned in the minute
		srv.limiter.Admit(a)
		cancel()
		<-done
		if n := streams(); n != 3 {
			t.Fatalf("%d streams after shutdown, want 3", n)
		}
		if got := sourcelimit.Name(b); got != "2001:db8::/64" {
			t.Errorf("IPv6 source named %q", got)
		}
	})
}

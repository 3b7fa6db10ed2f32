package bastion

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
	gossh "golang.org/x/crypto/ssh"
)

// fakeTimers stands in for time.AfterFunc: tests fire what was scheduled.
type fakeTimers struct {
	mu      sync.Mutex
	pending []fakeTimer
}

type fakeTimer struct {
	after   time.Duration
	f       func()
	stopped *bool
}

func (ft *fakeTimers) afterFunc(d time.Duration, f func()) func() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	stopped := new(bool)
	ft.pending = append(ft.pending, fakeTimer{after: d, f: f, stopped: stopped})
	return func() bool {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		*stopped = true
		return true
	}
}

// only returns the one timer scheduled so far.
func (ft *fakeTimers) only(t *testing.T) fakeTimer {
	t.Helper()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(ft.pending) != 1 {
		t.Fatalf("%d timers scheduled, want 1", len(ft.pending))
	}
	return ft.pending[0]
}

func (ft *fakeTimers) isStopped(tm fakeTimer) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return *tm.stopped
}

// TestExpiryEndsLiveSession: a session outlives nothing of its
// certificate. When the certificate's ValidBefore comes, the bastion ends
// the live channel and the connection, records why, and tells the client.
func TestExpiryEndsLiveSession(t *testing.T) {
	clock := newClock()
	timers := &fakeTimers{}
	f := newFixture(t, func(_ *fixture, c *Config) {
		c.Clock = clock.now
		c.afterFunc = timers.afterFunc
	})
	validBefore := clock.now().Add(10 * time.Minute).Truncate(time.Second)
	client := f.login(f.cert(f.userCA, func(c *gossh.Certificate) { c.ValidBefore = uint64(validBefore.Unix()) }, nil))
	defer client.Close()
	ch := f.openEchoing(client, "orders")

	tm := timers.only(t)
	if want := validBefore.Sub(clock.now()); tm.after != want {
		t.Errorf("expiry timer set for %s, want %s (until ValidBefore)", tm.after, want)
	}
	clock.advance(10 * time.Minute)
	tm.f()
	waitEnded(t, client, "session of an expired certificate")
	if _, err := io.ReadAll(ch); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("channel read after expiry: %v", err)
	}

	evs := f.events()
	wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthSuccess, event.TypeChannelOpen, event.TypeSessionExpired, event.TypeChannelClose, event.TypeSessionEnd)
	exp := one(t, evs, event.TypeSessionExpired)
	wantField(t, exp, "reason", "certificate expired")
	wantField(t, exp, "valid_before", validBefore.UTC().Format(time.RFC3339))
	wantField(t, exp, "serial", testIdentity.Serial)
	wantField(t, one(t, evs, event.TypeChannelClose), "error", "certificate expired at "+validBefore.UTC().Format(time.RFC3339))
	end := one(t, evs, event.TypeSessionEnd)
	wantField(t, end, "reason", "gatehouse: session ended: certificate expired at "+validBefore.UTC().Format(time.RFC3339)+"; run `gatehouse login`")
	if !timers.isStopped(tm) {
		t.Error("the expiry timer was not stopped when the session ended")
	}
}

// TestExpiryTimerStoppedOnDisconnect: a session that ends first stops its
// timer, and a late firing changes nothing.
func TestExpiryTimerStoppedOnDisconnect(t *testing.T) {
	timers := &fakeTimers{}
	f := newFixture(t, func(_ *fixture, c *Config) { c.afterFunc = timers.afterFunc })
	client := f.login(f.goodCert())
	client.Close()
	evs := f.events()
	tm := timers.only(t)
	if !timers.isStopped(tm) {
		t.Error("the expiry timer outlived its session")
	}
	tm.f() // fires anyway, as a timer racing Stop may
	wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthSuccess, event.TypeSessionEnd)
	if got := types(f.events()); len(got) != len(evs) {
		t.Errorf("a late expiry recorded more: %v", got)
	}
}

func TestExpiredMessage(t *testing.T) {
	until := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	human := &credential{identity: testIdentity}
	agent := &credential{identity: testIdentity}
	agent.identity.Agent = "claude"
	cases := []struct {
		cred *credential
		want string
	}{
		{human, "gatehouse: session ended: certificate expired at 2026-12-05T07:00:00Z; run `gatehouse login` for a new certificate, then connect again"},
		{agent, "certificate expired at 2026-12-05T07:00:00Z; ask for a new agent certificate (`gatehouse agent-cert --agent claude ...`)"},
	}
	for _, tc := range cases {
		if got := expiredMessage(tc.cred, until); !strings.Contains(got, tc.want) {
			t.Errorf("expiredMessage = %q, want %q", got, tc.want)
		}
	}
}

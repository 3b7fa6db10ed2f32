package console

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestLinkIsUsedOnceUnderConcurrency: of many exchanges of one token
// racing, exactly one gets the link; a later one is told it was used.
func TestLinkIsUsedOnceUnderConcurrency(t *testing.T) {
	store := LinkStore{Dir: t.TempDir()}
	token, err := store.Mint(Link{Identity: "ext", Expires: time.Now().Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const racers = 64
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	start := make(chan struct{})
	for range racers {
		wg.Go(func() {
			<-start
			_, err := store.Exchange(token)
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrLinkUsed):
			t.Errorf("a losing exchange: %v, want ErrLinkUsed", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d exchanges won, want exactly 1", won)
	}
	if _, err := store.Exchange(token); !errors.Is(err, ErrLinkUsed) {
		t.Fatalf("exchange after use: %v, want ErrLinkUsed", err)
	}
}

// TestLinkRefusals: unknown, tampered, expired tokens get no link; a
// new store over the same directory (a console restart) keeps an unused
// link valid; the token itself is nowhere on disk.
func TestLinkRefusals(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	minter := LinkStore{Dir: dir, Clock: func() time.Time { return now }}
	valid, err := minter.Mint(Link{Identity: "ext", Expires: now.Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := minter.Mint(Link{Identity: "ext", Expires: now.Add(time.Minute)}, nil)
	tampered := valid[:10] + string(rune(valid[10]^1)) + valid[11:]
	later := LinkStore{Dir: dir, Clock: func() time.Time { return now.Add(2 * time.Minute) }}
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"unknown", randomToken(), ErrLinkUnknown},
		{"tampered", tampered, ErrLinkUnknown},
		{"short", valid[:20], ErrLinkUnknown},
		{"climbing", "../../../../../../../../../../../etc/passwd", ErrLinkUnknown},
		{"expired", expired, ErrLinkExpired},
		{"valid after a restart", valid, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := later.Exchange(tc.token)
			if !errors.Is(err, tc.want) || (err == nil && l.Identity != "ext") {
				t.Fatalf("Exchange: %+v, %v; want %v", l, err, tc.want)
			}
		})
	}
	entries, _ := readDirNames(dir)
	for _, name := range entries {
		if strings.Contains(name, valid) || strings.Contains(name, expired) {
			t.Fatalf("a token is stored as is: %s", name)
		}
	}
}

// linkFixture is a console with a link store, sessions on two targets in
// and out of a period, and a link for one target and that period.
type linkFixture struct {
	*fixture
	in, otherTarget, before, after string
	token                          string
	t0                             time.Time // the link's period is t0+1h to t0+3h
}

func newLinkFixture(t *testing.T) *linkFixture {
	f := &linkFixture{fixture: newFixture(t, 100)}
	key := newKey(t)
	f.console.cfg.Keys = []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	f.console.cfg.Links = &LinkStore{Dir: t.TempDir(), Clock: time.Now}
	t0 := time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Second)
	f.t0 = t0
	ids := f.record(key,
		recorded{identity: "alice", target: "orders", start: t0},
		recorded{identity: "alice", target: "billing", start: t0.Add(2 * time.Hour)},
		recorded{identity: "alice", target: "orders", start: t0.Add(2*time.Hour + time.Minute)},
		recorded{identity: "alice", target: "orders", start: t0.Add(4 * time.Hour)},
	)
	f.before, f.otherTarget, f.in, f.after = ids[0], ids[1], ids[2], ids[3]
	var err error
	f.token, err = f.console.cfg.Links.Mint(Link{Identity: "ext-auditor", From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour),
		Targets: []string{"orders"}, Expires: time.Now().Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLinkWorksOnceWithinItsScope: the link logs in once, then is
// refused and recorded; its session sees, on every route and in every
// format, only the sessions of its period and targets, and a request for
// another is refused and recorded.
func TestLinkWorksOnceWithinItsScope(t *testing.T) {
	f := newLinkFixture(t)
	c := f.browser()
	if resp := f.get(c, "/link/"+f.token); resp.StatusCode != http.StatusOK {
		t.Fatalf("first use: %d %s", resp.StatusCode, resp.body)
	}
	used := f.activity.of(event.TypeConsoleLinkUsed)
	if len(used) != 1 || used[0].(event.ConsoleLinkUsed).Auditor.Subject != "ext-auditor" {
		t.Fatalf("console.link_used: %+v", used)
	}
	if resp := f.get(f.browser(), "/link/"+f.token); resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.body, "already used") {
		t.Fatalf("second use: %d %s", resp.StatusCode, resp.body)
	}
	if r := f.activity.of(event.TypeConsoleRefused); len(r) != 1 || !strings.Contains(r[0].(event.ConsoleRefused).Reason, "already used") {
		t.Fatalf("second use not recorded as refused: %+v", r)
	}
	outside := []string{f.before, f.otherTarget, f.after}
	before := len(f.activity.of(event.TypeConsoleRefused))
	if resp := f.get(c, "/sessions?target=billing"); resp.StatusCode != http.StatusForbidden || len(f.activity.of(event.TypeConsoleRefused)) != before+1 {
		t.Errorf("/sessions?target=billing: %d, want 403 and recorded", resp.StatusCode)
	}
	for _, path := range []string{"/sessions", "/sessions?target=orders", "/sessions?format=csv", "/sessions?format=jsonl", "/sessions?since=2000-01-01T00:00:00Z"} {
		resp := f.get(c, path)
		if resp.StatusCode != http.StatusOK || (path == "/sessions" && !strings.Contains(resp.body, f.in)) {
			t.Fatalf("%s: %d, in-scope session listed: %v", path, resp.StatusCode, strings.Contains(resp.body, f.in))
		}
		for _, id := range outside {
			if strings.Contains(resp.body, id) {
				t.Errorf("%s shows %s, outside the link's scope", path, id)
			}
		}
	}
	for _, id := range outside {
		for _, path := range []string{"/sessions/" + id, "/sessions/" + id + "/raw"} {
			before := len(f.activity.of(event.TypeConsoleRefused))
			if resp := f.get(c, path); resp.StatusCode != http.StatusForbidden || strings.Contains(resp.body, "alice") {
				t.Errorf("%s: %d, want 403 without the session", path, resp.StatusCode)
			}
			if len(f.activity.of(event.TypeConsoleRefused)) != before+1 {
				t.Errorf("%s: refusal not recorded", path)
			}
		}
	}
	for _, path := range []string{"/sessions/" + f.in, "/sessions/" + f.in + "/raw"} {
		if resp := f.get(c, path); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, f.in) {
			t.Errorf("%s: %d, want the session", path, resp.StatusCode)
		}
	}
	// An auditor who logged in at the IdP sees every session.
	full := f.get(f.loggedIn(auditorClaims), "/sessions")
	for _, id := range append(outside, f.in) {
		if !strings.Contains(full.body, id) {
			t.Errorf("an IdP auditor does not see %s", id)
		}
	}
}

// TestLinkForAnotherPeriod: a link whose period holds no session lists
// none and opens none.
func TestLinkForAnotherPeriod(t *testing.T) {
	f := newLinkFixture(t)
	token, err := f.console.cfg.Links.Mint(Link{Identity: "ext", From: time.Now().Add(-time.Hour), To: time.Now(), Expires: time.Now().Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := f.browser()
	f.get(c, "/link/"+token)
	resp := f.get(c, "/sessions")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "0 sessions") {
		t.Fatalf("/sessions: %d, want 0 sessions: %s", resp.StatusCode, resp.body)
	}
	if resp := f.get(c, "/sessions/"+f.in); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a session of another period: %d, want 403", resp.StatusCode)
	}
}

// TestLinkSessionEndsWithTheLink: the console session a link gives ends
// when the link would have expired, even if session_ttl is longer.
func TestLinkSessionEndsWithTheLink(t *testing.T) {
	f := newLinkFixture(t)
	now := time.Now()
	f.console.cfg.Clock = func() time.Time { return now }
	f.console.sessions.clock = f.console.cfg.Clock
	token, _ := f.console.cfg.Links.Mint(Link{Identity: "ext", Expires: now.Add(10 * time.Minute)}, nil)
	c := f.browser()
	f.get(c, "/link/"+token)
	if resp := f.get(noRedirects(c.Jar), "/sessions"); resp.StatusCode != http.StatusOK {
		t.Fatalf("in time: %d", resp.StatusCode)
	}
	now = now.Add(11 * time.Minute)
	if resp := f.get(noRedirects(c.Jar), "/sessions"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the link's expiry: %d, want a redirect to log in", resp.StatusCode)
	}
}

func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}

// TestMintRecordsFirst: a link whose minting cannot be recorded is not
// stored, so it cannot be used.
func TestMintRecordsFirst(t *testing.T) {
	store := LinkStore{Dir: t.TempDir()}
	var ref string
	token, err := store.Mint(Link{Identity: "ext", Expires: time.Now().Add(time.Hour)}, func(r string) error { ref = r; return nil })
	if err != nil || ref != LinkRef(token) {
		t.Fatalf("Mint: %v; recorded ref %q, want %q", err, ref, LinkRef(token))
	}
	failing := errors.New("disk full")
	if _, err := store.Mint(Link{Identity: "ext", Expires: time.Now().Add(time.Hour)}, func(r string) error { ref = r; return failing }); !errors.Is(err, failing) {
		t.Fatalf("Mint with a failing record: %v", err)
	}
	if names, _ := readDirNames(store.Dir); len(names) != 1 {
		t.Fatalf("the link store holds %v, want only the recorded link", names)
	}
}

// TestNoOIDCRefusesLogins: without identity.oidc the console refuses
// OIDC logins, saying so, and still admits a link.
func TestNoOIDCRefusesLogins(t *testing.T) {
	f := newLinkFixture(t)
	f.console.cfg.Login = nil
	c := f.browser()
	resp := f.get(c, "/sessions") // sent to /login
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.body, "no identity.oidc") {
		t.Fatalf("/sessions without a session: %d %s", resp.StatusCode, resp.body)
	}
	if resp := f.get(c, "/callback?state=x&code=y"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/callback: %d", resp.StatusCode)
	}
	if r := f.activity.of(event.TypeConsoleRefused); len(r) != 1 || !strings.Contains(r[0].(event.ConsoleRefused).Reason, "identity.oidc") {
		t.Fatalf("the refused callback is not recorded: %+v", r)
	}
	f.get(c, "/link/"+f.token)
	if resp := f.get(c, "/sessions"); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, f.in) {
		t.Fatalf("/sessions by link: %d", resp.StatusCode)
	}
}

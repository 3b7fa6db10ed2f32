package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// activityLog is an Activity that keeps what it is given, or fails.
type activityLog struct {
	mu     sync.Mutex
	events []recordedEvent
	fail   error
}

type recordedEvent struct {
	typ  event.Type
	data any
}

func (l *activityLog) Emit(typ event.Type, data any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.events = append(l.events, recordedEvent{typ, data})
	return nil
}

func (l *activityLog) of(typ event.Type) []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []any
	for _, e := range l.events {
		if e.typ == typ {
			out = append(out, e.data)
		}
	}
	return out
}

// fixture is a console over a store of sessions, served on loopback, with
// its IdP.
type fixture struct {
	t        *testing.T
	idp      *testIdP
	srv      *httptest.Server
	store    recorder.FileStore
	pub      ed25519.PublicKey
	activity *activityLog
	console  *Console
}

var auditorClaims = map[string]any{"sub": "aud-1", "email": "ann@example.com", "groups": []string{"staff", "auditors"}}

func newFixture(t *testing.T, pageSize int) *fixture {
	t.Helper()
	f := &fixture{t: t, idp: newTestIdP(t), store: recorder.FileStore{Dir: t.TempDir()}, activity: &activityLog{}}
	f.idp.as(auditorClaims)
	var key ed25519.PrivateKey
	f.pub, key, _ = ed25519.GenerateKey(rand.Reader)
	_ = key
	f.srv = httptest.NewUnstartedServer(nil)
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	login, err := NewLogin(context.Background(), LoginConfig{Issuer: f.idp.srv.URL, ClientID: "console", RedirectURL: f.srv.URL + "/callback"})
	if err != nil {
		t.Fatal(err)
	}
	f.console, err = New(Config{Sessions: f.store, Login: login, AuditorGroups: []string{"auditors"}, Activity: f.activity,
		Origin: f.srv.URL, PageSize: pageSize, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = f.console
	return f
}

// browser is a client with a cookie jar that follows redirects, as a
// browser does (Go's jar, like browsers, sends Secure cookies to loopback).
func (f *fixture) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// loggedIn is a browser that has logged in as claims.
func (f *fixture) loggedIn(claims map[string]any) *http.Client {
	f.t.Helper()
	f.idp.as(claims)
	c := f.browser()
	resp := f.get(c, "/login")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "Logged in") {
		f.t.Fatalf("login: %d %s", resp.StatusCode, resp.body)
	}
	return c
}

type response struct {
	*http.Response
	body string
}

func (f *fixture) do(c *http.Client, method, path string, header http.Header) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, string(b)}
}

func (f *fixture) get(c *http.Client, path string) response {
	return f.do(c, http.MethodGet, path, nil)
}

// noRedirects is a client that stops at the first answer.
func noRedirects(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestSecurityHeadersOnEveryRoute: every answer, pages, redirects,
// errors and refusals alike, carries the CSP and the other headers.
func TestSecurityHeadersOnEveryRoute(t *testing.T) {
	f := newFixture(t, 0)
	auditor := f.loggedIn(auditorClaims)
	anon := noRedirects(nil)
	for _, tc := range []struct {
		name, method, path string
		client             *http.Client
	}{
		{"root", "GET", "/", anon},
		{"sessions unauthenticated", "GET", "/sessions", anon},
		{"sessions", "GET", "/sessions", auditor},
		{"csv", "GET", "/sessions?format=csv", auditor},
		{"jsonl", "GET", "/sessions?format=jsonl", auditor},
		{"bad filter", "GET", "/sessions?since=yesterday", auditor},
		{"statements unauthenticated", "GET", "/statements", anon},
		{"statements", "GET", "/statements?text=x", auditor},
		{"statements csv", "GET", "/statements?format=csv", auditor},
		{"statements bad filter", "GET", "/statements?decision=x", auditor},
		{"login", "GET", "/login", anon},
		{"callback without state", "GET", "/callback", anon},
		{"logout cross-origin", "POST", "/logout", anon},
		{"stylesheet", "GET", "/static/console.css", anon},
		{"not found", "GET", "/nothing", auditor},
		{"405", "DELETE", "/sessions", auditor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(tc.client, tc.method, tc.path, nil)
			want := map[string]string{"Content-Security-Policy": contentSecurityPolicy, "X-Content-Type-Options": "nosniff",
				"Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
			for h, v := range want {
				if got := resp.Header.Get(h); got != v {
					t.Errorf("%d: %s = %q, want %q", resp.StatusCode, h, got, v)
				}
			}
		})
	}
	if !strings.Contains(contentSecurityPolicy, "script-src 'self'") || strings.Contains(contentSecurityPolicy, "unsafe") {
		t.Errorf("CSP %q", contentSecurityPolicy)
	}
}

// TestOnlyGET: every route answers 405 to any other method, but POST on
// /logout (which answers GET with 405).
func TestOnlyGET(t *testing.T) {
	f := newFixture(t, 0)
	auditor := f.loggedIn(auditorClaims)
	for _, path := range []string{"/", "/sessions", "/sessions?format=csv", "/statements", "/statements?format=jsonl", "/login", "/callback", "/static/console.css", "/anything"} {
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"} {
			if resp := f.do(auditor, m, path, nil); resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", m, path, resp.StatusCode)
			}
		}
	}
	if resp := f.get(auditor, "/logout"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout = %d, want 405", resp.StatusCode)
	}
}

// TestLoginCookie: the session cookie is __Host-, Secure, HttpOnly,
// SameSite=Strict, Path=/, without Domain, expiring, and opaque.
func TestLoginCookie(t *testing.T) {
	f := newFixture(t, 0)
	jar, _ := cookiejar.New(nil)
	c := noRedirects(jar)
	resp := f.get(c, f.callbackPath(c))
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil {
		t.Fatalf("no %s cookie after the callback: %d %s", sessionCookie, resp.StatusCode, resp.body)
	}
	if !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" ||
		session.Domain != "" || session.MaxAge != int((8*time.Hour).Seconds()) {
		t.Errorf("cookie %+v", session)
	}
	if len(session.Value) < 40 || strings.Contains(session.Value, "aud-1") || strings.Contains(session.Value, "ann") {
		t.Errorf("cookie value %q is not an opaque random id", session.Value)
	}
	// The login cookie must reach the callback, a navigation the IdP
	// starts (cross-site): Lax, not Strict, or no browser could log in.
	first := f.get(noRedirects(nil), "/login")
	var login *http.Cookie
	for _, ck := range first.Cookies() {
		if ck.Name == loginCookie {
			login = ck
		}
	}
	if login == nil || login.SameSite != http.SameSiteLaxMode || !login.Secure || !login.HttpOnly || login.Path != "/" || login.MaxAge != 600 {
		t.Errorf("login cookie %+v", login)
	}
	logins := f.activity.of(event.TypeConsoleLogin)
	if len(logins) != 1 {
		t.Fatalf("%d console.login events", len(logins))
	}
	l := logins[0].(event.ConsoleLogin)
	if l.Auditor.Subject != "aud-1" || l.Auditor.Issuer != f.idp.srv.URL || l.Session != sessionRef(session.Value) || len(l.Groups) != 2 {
		t.Errorf("console.login %+v", l)
	}
}

// callbackPath starts a login in c and returns the path and query of the
// callback the IdP sends the browser to, not yet requested.
func (f *fixture) callbackPath(c *http.Client) string {
	f.t.Helper()
	authorize := mustFollow(f.t, c, f.srv.URL+"/login")
	return strings.TrimPrefix(mustFollow(f.t, c, authorize), f.srv.URL)
}

func stateOf(callback string) string {
	u, _ := url.Parse(callback)
	return u.Query().Get("state")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// mustFollow requests the IdP's authorization URL and returns where it
// redirects (the console's callback).
func mustFollow(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Location")
}

// TestLoginRefusals: a token without groups, a non-member, a callback in
// another browser (state), a replayed callback and a wrong nonce are all
// refused, recorded, and leave no session.
func TestLoginRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		claims map[string]any
		nonce  string
		tamper func(f *fixture, c *http.Client, callback string) response
		status int
		reason string
	}{
		{name: "no groups claim", claims: map[string]any{"sub": "x", "email": "ann@example.com"}, status: 403, reason: "no \"groups\" claim"},
		{name: "groups not a list", claims: map[string]any{"sub": "x", "groups": "auditors"}, status: 403, reason: "no \"groups\" claim"},
		{name: "non-member", claims: map[string]any{"sub": "x", "groups": []string{"engineering", "Auditors"}}, status: 403, reason: "not a member"},
		{name: "no subject", claims: map[string]any{"groups": []string{"auditors"}}, status: 403, reason: "no subject"},
		{name: "nonce mismatch", claims: auditorClaims, nonce: "another-login", status: 403, reason: "nonce mismatch"},
		{name: "state from another browser", claims: auditorClaims, status: 400, reason: "state mismatch",
			tamper: func(f *fixture, _ *http.Client, callback string) response {
				return f.get(noRedirects(nil), callback)
			}},
		{name: "state replayed", claims: auditorClaims, status: 400, reason: "state mismatch",
			tamper: func(f *fixture, c *http.Client, callback string) response {
				first := f.get(c, callback)
				if first.StatusCode != 200 {
					f.t.Fatalf("first callback: %d %s", first.StatusCode, first.body)
				}
				// The browser is logged in; the same callback again (say,
				// from its history, with the login cookie put back) is not
				// a second login.
				c.Jar.SetCookies(mustURL(f.srv.URL), []*http.Cookie{{Name: loginCookie, Value: stateOf(callback), Path: "/"}})
				return f.get(noRedirects(c.Jar), callback)
			}},
		{name: "error from the IdP", claims: auditorClaims, status: 403, reason: "the identity provider answered",
			tamper: func(f *fixture, c *http.Client, callback string) response {
				return f.get(c, "/callback?error=access_denied&state="+stateOf(callback))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			f.idp.as(tc.claims)
			f.idp.nonce = tc.nonce
			jar, _ := cookiejar.New(nil)
			c := noRedirects(jar)
			callback := f.callbackPath(c)
			var resp response
			if tc.tamper != nil {
				resp = tc.tamper(f, c, callback)
			} else {
				resp = f.get(c, callback)
			}
			if resp.StatusCode != tc.status || !strings.Contains(resp.body, "login refused") {
				t.Errorf("callback = %d %s, want %d", resp.StatusCode, resp.body, tc.status)
			}
			refused := f.activity.of(event.TypeConsoleRefused)
			if len(refused) != 1 || !strings.Contains(refused[0].(event.ConsoleRefused).Reason, tc.reason) {
				t.Errorf("console.refused = %+v, want one naming %q", refused, tc.reason)
			}
			if n := len(f.activity.of(event.TypeConsoleLogin)); n > 0 && tc.name != "state replayed" {
				t.Errorf("%d console.login events", n)
			}
			if page := f.get(noRedirects(jar), "/sessions"); page.StatusCode != http.StatusSeeOther && tc.name != "state replayed" {
				t.Errorf("/sessions after a refused login = %d, want a redirect to /login", page.StatusCode)
			}
		})
	}
}

// TestRefusalsAreThrottled: past the limit a source's refused attempts
// are answered 429 and recorded together, not one event each.
func TestRefusalsAreThrottled(t *testing.T) {
	f := newFixture(t, 0)
	f.console.limiter = sourcelimit.New(3, 10, nil)
	c := noRedirects(nil)
	for i := range 5 {
		resp := f.do(c, "POST", "/logout", http.Header{"Origin": {"https://evil.example"}})
		want := http.StatusForbidden
		if i >= 3 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("logout %d = %d, want %d", i, resp.StatusCode, want)
		}
	}
	if n := len(f.activity.of(event.TypeConsoleRefused)); n != 3 {
		t.Errorf("%d console.refused, want 3", n)
	}
	f.console.RecordThrottled()
	throttled := f.activity.of(event.TypeConsoleThrottled)
	if len(throttled) != 1 {
		t.Fatalf("%d console.throttled, want 1", len(throttled))
	}
	if th := throttled[0].(event.ConsoleThrottled); th.OverRate != 2 || th.Source != "127.0.0.1" || th.PerMinute != 3 {
		t.Errorf("console.throttled %+v", th)
	}
}

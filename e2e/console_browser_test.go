//go:build servers

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// xssCorpus are statements an agent runs to attack the auditor's browser:
// markup, a javascript: URL, a template's delimiters, bidirectional and
// invisible characters and terminal escapes, in texts and in an error.
var xssCorpus = []string{
	"SELECT '<script>alert(1)</script>'",
	"SELECT 1 AS \"<img src=x onerror=alert(1)>\"",
	"SELECT '\"><svg onload=alert(1)>'",
	"SELECT '</pre></td><iframe srcdoc=\"<script>alert(1)</script>\"></iframe>'",
	"SELECT 'javascript:alert(1)' AS \"<a href=javascript:alert(1)>click</a>\"",
	"SELECT 'admin\u202egnp.exe'",
	"SELECT '\x1b[31mALLOW\x1b[0m' /* \x1b[2J */",
	"SELECT 'zero\u200bwidth', '{{.}}'",
	"SELECT '<img src=x onerror=alert(2)>'::int",
}

// shownAs is a statement as the console must show it: every character
// as written, except controls, bidirectional and invisible characters,
// which appear as visible escapes.
func shownAs(sql string) string {
	return strings.NewReplacer("\u202e", `\u202e`, "\x1b", `\x1b`, "\u200b", `\u200b`).Replace(sql)
}

// TestConsoleBrowser drives headless Chromium against the real console:
// an unauthenticated visit goes to Dex's login form, which the browser
// fills in; the agent's XSS corpus shows as text and runs nothing; every
// answer has the CSP and every cookie its attributes; an injected script
// is blocked by the CSP; a crawl from / finds nothing that changes
// anything, every other method is refused; no masked value shows in a
// page or a download; and the Log out button logs out.
func TestConsoleBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	w := newWorldWith(t, erin)
	alice := testLoginAuthCode(t, w)
	agentSession := w.runAgentCorpus(t, alice)
	base, _, _ := w.startConsole(t)

	b := newBrowser(t, chromium, base)
	b.run(t, chromedp.Navigate(base+"/sessions"))
	b.waitURL(t, w.idp.Issuer)
	if !b.requested(base + "/login") {
		t.Fatalf("an unauthenticated /sessions did not go through /login: %v", b.requestedURLs())
	}
	b.dexLogin(t, w.idp.Issuer, erin.Email, erin.Password)
	b.waitURL(t, base+"/sessions")

	t.Run("cookies", func(t *testing.T) { b.checkCookies(t) })
	t.Run("XSS corpus on /sessions", func(t *testing.T) {
		b.run(t, chromedp.Navigate(base+"/sessions"))
		b.checkInert(t, "/sessions")
	})
	t.Run("XSS corpus on the session page", func(t *testing.T) {
		b.run(t, chromedp.Navigate(base+"/sessions/"+agentSession))
		b.checkInert(t, "the agent's session page")
		shown := eval[[]string](t, b, `Array.from(document.querySelectorAll("td.sql pre"), e => e.textContent)`)
		for _, sql := range xssCorpus {
			if !slices.Contains(shown, shownAs(sql)) {
				t.Errorf("the session page does not show %q as %q; it shows %q", sql, shownAs(sql), shown)
			}
		}
	})
	t.Run("replay of the XSS corpus", func(t *testing.T) { b.checkReplay(t, agentSession) })
	t.Run("an injected script is blocked by the CSP", func(t *testing.T) { b.checkInjectedScript(t, "/sessions") })
	t.Run("an injected script is blocked by the CSP on the replay", func(t *testing.T) {
		b.checkInjectedScript(t, "/sessions/"+agentSession+"/replay")
	})
	t.Run("the evidence form has no script and holds the CSP", func(t *testing.T) {
		b.run(t, chromedp.Navigate(base+"/evidence"))
		if n := eval[int](t, b, `document.scripts.length + document.querySelectorAll("[onclick],[onsubmit],[onload]").length`); n != 0 {
			t.Errorf("the evidence form holds %d scripts or handlers", n)
		}
		b.checkInjectedScript(t, "/evidence")
	})
	t.Run("crawl", func(t *testing.T) { b.crawl(t) })
	t.Run("CSP on every answer", func(t *testing.T) { b.checkHeaders(t) })
	t.Run("log out", func(t *testing.T) {
		b.run(t, chromedp.Navigate(base+"/sessions"))
		eval[chromedp.Void](t, b, `document.querySelector("form[action='/logout'] button").click()`)
		b.waitURL(t, base+"/logout")
		if text := eval[string](t, b, `document.body.innerText`); !strings.Contains(text, "Logged out") {
			t.Fatalf("the Log out button led to:\n%s", text)
		}
		b.run(t, chromedp.Navigate(base+"/sessions"))
		b.waitURL(t, w.idp.Issuer)
	})
	t.Run("Set-Cookie on every answer", func(t *testing.T) { b.checkSetCookies(t) })
	if t.Failed() {
		log, _ := os.ReadFile(w.dataDir + "/console.log")
		t.Logf("console log:\n%s", log)
	}
}

// chromiumPath finds Debian's Chromium; without it the test fails, since
// a skipped browser test would pass for nothing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run `make test-deps` (apt-get install -y chromium)")
	return ""
}

// runAgentCorpus has an agent of alice's run xssCorpus and statements on
// masked columns (masked and refused) through the proxy, then alice
// statements whose errors would quote masked values; it returns the
// agent's session id.
func (w *world) runAgentCorpus(t *testing.T, alice profile) string {
	t.Helper()
	agent := w.mustAgentCert(t, alice, "xss-corpus", "--grant", "orders:support")
	agentSession := w.runSession(t, agent.sshConfig(t), agent.host(), func(port int) {
		for _, sql := range xssCorpus {
			psqlAs(t, port, "support", "", "-c", sql) // the cast fails; that is part of the corpus
		}
		for _, sql := range []string{"SELECT email, ssn, card, phone FROM people", "SELECT ssn::jsonb FROM people WHERE id = 1",
			"SELECT id FROM people WHERE ssn LIKE '1%'"} {
			if out, _ := psqlAs(t, port, "support", "", "-c", sql); leaked(out) != "" {
				t.Fatalf("%q shows a masked value to the agent: %s", sql, out)
			}
		}
	})
	// alice herself, under the milder policy pii: the database's errors
	// would quote the values, and are withheld.
	w.runSession(t, w.sshConfig(alice), "gatehouse", func(port int) {
		for _, sql := range []string{"SELECT ssn::jsonb FROM people WHERE id = 1", "SELECT id FROM people WHERE email::int > 0"} {
			out, err := psqlAs(t, port, "support", "", "-c", sql)
			if err == nil || leaked(out) != "" || !strings.Contains(out, "withheld by gatehouse") {
				t.Fatalf("%q: want the database's error, withheld: %v\n%s", sql, err, out)
			}
		}
	})
	return agentSession
}

// browser is one headless Chromium with a fresh profile, and what it saw.
type browser struct {
	ctx  context.Context
	base string

	mu         sync.Mutex
	dialogs    []string
	requests   []string
	setCookies []string
	responses  map[string]network.Headers // URL → headers, the console's own
}

func newBrowser(t *testing.T, chromium, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{base: base, responses: map[string]network.Headers{}}
	dialogs := make(chan struct{}, 100)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, fmt.Sprintf("%s %q on %s", e.Type, e.Message, e.URL))
			dialogs <- struct{}{}
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *network.EventResponseReceivedExtraInfo:
			if v, ok := header(e.Headers, "Set-Cookie"); ok {
				b.setCookies = append(b.setCookies, strings.Split(v, "\n")...)
			}
			for _, c := range e.BlockedCookies {
				b.setCookies = append(b.setCookies, fmt.Sprintf("blocked (%v): %s", c.BlockedReasons, c.CookieLine))
			}
		case *network.EventResponseReceived:
			if strings.HasPrefix(e.Response.URL, base+"/") {
				b.responses[e.Response.URL] = e.Response.Headers
			}
		}
	}))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b.ctx = ctx
	// The first run starts Chromium and must have no timeout (it would
	// stop the browser); a failure to start is reported here.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	// A dialog blocks the page: dismiss it (the listener may not run
	// commands), so that the test fails on it instead of hanging.
	go func() {
		for {
			select {
			case <-dialogs:
				chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			case <-ctx.Done():
				return
			}
		}
	}()
	return b
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates expr in the page and decodes its value.
func eval[T any](t *testing.T, b *browser, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("browser: evaluating %.80q: %v", expr, err)
	}
	return v
}

func (b *browser) requested(url string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.requests, url)
}

func (b *browser) requestedURLs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// location is the page's URL.
func (b *browser) location(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return loc
}

// waitURL waits up to 30 s for a loaded page whose URL starts with
// prefix (a page being replaced cannot be read: that is tried again).
func (b *browser) waitURL(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === "complete" ? location.href : ""`))
		cancel()
		if err == nil && strings.HasPrefix(loc, prefix) {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("the browser is at %s (%v), not %s:\n%s", b.location(t), err, prefix, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dexLogin fills in Dex's forms as a person would: the connector list (if
// any), the password form, and the approval (if asked), until the
// browser leaves Dex.
func (b *browser) dexLogin(t *testing.T, issuer, login, password string) {
	t.Helper()
	step := fmt.Sprintf(`(() => {
		const pw = document.querySelector("input[name=password]");
		if (pw && !window.__gatehouseSent) {
			window.__gatehouseSent = true;
			document.querySelector("input[name=login]").value = %q;
			pw.value = %q;
			pw.form.submit();
			return "credentials";
		}
		const approve = document.querySelector("[name=approval][value=approve]");
		if (approve) { approve.click(); return "approval"; }
		const local = document.querySelector("a[href*='/auth/local']");
		if (local) { local.click(); return "connector"; }
		return "";
	})()`, login, password)
	deadline := time.Now().Add(30 * time.Second)
	for strings.HasPrefix(b.location(t), issuer) {
		if time.Now().After(deadline) {
			t.Fatalf("the Dex login did not finish in 30 s; the browser is at %s", b.location(t))
		}
		// A navigation under way destroys the page's context: try again.
		chromedp.Run(b.ctx, chromedp.Evaluate[string](step))
		time.Sleep(200 * time.Millisecond)
	}
}

// checkCookies: every cookie the console set is __Host- (Secure, Path=/,
// no Domain), HttpOnly, and SameSite=Strict.
func (b *browser) checkCookies(t *testing.T) {
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	cookies := res.Cookies
	if len(cookies) == 0 {
		t.Fatal("the logged-in browser holds no cookie of the console")
	}
	host, _ := url.Parse(b.base)
	for _, c := range cookies {
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict ||
			c.Path != "/" || c.Domain != host.Hostname() {
			t.Errorf("cookie %s: Secure=%v HttpOnly=%v SameSite=%q Path=%q Domain=%q", c.Name, c.Secure, c.HTTPOnly, c.SameSite, c.Path, c.Domain)
		}
	}
}

// checkSetCookies: every cookie the browser was sent (all by the console:
// Dex sets none) is __Host- (Secure, Path=/, no Domain) and HttpOnly, was
// stored, and is SameSite=Strict, except the login cookie, which is Lax
// so that it comes back with the IdP's redirect (docs/console.md).
func (b *browser) checkSetCookies(t *testing.T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.setCookies) < 3 {
		t.Fatalf("the browser was sent %d cookies, want the login cookie, its removal and the session's: %q", len(b.setCookies), b.setCookies)
	}
	for _, c := range b.setCookies {
		attrs := strings.Split(c, "; ")
		name, _, _ := strings.Cut(attrs[0], "=")
		sameSite := "SameSite=Strict"
		if name == "__Host-gatehouse_console_login" {
			sameSite = "SameSite=Lax"
		}
		if !strings.HasPrefix(name, "__Host-") || !slices.Contains(attrs, "Secure") || !slices.Contains(attrs, "HttpOnly") ||
			!slices.Contains(attrs, "Path=/") || !slices.Contains(attrs, sameSite) || strings.Contains(strings.ToLower(c), "domain=") {
			t.Errorf("Set-Cookie %q: want __Host-, Secure, HttpOnly, Path=/, %s, no Domain", c, sameSite)
		}
	}
}

// pageFacts is what one page holds, read from its DOM.
type pageFacts struct {
	URL         string
	ContentType string
	Text        string
	HTML        string
	Active      []string // elements that could run or load something
	Links       []string
	Styles      []string
	Forms       []struct{ Method, Action string }
}

const readPage = `(() => ({
	URL: location.href,
	ContentType: document.contentType,
	Text: document.body ? document.body.innerText : "",
	HTML: document.documentElement.outerHTML,
	Active: Array.from(document.querySelectorAll("script, img, svg, iframe, frame, object, embed, audio, video, base, [onload], [onerror], [onclick], [srcdoc], a[href^='javascript:' i]"), e => e.outerHTML),
	Links: Array.from(document.querySelectorAll("a[href]"), a => a.href),
	Styles: Array.from(document.querySelectorAll("link[href]"), l => l.href),
	Forms: Array.from(document.forms, f => ({Method: f.method, Action: f.action})),
}))()`

func (b *browser) facts(t *testing.T) pageFacts {
	t.Helper()
	return eval[pageFacts](t, b, readPage)
}

// ownScript is the console's only script element: the replay page's.
const ownScript = `<script src="/static/replay.js"></script>`

// checkInert: no dialog has opened, and the page holds no element that
// could run or load anything but the console's own script.
func (b *browser) checkInert(t *testing.T, what string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // an onerror would fire by now
	f := b.facts(t)
	// The replay page's own script, from the console, is the only one
	// allowed.
	active := slices.DeleteFunc(f.Active, func(e string) bool { return e == ownScript })
	if len(active) > 0 {
		t.Errorf("%s holds elements that could run: %q", what, active)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dialogs) > 0 {
		t.Errorf("%s: JavaScript dialogs opened: %q", what, b.dialogs)
		b.dialogs = nil // each page reports its own
	}
}

// checkInjectedScript appends an inline <script> to the page: the CSP
// must block it and report a securitypolicyviolation.
func (b *browser) checkInjectedScript(t *testing.T, path string) {
	b.run(t, chromedp.Navigate(b.base+path))
	out := eval[struct {
		Ran        bool
		Violations []string
	}](t, b, `new Promise(resolve => {
		const violations = [];
		document.addEventListener("securitypolicyviolation", e => violations.push(e.violatedDirective + " " + e.blockedURI));
		const s = document.createElement("script");
		s.textContent = "window.__injectedRan = true";
		document.body.appendChild(s);
		setTimeout(() => resolve({Ran: window.__injectedRan === true, Violations: violations}), 500);
	})`, chromedp.EvalAwaitPromise)
	if out.Ran {
		t.Error("an injected inline script ran")
	}
	if !slices.ContainsFunc(out.Violations, func(v string) bool { return strings.HasPrefix(v, "script-src") }) {
		t.Errorf("no securitypolicyviolation for script-src: %q", out.Violations)
	}
}

// crawl visits every page reachable from / by the console's links: each
// is inert and shows no masked value; every form reads only (GET) or is
// the logout (POST), both to the console itself; every download holds no
// masked value; and every URL answers any other method 405 or 403.
func (b *browser) crawl(t *testing.T) {
	queue, seen := []string{b.base + "/"}, map[string]bool{b.base + "/": true}
	var downloads, visited []string
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		b.run(t, chromedp.Navigate(u))
		f := b.facts(t)
		visited = append(visited, u)
		b.checkInert(t, u)
		if s := leaked(f.HTML); s != "" {
			t.Errorf("%s shows the masked value %q", u, s)
		}
		for _, form := range f.Forms {
			readOnly := form.Method == "get" && strings.HasPrefix(form.Action, b.base+"/")
			logout := form.Method == "post" && form.Action == b.base+"/logout"
			if !readOnly && !logout {
				t.Errorf("%s has a form that could change something: %s %s", u, form.Method, form.Action)
			}
		}
		for _, l := range append(f.Links, f.Styles...) {
			l, _, _ = strings.Cut(l, "#")
			if !strings.HasPrefix(l, b.base+"/") || seen[l] {
				continue
			}
			seen[l] = true
			p, _ := url.Parse(l)
			switch {
			case p.Path == "/login" || p.Path == "/logout": // leaving, not looking
				visited = append(visited, l)
			case p.Query().Get("format") != "" || strings.HasSuffix(p.Path, "/raw") || strings.HasPrefix(p.Path, "/static/"):
				downloads = append(downloads, l)
			default:
				queue = append(queue, l)
			}
		}
	}
	t.Logf("crawled %d pages and %d downloads", len(visited), len(downloads))
	for _, want := range []string{"/sessions", "/sessions/", "/raw", "format=csv", "format=jsonl"} {
		if !slices.ContainsFunc(append(visited, downloads...), func(u string) bool { return strings.Contains(u, want) }) {
			t.Errorf("the crawl found no %s: %q %q", want, visited, downloads)
		}
	}
	b.probe(t, visited, downloads)
}

// probe fetches from the page, in a tab that lifts the CSP so that fetch
// is allowed: each download (no masked value in it) and, for every URL,
// each method that is not GET (refused).
func (b *browser) probe(t *testing.T, pages, downloads []string) {
	tab, cancel := chromedp.NewContext(b.ctx)
	defer cancel()
	tb := &browser{ctx: tab, base: b.base}
	if _, err := chromedp.Call(tab, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
		t.Fatalf("browser: %v", err)
	}
	tb.run(t, chromedp.Navigate(b.base+"/sessions"))
	fetch := func(u, method string) (status int, body string) {
		out := eval[struct {
			Status int
			Body   string
		}](t, tb, fmt.Sprintf(`fetch(%q, {method: %q, credentials: "same-origin", redirect: "manual"})
			.then(async r => ({Status: r.status, Body: await r.text()}))`, u, method), chromedp.EvalAwaitPromise)
		return out.Status, out.Body
	}
	for _, u := range downloads {
		status, body := fetch(u, "GET")
		if status != 200 || body == "" {
			t.Errorf("GET %s = %d, %d bytes", u, status, len(body))
		}
		if s := leaked(body); s != "" {
			t.Errorf("%s holds the masked value %q", u, s)
		}
	}
	for _, u := range append(pages, downloads...) {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
			if strings.HasSuffix(u, "/logout") && m == "POST" {
				continue
			}
			if status, body := fetch(u, m); status != 405 && status != 403 {
				t.Errorf("%s %s = %d, want 405 or 403: %.200s", m, u, status, body)
			}
		}
	}
}

// checkHeaders: every answer of the console the browser got carries the
// strict CSP and nosniff.
func (b *browser) checkHeaders(t *testing.T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.responses) < 4 {
		t.Fatalf("the browser saw only %d answers of the console", len(b.responses))
	}
	for u, h := range b.responses {
		csp, _ := header(h, "Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: Content-Security-Policy %q lacks %s", u, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: Content-Security-Policy %q allows unsafe sources", u, csp)
		}
		if v, _ := header(h, "X-Content-Type-Options"); v != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", u, v)
		}
	}
}

// header reads a response header whatever its case (HTTP/1.1 keeps Go's
// canonical form; the protocol lowercases others).
func header(h network.Headers, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, ok := v.(string)
			return s, ok
		}
	}
	return "", false
}

// checkReplay plays the agent's session on its replay page at 8× with
// pauses of at most 1 s: the console's script loads its timeline under
// the CSP and shows every event, each corpus statement as text with its
// controls escaped, and no dialog opens and no element from a payload
// exists.
func (b *browser) checkReplay(t *testing.T, session string) {
	b.run(t, chromedp.Navigate(b.base+"/sessions/"+session+"/replay"))
	b.waitFor(t, `!document.getElementById("replay-play").disabled`, 30*time.Second)
	eval[chromedp.Void](t, b, `document.getElementById("replay-speed").value = "8";
		document.getElementById("replay-cap").value = "1000";
		document.getElementById("replay-play").click()`)
	b.waitFor(t, `document.getElementById("replay-position").textContent.endsWith("(finished)")`, 2*time.Minute)
	b.checkInert(t, "the agent's session replay")
	out := eval[struct {
		Shown    []string
		Position string
	}](t, b, `({Shown: Array.from(document.querySelectorAll("#replay-events .replay-text"), e => e.textContent),
		Position: document.getElementById("replay-position").textContent})`)
	n := len(out.Shown)
	if want := fmt.Sprintf("event %d of %d,", n, n); n < len(xssCorpus) || !strings.HasPrefix(out.Position, want) {
		t.Errorf("the replay shows %d events, position %q", n, out.Position)
	}
	for _, sql := range xssCorpus {
		if !slices.ContainsFunc(out.Shown, func(s string) bool { return strings.Contains(s, shownAs(sql)) }) {
			t.Errorf("the replay does not show %q as %q; it shows %q", sql, shownAs(sql), out.Shown)
		}
	}
}

// waitFor waits until expr is true in the page.
func (b *browser) waitFor(t *testing.T, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !eval[bool](t, b, expr) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still not %s:\n%s", within, expr, eval[string](t, b, `document.body.innerText`))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

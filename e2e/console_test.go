//go:build servers

package e2e

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// Users of the console: erin audits; frank belongs to no group, so his ID
// token has no groups claim.
var (
	erin  = testenv.IdPUser{Email: "erin@example.com", Username: "erin", Password: "erin-pw", Groups: []string{"auditors"}}
	frank = testenv.IdPUser{Email: "frank@example.com", Username: "frank", Password: "frank-pw"}
)

// TestConsole runs the real `gatehouse console` against the recordings
// of a real session: an auditor logs in through Dex and sees the session,
// the CSV export has the rows `gatehouse sessions` prints, a non-auditor
// and a token without groups are refused, and the console's own activity
// stream verifies.
func TestConsole(t *testing.T) {
	w := newWorldWith(t, erin, frank)
	alice := testLoginAuthCode(t, w)
	testTunnelPsql(t, w, alice)
	base, activity, stop := w.startConsole(t)

	auditor := w.consoleLogin(t, base, erin)
	page := consoleGet(t, auditor, base+"/sessions")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("/sessions = %d: %s", page.StatusCode, page.body)
	}
	for h, want := range map[string]string{"Content-Security-Policy": "default-src 'none'; script-src 'self'",
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := page.Header.Get(h); !strings.HasPrefix(got, want) {
			t.Errorf("/sessions %s = %q", h, got)
		}
	}
	listed := w.sessionsRows(t)
	if len(listed) == 0 {
		t.Fatal("gatehouse sessions lists no session")
	}
	for id := range listed {
		mustContain(t, "/sessions", page.body, id)
	}
	filtered := consoleGet(t, auditor, base+"/sessions?identity=alice")
	mustContain(t, "/sessions?identity=alice", filtered.body, "alice@example.com", fmt.Sprintf("%d sessions", len(listed)))

	exported := consoleCSV(t, auditor, base+"/sessions?format=csv&identity=alice")
	if len(exported) != len(listed) {
		t.Errorf("the CSV has %d rows, gatehouse sessions %d", len(exported), len(listed))
	}
	for id, want := range listed {
		if got, ok := exported[id]; !ok || got != want {
			t.Errorf("session %s: CSV %q, gatehouse sessions %q", id, got, want)
		}
	}

	for _, u := range []testenv.IdPUser{bob, frank} {
		jar, _ := cookiejar.New(nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := w.idp.CompleteAuthCodeLoginIn(ctx, jar, base+"/login", u.Email, u.Password)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "answered 403") {
			t.Errorf("%s's login: %v, want a 403", u.Email, err)
		}
		resp := consoleGet(t, &http.Client{Jar: jar, CheckRedirect: stopRedirects}, base+"/sessions")
		if resp.StatusCode != http.StatusSeeOther || strings.Contains(resp.body, "alice") {
			t.Errorf("%s after a refused login: /sessions = %d", u.Email, resp.StatusCode)
		}
	}

	stop()
	out, err := exec.Command(w.bin, "verify", "--config", w.consoleConfig(t, ""), activity).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK") {
		t.Fatalf("gatehouse verify %s: %v\n%s", activity, err, out)
	}
	// Signed with the console's own key, which the API publishes apart:
	// trusted for console streams with --console-pubkey, never as a
	// recorder key.
	keys := filepath.Join(t.TempDir(), "recorder-keys.json")
	writeFile(t, keys, publishedRecorderKeys(t, w))
	recordings := filepath.Join(w.dataDir, "recordings")
	out, err = exec.Command(w.bin, "verify", "--dir", recordings, "--pubkey", keys, activity).CombinedOutput()
	if err == nil || !strings.HasPrefix(string(out), "FAILED") {
		t.Errorf("the activity stream verified with the recorder keys alone: %v\n%s", err, out)
	}
	out, err = exec.Command(w.bin, "verify", "--dir", recordings, "--pubkey", keys, "--console-pubkey", keys, activity).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK") {
		t.Errorf("gatehouse verify --console-pubkey %s: %v\n%s", activity, err, out)
	}
	lines, err := w.store().Lines(recorder.KindConsole, activity)
	if err != nil {
		t.Fatal(err)
	}
	stream := string(joinLines(lines))
	for _, want := range []string{`"type":"console.login"`, `"subject":`, `"email":"erin@example.com"`, `"type":"console.view"`,
		`"path":"/sessions"`, `"type":"console.export"`, `"format":"csv"`, `"identity":"alice"`,
		`"email":"bob@example.com"`, "not a member of console.auditor_groups", `no \"groups\" claim`} {
		mustContain(t, "the console's activity stream", stream, want)
	}
}

func joinLines(lines [][]byte) []byte {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	return b
}

func stopRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// runSession opens a tunnel to orders through host with config, runs
// statements with its port, closes it, and returns the id of the session
// recorded for it once the session has ended.
func (w *world) runSession(t *testing.T, config, host string, statements func(port int)) string {
	t.Helper()
	before := w.sessionIDs(t)
	port, stop := w.startTunnelVia(t, config, host, "orders")
	statements(port)
	stop()
	return w.newSession(t, before)
}

// consoleConfig writes the world's configuration with a console section
// listening on addr (the file is written once; later calls return it).
func (w *world) consoleConfig(t *testing.T, addr string) string {
	t.Helper()
	path := filepath.Join(w.dataDir, "console.yaml")
	if addr == "" {
		return path
	}
	cfg, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, fmt.Sprintf("console:\n  listen: %s\n", addr)...)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var consoleReady = regexp.MustCompile(`^gatehouse console: (http://\S+)/ .* console stream (\S+)\)$`)

// startConsole runs `gatehouse console` on a free port and returns its
// URL, its activity stream's id, and stop, which interrupts it and waits.
func (w *world) startConsole(t *testing.T) (base, activity string, stop func()) {
	t.Helper()
	cfg := w.consoleConfig(t, fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	return startConsoleCmd(t, exec.Command(w.bin, "console", "--config", cfg), filepath.Join(w.dataDir, "console.log"))
}

// startConsoleCmd starts cmd, a `gatehouse console`, its stderr to
// logPath, and returns its URL, its activity stream's id, and stop, which
// interrupts it and waits.
func startConsoleCmd(t *testing.T, cmd *exec.Cmd, logPath string) (base, activity string, stop func()) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				log, _ := os.ReadFile(logFile.Name())
				t.Errorf("gatehouse console exited: %v\n%s", err, log)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Error("gatehouse console did not stop on interrupt")
		}
	}
	t.Cleanup(stop)
	select {
	case l, ok := <-lines:
		m := consoleReady.FindStringSubmatch(l)
		if !ok || m == nil {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("gatehouse console printed %q\n%s", l, log)
		}
		go func() {
			for range lines {
			}
		}()
		return m[1], m[2], stop
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse console did not start in 30s")
	}
	return "", "", nil
}

// consoleLogin logs user in to the console through Dex's login form and
// returns a client holding the console's session cookie.
func (w *world) consoleLogin(t *testing.T, base string, user testenv.IdPUser) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.idp.CompleteAuthCodeLoginIn(ctx, jar, base+"/login", user.Email, user.Password); err != nil {
		t.Fatalf("%s's console login: %v", user.Email, err)
	}
	return &http.Client{Jar: jar, CheckRedirect: stopRedirects}
}

type consoleResponse struct {
	*http.Response
	body string
}

func consoleGet(t *testing.T, c *http.Client, url string) consoleResponse {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return consoleResponse{resp, string(b)}
}

// sessionsRows is `gatehouse sessions --identity alice`: for each session
// id, its identity, targets, channels, refusals, end and chain.
func (w *world) sessionsRows(t *testing.T) map[string]string {
	t.Helper()
	out := w.gatehouse("sessions", "--config", w.cfgPath, "--identity", "alice")
	rows := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		// SESSION  START(date time)  DURATION  IDENTITY  TARGETS  CHANNELS  REFUSALS  END  CHAIN
		f := regexp.MustCompile(`\s{2,}`).Split(l, -1)
		if len(f) != 9 {
			t.Fatalf("gatehouse sessions row %q", l)
		}
		rows[f[0]] = strings.Join([]string{f[3], f[4], f[5], f[6], f[7], f[8]}, "|")
	}
	return rows
}

// consoleCSV is a CSV export in sessionsRows' form.
func consoleCSV(t *testing.T, c *http.Client, url string) map[string]string {
	t.Helper()
	resp := consoleGet(t, c, url)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("%s = %d %s", url, resp.StatusCode, resp.body)
	}
	r := csv.NewReader(strings.NewReader(resp.body))
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	if err != nil || len(records) < 2 {
		t.Fatalf("CSV %q: %v", resp.body, err)
	}
	mustContain(t, "the CSV's first line", records[0][0], `filters: identity="alice"`)
	rows := map[string]string{}
	for _, rec := range records[2:] {
		// session start end duration identity agent targets channels statements denied refusals end_reason chain verification
		rows[rec[0]] = strings.Join([]string{rec[4], rec[6], rec[7], rec[10], rec[11], rec[12]}, "|")
		if !strings.HasSuffix(rec[1], "Z") || rec[13] != "verified" {
			t.Errorf("CSV row %q: start not UTC, or not verified", rec)
		}
	}
	return rows
}

// TestConsoleLinkAndSessionPage: a link minted by the real `gatehouse
// console link` works once in the real console, then not; a link for
// another target lists none of the sessions and refuses their pages; an
// agent's XSS and bidi statement, run through the proxy, shows escaped on
// its session page, which verifies, and its raw recording downloads.
func TestConsoleLinkAndSessionPage(t *testing.T) {
	requireTools(t, "ssh", "psql")
	w := newWorldWith(t, erin)
	alice := testLoginAuthCode(t, w)
	testTunnelPsql(t, w, alice)
	agent := w.mustAgentCert(t, alice, "xss-bot", "--grant", "orders:readonly")
	const attack = "SELECT '<script>alert(1)</script>' AS \"<img src=x onerror=alert(1)>\", 'admin\u202egnp.exe' /* \x1b[2J\x1b[31mALLOW */"
	agentSession := w.runSession(t, agent.sshConfig(t), agent.host(), func(port int) {
		if out, err := psql(t, port, attack); err != nil {
			t.Fatalf("the agent's statement: %v\n%s", err, out)
		}
	})
	base, activity, stop := w.startConsole(t)
	mint := func(args ...string) string {
		t.Helper()
		out := w.gatehouse(append([]string{"console", "link", "--config", w.consoleConfig(t, ""), "--ttl", "1h"}, args...)...)
		link := strings.SplitN(out, "\n", 2)[0]
		if !strings.HasPrefix(link, base+"/link/") {
			t.Fatalf("gatehouse console link printed %q, not a link to %s", out, base)
		}
		return link
	}
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, CheckRedirect: stopRedirects}
	}

	// A link for billing: none of alice's sessions (all on orders).
	billing := mint("--identity", "Billing Auditors LLP", "--target", "billing")
	external := browser()
	if resp := consoleGet(t, external, billing); resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, "Logged in") {
		t.Fatalf("the link's first use: %d\n%s", resp.StatusCode, resp.body)
	}
	if resp := consoleGet(t, browser(), billing); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the link's second use: %d, want 403\n%s", resp.StatusCode, resp.body)
	}
	list := consoleGet(t, external, base+"/sessions")
	mustContain(t, "a billing link's /sessions", list.body, "Billing Auditors LLP", "0 sessions")
	for id := range w.sessionIDs(t) {
		mustNotContain(t, "a billing link's /sessions", list.body, id)
		if resp := consoleGet(t, external, base+"/sessions/"+id); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a billing link opens %s: %d", id, resp.StatusCode)
		}
	}

	// A link for orders shows the agent's session, its text escaped.
	orders := browser()
	consoleGet(t, orders, mint("--identity", "Orders Auditor", "--target", "orders", "--from", "1h"))
	mustContain(t, "an orders link's /sessions", consoleGet(t, orders, base+"/sessions").body, agentSession)
	page := consoleGet(t, orders, base+"/sessions/"+agentSession)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("the agent's session page: %d\n%s", page.StatusCode, page.body)
	}
	for _, raw := range []string{"<script>alert", "<img", "\u202e", "\x1b"} {
		mustNotContain(t, "the agent's session page", page.body, raw)
	}
	mustContain(t, "the agent's session page", page.body, "&lt;script&gt;alert(1)&lt;/script&gt;", `admin\u202egnp.exe`, `\x1b[2J`,
		"Verification: verified", "alice@example.com via agent:xss-bot", "xss-bot")
	raw := consoleGet(t, orders, base+"/sessions/"+agentSession+"/raw")
	if raw.StatusCode != http.StatusOK || !strings.HasPrefix(raw.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("the raw recording: %d %q", raw.StatusCode, raw.Header.Get("Content-Disposition"))
	}
	stored, err := w.store().Lines(recorder.KindSession, agentSession)
	if err != nil || raw.body != string(joinLines(stored)) {
		t.Fatalf("the raw recording is not the stored one (%v)", err)
	}

	stop()
	lines, err := w.store().Lines(recorder.KindConsole, activity)
	if err != nil {
		t.Fatal(err)
	}
	stream := string(joinLines(lines))
	for _, want := range []string{`"type":"console.link_used"`, `"subject":"Billing Auditors LLP"`, "already used",
		"outside the link's period and targets", `"path":"/sessions/` + agentSession + `"`, `"format":"raw"`} {
		mustContain(t, "the console's activity stream", stream, want)
	}
	ids, err := w.store().List(recorder.KindConsole)
	if err != nil {
		t.Fatal(err)
	}
	var minted strings.Builder
	for _, id := range ids {
		if lines, err := w.store().Lines(recorder.KindConsole, id); err == nil {
			minted.Write(joinLines(lines))
		}
	}
	mustContain(t, "the console link commands' streams", minted.String(), `"type":"console.link_minted"`, `"for":"Billing Auditors LLP"`,
		`"targets":["billing"]`, `"for":"Orders Auditor"`)
}

//go:build servers

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestConsoleOverview: in a world with a human's and an agent's sessions,
// the agent's certificate revoked and used again (refused), and the
// recording of that refused attempt tampered with, the real console's overview counts what
// `gatehouse sessions` lists for the same period (statements and denials
// as the recordings hold them), names the tampered session among its
// exceptions and no activity after revocation, and /activity shows the
// auditor's own earlier views, which the console's stream holds; once the
// agent's closed session is deleted from the store, the overview names it
// missing, from the ledger that registered it.
func TestConsoleOverview(t *testing.T) {
	requireTools(t, "ssh", "psql")
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	w := newWorldWith(t, erin)
	alice := testLoginAuthCode(t, w)
	testTunnelPsql(t, w, alice)

	agent := w.mustAgentCert(t, alice, "overview-bot", "--grant", "orders:readonly")
	before := w.sessionIDs(t)
	port, stop := w.startTunnelVia(t, agent.sshConfig(t), agent.host(), "orders")
	if out, err := psql(t, port, "SELECT 'overview'"); err != nil {
		t.Fatalf("the agent's SELECT: %v\n%s", err, out)
	}
	if _, err := psql(t, port, "DELETE FROM customers"); err == nil {
		t.Fatal("the agent's DELETE was not refused")
	}
	serial := agent.serial(t)
	mustContain(t, "gatehouse revoke", w.gatehouse("revoke", "--config", w.cfgPath, "--serial", fmt.Sprint(serial), "--reason", "e2e: overview"),
		fmt.Sprintf("revoked serial %d", serial))
	// Once the bastion has ended the open session, it refuses the
	// certificate at login.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := psql(t, port, "SELECT 1"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent's session outlived its certificate's revocation by 10s")
		}
	}
	stop()
	agentSession := w.newSession(t, before)
	before = w.sessionIDs(t)
	out, err := runWithTimeout(exec.Command("ssh", sshArgs(agent.sshConfig(t), "-N", agent.host())...), 30*time.Second)
	if err == nil {
		t.Fatalf("ssh with a revoked certificate succeeded:\n%s", out)
	}
	mustContain(t, "ssh with a revoked certificate", out, "Permission denied (publickey)")
	tampered := w.newSession(t, before)
	w.tamperSession(t, tampered)
	until := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	period := "since=" + url.QueryEscape(since.Format(time.RFC3339)) + "&until=" + url.QueryEscape(until.Format(time.RFC3339))

	base, activity, stopConsole := w.startConsole(t)
	auditor := w.consoleLogin(t, base, erin)
	get := consolePages(t, auditor, base)
	overview := get("/?" + period)

	want := w.overviewReference(t, since, until)
	for id, n := range want {
		if got := overviewCount(t, overview, id); got != n {
			t.Errorf("the overview's %s: %d, want %d (gatehouse sessions and the recordings)", id, got, n)
		}
	}
	verified, failed, incomplete := overviewCount(t, overview, "verified"), overviewCount(t, overview, "failed"), overviewCount(t, overview, "incomplete")
	if failed < 1 || verified+failed+incomplete != want["sessions"] {
		t.Errorf("verification %d verified, %d failed, %d incomplete of %d sessions", verified, failed, incomplete, want["sessions"])
	}
	text := html.UnescapeString(overview)
	mustContain(t, "the overview's exceptions", text, "verification failed", tampered+": ", `href="/sessions/`+tampered+`"`)
	mustNotContain(t, "the overview's exceptions", text, "activity after revocation", "dev login")
	if strings.Index(text, "Exceptions") > strings.Index(text, "Sessions</th>") {
		t.Error("the exceptions are not shown first")
	}
	get("/sessions?identity=alice")

	rows := get("/activity?auditor=erin&kind=view")
	mustContain(t, "/activity", html.UnescapeString(rows), "2 activity", "erin@example.com", `/ since="`, `/sessions identity="alice"`)
	mine := get("/activity?format=jsonl&auditor=erin")
	mustContain(t, "/activity as JSON Lines", mine, `"kind":"login"`, `"kind":"view"`, `"what":"/activity`)

	// The agent's session deleted from the store, recording and manifest:
	// the serve process's ledger still registers it, so the overview
	// names it missing, and the ledger line that registers it.
	w.deleteSession(t, agentSession)
	text = html.UnescapeString(get("/?" + period))
	mustContain(t, "the overview after a session was deleted", text, "missing from the store", agentSession+": opened ", "the store does not hold it")

	stopConsole()
	lines, err := w.store().Lines(recorder.KindConsole, activity)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the console's activity stream", string(joinLines(lines)), `"path":"/"`, `"path":"/activity"`, `"format":"jsonl"`)
}

// tamperSession changes one byte (of the client's address) in a closed
// session recording.
func (w *world) tamperSession(t *testing.T, id string) {
	t.Helper()
	path := w.closedSession(t, id) + ".jsonl"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(data, []byte(`"client_addr":"127.0.0.1:`), []byte(`"client_addr":"127.0.0.2:`), 1)
	if bytes.Equal(tampered, data) {
		t.Fatalf("session %s has no client address to change", id)
	}
	if err := os.WriteFile(path, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
}

// closedSession waits for session id's manifest, and returns the path
// of its files without their extension.
func (w *world) closedSession(t *testing.T, id string) string {
	t.Helper()
	path := filepath.Join(w.store().Dir, recorder.KindSession, id)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(path + ".manifest.json"); err == nil {
			return path
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s is not closed with a manifest", id)
		}
	}
}

// deleteSession removes a closed session's recording and manifest from
// the store, as one who can write to it could.
func (w *world) deleteSession(t *testing.T, id string) {
	t.Helper()
	path := w.closedSession(t, id)
	for _, ext := range []string{".jsonl", ".manifest.json"} {
		if err := os.Remove(path + ext); err != nil {
			t.Fatal(err)
		}
	}
}

// overviewReference is what the overview should count for the period:
// sessions, humans and agents as `gatehouse sessions --since --until`
// lists them, statements and denials as the listed recordings hold them.
func (w *world) overviewReference(t *testing.T, since, until time.Time) map[string]int {
	t.Helper()
	out := w.gatehouse("sessions", "--config", w.cfgPath, "--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339))
	want := map[string]int{}
	humans, agents := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		// SESSION  START(date time)  DURATION  IDENTITY  TARGETS  CHANNELS  REFUSALS  END  CHAIN
		f := regexp.MustCompile(`\s{2,}`).Split(l, -1)
		if len(f) != 9 {
			t.Fatalf("gatehouse sessions row %q", l)
		}
		want["sessions"]++
		if human, agent, ok := strings.Cut(f[3], " via agent:"); ok {
			agents[agent] = true
		} else if human != "-" {
			humans[human] = true
		}
		statements, denials := w.statementsOf(t, f[0])
		want["statements"] += statements
		want["denials"] += denials
	}
	want["humans"], want["agents"] = len(humans), len(agents)
	if want["sessions"] < 3 || want["agents"] != 1 || want["humans"] != 1 || want["denials"] < 1 {
		t.Fatalf("the world's sessions are not what the test made: %v\n%s", want, out)
	}
	return want
}

// statementsOf counts the db.statement events of a session's recording,
// and those whose decision is not allow.
func (w *world) statementsOf(t *testing.T, id string) (statements, denials int) {
	t.Helper()
	lines, err := w.store().Lines(recorder.KindSession, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range lines {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Decision string `json:"decision"`
			} `json:"data"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Type != "db.statement" {
			continue
		}
		statements++
		if d := ev.Data.Decision; d != "allow" && d != "allowed" { // as event.Decision.Allowed
			denials++
		}
	}
	return statements, denials
}

var overviewCell = regexp.MustCompile(`<td id="([a-z]+)">(\d+)</td>`)

// overviewCount is the number in the overview's cell id.
func overviewCount(t *testing.T, page, id string) int {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		if m := overviewCell.FindStringSubmatch(sc.Text()); m != nil && m[1] == id {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	t.Fatalf("the overview has no count %q:\n%s", id, page)
	return 0
}

// consolePages is a getter of the console's pages at base as c, which
// fails the test unless a page answers 200.
func consolePages(t *testing.T, c *http.Client, base string) func(path string) string {
	return func(path string) string {
		t.Helper()
		resp := consoleGet(t, c, base+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s = %d\n%s", path, resp.StatusCode, resp.body)
		}
		return resp.body
	}
}

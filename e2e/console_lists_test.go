//go:build servers

package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConsoleListsAsSessions: for every filter `gatehouse sessions`
// takes, the real console's /sessions with the same filter lists the same
// sessions, as its page (count and links), its JSON Lines and its CSV
// export, with the same identity, targets, channels, refusals, end and
// chain; its statements and denials are those the recordings hold. The
// sessions are real and varied: a human's and an agent's, on two targets,
// allowed, denied and masked statements, a refused login, a refused
// channel, an edited recording and a session still open (listed again
// once it has closed). Each filter's sessions are also the ones the test
// made for it, so that no pairing can pass by listing everything or
// nothing.
func TestConsoleListsAsSessions(t *testing.T) {
	requireTools(t, "ssh", "psql")
	w := newWorldWith(t, erin)
	alice := testLoginAuthCode(t, w)
	sc := w.listsScenario(t, alice)

	base, _, stopConsole := w.startConsole(t)
	defer stopConsole()
	auditor := w.consoleLogin(t, base, erin)
	for _, f := range sc.filters() {
		t.Run(f.name, func(t *testing.T) { w.compareLists(t, auditor, base, sc, f) })
	}

	// Closed, the open session leaves outcome=open for outcome=clean in
	// both (the console's index catches up before it answers).
	sc.closeOpen(t)
	for _, f := range []listFilter{
		{name: "outcome open, after it closed", cli: []string{"--outcome", "open"}, want: nil},
		{name: "outcome clean, after it closed", cli: []string{"--outcome", "clean"}, want: []string{"masked", "rawpg", "open"}},
		{name: "verification incomplete, after it closed", cli: []string{"--verification", "incomplete"}, want: nil},
	} {
		f.console = url.Values{strings.TrimPrefix(f.cli[0], "--"): {f.cli[1]}}
		t.Run(f.name, func(t *testing.T) { w.compareLists(t, auditor, base, sc, f) })
	}
}

// listsScenario is the sessions TestConsoleListsAsSessions lists, by the
// name the test gives each, and mid, a time after the first five began
// and before the last three.
type listsScenario struct {
	ids       map[string]string // name → session id
	mid       time.Time
	closeOpen func(t *testing.T) // ends the open session and waits for its end
}

// listsScenario records, through the real binary: before mid, alice's
// SELECT and denied DELETE on orders ("denied"), her masked read as
// support ("masked"), her raw tcp session to rawpg ("rawpg"), a login with
// a plain key, refused ("refused-login"), and her SELECT on orders whose
// recording is then edited ("edited"); after mid, her agent's SELECT and
// denied DELETE ("agent-denied"), her channel to billing, refused
// ("refused-channel"), and her agent's session left open ("open").
func (w *world) listsScenario(t *testing.T, alice profile) *listsScenario {
	t.Helper()
	sc := &listsScenario{ids: map[string]string{}}
	cfg := w.sshConfig(alice)
	sc.ids["denied"] = w.runSession(t, cfg, "gatehouse", func(port int) {
		mustRun(t, "alice's SELECT", port, "readonly", "SELECT 'lists'")
		mustRefuse(t, "alice's DELETE", port, "readonly", "DELETE FROM customers")
	})
	sc.ids["masked"] = w.runSession(t, cfg, "gatehouse", func(port int) {
		if out := mustRun(t, "alice's masked read", port, "support", "SELECT email FROM people WHERE id = 1"); !strings.Contains(out, "***") || strings.Contains(out, "ada.secret") {
			t.Fatalf("alice's read as support was not masked: %q", out)
		}
	})
	findEvent(t, w.sessionEvents(t, sc.ids["masked"]), "db.statement", `"masked":["email`)
	before := w.sessionIDs(t)
	port, stop := w.startTunnel(t, cfg, "rawpg")
	if out, err := psqlAs(t, port, "app_ro", appROPassword, "-c", "SELECT current_user"); err != nil || out != "app_ro" {
		t.Fatalf("psql through rawpg: %q, %v", out, err)
	}
	stop()
	sc.ids["rawpg"] = w.newSession(t, before)
	sc.ids["refused-login"] = w.refusedSSH(t, "a plain key's login", w.craftedProfile(t, alice, nil, nil), "-N", "gatehouse")
	sc.ids["edited"] = w.runSession(t, cfg, "gatehouse", func(port int) {
		mustRun(t, "alice's SELECT to be edited", port, "readonly", "SELECT 'lists-edited'")
	})
	w.editStatement(t, sc.ids["edited"], "lists-edited", "lists-EDITED")

	time.Sleep(10 * time.Millisecond)
	sc.mid = time.Now().UTC()
	time.Sleep(10 * time.Millisecond)

	agent := w.mustAgentCert(t, alice, "lists-bot", "--grant", "orders:readonly")
	sc.ids["agent-denied"] = w.runSession(t, agent.sshConfig(t), agent.host(), func(port int) {
		mustRun(t, "the agent's SELECT", port, "readonly", "SELECT 'lists-agent'")
		mustRefuse(t, "the agent's DELETE", port, "readonly", "DELETE FROM customers")
	})
	sc.ids["refused-channel"] = w.refusedSSH(t, "alice's channel to billing", cfg, "-W", fmt.Sprintf("billing:%d", w.pg.Port), "gatehouse")

	before = w.sessionIDs(t)
	port, stop = w.startTunnelVia(t, agent.sshConfig(t), agent.host(), "orders")
	mustRun(t, "the open session's SELECT", port, "readonly", "SELECT 'lists-open'")
	var open []string
	for id := range w.sessionIDs(t) {
		if !before[id] {
			open = append(open, id)
		}
	}
	if len(open) != 1 {
		t.Fatalf("%d sessions began with the open tunnel, want 1: %v", len(open), open)
	}
	sc.ids["open"] = open[0]
	sc.closeOpen = func(t *testing.T) {
		stop()
		if id := w.newSession(t, before); id != open[0] {
			t.Fatalf("session %s ended, not the open %s", id, open[0])
		}
	}
	return sc
}

// listFilter is one filter as `gatehouse sessions` flags and as the
// console's query, and the names of the sessions it must select.
type listFilter struct {
	name    string
	cli     []string
	console url.Values
	want    []string
}

// filters pairs each of `gatehouse sessions`' filters (--identity,
// --agent, --target, --since, --until, --outcome, --refused) with the
// console's. --refused exists only in the CLI: it is --outcome refused,
// so it is paired with outcome=refused. --dir chooses where the CLI reads,
// not which sessions: no pairing. The console takes page and format too,
// which select no sessions. The filters by what a session did (--human,
// --role, --decision, --denials, --masked, --verification) are paired
// with the parameters of the same names.
func (sc *listsScenario) filters() []listFilter {
	mid := sc.mid.Format(time.RFC3339Nano)
	all := slices.Sorted(maps.Keys(sc.ids))
	alices := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == "refused-login" })
	return []listFilter{
		{name: "none", want: all},
		{name: "identity alice", cli: []string{"--identity", "alice"}, console: url.Values{"identity": {"alice"}}, want: alices},
		{name: "identity part of the agent's", cli: []string{"--identity", "via agent:"}, console: url.Values{"identity": {"via agent:"}},
			want: []string{"agent-denied", "open"}},
		{name: "agent", cli: []string{"--agent", "lists-bot"}, console: url.Values{"agent": {"lists-bot"}}, want: []string{"agent-denied", "open"}},
		{name: "agent none such", cli: []string{"--agent", "lists"}, console: url.Values{"agent": {"lists"}}, want: nil},
		{name: "target orders", cli: []string{"--target", "orders"}, console: url.Values{"target": {"orders"}},
			want: []string{"agent-denied", "denied", "edited", "masked", "open"}},
		{name: "target rawpg", cli: []string{"--target", "rawpg"}, console: url.Values{"target": {"rawpg"}}, want: []string{"rawpg"}},
		{name: "target billing, refused", cli: []string{"--target", "billing"}, console: url.Values{"target": {"billing"}}, want: nil},
		{name: "since mid", cli: []string{"--since", mid}, console: url.Values{"since": {mid}}, want: []string{"agent-denied", "open", "refused-channel"}},
		{name: "until mid", cli: []string{"--until", mid}, console: url.Values{"until": {mid}},
			want: []string{"denied", "edited", "masked", "rawpg", "refused-login"}},
		{name: "since a duration", cli: []string{"--since", "1h"}, console: url.Values{"since": {"1h"}}, want: all},
		{name: "outcome refused", cli: []string{"--outcome", "refused"}, console: url.Values{"outcome": {"refused"}},
			want: []string{"agent-denied", "denied", "refused-channel", "refused-login"}},
		{name: "refused flag", cli: []string{"--refused"}, console: url.Values{"outcome": {"refused"}},
			want: []string{"agent-denied", "denied", "refused-channel", "refused-login"}},
		{name: "outcome clean", cli: []string{"--outcome", "clean"}, console: url.Values{"outcome": {"clean"}}, want: []string{"masked", "rawpg"}},
		{name: "outcome open", cli: []string{"--outcome", "open"}, console: url.Values{"outcome": {"open"}}, want: []string{"open"}},
		{name: "human alice", cli: []string{"--human", "alice@example.com"}, console: url.Values{"human": {"alice@example.com"}}, want: alices},
		{name: "human, not a substring", cli: []string{"--human", "alice"}, console: url.Values{"human": {"alice"}}, want: nil},
		{name: "role readonly", cli: []string{"--role", "readonly"}, console: url.Values{"role": {"readonly"}},
			want: []string{"agent-denied", "denied", "edited", "open"}},
		{name: "role support", cli: []string{"--role", "support"}, console: url.Values{"role": {"support"}}, want: []string{"masked"}},
		// The edited statement is on the line before the chain's break:
		// it is read, and counted.
		{name: "decision allow", cli: []string{"--decision", "allow"}, console: url.Values{"decision": {"allow"}},
			want: []string{"agent-denied", "denied", "edited", "masked", "open"}},
		{name: "decision deny", cli: []string{"--decision", "deny"}, console: url.Values{"decision": {"deny"}}, want: []string{"agent-denied", "denied"}},
		{name: "denials yes", cli: []string{"--denials", "yes"}, console: url.Values{"denials": {"yes"}},
			want: []string{"agent-denied", "denied", "refused-channel", "refused-login"}},
		{name: "denials no", cli: []string{"--denials", "no"}, console: url.Values{"denials": {"no"}}, want: []string{"edited", "masked", "open", "rawpg"}},
		{name: "masked yes", cli: []string{"--masked", "yes"}, console: url.Values{"masked": {"yes"}}, want: []string{"masked"}},
		{name: "masked no", cli: []string{"--masked", "no"}, console: url.Values{"masked": {"no"}},
			want: slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == "masked" })},
		{name: "verification verified", cli: []string{"--verification", "verified"}, console: url.Values{"verification": {"verified"}},
			want: []string{"agent-denied", "denied", "masked", "rawpg", "refused-channel", "refused-login"}},
		{name: "verification failed", cli: []string{"--verification", "failed"}, console: url.Values{"verification": {"failed"}}, want: []string{"edited"}},
		{name: "verification incomplete", cli: []string{"--verification", "incomplete"}, console: url.Values{"verification": {"incomplete"}},
			want: []string{"open"}},
		{name: "human, role, decision, masked, verification at once", cli: []string{"--human", "alice@example.com", "--role", "readonly",
			"--decision", "deny", "--masked", "no", "--verification", "verified"}, console: url.Values{"human": {"alice@example.com"},
			"role": {"readonly"}, "decision": {"deny"}, "masked": {"no"}, "verification": {"verified"}}, want: []string{"agent-denied", "denied"}},
		{name: "all at once", cli: []string{"--identity", "alice", "--agent", "lists-bot", "--target", "orders", "--since", mid, "--until", "1s",
			"--outcome", "refused"}, console: url.Values{"identity": {"alice"}, "agent": {"lists-bot"}, "target": {"orders"}, "since": {mid},
			"until": {"1s"}, "outcome": {"refused"}}, want: []string{"agent-denied"}},
	}
}

// listedRow is a session as both lists show it.
type listedRow struct {
	identity, targets  string
	channels, refusals int
	end, chain         string
}

// compareLists checks that `gatehouse sessions` with f's flags and the
// console's /sessions with its query (page, JSON Lines, CSV) list the
// sessions f wants, alike.
func (w *world) compareLists(t *testing.T, c *http.Client, base string, sc *listsScenario, f listFilter) {
	cli := w.cliList(t, f.cli...)
	// The sessions the test made, exactly those it made for f. Others
	// are only compared: the world's readiness probe (a TCP connect to
	// the SSH port) is recorded as a session that ended in its handshake.
	var listed []string
	for name, id := range sc.ids {
		if cli[id] != nil {
			listed = append(listed, name)
		}
	}
	slices.Sort(listed)
	if want := slices.Sorted(slices.Values(f.want)); !slices.Equal(listed, want) {
		t.Errorf("gatehouse sessions %v lists %v of the test's sessions, want %v", f.cli, listed, want)
	}
	jsonl := consoleJSONL(t, c, base, f.console)
	if !sameKeys(jsonl, cli) {
		t.Errorf("/sessions?%s as JSON Lines lists %v, gatehouse sessions %v lists %v", f.console.Encode(),
			slices.Sorted(maps.Keys(jsonl)), f.cli, slices.Sorted(maps.Keys(cli)))
	}
	for id, got := range jsonl {
		if cli[id] != nil && got.listedRow != *cli[id] {
			t.Errorf("session %s: the console shows %+v, gatehouse sessions %+v", id, got.listedRow, *cli[id])
		}
		// Of an intact chain only: a summary counts what the chain
		// vouches for, the lines after a break are not read.
		if statements, denials := w.statementsOf(t, id); got.chain == "intact" && (got.statements != statements || got.denied != denials) {
			t.Errorf("session %s: the console counts %d statements, %d denied; its recording holds %d, %d", id, got.statements, got.denied, statements, denials)
		}
	}
	if csvIDs := consoleCSVIDs(t, c, base, f.console); !sameKeys(csvIDs, jsonl) {
		t.Errorf("/sessions?%s as CSV lists %v, as JSON Lines %v", f.console.Encode(), slices.Sorted(maps.Keys(csvIDs)), slices.Sorted(maps.Keys(jsonl)))
	}
	if total, page := consolePageIDs(t, c, base, f.console); total != len(cli) || !sameKeys(page, cli) {
		t.Errorf("/sessions?%s shows %d sessions, %v; gatehouse sessions %v lists %v", f.console.Encode(), total,
			slices.Sorted(maps.Keys(page)), f.cli, slices.Sorted(maps.Keys(cli)))
	}
}

func sameKeys[A, B any](a map[string]A, b map[string]B) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

var cliColumns = regexp.MustCompile(`\s{2,}`)

// cliList is `gatehouse sessions` with args, by session id.
func (w *world) cliList(t *testing.T, args ...string) map[string]*listedRow {
	t.Helper()
	out := w.gatehouse(append([]string{"sessions", "--config", w.cfgPath}, args...)...)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "SESSION") {
		t.Fatalf("gatehouse sessions %v printed %q", args, out)
	}
	rows := map[string]*listedRow{}
	for _, l := range lines[1:] {
		// SESSION  START(date time)  DURATION  IDENTITY  TARGETS  CHANNELS  REFUSALS  END  CHAIN
		f := cliColumns.Split(l, -1)
		if len(f) != 9 {
			t.Fatalf("gatehouse sessions row %q", l)
		}
		r := &listedRow{identity: undash(f[3]), targets: undash(f[4]), end: undash(f[7]), chain: f[8]}
		r.channels, _ = strconv.Atoi(f[5])
		r.refusals, _ = strconv.Atoi(f[6])
		rows[f[0]] = r
	}
	return rows
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// consoleRow is a JSON Lines row of /sessions.
type consoleRow struct {
	listedRow
	statements, denied int
}

// consoleJSONL is /sessions?q as JSON Lines, by session id; its first
// line must name q's filters and count the rows.
func consoleJSONL(t *testing.T, c *http.Client, base string, q url.Values) map[string]consoleRow {
	t.Helper()
	body := consoleExport(t, c, base, q, "jsonl", "application/x-ndjson")
	dec := json.NewDecoder(strings.NewReader(body))
	var head struct {
		Filters map[string]string `json:"filters"`
		Total   int               `json:"total"`
	}
	if err := dec.Decode(&head); err != nil {
		t.Fatalf("/sessions?%s as JSON Lines, its first line: %v\n%s", q.Encode(), err, body)
	}
	for name := range q {
		if head.Filters[name] != q.Get(name) {
			t.Errorf("/sessions?%s as JSON Lines names the filters %v", q.Encode(), head.Filters)
		}
	}
	rows := map[string]consoleRow{}
	for dec.More() {
		var r struct {
			Session, Identity, Targets, Chain string
			EndReason                         string `json:"end_reason"`
			Channels, Statements, Denied      int
			Refusals                          int
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("/sessions?%s as JSON Lines: %v\n%s", q.Encode(), err, body)
		}
		rows[r.Session] = consoleRow{listedRow{r.Identity, r.Targets, r.Channels, r.Refusals, r.EndReason, r.Chain}, r.Statements, r.Denied}
	}
	if head.Total != len(rows) {
		t.Errorf("/sessions?%s as JSON Lines counts %d sessions and has %d", q.Encode(), head.Total, len(rows))
	}
	return rows
}

// consoleCSVIDs is the sessions of /sessions?q as CSV.
func consoleCSVIDs(t *testing.T, c *http.Client, base string, q url.Values) map[string]bool {
	t.Helper()
	body := consoleExport(t, c, base, q, "csv", "text/csv")
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	if err != nil || len(records) < 2 || records[1][0] != "session" {
		t.Fatalf("/sessions?%s as CSV: %v\n%s", q.Encode(), err, body)
	}
	ids := map[string]bool{}
	for _, rec := range records[2:] {
		ids[rec[0]] = true
	}
	mustContain(t, "the CSV's first line", records[0][0], fmt.Sprintf("; %d sessions", len(ids)))
	return ids
}

func consoleExport(t *testing.T, c *http.Client, base string, q url.Values, format, contentType string) string {
	t.Helper()
	q = maps.Clone(q)
	if q == nil {
		q = url.Values{}
	}
	q.Set("format", format)
	resp := consoleGet(t, c, base+"/sessions?"+q.Encode())
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), contentType) {
		t.Fatalf("/sessions?%s = %d %s\n%s", q.Encode(), resp.StatusCode, resp.Header.Get("Content-Type"), resp.body)
	}
	return resp.body
}

var (
	pageCount = regexp.MustCompile(`<p class="count">(\d+) sessions`)
	pageLink  = regexp.MustCompile(`href="/sessions/([^"/?]+)"`)
)

// consolePageIDs is the count and the sessions linked from the page
// /sessions?q (every one: the test lists fewer than a page holds).
func consolePageIDs(t *testing.T, c *http.Client, base string, q url.Values) (int, map[string]bool) {
	t.Helper()
	resp := consoleGet(t, c, base+"/sessions?"+q.Encode())
	m := pageCount.FindStringSubmatch(resp.body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("/sessions?%s = %d\n%s", q.Encode(), resp.StatusCode, resp.body)
	}
	total, _ := strconv.Atoi(m[1])
	ids := map[string]bool{}
	for _, l := range pageLink.FindAllStringSubmatch(resp.body, -1) {
		ids[l[1]] = true
	}
	return total, ids
}

// mustRun runs sql through the tunnel at port as role, which must answer.
func mustRun(t *testing.T, what string, port int, role, sql string) string {
	t.Helper()
	out, err := psqlAs(t, port, role, "", "-c", sql)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	return out
}

// mustRefuse runs sql through the tunnel at port as role, which must be
// refused by gatehouse's policy.
func mustRefuse(t *testing.T, what string, port int, role, sql string) {
	t.Helper()
	if out, err := psqlAs(t, port, role, "", "-c", sql); err == nil || !strings.Contains(out, "gatehouse") {
		t.Fatalf("%s was not refused by gatehouse: %v\n%s", what, err, out)
	}
}

// refusedSSH runs ssh with config and args, which must fail, and returns
// the id of the session recorded for it.
func (w *world) refusedSSH(t *testing.T, what, config string, args ...string) string {
	t.Helper()
	before := w.sessionIDs(t)
	cmd := exec.Command("ssh", sshArgs(config, args...)...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if out, err := runWithTimeout(cmd, 30*time.Second); err == nil {
		t.Fatalf("%s succeeded:\n%s", what, out)
	}
	return w.newSession(t, before)
}

// editStatement changes from to to in the statement text of a closed
// session's recording: its chain breaks at the line after the statement,
// so that the summary still holds the identity and target before it.
func (w *world) editStatement(t *testing.T, id, from, to string) {
	t.Helper()
	path := w.closedSession(t, id) + ".jsonl"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	edited := false
	for i, l := range lines {
		if !edited && bytes.Contains(l, []byte(`"type":"db.statement"`)) && bytes.Contains(l, []byte(from)) {
			lines[i], edited = bytes.Replace(l, []byte(from), []byte(to), 1), true
		}
	}
	if !edited {
		t.Fatalf("session %s has no statement %q", id, from)
	}
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}
